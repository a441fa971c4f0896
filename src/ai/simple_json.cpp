#include "simple_json.hpp"

#include <algorithm>
#include <limits>

namespace aiproxy::ai::detail {
namespace {

bool isSpace(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool isDigit(char c) {
    return c >= '0' && c <= '9';
}

// A recursive-descent check of the subset; every function leaves `at_` after what it accepted.
class Checker {
public:
    explicit Checker(std::string_view text) : text_(text) {}

    bool whole() {
        skipSpace();
        if (!value(0)) return false;
        skipSpace();
        return at_ == text_.size();
    }

private:
    char peek() const { return at_ < text_.size() ? text_[at_] : '\0'; }
    void skipSpace() {
        while (at_ < text_.size() && isSpace(text_[at_]))
            ++at_;
    }

    bool value(std::size_t depth) {
        switch (peek()) {
            case '{':
                return container(depth + 1, '}');
            case '[':
                return container(depth + 1, ']');
            case '"':
                return string();
            case 't':
                return literal("true");
            case 'f':
                return literal("false");
            case 'n':
                return literal("null");
            default:
                return number();
        }
    }

    // An object (close '}': members "key": value) or an array (close ']': values).
    bool container(std::size_t depth, char close) {
        if (depth > kMaxSimpleJsonDepth) return false;
        ++at_;
        skipSpace();
        if (peek() == close) {
            ++at_;
            return true;
        }
        for (;;) {
            skipSpace();
            if (close == '}') {
                if (peek() != '"' || !string()) return false;
                skipSpace();
                if (peek() != ':') return false;
                ++at_;
                skipSpace();
            }
            if (!value(depth)) return false;
            skipSpace();
            if (peek() == ',') {
                ++at_;
                continue;
            }
            if (peek() != close) return false;
            ++at_;
            return true;
        }
    }

    // Printable ASCII only: escapes, control characters and UTF-8 are left to a parser.
    bool string() {
        for (++at_; at_ < text_.size(); ++at_) {
            char c = text_[at_];
            if (c == '"') {
                ++at_;
                return true;
            }
            if (c == '\\' || c < 0x20 || c > 0x7e) return false;
        }
        return false;
    }

    bool literal(std::string_view word) {
        if (text_.substr(at_, word.size()) != word) return false;
        at_ += word.size();
        return true;
    }

    // -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
    bool number() {
        if (peek() == '-') ++at_;
        if (peek() == '0') {
            ++at_;
        } else if (isDigit(peek())) {
            while (isDigit(peek()))
                ++at_;
        } else {
            return false;
        }
        if (peek() == '.') {
            ++at_;
            if (!isDigit(peek())) return false;
            while (isDigit(peek()))
                ++at_;
        }
        if (peek() == 'e' || peek() == 'E') {
            ++at_;
            if (peek() == '+' || peek() == '-') ++at_;
            if (!isDigit(peek())) return false;
            while (isDigit(peek()))
                ++at_;
        }
        return true;
    }

    std::string_view text_;
    std::size_t at_ = 0;
};

}  // namespace

bool isSimpleJson(std::string_view text) {
    return Checker{text}.whole();
}

std::optional<std::uint64_t> simpleCount(std::string_view number) {
    if (number.empty()) return std::nullopt;
    if (number.front() == '-') {
        // A negative integer is signed; only -0 is a count. A fraction or exponent is a float.
        number.remove_prefix(1);
        if (number.empty()) return std::nullopt;
        for (char c : number) {
            if (c != '0') return std::nullopt;
        }
        return 0;
    }
    constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
    std::uint64_t value = 0;
    for (char c : number) {
        if (!isDigit(c)) return std::nullopt;  // fraction, exponent or not a number
        auto digit = static_cast<std::uint64_t>(c - '0');
        if (value > (kMax - digit) / 10) return std::nullopt;  // a float to the parser
        value = value * 10 + digit;
    }
    return value;
}

std::optional<std::string_view> simpleString(std::string_view value) {
    if (value.size() < 2 || value.front() != '"' || value.back() != '"') return std::nullopt;
    return value.substr(1, value.size() - 2);
}

bool simpleIsEmptyArray(std::string_view value) {
    if (value.empty() || value.front() != '[') return false;
    for (std::size_t i = 1; i < value.size(); ++i) {
        if (!isSpace(value[i])) return value[i] == ']';
    }
    return false;
}

SimpleItems::SimpleItems(std::string_view container) : text_(container) {
    if (!container.empty() && (container.front() == '{' || container.front() == '[')) {
        object_ = container.front() == '{';
        at_ = 1;
    } else {
        at_ = text_.size();
    }
}

void SimpleItems::skipSpace() {
    while (at_ < text_.size() && isSpace(text_[at_]))
        ++at_;
}

// The text passed the check: strings end at the next quote (no escapes), brackets balance.
void SimpleItems::skipValue() {
    if (at_ >= text_.size()) return;
    char c = text_[at_];
    if (c == '"') {
        at_ = std::min(text_.find('"', at_ + 1), text_.size() - 1) + 1;
        return;
    }
    if (c == '{' || c == '[') {
        std::size_t depth = 0;
        for (; at_ < text_.size(); ++at_) {
            c = text_[at_];
            if (c == '"') {
                at_ = std::min(text_.find('"', at_ + 1), text_.size() - 1);
            } else if (c == '{' || c == '[') {
                ++depth;
            } else if ((c == '}' || c == ']') && --depth == 0) {
                ++at_;
                return;
            }
        }
        return;
    }
    while (at_ < text_.size() && text_[at_] != ',' && text_[at_] != '}' && text_[at_] != ']' &&
           !isSpace(text_[at_])) {
        ++at_;
    }
}

bool SimpleItems::next(std::string_view& key, std::string_view& value) {
    skipSpace();
    if (at_ >= text_.size() || text_[at_] == '}' || text_[at_] == ']') return false;
    key = {};
    if (object_) {
        std::size_t start = at_;
        skipValue();
        if (at_ - start < 2) return false;
        key = text_.substr(start + 1, at_ - start - 2);
        skipSpace();
        if (at_ >= text_.size() || text_[at_] != ':') return false;
        ++at_;
        skipSpace();
    }
    std::size_t start = at_;
    skipValue();
    value = text_.substr(start, at_ - start);
    skipSpace();
    if (at_ < text_.size() && text_[at_] == ',') ++at_;
    return !value.empty();
}

}  // namespace aiproxy::ai::detail
