#include "aiproxy/router/route_table.hpp"

#include <algorithm>
#include <cctype>

#include "aiproxy/common/ascii.hpp"

namespace aiproxy::router {
namespace {

std::string_view stripPort(std::string_view host) {
    if (!host.empty() && host.front() == '[') {  // [::1]:8080
        auto close = host.find(']');
        return close == std::string_view::npos ? host : host.substr(0, close + 1);
    }
    auto colon = host.rfind(':');
    if (colon != std::string_view::npos && host.find(':') == colon) return host.substr(0, colon);
    return host;
}

}  // namespace

RouteTable::RouteTable(const std::vector<config::RouteConfig>& routes) {
    vars_.reserve(routes.size());
    for (std::size_t i = 0; i < routes.size(); ++i) {
        const auto& route = routes[i];
        vars_.emplace_back(route.vars);
        for (const auto& uri : route.uris) {
            Entry entry{.priority = route.priority,
                        .route_index = i,
                        .methods = route.methods,
                        .hosts = route.hosts};
            if (uri.size() >= 2 && uri.ends_with("/*")) {
                entry.pattern = uri.substr(0, uri.size() - 1);  // keep the '/'
                entry.prefix = true;
                prefixes_.push_back(std::move(entry));
            } else {
                entry.pattern = uri;
                exact_.push_back(std::move(entry));
            }
        }
    }
    std::stable_sort(exact_.begin(), exact_.end(),
                     [](const Entry& a, const Entry& b) { return a.priority > b.priority; });
    std::stable_sort(prefixes_.begin(), prefixes_.end(), [](const Entry& a, const Entry& b) {
        if (a.pattern.size() != b.pattern.size()) return a.pattern.size() > b.pattern.size();
        return a.priority > b.priority;
    });
}

bool RouteTable::methodMatches(const Entry& entry, std::string_view method) {
    return entry.methods.empty() ||
           std::find(entry.methods.begin(), entry.methods.end(), method) != entry.methods.end();
}

bool RouteTable::hostMatches(const Entry& entry, std::string_view host) {
    if (entry.hosts.empty()) return true;
    host = stripPort(host);
    for (const auto& pattern : entry.hosts) {
        if (pattern.starts_with("*.")) {
            std::string_view suffix = std::string_view(pattern).substr(1);  // ".example.com"
            if (host.size() > suffix.size() &&
                common::equalsIgnoreCase(host.substr(host.size() - suffix.size()), suffix)) {
                return true;
            }
        } else if (common::equalsIgnoreCase(host, pattern)) {
            return true;
        }
    }
    return false;
}

std::optional<RouteMatch> RouteTable::match(const RequestVars& request) const {
    auto varsHold = [&](const Entry& entry) {
        const RouteVars& vars = vars_[entry.route_index];
        return vars.empty() || vars.matches(request);
    };
    std::string_view path = request.uri;
    for (const auto& entry : exact_) {
        if (entry.pattern == path && methodMatches(entry, request.method) &&
            hostMatches(entry, request.host) && varsHold(entry)) {
            return RouteMatch{.route_index = entry.route_index};
        }
    }
    for (const auto& entry : prefixes_) {
        if (path.starts_with(entry.pattern) && methodMatches(entry, request.method) &&
            hostMatches(entry, request.host) && varsHold(entry)) {
            return RouteMatch{.route_index = entry.route_index,
                              .prefix = true,
                              .rest = path.substr(entry.pattern.size())};
        }
    }
    return std::nullopt;
}

std::optional<RouteMatch> RouteTable::match(std::string_view method, std::string_view host,
                                            std::string_view path) const {
    return match(RequestVars{.method = method, .host = host, .uri = path, .request_uri = path});
}

}  // namespace aiproxy::router
