#pragma once
// The checks a request head passes before the gateway trusts it, as plain functions over bytes
// and a parsed head, so the session coroutine stays I/O and the fuzzer drives them without a
// socket (fuzz/request_head_fuzzer.cpp). Private to the http library: it speaks Beast.

#include <cstddef>
#include <string_view>

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

namespace aiproxy::http::detail {

namespace bhttp = boost::beast::http;

// Finds the end of a request head in the raw bytes and refuses line endings that parsers read
// differently, so the gateway and the upstream could disagree on where a request ends: obs-fold
// (Beast joins it into the value, others split it; RFC 9112 section 5.2 lets a server reject it),
// bare CR and bare LF. Incremental: while a head is read the buffer only grows, so each byte is
// looked at about once even when a client trickles it in.
class HeadScanner {
public:
    enum class State { NeedMore, Complete, Malformed };

    // `bytes`: the whole buffer so far (the previous call's bytes plus what arrived since).
    State scan(std::string_view bytes) {
        for (; next_ < bytes.size(); ++next_) {
            const char c = bytes[next_];
            const bool last = next_ + 1 == bytes.size();
            if (c == '\r') {
                if (last) return State::NeedMore;  // looked at again with the next byte
                if (bytes[next_ + 1] != '\n') return malformed("bare CR in the request head");
            } else if (c == '\n') {
                if (next_ == 0 || bytes[next_ - 1] != '\r') {
                    return malformed("bare LF in the request head");
                }
                if (next_ >= 3 && bytes[next_ - 2] == '\n' && bytes[next_ - 3] == '\r') {
                    return State::Complete;
                }
                if (last) return State::NeedMore;
                if (bytes[next_ + 1] == ' ' || bytes[next_ + 1] == '\t') {
                    return malformed("obs-fold (a header line starting with whitespace)");
                }
            }
        }
        return State::NeedMore;
    }

    std::string_view problem() const { return problem_; }

private:
    State malformed(std::string_view problem) {
        problem_ = problem;
        return State::Malformed;
    }

    std::size_t next_ = 0;
    std::string_view problem_;
};

// Framing Beast accepts but a proxy must refuse, because the upstream or another hop could read
// the request's end differently (request smuggling, RFC 9112 sections 6.1 and 6.3). Empty: none.
std::string_view framingProblem(const bhttp::request_parser<bhttp::string_body>& parser);

// RFC 9112 section 3.2: an HTTP/1.1 request has exactly one Host; several (or none) leave it to
// each hop which host is meant, which routing by host must not. Empty: none.
std::string_view hostProblem(const bhttp::request_header<>& header);

}  // namespace aiproxy::http::detail
