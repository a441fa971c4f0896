// request_head_fuzzer: the client request head and chunked body as the session reads them (the
// raw-byte scan, Beast's parser under the gateway's limits, the framing and Host checks, the
// target's normalisation, trailers kept out of the head), on arbitrary bytes fed in
// pseudo-random pieces, as TCP would split them.
//
// Input: byte 0 seeds the piece sizes, the rest is what a client sends.
// Broken invariants abort(): a normalised path that is not absolute or still holds a dot segment; a
// chunked request whose header fields differ after its trailers were read (what the session
// restores must be what came before the body) that lost fields; a body over its limit.

#include <boost/beast/core/flat_buffer.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "aiproxy/http/request_target.hpp"
#include "request_head.hpp"

namespace aiproxy::fuzz {
namespace {

namespace bhttp = boost::beast::http;

constexpr std::size_t kHeaderLimit = 4096;
constexpr std::size_t kBodyLimit = 16 * 1024;

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "request_head_fuzzer: %s\n", what);
    std::abort();
}

bool holdsDotSegment(std::string_view path) {
    for (std::size_t start = 0; start < path.size();) {
        auto end = path.find('/', start);
        auto segment = path.substr(start, end == std::string_view::npos ? end : end - start);
        if (segment == "." || segment == "..") return true;
        if (end == std::string_view::npos) break;
        start = end + 1;
    }
    return false;
}

void checkTarget(std::string_view target) {
    auto parsed = http::parseRequestTarget(target);
    if (!parsed.problem.empty()) return;
    std::string_view path = parsed.normalized_path ? *parsed.normalized_path : parsed.path;
    if (path == "*") return;
    if (path.empty() || path.front() != '/') fail("a normalised path that is not absolute");
    if (parsed.normalized_path && holdsDotSegment(path)) fail("a dot segment survived");
}

std::string fieldsOf(const bhttp::request_header<>& header) {
    std::string out;
    for (const auto& field : header) {
        out += field.name_string();
        out += ':';
        out += field.value();
        out += '\n';
    }
    return out;
}

}  // namespace
}  // namespace aiproxy::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace aiproxy::fuzz;
    if (size < 1) return 0;
    unsigned seed = data[0];
    std::string_view input{reinterpret_cast<const char*>(data + 1), size - 1};
    auto piece = [&seed] {
        seed = seed * 1103515245u + 12345u;
        return 1 + (seed >> 16) % 64;
    };

    // The session reads until the scanner finds the end of the head (or refuses the bytes).
    aiproxy::http::detail::HeadScanner scanner;
    std::size_t fed = 0;
    auto state = aiproxy::http::detail::HeadScanner::State::NeedMore;
    while (state == aiproxy::http::detail::HeadScanner::State::NeedMore && fed < input.size() &&
           fed < kHeaderLimit) {
        fed = std::min(input.size(), fed + piece());
        state = scanner.scan(input.substr(0, fed));
    }
    if (state != aiproxy::http::detail::HeadScanner::State::Complete) return 0;

    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(kHeaderLimit);
    parser.body_limit(kBodyLimit);
    parser.eager(true);
    boost::beast::error_code ec;
    std::size_t used = parser.put(boost::asio::buffer(input.data(), fed), ec);
    // Beast may still ask for more after the scanner's blank line (a request line it cannot
    // read yet): the session then waits, bounded by header_timeout, as for any slow head.
    if (ec || !parser.is_header_done()) return 0;
    if (!aiproxy::http::detail::framingProblem(parser).empty()) return 0;
    if (!aiproxy::http::detail::hostProblem(parser.get()).empty()) return 0;
    checkTarget(parser.get().target());

    std::optional<std::string> head_fields;
    if (parser.chunked()) head_fields = fieldsOf(parser.get());
    std::string_view rest = input.substr(used);
    // The session bounds what waits unparsed (a chunk line, the trailer) by the header limit.
    std::string pending;
    while (!parser.is_done() && !rest.empty()) {
        std::size_t n = std::min<std::size_t>(rest.size(), piece());
        pending.append(rest.substr(0, n));
        rest.remove_prefix(n);
        if (pending.size() > kHeaderLimit) return 0;
        for (;;) {
            std::size_t consumed = parser.put(boost::asio::buffer(pending), ec);
            pending.erase(0, consumed);
            if (ec == bhttp::error::need_more) {
                ec = {};
                break;
            }
            if (ec) return 0;
            if (parser.is_done() || consumed == 0) break;
        }
    }
    if (!parser.is_done()) return 0;
    if (parser.get().body().size() > kBodyLimit) fail("a body over its limit");
    if (head_fields) {
        // Trailers land among the header fields: the session must restore the head it saved.
        std::string merged = fieldsOf(parser.get());
        if (merged.size() < head_fields->size()) fail("header fields lost while reading a body");
    }
    return 0;
}
