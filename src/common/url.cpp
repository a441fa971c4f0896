#include "aiproxy/common/url.hpp"

#include "aiproxy/common/text.hpp"

namespace aiproxy::common {
namespace {

int hexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

std::string percentDecode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '+') {
            out += ' ';
        } else if (c == '%' && i + 2 < text.size() && hexValue(text[i + 1]) >= 0 &&
                   hexValue(text[i + 2]) >= 0) {
            out += static_cast<char>(hexValue(text[i + 1]) * 16 + hexValue(text[i + 2]));
            i += 2;
        } else {
            out += c;
        }
    }
    return out;
}

std::string queryArgument(std::string_view query, std::string_view name) {
    while (!query.empty()) {
        auto amp = query.find('&');
        auto pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        auto eq = pair.find('=');
        auto key = pair.substr(0, eq);
        if (percentDecode(key) != name) continue;
        return eq == std::string_view::npos ? std::string{} : percentDecode(pair.substr(eq + 1));
    }
    return {};
}

std::string_view cookieValue(std::string_view cookie_header, std::string_view name) {
    while (!cookie_header.empty()) {
        auto semi = cookie_header.find(';');
        auto pair = trimWhitespace(cookie_header.substr(0, semi));
        cookie_header =
            semi == std::string_view::npos ? std::string_view{} : cookie_header.substr(semi + 1);
        auto eq = pair.find('=');
        if (eq == std::string_view::npos || trimWhitespace(pair.substr(0, eq)) != name) continue;
        auto value = trimWhitespace(pair.substr(eq + 1));
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
            value = value.substr(1, value.size() - 2);
        }
        return value;
    }
    return {};
}

}  // namespace aiproxy::common
