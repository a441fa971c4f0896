// routes[]: what a request must look like, and the plugins that answer it. The readers of the
// larger parts live beside this file: vars in route_vars_schema.cpp, ai-proxy in
// ai_proxy_schema.cpp, ai-proxy-multi in ai_proxy_multi_schema.cpp, the limits in
// limits_schema.cpp.

#include <algorithm>
#include <array>
#include <cctype>
#include <limits>

#include "host_port.hpp"
#include "limits_schema.hpp"
#include "schema.hpp"

namespace aiproxy::config::detail {
namespace {

constexpr std::string_view kAiProxy = "ai-proxy";
constexpr std::string_view kAiProxyMulti = "ai-proxy-multi";

// plugins.key-auth: {header, hide_credentials}; APISIX's query option is not supported (the key
// would end up in access logs of every proxy on the way).
void readKeyAuth(const Value& value, KeyAuthConfig& key_auth) {
    ObjectReader{}
        .on("header",
            [&](const Value& v) {
                auto name = v.string();
                if (!name) return;
                if (!isHeaderName(*name)) {
                    v.error("must be a header name");
                    return;
                }
                key_auth.header = *name;
            })
        .on("hide_credentials",
            [&](const Value& v) {
                if (auto hide = v.boolean()) key_auth.hide_credentials = *hide;
            })
        .ignore("query")
        .ignore("_meta")
        .read(value);
}

// plugins.ip-restriction: APISIX's fields; response_code may be any 4xx or 5xx (APISIX: 403-404).
void readIpRestriction(const Value& value, IpRestrictionConfig& restriction) {
    ObjectReader reader;
    reader.on("whitelist", [&](const Value& v) { readAddressList(v, restriction.whitelist); })
        .on("blacklist", [&](const Value& v) { readAddressList(v, restriction.blacklist); })
        .on("message",
            [&](const Value& v) {
                auto text = v.string();
                if (!text) return;
                if (text->empty() || text->size() > 1024) {
                    v.error("must be 1 to 1024 characters");
                    return;
                }
                restriction.message = *text;
            })
        .on("response_code",
            [&](const Value& v) {
                if (auto code = v.integer(400, 599)) {
                    restriction.response_code = static_cast<int>(*code);
                }
            })
        .ignore("_meta");
    if (!reader.read(value)) return;
    if (reader.seen("whitelist") && reader.seen("blacklist")) {
        value.sink().error(memberPath(value.path(), "blacklist"),
                           "cannot be used together with whitelist");
    } else if (!reader.seen("whitelist") && !reader.seen("blacklist")) {
        value.error("needs whitelist or blacklist");
    }
}

// Every plugin a route may carry besides its terminal ai-proxy / ai-proxy-multi: its name and
// the reader that fills its part of the route. A new plugin is one line here.
struct RoutePlugin {
    std::string_view name;
    void (*read)(const Value& value, RouteConfig& route);
};
constexpr RoutePlugin kRoutePlugins[] = {
    {"key-auth", [](const Value& v, RouteConfig& r) { readKeyAuth(v, r.key_auth.emplace()); }},
    {"ip-restriction",
     [](const Value& v, RouteConfig& r) { readIpRestriction(v, r.ip_restriction.emplace()); }},
    {"limit-count",
     [](const Value& v, RouteConfig& r) { readLimitCount(v, r.limit_count.emplace()); }},
    {"limit-req", [](const Value& v, RouteConfig& r) { readLimitReq(v, r.limit_req.emplace()); }},
    {"ai-rate-limiting",
     [](const Value& v, RouteConfig& r) { readAiRateLimiting(v, r.ai_rate_limiting.emplace()); }},
    {"ai-prompt-template",
     [](const Value& v, RouteConfig& r) {
         readAiPromptTemplate(v, r.ai_prompt_template.emplace());
     }},
    {"ai-prompt-decorator",
     [](const Value& v, RouteConfig& r) {
         readAiPromptDecorator(v, r.ai_prompt_decorator.emplace());
     }},
    {"ai-request-rewrite",
     [](const Value& v, RouteConfig& r) {
         readAiRequestRewrite(v, r.ai_request_rewrite.emplace());
     }},
    {"ai-prompt-guard",
     [](const Value& v, RouteConfig& r) { readAiPromptGuard(v, r.ai_prompt_guard.emplace()); }},
    {"ai-response-rewrite",
     [](const Value& v, RouteConfig& r) {
         readAiResponseRewrite(v, r.ai_response_rewrite.emplace());
     }},
};

constexpr std::array<std::string_view, 10> kMethods{
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "PURGE"};

// "/x" is matched exactly, "/x/*" as a prefix; no other use of "*".
std::optional<std::string> readUri(const Value& value) {
    auto uri = value.string();
    if (!uri) return std::nullopt;
    if (uri->empty() || uri->front() != '/') {
        value.error("must start with \"/\"");
        return std::nullopt;
    }
    if (hasSpace(*uri)) {
        value.error("must not contain spaces");
        return std::nullopt;
    }
    if (uri->find_first_of("?#") != std::string::npos) {
        value.error(R"(must be a path without "?" or "#")");
        return std::nullopt;
    }
    auto star = uri->find('*');
    bool trailing_prefix = star == uri->size() - 1 && uri->size() >= 2 && (*uri)[star - 1] == '/';
    if (star != std::string::npos && !trailing_prefix) {
        value.error(R"("*" is only allowed as a trailing "/*")");
        return std::nullopt;
    }
    return uri;
}

// Host names compare case-insensitively, so they are kept in lower case.
std::optional<std::string> readHost(const Value& value) {
    auto host = value.string();
    if (!host) return std::nullopt;
    if (host->empty()) {
        value.error("must not be empty");
        return std::nullopt;
    }
    if (hasSpace(*host)) {
        value.error("must not contain spaces");
        return std::nullopt;
    }
    std::string_view name = *host;
    if (name.substr(0, 2) == "*.") name.remove_prefix(2);
    if (name.find('*') != std::string_view::npos) {
        value.error(R"("*" is only allowed as a leading "*.")");
        return std::nullopt;
    }
    if (!isValidHost(name)) {
        value.error("must be a host name");
        return std::nullopt;
    }
    std::transform(host->begin(), host->end(), host->begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return host;
}

std::optional<std::string> readMethod(const Value& value) {
    auto method = value.string();
    if (!method) return std::nullopt;
    std::transform(method->begin(), method->end(), method->begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    if (std::find(kMethods.begin(), kMethods.end(), *method) == kMethods.end()) {
        value.error(
            "must be one of: GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS, CONNECT, TRACE, PURGE");
        return std::nullopt;
    }
    return method;
}

// Reads a list of strings with `read`, dropping repeats. An empty list is reported when
// `allow_empty` is false.
void readList(const Value& value, bool allow_empty,
              const std::function<std::optional<std::string>(const Value&)>& read,
              std::vector<std::string>& out) {
    std::vector<std::string> items;
    bool is_list = value.forEachElement([&](const Value& element) {
        auto item = read(element);
        if (item && std::find(items.begin(), items.end(), *item) == items.end()) {
            items.push_back(std::move(*item));
        }
    });
    if (!is_list) return;
    if (!allow_empty && value.json().empty()) value.error("must not be empty");
    out = std::move(items);
}

void readRouteLog(const Value& value, RouteLogConfig& log) {
    ObjectReader reader;
    reader
        .on("payloads",
            [&](const Value& v) {
                if (auto payloads = v.boolean()) log.payloads = *payloads;
            })
        .on("max_payload_bytes", [&](const Value& v) { readSize(v, log.max_payload_bytes); });
    reader.read(value);
}

}  // namespace

void readRoute(const Value& value, const std::set<std::string>& upstream_ids, RouteConfig& route) {
    std::optional<bool> route_expose;
    std::optional<bool> plugin_expose;
    std::string plugin_path;
    bool plugins_malformed = false;
    ObjectReader reader;
    reader
        .on("id",
            [&](const Value& v) {
                if (auto id = v.id()) route.id = *id;
            })
        .on("uri",
            [&](const Value& v) {
                if (auto uri = readUri(v)) route.uris = {*uri};
            })
        .on("uris", [&](const Value& v) { readList(v, false, readUri, route.uris); })
        .on("methods", [&](const Value& v) { readList(v, true, readMethod, route.methods); })
        .on("host",
            [&](const Value& v) {
                if (auto host = readHost(v)) route.hosts = {*host};
            })
        .on("hosts", [&](const Value& v) { readList(v, false, readHost, route.hosts); })
        .on("vars", [&](const Value& v) { readVars(v, route.vars); })
        .on("priority",
            [&](const Value& v) { readInt(v, std::numeric_limits<int>::min(), route.priority); })
        .on("expose_upstream_headers",
            [&](const Value& v) {
                route_expose = v.boolean();
                if (route_expose) route.expose_upstream_headers = *route_expose;
            })
        .on("plugins",
            [&](const Value& v) {
                plugins_malformed =
                    !v.forEachMember([&](const std::string& name, const Value& plugin) {
                        const RoutePlugin* known = nullptr;
                        for (const auto& entry : kRoutePlugins) {
                            if (entry.name == name) known = &entry;
                        }
                        if (!known && name != kAiProxy && name != kAiProxyMulti) {
                            // An ignored plugin may be a security plugin the operator believes
                            // is on (a misspelt key-auth): refuse, as APISIX does.
                            plugin.error("unknown plugin [" + name + "]");
                            return;
                        }
                        // "ai-proxy:" with nothing under it reads as an empty configuration.
                        static const Json kEmpty = Json::object();
                        Value config = plugin.json().is_null()
                                           ? Value{kEmpty, plugin.path(), plugin.sink()}
                                           : plugin;
                        if (known) {
                            known->read(config, route);
                            return;
                        }
                        plugin_path = plugin.path();
                        if (name == kAiProxyMulti) {
                            route.ai_proxy_multi.emplace();
                            readAiProxyMulti(config, *route.ai_proxy_multi, plugin_expose);
                            return;
                        }
                        route.ai_proxy.emplace();
                        readAiProxy(config, upstream_ids, *route.ai_proxy, plugin_expose);
                    });
            })
        .on("max_concurrent",
            [&](const Value& v) { readMaxConcurrent(v, route.max_concurrent.emplace()); })
        .on("log", [&](const Value& v) { readRouteLog(v, route.log); })
        .ignore("name")
        .ignore("desc")
        .on("labels", [&](const Value& v) {
            std::vector<std::pair<std::string, std::string>> labels;
            readLabels(v, labels);
        });
    if (!reader.read(value)) return;

    auto fieldPath = [&](std::string_view key) { return memberPath(value.path(), key); };
    if (!reader.seen("id")) value.sink().error(fieldPath("id"), "required");
    if (reader.seen("uri") && reader.seen("uris")) {
        value.sink().error(fieldPath("uris"), "cannot be used together with uri");
    } else if (!reader.seen("uri") && !reader.seen("uris")) {
        value.sink().error(fieldPath("uri"), "required");
    }
    if (reader.seen("host") && reader.seen("hosts")) {
        value.sink().error(fieldPath("hosts"), "cannot be used together with host");
    }
    if (!route.ai_proxy && !route.ai_proxy_multi && !plugins_malformed) {
        value.sink().error(fieldPath("plugins"),
                           "a route needs the ai-proxy or the ai-proxy-multi plugin");
    } else if (route.ai_proxy && route.ai_proxy_multi) {
        value.sink().error(fieldPath("plugins"),
                           "ai-proxy and ai-proxy-multi cannot be used together");
    }
    checkLimitKeys(value, route);
    // The request rewrite's LLM is an upstream of its own, named after its route.
    if (route.ai_request_rewrite)
        route.ai_request_rewrite->llm.id = "ai-request-rewrite@" + route.id;
    if (plugin_expose) {
        if (route_expose && *route_expose != *plugin_expose) {
            value.sink().error(memberPath(plugin_path, "expose_upstream_headers"),
                               "conflicts with " + fieldPath("expose_upstream_headers"));
        }
        route.expose_upstream_headers = *plugin_expose;
    }
}

}  // namespace aiproxy::config::detail
