#include "request_head.hpp"

#include <boost/beast/core/string.hpp>

#include "aiproxy/common/ascii.hpp"

namespace aiproxy::http::detail {

std::string_view framingProblem(const bhttp::request_parser<bhttp::string_body>& parser) {
    const auto& header = parser.get();
    if (header.count(bhttp::field::transfer_encoding) > 0) {
        if (header.version() < 11) return "Transfer-Encoding in an HTTP/1.0 request";
        if (header.count(bhttp::field::transfer_encoding) > 1 || !parser.chunked() ||
            !common::equalsIgnoreCase(header[bhttp::field::transfer_encoding], "chunked")) {
            return "unsupported Transfer-Encoding (only chunked is accepted)";
        }
    }
    const auto lengths = header.count(bhttp::field::content_length);
    if (lengths > 1 || (lengths == 1 &&
                        header[bhttp::field::content_length].find(',') != std::string_view::npos)) {
        return "more than one Content-Length";
    }
    return {};
}

std::string_view hostProblem(const bhttp::request_header<>& header) {
    auto hosts = header.count(bhttp::field::host);
    if (hosts > 1) return "more than one Host header";
    if (hosts == 0 && header.version() >= 11) return "an HTTP/1.1 request needs a Host header";
    return {};
}

}  // namespace aiproxy::http::detail
