// routes[].vars (lua-resty-expr): [[var, op, value], [var, "!", op, value], ...], all must hold.
// Each right-hand value is kept as JSON text, so its type (5 vs "5") survives for the router,
// which compiles the conditions (regexes included) once per snapshot.

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <regex>
#include <string>
#include <vector>

#include "aiproxy/common/cidr.hpp"
#include "schema.hpp"

namespace aiproxy::config::detail {
namespace {

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

}  // namespace

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

}  // namespace aiproxy::config::detail
