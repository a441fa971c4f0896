#include "aiproxy/ai/request_model.hpp"

namespace aiproxy::ai {
namespace {

constexpr std::size_t kMaxModelLength = 256;

bool isSpace(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// A small cursor over JSON text: enough to walk the top-level object's members and skip values
// without building them.
class Cursor {
public:
    explicit Cursor(std::string_view text) : text_(text) {}

    bool done() const { return at_ >= text_.size(); }
    std::size_t position() const { return at_; }
    std::string_view since(std::size_t start) const { return text_.substr(start, at_ - start); }
    char peek() const { return done() ? '\0' : text_[at_]; }
    void skipSpace() {
        while (!done() && isSpace(text_[at_]))
            ++at_;
    }
    bool consume(char c) {
        skipSpace();
        if (peek() != c) return false;
        ++at_;
        return true;
    }
    // A string at the cursor (which is on its opening quote): its raw contents, escapes left as
    // they are; `escaped` tells whether there were any. nullopt when the text ends inside it.
    std::optional<std::string_view> string(bool& escaped) {
        std::size_t start = ++at_;
        escaped = false;
        // A plain loop: find_first_of calls memchr once per byte, which made this scan of a
        // response body cost more than relaying it.
        const std::size_t size = text_.size();
        while (at_ < size) {
            char c = text_[at_];
            if (c == '"') return text_.substr(start, at_++ - start);
            if (c == '\\') {
                escaped = true;
                at_ += 2;  // the escaped character cannot end the string
            } else {
                ++at_;
            }
        }
        at_ = size;
        return std::nullopt;
    }
    // Skips one value of any kind; false on malformed or truncated text.
    bool skipValue() {
        skipSpace();
        if (peek() == '"') {
            bool escaped = false;
            return string(escaped).has_value();
        }
        if (peek() != '{' && peek() != '[') {
            while (!done() && peek() != ',' && peek() != '}' && peek() != ']' && !isSpace(peek()))
                ++at_;
            return true;
        }
        std::size_t depth = 0;
        while (!done()) {
            char c = text_[at_];
            if (c == '"') {
                bool escaped = false;
                if (!string(escaped)) return false;
                continue;
            }
            ++at_;
            if (c == '{' || c == '[') ++depth;
            if ((c == '}' || c == ']') && --depth == 0) return true;
        }
        return false;
    }

private:
    std::string_view text_;
    std::size_t at_ = 0;
};

}  // namespace

ModelScan scanRequestModel(std::string_view body) {
    ModelScan scan;
    Cursor cursor{body};
    if (!cursor.consume('{')) return scan;
    cursor.skipSpace();
    if (cursor.peek() == '}') return scan;
    for (;;) {
        cursor.skipSpace();
        if (cursor.peek() != '"') return ModelScan{};
        bool key_escaped = false;
        auto key = cursor.string(key_escaped);
        if (!key || !cursor.consume(':')) return ModelScan{};
        cursor.skipSpace();
        if (*key == "model" && !key_escaped) {
            // A later duplicate wins, as it does for JSON parsers.
            scan = ModelScan{};
            if (cursor.peek() == '"') {
                bool escaped = false;
                auto value = cursor.string(escaped);
                if (!value) return ModelScan{};
                if (escaped || !isAcceptableModelName(*value)) {
                    scan.unreadable = true;
                } else {
                    scan.model = *value;
                }
            } else if (!cursor.skipValue()) {
                return ModelScan{};
            }
        } else if (!cursor.skipValue()) {
            return ModelScan{};
        }
        if (cursor.consume(',')) continue;
        if (cursor.consume('}')) return scan;
        return ModelScan{};
    }
}

bool scanTopLevelMembers(std::string_view body, std::initializer_list<std::string_view> keys,
                         std::optional<std::string_view>* values) {
    Cursor cursor{body};
    if (!cursor.consume('{')) return false;
    cursor.skipSpace();
    bool closed = cursor.consume('}');
    while (!closed) {
        cursor.skipSpace();
        if (cursor.peek() != '"') return false;
        bool key_escaped = false;
        auto key = cursor.string(key_escaped);
        if (!key || !cursor.consume(':')) return false;
        cursor.skipSpace();
        std::size_t start = cursor.position();
        if (!cursor.skipValue()) return false;
        std::size_t index = 0;
        for (std::string_view wanted : keys) {
            // A later duplicate wins, as it does for JSON parsers.
            if (!key_escaped && *key == wanted) values[index] = cursor.since(start);
            ++index;
        }
        if (cursor.consume(',')) continue;
        if (!cursor.consume('}')) return false;
        closed = true;
    }
    cursor.skipSpace();
    return cursor.done();  // one object, nothing after it
}

std::optional<std::string_view> findRequestModel(std::string_view body) {
    return scanRequestModel(body).model;
}

bool isAcceptableModelName(std::string_view model) {
    if (model.size() > kMaxModelLength) return false;
    for (char c : model) {
        auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte == 0x7f) return false;
    }
    return true;
}

}  // namespace aiproxy::ai
