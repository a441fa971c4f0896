#include "aiproxy/upstream/chash_key.hpp"

#include "trim.hpp"

namespace aiproxy::upstream {
namespace {

int hexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

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

std::string_view header(const RequestFacts& request, std::string_view name) {
    return request.header ? request.header(name) : std::string_view{};
}

// nginx's $host: the Host header without its port, lower case.
std::string hostName(std::string_view host) {
    if (host.starts_with('[')) {
        host = host.substr(0, host.find(']') + 1);
    } else if (auto colon = host.find(':'); colon != std::string_view::npos) {
        host = host.substr(0, colon);
    }
    std::string out{host};
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

std::string variable(const RequestFacts& request, std::string_view name) {
    if (name.starts_with('$')) name.remove_prefix(1);
    if (name == "remote_addr") return std::string(request.remote_addr);
    if (name == "uri") return std::string(request.uri);
    if (name == "request_uri") {
        std::string out{request.uri};
        if (!request.query.empty()) {
            out += '?';
            out += request.query;
        }
        return out;
    }
    if (name == "args" || name == "query_string") return std::string(request.query);
    if (name == "host") return hostName(header(request, "Host"));
    if (name == "consumer_name") return std::string(request.consumer);
    if (name.starts_with("arg_")) return queryArgument(request.query, name.substr(4));
    if (name.starts_with("cookie_")) {
        return std::string(cookieValue(header(request, "Cookie"), name.substr(7)));
    }
    if (name.starts_with("http_")) {
        std::string header_name{name.substr(5)};
        for (char& c : header_name) {
            if (c == '_') c = '-';
        }
        return std::string(header(request, header_name));
    }
    return {};
}

bool isNameChar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

std::string combination(const RequestFacts& request, std::string_view pattern) {
    std::string out;
    for (std::size_t i = 0; i < pattern.size();) {
        if (pattern[i] != '$') {
            out += pattern[i++];
            continue;
        }
        std::size_t end = i + 1;
        while (end < pattern.size() && isNameChar(pattern[end]))
            ++end;
        if (end == i + 1) {
            out += pattern[i++];
            continue;
        }
        out += variable(request, pattern.substr(i + 1, end - i - 1));
        i = end;
    }
    return out;
}

}  // namespace

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

std::string chashKey(const config::UpstreamConfig& upstream, const RequestFacts& request) {
    std::string key;
    const auto& hash_on = upstream.hash_on;
    if (hash_on == "header") {
        key = header(request, upstream.key);
    } else if (hash_on == "cookie") {
        key = cookieValue(header(request, "Cookie"), upstream.key);
    } else if (hash_on == "consumer") {
        key = request.consumer;
    } else if (hash_on == "vars_combinations") {
        key = combination(request, upstream.key);
    } else {
        key = variable(request, upstream.key);
    }
    if (key.empty()) key = request.remote_addr;
    return key;
}

}  // namespace aiproxy::upstream
