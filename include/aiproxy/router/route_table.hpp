#pragma once
// RouteTable: which route handles a request. Exact uris win over prefixes ("/llm/*" is a prefix
// match on "/llm/"), longer prefixes over shorter ones, then higher priority, then file order.
// A candidate whose uri, methods and hosts fit but whose `vars` fail does not match: the search
// goes on to the next candidate, as in APISIX. Built once per snapshot; match() is read-only
// (and allocation-free for routes without vars), so workers share one table.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aiproxy/config/config.hpp"
#include "aiproxy/router/route_vars.hpp"

namespace aiproxy::router {

struct RouteMatch {
    std::size_t route_index = 0;  // index into the routes the table was built from
    bool prefix = false;          // matched a "/x/*" uri
    std::string_view rest;        // for a prefix match, the part matched by '*' (no leading '/')
};

class RouteTable {
public:
    explicit RouteTable(const std::vector<config::RouteConfig>& routes);

    // The request's method, host and uri select the candidates; vars read the rest of it.
    std::optional<RouteMatch> match(const RequestVars& request) const;
    // path excludes the query string; host is the Host header (a port suffix is ignored). Vars
    // see only these three (headers, query and body are absent).
    std::optional<RouteMatch> match(std::string_view method, std::string_view host,
                                    std::string_view path) const;

private:
    struct Entry {
        std::string pattern;  // exact path, or the prefix including its trailing '/'
        bool prefix = false;
        int priority = 0;
        std::size_t route_index = 0;
        std::vector<std::string> methods;
        std::vector<std::string> hosts;
    };
    static bool methodMatches(const Entry& entry, std::string_view method);
    static bool hostMatches(const Entry& entry, std::string_view host);

    std::vector<RouteVars> vars_;  // per route, index-aligned with the config's routes
    std::vector<Entry> exact_;     // by priority (desc), then file order
    std::vector<Entry> prefixes_;  // by prefix length (desc), priority (desc), file order
};

}  // namespace aiproxy::router
