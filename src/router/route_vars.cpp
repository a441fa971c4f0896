#include "aiproxy/router/route_vars.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <functional>
#include <regex>
#include <string>

#include <boost/asio/ip/address.hpp>
#include <nlohmann/json.hpp>

#include "aiproxy/common/cidr.hpp"
#include "aiproxy/common/url.hpp"

namespace aiproxy::router {
namespace {

using Json = nlohmann::json;

enum class Source { Uri, RequestUri, Host, RemoteAddr, Method, Arg, Header, Cookie, PostArg };
enum class Op { Eq, Ne, Gt, Ge, Lt, Le, Regex, In, Has, IpMatch };

char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool isLuaSpace(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// Lua's tonumber() on a string: optional whitespace and sign around a decimal number.
std::optional<double> parseNumber(std::string_view text) {
    while (!text.empty() && isLuaSpace(text.front()))
        text.remove_prefix(1);
    while (!text.empty() && isLuaSpace(text.back()))
        text.remove_suffix(1);
    bool negative = false;
    if (!text.empty() && (text.front() == '+' || text.front() == '-')) {
        negative = text.front() == '-';
        text.remove_prefix(1);
    }
    // from_chars would also take "inf" and "nan", which tonumber() refuses.
    if (text.empty() ||
        !(std::isdigit(static_cast<unsigned char>(text.front())) || text.front() == '.')) {
        return std::nullopt;
    }
    double value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return negative ? -value : value;
}

// nginx's $host: the Host header without its port, in lower case.
std::string hostName(std::string_view host) {
    if (host.starts_with('[')) {
        host = host.substr(0, host.find(']') + 1);
    } else if (std::count(host.begin(), host.end(), ':') == 1) {
        host = host.substr(0, host.find(':'));
    }
    std::string out{host};
    std::transform(out.begin(), out.end(), out.begin(), lower);
    return out;
}

// The value of a variable for one request: absent (nil), text (request line and headers) or a
// JSON value from the body.
struct Operand {
    enum class Kind { Absent, Text, Json } kind = Kind::Absent;
    std::string_view text;
    std::string storage;  // owns `text` when it had to be decoded
    const Json* json = nullptr;

    void setText(std::string_view value) {
        kind = Kind::Text;
        text = value;
    }
    void setOwnedText(std::string value) {
        storage = std::move(value);
        setText(storage);
    }
};

std::optional<double> toNumber(const Operand& operand) {
    if (operand.kind == Operand::Kind::Text) return parseNumber(operand.text);
    if (operand.kind != Operand::Kind::Json) return std::nullopt;
    if (operand.json->is_number()) return operand.json->get<double>();
    if (operand.json->is_string()) return parseNumber(operand.json->get_ref<const std::string&>());
    return std::nullopt;
}

std::optional<double> toNumber(const Json& value) {
    if (value.is_number()) return value.get<double>();
    if (value.is_string()) return parseNumber(value.get_ref<const std::string&>());
    return std::nullopt;
}

// Lua's raw equality between two JSON scalars: same type and value; tables never equal.
bool sameScalar(const Json& a, const Json& b) {
    if (a.is_number() && b.is_number()) return a.get<double>() == b.get<double>();
    if (a.is_string() && b.is_string()) return a == b;
    if (a.is_boolean() && b.is_boolean()) return a == b;
    return false;
}

// Raw equality between a variable and a configured value; nil equals only null.
bool rawEquals(const Operand& left, const Json& right) {
    switch (left.kind) {
        case Operand::Kind::Absent:
            return right.is_null();
        case Operand::Kind::Text:
            return right.is_string() && left.text == right.get_ref<const std::string&>();
        case Operand::Kind::Json:
            return sameScalar(*left.json, right);
    }
    return false;
}

}  // namespace

struct RouteVars::Condition {
    Source source = Source::Uri;
    std::string name;               // arg/cookie name, header name ('_' read as '-')
    std::vector<std::string> path;  // post_arg segments
    Op op = Op::Eq;
    bool negate = false;
    bool broken = false;               // did not compile: never holds
    std::vector<Json> values;          // the right-hand side (one, or the "in" list)
    std::optional<double> number;      // values[0] as a number, for the numeric operators
    std::optional<std::regex> regex;   // ~~ and ~*
    std::vector<common::Cidr> ranges;  // ipmatch

    explicit Condition(const config::VarCondition& config);
    bool holds(const RequestVars& request) const;
    void fetch(const RequestVars& request, Operand& out) const;
    void fetchPostArg(const RequestVars& request, Operand& out) const;
    bool compare(const Operand& left) const;
};

RouteVars::Condition::Condition(const config::VarCondition& config) : negate(config.negate) {
    std::string_view var = config.var;
    auto named = [&](std::string_view prefix, Source kind) {
        if (!var.starts_with(prefix)) return false;
        source = kind;
        name = var.substr(prefix.size());
        return true;
    };
    if (var == "uri") {
        source = Source::Uri;
    } else if (var == "request_uri") {
        source = Source::RequestUri;
    } else if (var == "host") {
        source = Source::Host;
    } else if (var == "remote_addr") {
        source = Source::RemoteAddr;
    } else if (var == "request_method") {
        source = Source::Method;
    } else if (named("post_arg.", Source::PostArg)) {
        std::string_view rest = name;
        while (true) {
            auto dot = rest.find('.');
            path.emplace_back(rest.substr(0, dot));
            if (dot == std::string_view::npos) break;
            rest.remove_prefix(dot + 1);
        }
    } else if (named("http_", Source::Header)) {
        std::replace(name.begin(), name.end(), '_', '-');
    } else if (!named("arg_", Source::Arg) && !named("cookie_", Source::Cookie)) {
        broken = true;
    }

    static constexpr std::pair<std::string_view, Op> kOps[] = {
        {"==", Op::Eq}, {"~=", Op::Ne},   {">", Op::Gt},           {">=", Op::Ge},
        {"<", Op::Lt},  {"<=", Op::Le},   {"~~", Op::Regex},       {"~*", Op::Regex},
        {"in", Op::In}, {"has", Op::Has}, {"ipmatch", Op::IpMatch}};
    auto op_entry = std::find_if(std::begin(kOps), std::end(kOps),
                                 [&](const auto& entry) { return entry.first == config.op; });
    op = op_entry == std::end(kOps) ? Op::Eq : op_entry->second;
    if (op_entry == std::end(kOps) || (config.values.empty() && op != Op::In)) {
        broken = true;
        return;
    }
    for (const std::string& text : config.values) {
        Json value = Json::parse(text, nullptr, /*allow_exceptions=*/false);
        if (value.is_discarded()) {
            broken = true;
            return;
        }
        values.push_back(std::move(value));
    }
    if (op == Op::In) return;
    number = toNumber(values.front());
    if (op == Op::Regex) {
        if (!values.front().is_string()) {
            broken = true;
            return;
        }
        // Keep in step with the check in config/route_vars_schema.cpp.
        auto flags = std::regex::ECMAScript | std::regex_constants::__polynomial;
        if (config.op == "~*") flags |= std::regex::icase;
        try {
            regex.emplace(values.front().get<std::string>(), flags);
        } catch (const std::regex_error&) {
            broken = true;
        }
    } else if (op == Op::IpMatch) {
        for (const Json& value : values) {
            auto range =
                value.is_string() ? common::Cidr::parse(value.get<std::string>()) : std::nullopt;
            if (!range) {
                broken = true;
                return;
            }
            ranges.push_back(*range);
        }
    }
}

void RouteVars::Condition::fetchPostArg(const RequestVars& request, Operand& out) const {
    const Json* body = request.json_body ? request.json_body() : nullptr;
    if (body == nullptr) {
        // APISIX reads post_arg from form bodies too; one segment names a form field.
        if (path.size() != 1 || !request.header) return;
        auto type = request.header("Content-Type");
        if (!type || !type->starts_with("application/x-www-form-urlencoded")) return;
        std::string value = common::queryArgument(request.body, path.front());
        if (!value.empty()) out.setOwnedText(std::move(value));
        return;
    }
    const Json* current = body;
    for (const std::string& segment : path) {
        if (current->is_object()) {
            auto found = current->find(segment);
            if (found == current->end()) return;
            current = &*found;
        } else if (current->is_array() && !segment.empty() &&
                   std::all_of(segment.begin(), segment.end(),
                               [](char c) { return c >= '0' && c <= '9'; })) {
            std::size_t index = 0;
            auto [end, error] =
                std::from_chars(segment.data(), segment.data() + segment.size(), index);
            if (error != std::errc{} || index >= current->size()) return;
            current = &(*current)[index];
        } else {
            return;
        }
    }
    if (current->is_null()) return;  // JSON null reads as nil
    out.kind = Operand::Kind::Json;
    out.json = current;
}

void RouteVars::Condition::fetch(const RequestVars& request, Operand& out) const {
    auto header = [&](std::string_view header_name) -> std::optional<std::string_view> {
        return request.header ? request.header(header_name) : std::nullopt;
    };
    switch (source) {
        case Source::Uri:
            out.setText(request.uri);
            return;
        case Source::RequestUri:
            out.setText(request.request_uri);
            return;
        case Source::Method:
            out.setText(request.method);
            return;
        case Source::RemoteAddr:
            if (!request.remote_addr.empty()) out.setText(request.remote_addr);
            return;
        case Source::Host:
            if (!request.host.empty()) out.setOwnedText(hostName(request.host));
            return;
        case Source::Header:
            if (auto value = header(name)) out.setText(*value);
            return;
        case Source::Arg: {
            // An empty argument reads as absent: "?x=" and no x are not told apart.
            std::string value = common::queryArgument(request.query, name);
            if (!value.empty()) out.setOwnedText(std::move(value));
            return;
        }
        case Source::Cookie:
            if (auto cookies = header("Cookie")) {
                auto value = common::cookieValue(*cookies, name);
                if (!value.empty()) out.setText(value);
            }
            return;
        case Source::PostArg:
            fetchPostArg(request, out);
            return;
    }
}

bool RouteVars::Condition::compare(const Operand& left) const {
    if (op == Op::In) {
        return std::any_of(values.begin(), values.end(),
                           [&](const Json& value) { return rawEquals(left, value); });
    }
    const Json& right = values.front();
    auto numeric = [&](auto relation) {
        auto value = toNumber(left);
        return value && number && relation(*value, *number);
    };
    switch (op) {
        case Op::Eq:
        case Op::Ne: {
            bool equal = right.is_number() ? numeric(std::equal_to<>{}) : rawEquals(left, right);
            return op == Op::Eq ? equal : !equal;
        }
        case Op::Gt:
            return numeric(std::greater<>{});
        case Op::Ge:
            return numeric(std::greater_equal<>{});
        case Op::Lt:
            return numeric(std::less<>{});
        case Op::Le:
            return numeric(std::less_equal<>{});
        case Op::Regex: {
            std::string number_text;
            std::string_view subject;
            if (left.kind == Operand::Kind::Text) {
                subject = left.text;
            } else if (left.kind == Operand::Kind::Json && left.json->is_string()) {
                subject = left.json->get_ref<const std::string&>();
            } else if (left.kind == Operand::Kind::Json && left.json->is_number()) {
                number_text = left.json->dump();
                subject = number_text;
            } else {
                return false;
            }
            return std::regex_search(subject.begin(), subject.end(), *regex);
        }
        case Op::In:
            return false;  // handled above: the list may be empty
        case Op::Has:
            return left.kind == Operand::Kind::Json && left.json->is_array() &&
                   std::any_of(left.json->begin(), left.json->end(),
                               [&](const Json& element) { return sameScalar(element, right); });
        case Op::IpMatch: {
            std::string_view text;
            if (left.kind == Operand::Kind::Text) {
                text = left.text;
            } else if (left.kind == Operand::Kind::Json && left.json->is_string()) {
                text = left.json->get_ref<const std::string&>();
            } else {
                return false;
            }
            boost::system::error_code ec;
            auto address = boost::asio::ip::make_address(std::string(text), ec);
            return !ec && common::anyContains(ranges, address);
        }
    }
    return false;
}

bool RouteVars::Condition::holds(const RequestVars& request) const {
    if (broken) return false;
    Operand left;
    fetch(request, left);
    return compare(left) != negate;
}

RouteVars::RouteVars(const std::vector<config::VarCondition>& conditions) {
    conditions_.reserve(conditions.size());
    for (const auto& condition : conditions)
        conditions_.emplace_back(condition);
}

RouteVars::~RouteVars() = default;
RouteVars::RouteVars(RouteVars&&) noexcept = default;
RouteVars& RouteVars::operator=(RouteVars&&) noexcept = default;

bool RouteVars::empty() const {
    return conditions_.empty();
}

bool RouteVars::matches(const RequestVars& request) const {
    return std::all_of(conditions_.begin(), conditions_.end(),
                       [&](const Condition& condition) { return condition.holds(request); });
}

}  // namespace aiproxy::router
