#pragma once
// A strict check of JSON text in a simple subset, and the reading of its numbers as a JSON
// parser types them. Usage accounting reads a few members of every response body (and of a
// stream's usage chunk); a DOM parse of them cost a fifth of a proxied request's instructions and
// a third of its allocations. Text that passes the check is valid JSON whose keys and strings are
// their own raw bytes, so a structural scan (scanTopLevelMembers) reads it exactly as a parser
// would. Anything outside the subset fails the check, valid or not, and the caller parses.

#include <cstdint>
#include <optional>
#include <string_view>

namespace aiproxy::ai::detail {

// Deeper values fail the check (a parse then decides, with its own depth limit).
inline constexpr std::size_t kMaxSimpleJsonDepth = 32;

// True when `text` is exactly one JSON value, whitespace around it allowed, whose strings hold
// only printable ASCII without escapes and that nests at most kMaxSimpleJsonDepth levels.
bool isSimpleJson(std::string_view text);

// The count a JSON number token (from text that passed isSimpleJson) stands for, as
// nlohmann::json types it: a non-negative integer (unsigned, or "-0") is a count; a negative
// integer, a fraction, an exponent or an integer too large for 64 bits (a float to the parser)
// is not. nullopt for anything that is not a number.
std::optional<std::uint64_t> simpleCount(std::string_view number);

// The contents of a string token (from text that passed isSimpleJson); nullopt for other values.
std::optional<std::string_view> simpleString(std::string_view value);

// Whether a value (from text that passed isSimpleJson) is an object, or an empty array.
inline bool simpleIsObject(std::string_view value) {
    return !value.empty() && value.front() == '{';
}
bool simpleIsEmptyArray(std::string_view value);

// The members of an object or the elements of an array (a value from text that passed
// isSimpleJson), in order, repeated keys included.
class SimpleItems {
public:
    // An empty walk when `container` is not an object or an array.
    explicit SimpleItems(std::string_view container);
    // The next member's key (without quotes; empty for an array's element) and value text.
    bool next(std::string_view& key, std::string_view& value);

private:
    void skipSpace();
    void skipValue();

    std::string_view text_;
    std::size_t at_ = 0;
    bool object_ = false;
};

}  // namespace aiproxy::ai::detail
