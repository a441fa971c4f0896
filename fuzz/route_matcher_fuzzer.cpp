// route_matcher_fuzzer: RouteTable::match on arbitrary method, Host and path, against a fixed set
// of routes that covers each ordering rule (exact before prefix, longer prefix first, then
// priority, then file order), method and host lists, wildcard hosts and ports in Host.
//
// Input: "METHOD\nHOST\nPATH" (missing parts are empty; PATH is the rest, newlines included).
// Broken invariants abort(): two matches of the same request that differ, or a match that differs
// from a slow reference reading of the documented rules.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aiproxy/config/config.hpp"
#include "aiproxy/router/route_table.hpp"

namespace aiproxy::fuzz {
namespace {

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "route_matcher_fuzzer: %s\n", what);
    std::abort();
}

config::RouteConfig route(std::vector<std::string> uris, std::vector<std::string> methods = {},
                          std::vector<std::string> hosts = {}, int priority = 0) {
    config::RouteConfig config;
    config.uris = std::move(uris);
    config.methods = std::move(methods);
    config.hosts = std::move(hosts);
    config.priority = priority;
    return config;
}

const std::vector<config::RouteConfig>& routes() {
    static const std::vector<config::RouteConfig> kRoutes{
        route({"/llm/chat/completions"}, {"POST"}),
        route({"/llm/*"}, {"POST", "GET"}),
        route({"/llm/v2/*"}, {}, {"*.example.com"}, 5),
        route({"/llm/v2/*"}, {}, {"api.example.com"}, 10),
        route({"/llm/models"}, {"GET"}, {"Example.COM"}, 1),
        route({"/llm/models"}, {}, {}, 3),
        route({"/*"}, {"GET"}),
        route({"/a", "/b/*", "/b/c/*"}, {}, {"[::1]", "localhost", "127.0.0.1"}),
        route({"*", "/x*", "/"}, {"DELETE"}),
        route({"/llm/v2/*"}, {"POST"}, {}, 5),
        route({"/llm/chat/completions"}, {}, {"*.internal"}, 0),
    };
    return kRoutes;
}

bool sameText(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
        char y = b[i] >= 'A' && b[i] <= 'Z' ? static_cast<char>(b[i] - 'A' + 'a') : b[i];
        if (x != y) return false;
    }
    return true;
}

// "host:port" and "[v6]:port" lose the port; a bare IPv6 address (several colons) is kept whole.
std::string_view withoutPort(std::string_view host) {
    if (host.starts_with("[")) {
        auto close = host.find(']');
        return close == std::string_view::npos ? host : host.substr(0, close + 1);
    }
    if (std::count(host.begin(), host.end(), ':') == 1) return host.substr(0, host.find(':'));
    return host;
}

bool hostAllowed(const config::RouteConfig& config, std::string_view host) {
    if (config.hosts.empty()) return true;
    host = withoutPort(host);
    return std::any_of(config.hosts.begin(), config.hosts.end(), [&](const std::string& pattern) {
        if (pattern.starts_with("*.")) {
            std::string_view suffix = std::string_view{pattern}.substr(1);
            return host.size() > suffix.size() &&
                   sameText(host.substr(host.size() - suffix.size()), suffix);
        }
        return sameText(host, pattern);
    });
}

bool methodAllowed(const config::RouteConfig& config, std::string_view method) {
    return config.methods.empty() ||
           std::find(config.methods.begin(), config.methods.end(), method) != config.methods.end();
}

struct Expected {
    std::size_t route_index;
    bool prefix;
    std::size_t pattern_size;
    int priority;
};

// Every uri of every route tried in turn; the best candidate by the documented order wins.
std::optional<Expected> reference(std::string_view method, std::string_view host,
                                  std::string_view path) {
    std::optional<Expected> best;
    auto better = [](const Expected& a, const Expected& b) {  // a beats b
        if (a.prefix != b.prefix) return !a.prefix;
        if (a.prefix && a.pattern_size != b.pattern_size) return a.pattern_size > b.pattern_size;
        if (a.priority != b.priority) return a.priority > b.priority;
        return a.route_index < b.route_index;
    };
    const auto& all = routes();
    for (std::size_t i = 0; i < all.size(); ++i) {
        if (!methodAllowed(all[i], method) || !hostAllowed(all[i], host)) continue;
        for (const std::string& uri : all[i].uris) {
            bool prefix = uri.size() >= 2 && uri.ends_with("/*");
            std::string_view pattern =
                prefix ? std::string_view{uri}.substr(0, uri.size() - 1) : std::string_view{uri};
            if (prefix ? !path.starts_with(pattern) : path != pattern) continue;
            Expected candidate{i, prefix, pattern.size(), all[i].priority};
            if (!best || better(candidate, *best)) best = candidate;
        }
    }
    return best;
}

bool same(const std::optional<router::RouteMatch>& a, const std::optional<router::RouteMatch>& b) {
    if (a.has_value() != b.has_value()) return false;
    if (!a) return true;
    return a->route_index == b->route_index && a->prefix == b->prefix && a->rest == b->rest;
}

}  // namespace
}  // namespace aiproxy::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace aiproxy;
    static const router::RouteTable kTable{fuzz::routes()};
    std::string_view input{reinterpret_cast<const char*>(data), size};
    auto first_newline = input.find('\n');
    std::string_view method = input.substr(0, first_newline);
    input = first_newline == std::string_view::npos ? "" : input.substr(first_newline + 1);
    auto second_newline = input.find('\n');
    std::string_view host = input.substr(0, second_newline);
    std::string_view path =
        second_newline == std::string_view::npos ? "" : input.substr(second_newline + 1);

    auto match = kTable.match(method, host, path);
    if (!fuzz::same(match, kTable.match(method, host, path))) fuzz::fail("match is not stable");
    router::RouteTable rebuilt{fuzz::routes()};
    if (!fuzz::same(match, rebuilt.match(method, host, path))) {
        fuzz::fail("two tables from the same routes disagree");
    }

    auto expected = fuzz::reference(method, host, path);
    if (match.has_value() != expected.has_value()) fuzz::fail("match and reference disagree");
    if (match) {
        if (match->route_index != expected->route_index || match->prefix != expected->prefix) {
            fuzz::fail("a different route matched than the documented order picks");
        }
        std::string_view want_rest = expected->prefix ? path.substr(expected->pattern_size) : "";
        if (match->rest != want_rest) fuzz::fail("the prefix match's rest is wrong");
        if (match->prefix && match->rest.data() != path.data() + expected->pattern_size) {
            fuzz::fail("rest does not point into the path");
        }
    }
    return 0;
}
