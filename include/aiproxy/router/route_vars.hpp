#pragma once
// RouteVars: a route's `vars`, compiled once per snapshot and evaluated per candidate request.
// The semantics are APISIX's (lua-resty-expr): every condition must hold; `[var, "!", op, value]`
// negates one; an absent variable is nil, so `==` is false, `~=` true, a regex false.
//   ==, ~=      equality; a number on the right compares numerically (the variable is read as a
//               number, and a variable that is not one is unequal), otherwise types must agree
//   > >= < <=   both sides read as numbers; false when either is not one
//   ~~, ~*      regex search (ECMAScript; ~* ignores case); a JSON number is searched as its text
//   in          the variable equals one element of the list
//   has         the variable (a JSON array) contains the value
//   ipmatch     the variable is an address inside one of the CIDR ranges
// Variables: uri, request_uri, host, remote_addr, request_method, arg_<name>, http_<name>,
// cookie_<name> and post_arg.<path> (a field of the JSON body, dotted, with numeric segments
// indexing arrays; for a form-encoded body, the form field). Values from the body keep their JSON
// type, so `["post_arg.n", "==", "5"]` does not match `{"n": 5}` but `["post_arg.n", "==", 5]`
// does (as in APISIX).
//
// Regexes use libstdc++'s polynomial (Thompson NFA) mode: its default backtracking executor
// recurses once per input character and overflows the stack on a long body field; the price is
// that back-references are refused at config load.

#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "aiproxy/config/config.hpp"

namespace aiproxy::router {

// The request as route matching sees it. Callers fill the views; the functions may be empty.
struct RequestVars {
    std::string_view method;
    std::string_view host;         // the Host header as sent (a port suffix is ignored)
    std::string_view uri;          // path, without the query
    std::string_view request_uri;  // the request target as sent
    std::string_view query;        // raw, without '?'
    std::string_view remote_addr;
    std::string_view body;  // for post_arg on form-encoded bodies
    // A request header by name (case-insensitive); nullopt when absent.
    std::function<std::optional<std::string_view>(std::string_view name)> header;
    // The body parsed as JSON, at most once per request (cached by the caller); nullptr when it
    // is not JSON. Only called when a candidate route has a post_arg condition.
    std::function<const nlohmann::json*()> json_body;
};

class RouteVars {
public:
    // Conditions as config/ validated them (values hold JSON text). A condition that does not
    // compile anyway (a caller that skipped validation) never holds.
    explicit RouteVars(const std::vector<config::VarCondition>& conditions);
    ~RouteVars();
    RouteVars(RouteVars&&) noexcept;
    RouteVars& operator=(RouteVars&&) noexcept;

    bool empty() const;
    bool matches(const RequestVars& request) const;

private:
    struct Condition;
    std::vector<Condition> conditions_;
};

}  // namespace aiproxy::router
