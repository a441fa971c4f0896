#pragma once
// Non-throwing access to parsed JSON for the translation code: every lookup checks the type
// first, and serialisation replaces invalid UTF-8 instead of throwing (no exceptions on the data
// path).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "aiproxy/common/json_depth.hpp"

namespace aiproxy::ai::detail {

using Json = nlohmann::json;

// Copying, comparing and serialising a parsed value recurse once per nesting level, so a
// request body of 16 MB of '[' would exhaust a worker's stack. No real request nests this deep.
inline constexpr std::size_t kMaxJsonDepth = 512;

using common::nestsDeeperThan;

// Parses `text`; a discarded value (is_discarded()) when it is not JSON or nests deeper than
// kMaxJsonDepth.
inline Json parseJson(std::string_view text) {
    // Not `return {...}`: braces would pick the initializer-list constructor (an array).
    if (nestsDeeperThan(text, kMaxJsonDepth)) {
        return Json(Json::value_t::discarded);  // NOLINT(modernize-return-braced-init-list)
    }
    return Json::parse(text, nullptr, /*allow_exceptions=*/false);
}

// Why `text` is not JSON, in the parser's words ("syntax error while parsing value - invalid
// literal; last read: 'x'"), found without an exception: the SAX interface reports the error as
// a value. Only for error answers: it parses again.
inline std::string jsonSyntaxError(std::string_view text) {
    if (nestsDeeperThan(text, kMaxJsonDepth)) {
        return "nested deeper than " + std::to_string(kMaxJsonDepth) + " levels";
    }
    struct Sax : nlohmann::json_sax<Json> {
        std::string error;
        bool null() override { return true; }
        bool boolean(bool) override { return true; }
        bool number_integer(number_integer_t) override { return true; }
        bool number_unsigned(number_unsigned_t) override { return true; }
        bool number_float(number_float_t, const string_t&) override { return true; }
        bool string(string_t&) override { return true; }
        bool binary(binary_t&) override { return true; }
        bool start_object(std::size_t) override { return true; }
        bool key(string_t&) override { return true; }
        bool end_object() override { return true; }
        bool start_array(std::size_t) override { return true; }
        bool end_array() override { return true; }
        bool parse_error(std::size_t, const std::string&,
                         const nlohmann::detail::exception& ex) override {
            error = ex.what();
            return false;
        }
    } sax;
    Json::sax_parse(text.begin(), text.end(), &sax, nlohmann::detail::input_format_t::json,
                    /*strict=*/true);
    // "[json.exception.parse_error.101] parse error at line 1, column 2: ..." -> from "parse".
    auto at = sax.error.find("] ");
    return at == std::string::npos ? sax.error : sax.error.substr(at + 2);
}

inline std::string dumpJson(const Json& value) {
    return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// The member `key` of an object, or nullptr (not an object, or no such member).
inline const Json* member(const Json& object, std::string_view key) {
    if (!object.is_object()) return nullptr;
    auto it = object.find(key);
    return it == object.end() ? nullptr : &*it;
}

// The member `key`, or an empty object: lets nested lookups chain without null checks.
inline const Json& objectMember(const Json& object, std::string_view key) {
    static const Json kEmpty = Json::object();
    const Json* value = member(object, key);
    return value != nullptr ? *value : kEmpty;
}

// The member `key` when it is a string.
inline std::optional<std::string_view> stringMember(const Json& object, std::string_view key) {
    const Json* value = member(object, key);
    if (value == nullptr || !value->is_string()) return std::nullopt;
    return std::string_view(value->get_ref<const std::string&>());
}

// The member `key` when it is an integer (an integral double such as 5.0 counts too).
inline std::optional<std::int64_t> integerMember(const Json& object, std::string_view key) {
    const Json* value = member(object, key);
    if (value == nullptr) return std::nullopt;
    if (value->is_number_integer()) return value->get<std::int64_t>();
    if (value->is_number_unsigned()) return static_cast<std::int64_t>(value->get<std::uint64_t>());
    if (value->is_number_float()) {
        double d = value->get<double>();
        auto i = static_cast<std::int64_t>(d);
        if (static_cast<double>(i) == d) return i;
    }
    return std::nullopt;
}

// The member `key` when it is a boolean.
inline std::optional<bool> boolMember(const Json& object, std::string_view key) {
    const Json* value = member(object, key);
    if (value == nullptr || !value->is_boolean()) return std::nullopt;
    return value->get<bool>();
}

// A string value as a view; empty for anything else.
inline std::string_view textOf(const Json& value) {
    return value.is_string() ? std::string_view(value.get_ref<const std::string&>())
                             : std::string_view();
}

}  // namespace aiproxy::ai::detail
