// routes[]: what a request must look like, and the ai-proxy plugin that answers it.

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <limits>
#include <regex>

#include "aiproxy/common/cidr.hpp"
#include "host_port.hpp"
#include "limits_schema.hpp"
#include "schema.hpp"

namespace aiproxy::config::detail {
namespace {

constexpr std::string_view kAiProxy = "ai-proxy";
constexpr std::string_view kAiProxyMulti = "ai-proxy-multi";
constexpr std::string_view kKeyAuth = "key-auth";
constexpr std::string_view kIpRestriction = "ip-restriction";
constexpr std::string_view kLimitCount = "limit-count";
constexpr std::string_view kLimitReq = "limit-req";
constexpr std::string_view kAiRateLimiting = "ai-rate-limiting";

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

void readUpstreamRef(const Value& value, const std::set<std::string>& upstream_ids,
                     std::string& id) {
    auto parsed = value.id();
    if (!parsed) return;
    id = *parsed;
    if (upstream_ids.count(id) == 0) value.error("upstream \"" + id + "\" does not exist");
}

// plugins.ai-proxy. Unknown keys are warnings, not errors: APISIX files carry provider, auth and
// model options that this gateway does not use (yet), and they should still load.
void readAiProxy(const Value& value, const std::set<std::string>& upstream_ids,
                 AiProxyConfig& ai_proxy, std::optional<bool>& expose_upstream_headers) {
    ObjectReader reader;
    reader
        .on("upstream_id",
            [&](const Value& v) { readUpstreamRef(v, upstream_ids, ai_proxy.upstream_id); })
        .on("upstream_fallback_id",
            [&](const Value& v) {
                // "" means no fallback, so "${FALLBACK:-}" can switch it off.
                if (v.json().is_string() && v.json().get<std::string>().empty()) return;
                readUpstreamRef(v, upstream_ids, ai_proxy.upstream_fallback_id);
            })
        .on("timeout",
            [&](const Value& v) {
                if (auto timeout = v.milliseconds()) ai_proxy.timeout = *timeout;
            })
        .on("deadline",
            [&](const Value& v) {
                if (auto deadline = v.milliseconds()) ai_proxy.deadline = *deadline;
            })
        .on("retry", [&](const Value& v) { readInt(v, 0, ai_proxy.retry); })
        .on("enable_upstream_host",
            [&](const Value& v) {
                if (auto enable = v.boolean()) ai_proxy.enable_upstream_host = *enable;
            })
        .on("retry_on",
            [&](const Value& v) {
                std::vector<int> statuses;
                bool is_list = v.forEachElement([&](const Value& element) {
                    auto status = element.integer(std::numeric_limits<std::int64_t>::min(),
                                                  std::numeric_limits<std::int64_t>::max());
                    if (!status) return;
                    if (*status < 100 || *status > 599) {
                        element.error("must be between 100 and 599");
                        return;
                    }
                    statuses.push_back(static_cast<int>(*status));
                });
                if (is_list) ai_proxy.retry_on = std::move(statuses);
            })
        .on("expose_upstream_headers",
            [&](const Value& v) { expose_upstream_headers = v.boolean(); });
    if (!reader.read(value, ObjectReader::Unknown::Warning)) return;
    if (!reader.seen("upstream_id")) {
        value.sink().error(memberPath(value.path(), "upstream_id"), "required");
    }
    if (!ai_proxy.upstream_fallback_id.empty()) {
        if (ai_proxy.upstream_fallback_id == ai_proxy.upstream_id) {
            value.sink().error(memberPath(value.path(), "upstream_fallback_id"),
                               "must differ from upstream_id");
        } else if (ai_proxy.retry == 0) {
            value.sink().warning(memberPath(value.path(), "retry"),
                                 "the fallback upstream is never used when retry is 0");
        }
    }
}

// routes[].vars (lua-resty-expr): [[var, op, value], [var, "!", op, value], ...], all must hold.
// Each right-hand value is kept as JSON text, so its type (5 vs "5") survives for the router,
// which compiles the conditions (regexes included) once per snapshot.
constexpr std::array<std::string_view, 11> kVarOperators{
    "==", "~=", ">", ">=", "<", "<=", "~~", "~*", "in", "has", "ipmatch"};
constexpr std::string_view kScalar = "must be a string, number, boolean or null";

std::string lowerCase(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

bool isVarOperator(const Json& json) {
    if (!json.is_string()) return false;
    auto op = lowerCase(json.get<std::string>());
    return std::find(kVarOperators.begin(), kVarOperators.end(), op) != kVarOperators.end();
}

// A logic group ("AND"/"OR"/"!AND"/"!OR" first, or a list of lists) where a condition belongs.
bool isLogicGroup(const Json& json) {
    if (!json.is_array() || json.empty()) return false;
    if (json.front().is_array()) return true;
    if (!json.front().is_string()) return false;
    auto word = lowerCase(json.front().get<std::string>());
    return word == "and" || word == "or" || word == "!and" || word == "!or";
}

// A decimal number as Lua's tonumber() reads it: sign, digits, fraction, exponent (no inf/nan).
bool isDecimal(std::string_view text) {
    if (!text.empty() && (text.front() == '+' || text.front() == '-')) text.remove_prefix(1);
    if (text.empty() ||
        !(std::isdigit(static_cast<unsigned char>(text.front())) || text.front() == '.')) {
        return false;
    }
    double parsed = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), parsed);
    return error == std::errc{} && end == text.data() + text.size();
}

bool readVarName(const Value& value, std::string& var) {
    auto name = value.string();
    if (!name) return false;
    static constexpr std::array<std::string_view, 5> kPlain{"uri", "request_uri", "host",
                                                            "remote_addr", "request_method"};
    static constexpr std::array<std::string_view, 3> kPrefixes{"arg_", "http_", "cookie_"};
    if (std::find(kPlain.begin(), kPlain.end(), *name) != kPlain.end()) {
        var = *name;
        return true;
    }
    for (std::string_view prefix : kPrefixes) {
        if (!name->starts_with(prefix)) continue;
        if (name->size() == prefix.size()) {
            value.error("missing the name after \"" + std::string(prefix) + "\"");
            return false;
        }
        var = *name;
        return true;
    }
    if (name->starts_with("post_arg.")) {
        std::string_view path = std::string_view(*name).substr(9);
        if (path.empty() || path.front() == '.' || path.back() == '.' ||
            path.find("..") != std::string_view::npos) {
            value.error("must be post_arg.<field>[.<field>...] with no empty field");
            return false;
        }
        var = *name;
        return true;
    }
    value.error("unknown variable \"" + *name +
                "\"; use uri, request_uri, host, remote_addr, request_method, arg_<name>, "
                "http_<name>, cookie_<name> or post_arg.<path>");
    return false;
}

bool readScalar(const Value& value, std::vector<std::string>& values) {
    const Json& json = value.json();
    if (!json.is_primitive() || json.is_binary()) {
        value.error(std::string(kScalar));
        return false;
    }
    values.push_back(json.dump());
    return true;
}

bool readCidr(const Value& value, std::vector<std::string>& values) {
    const Json& json = value.json();
    if (!json.is_string() || !common::Cidr::parse(json.get<std::string>())) {
        value.error("must be an IP address or CIDR range (host bits zero)");
        return false;
    }
    values.push_back(json.dump());
    return true;
}

bool readVarValue(const Value& value, const std::string& op, std::vector<std::string>& values) {
    const Json& json = value.json();
    if (op == "==" || op == "~=" || op == "has") return readScalar(value, values);
    if (op == "in") {
        bool ok = true;
        if (!value.forEachElement(
                [&](const Value& element) { ok = readScalar(element, values) && ok; })) {
            return false;
        }
        return ok;
    }
    if (op == "ipmatch") {
        if (!json.is_array()) return readCidr(value, values);
        if (json.empty()) {
            value.error("must not be empty");
            return false;
        }
        bool ok = true;
        value.forEachElement([&](const Value& element) { ok = readCidr(element, values) && ok; });
        return ok;
    }
    if (op == "~~" || op == "~*") {
        auto pattern = value.string();
        if (!pattern) return false;
        // The router compiles with the same flags (router/route_vars.cpp); polynomial mode keeps
        // long inputs off the stack and refuses back-references.
        auto flags = std::regex::ECMAScript | std::regex_constants::__polynomial;
        if (op == "~*") flags |= std::regex::icase;
        try {
            std::regex compiled(*pattern, flags);
        } catch (const std::regex_error& error) {
            std::string what = error.what();
            if (!what.empty() && what.back() == '.') what.pop_back();
            value.error("invalid regular expression: " + what);
            return false;
        }
        values.push_back(json.dump());
        return true;
    }
    // > >= < <=: Lua's tonumber() on both sides, so a numeric string is a number too.
    bool numeric =
        json.is_number() || (json.is_string() && isDecimal(json.get_ref<const std::string&>()));
    if (!numeric) {
        value.error("must be a number");
        return false;
    }
    values.push_back(json.dump());
    return true;
}

void readVarCondition(const Value& value, std::vector<VarCondition>& vars) {
    const Json& json = value.json();
    if (isLogicGroup(json)) {
        value.error(R"(nested "AND"/"OR" groups are not supported; list the conditions )"
                    "(all must hold)");
        return;
    }
    if (!json.is_array()) {
        value.error(R"(must be a list: [var, operator, value] or [var, "!", operator, value])");
        return;
    }
    std::vector<Value> parts;
    value.forEachElement([&](const Value& element) { parts.push_back(element); });
    VarCondition condition;
    std::size_t op_index = 1;
    if (parts.size() == 4) {
        if (!parts[1].json().is_string() || parts[1].json().get<std::string>() != "!") {
            parts[1].error(R"(must be "!" (negation) in a condition of 4 elements)");
            return;
        }
        condition.negate = true;
        op_index = 2;
    } else if (parts.size() == 2 && !isVarOperator(parts[1].json())) {
        op_index = 0;  // [var, value] means [var, "==", value] (lua-resty-expr compatibility)
    } else if (parts.size() != 3) {
        value.error(R"(must have 3 elements [var, operator, value] or 4 [var, "!", operator, )"
                    "value]");
        return;
    }
    bool ok = readVarName(parts[0], condition.var);
    if (op_index == 0) {
        condition.op = "==";
    } else if (auto op = parts[op_index].string()) {
        condition.op = lowerCase(*op);
        if (std::find(kVarOperators.begin(), kVarOperators.end(), condition.op) ==
            kVarOperators.end()) {
            parts[op_index].error("unknown operator \"" + *op +
                                  "\"; use ==, ~=, >, >=, <, <=, ~~, ~*, in, has or ipmatch");
            return;
        }
    } else {
        return;
    }
    ok = readVarValue(parts.back(), condition.op, condition.values) && ok;
    if (ok) vars.push_back(std::move(condition));
}

void readVars(const Value& value, std::vector<VarCondition>& vars) {
    const Json& json = value.json();
    // ["AND", cond, ...] is the list itself; the other logic forms need a tree.
    if (json.is_array() && !json.empty() && json.front().is_string() &&
        lowerCase(json.front().get<std::string>()) == "and") {
        std::size_t index = 0;
        value.forEachElement([&](const Value& element) {
            if (index++ > 0) readVarCondition(element, vars);
        });
        return;
    }
    if (json.is_array() && !json.empty() && !json.front().is_array()) {
        value.error(R"(must be a list of conditions such as [["post_arg.model", "~~", "^local-"]];)"
                    R"( "OR" and "!" groups are not supported)");
        return;
    }
    value.forEachElement([&](const Value& element) { readVarCondition(element, vars); });
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
                        if (name != kAiProxy && name != kAiProxyMulti && name != kKeyAuth &&
                            name != kIpRestriction && name != kLimitCount && name != kLimitReq &&
                            name != kAiRateLimiting) {
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
                        if (name == kKeyAuth) {
                            route.key_auth.emplace();
                            readKeyAuth(config, *route.key_auth);
                            return;
                        }
                        if (name == kIpRestriction) {
                            readIpRestriction(config, route.ip_restriction.emplace());
                            return;
                        }
                        if (name == kLimitCount) {
                            readLimitCount(config, route.limit_count.emplace());
                            return;
                        }
                        if (name == kLimitReq) {
                            readLimitReq(config, route.limit_req.emplace());
                            return;
                        }
                        if (name == kAiRateLimiting) {
                            readAiRateLimiting(config, route.ai_rate_limiting.emplace());
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
    if (plugin_expose) {
        if (route_expose && *route_expose != *plugin_expose) {
            value.sink().error(memberPath(plugin_path, "expose_upstream_headers"),
                               "conflicts with " + fieldPath("expose_upstream_headers"));
        }
        route.expose_upstream_headers = *plugin_expose;
    }
}

}  // namespace aiproxy::config::detail
