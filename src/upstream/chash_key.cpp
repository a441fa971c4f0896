#include "aiproxy/upstream/chash_key.hpp"

namespace aiproxy::upstream {
namespace {

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

std::string chashKey(const config::UpstreamConfig& upstream, const RequestFacts& request) {
    std::string key;
    const auto& hash_on = upstream.hash_on;
    if (hash_on == "header") {
        key = header(request, upstream.key);
    } else if (hash_on == "cookie") {
        key = cookieValue(header(request, "Cookie"), upstream.key);
    } else if (hash_on == "consumer") {
        key = request.consumer;
    } else if (hash_on == "session") {
        key = header(request, upstream.key.empty() ? kDefaultSessionHeader : upstream.key);
        if (key.empty() && request.body_field) {
            key = request.body_field("session_id");
            if (key.empty()) key = request.body_field("conversation_id");
        }
    } else if (hash_on == "vars_combinations") {
        key = combination(request, upstream.key);
    } else {
        key = variable(request, upstream.key);
    }
    if (key.empty()) key = request.remote_addr;
    return key;
}

}  // namespace aiproxy::upstream
