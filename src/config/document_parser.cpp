#include "document_parser.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

namespace aiproxy::config::detail {
namespace {

bool isDigit(char c) {
    return c >= '0' && c <= '9';
}

std::size_t skipDigits(std::string_view text, std::size_t pos) {
    while (pos < text.size() && isDigit(text[pos]))
        ++pos;
    return pos;
}

// [-+]? ( \.[0-9]+ | [0-9]+ (\.[0-9]*)? ) ( [eE] [-+]? [0-9]+ )?
bool isCoreFloat(std::string_view text) {
    std::size_t pos = 0;
    if (pos < text.size() && (text[pos] == '-' || text[pos] == '+')) ++pos;
    std::size_t integral_end = skipDigits(text, pos);
    bool has_integral = integral_end > pos;
    pos = integral_end;
    if (pos < text.size() && text[pos] == '.') {
        std::size_t fraction_end = skipDigits(text, pos + 1);
        if (!has_integral && fraction_end == pos + 1) return false;
        pos = fraction_end;
    } else if (!has_integral) {
        return false;
    }
    if (pos < text.size() && (text[pos] == 'e' || text[pos] == 'E')) {
        ++pos;
        if (pos < text.size() && (text[pos] == '-' || text[pos] == '+')) ++pos;
        std::size_t exponent_end = skipDigits(text, pos);
        if (exponent_end == pos) return false;
        pos = exponent_end;
    }
    return pos == text.size();
}

std::optional<Json> parseUnsigned(std::string_view digits, int base, bool negative) {
    if (digits.empty()) return std::nullopt;
    std::uint64_t value = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, base);
    if (end != digits.data() + digits.size()) return std::nullopt;
    constexpr auto kMaxSigned =
        static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    if (ec == std::errc::result_out_of_range || (negative && value > kMaxSigned + 1)) {
        // Too big for any integer type: keep the magnitude so range checks still say "too big".
        double approx = std::numeric_limits<double>::max();
        return Json(negative ? -approx : approx);
    }
    if (negative) {
        if (value == kMaxSigned + 1) return Json(std::numeric_limits<std::int64_t>::min());
        return Json(-static_cast<std::int64_t>(value));
    }
    if (value <= kMaxSigned) return Json(static_cast<std::int64_t>(value));
    return Json(value);
}

std::optional<Json> parseCoreInteger(std::string_view text) {
    if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'o')) {
        return parseUnsigned(text.substr(2), text[1] == 'x' ? 16 : 8, false);
    }
    bool negative = !text.empty() && text[0] == '-';
    if (!text.empty() && (text[0] == '-' || text[0] == '+')) text.remove_prefix(1);
    if (text.empty() || skipDigits(text, 0) != text.size()) return std::nullopt;
    return parseUnsigned(text, 10, negative);
}

Json resolvePlainScalar(const std::string& text) {
    static const std::set<std::string, std::less<>> kNull{"", "~", "null", "Null", "NULL"};
    static const std::set<std::string, std::less<>> kTrue{"true", "True", "TRUE"};
    static const std::set<std::string, std::less<>> kFalse{"false", "False", "FALSE"};
    if (kNull.count(text) != 0) return nullptr;
    if (kTrue.count(text) != 0) return true;
    if (kFalse.count(text) != 0) return false;
    if (auto integer = parseCoreInteger(text)) return *integer;
    if (isCoreFloat(text)) {
        double value = 0;
        auto [end, ec] = std::from_chars(text.data() + (text[0] == '+' ? 1 : 0),
                                         text.data() + text.size(), value);
        if (ec == std::errc{} && end == text.data() + text.size()) return value;
        if (ec == std::errc::result_out_of_range) return std::numeric_limits<double>::infinity();
    }
    std::string_view unsigned_text = text;
    bool negative = !text.empty() && text[0] == '-';
    if (!text.empty() && (text[0] == '-' || text[0] == '+')) unsigned_text.remove_prefix(1);
    if (unsigned_text == ".inf" || unsigned_text == ".Inf" || unsigned_text == ".INF") {
        return negative ? -std::numeric_limits<double>::infinity()
                        : std::numeric_limits<double>::infinity();
    }
    if (text == ".nan" || text == ".NaN" || text == ".NAN") {
        return std::numeric_limits<double>::quiet_NaN();
    }
    return text;
}

std::string positionPrefix(const YAML::Mark& mark) {
    if (mark.is_null()) return "";
    return "line " + std::to_string(mark.line + 1) + ", column " + std::to_string(mark.column + 1) +
           ": ";
}

// Builds the JSON tree straight from yaml-cpp's parse events. Going through events rather than
// YAML::LoadAll() lets us stop after one document (LoadAll in yaml-cpp 0.7 loops forever on a
// stray token after a document, jbeder/yaml-cpp#1319) and bound what aliases expand to.
class JsonBuilder final : public YAML::EventHandler {
public:
    explicit JsonBuilder(DiagnosticSink& sink) : sink_(sink) {}

    Json takeRoot() { return std::move(root_); }
    const YAML::Mark& documentStart() const { return document_start_; }

    void OnDocumentStart(const YAML::Mark& mark) override { document_start_ = mark; }
    void OnDocumentEnd() override {}

    void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
        place(nullptr, anchor, 1, mark);
    }

    void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
        auto it = anchors_.find(anchor);
        if (it == anchors_.end()) {
            throw YAML::ParserException(mark, "an alias cannot refer to a node that contains it");
        }
        copy(it->second.nodes, mark);
        place(it->second.value, YAML::NullAnchor, it->second.nodes, mark);
    }

    void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                  const std::string& value) override {
        // Keys stay text; "!" marks a quoted scalar, "?" a plain one typed by its text.
        bool as_string = expectingKey() || tag == "!" || tag == "tag:yaml.org,2002:str";
        place(as_string ? Json(value) : resolvePlainScalar(value), anchor, 1, mark);
    }

    void OnSequenceStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t anchor,
                         YAML::EmitterStyle::value /*style*/) override {
        open(Json::array(), anchor, mark);
    }
    void OnSequenceEnd() override { close(); }

    void OnMapStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t anchor,
                    YAML::EmitterStyle::value /*style*/) override {
        open(Json::object(), anchor, mark);
    }
    void OnMapEnd() override { close(); }

private:
    // Bounds the copies that anchors and aliases make ("billion laughs", nested anchors); real
    // configs make a handful.
    static constexpr std::size_t kMaxCopiedNodes = 100'000;

    struct Frame {
        Json value;
        std::string path;
        YAML::anchor_t anchor;
        YAML::Mark mark;
        std::size_t nodes = 1;
        bool expecting_key = true;  // maps: the next node is a key
        bool skip_value = false;    // maps: the key was rejected, so its value is dropped
        std::string key;            // maps: the key of the value being read
    };
    struct Anchored {
        Json value;
        std::size_t nodes;
    };

    bool expectingKey() const {
        return !stack_.empty() && stack_.back().value.is_object() && stack_.back().expecting_key;
    }

    std::string childPath() const {
        if (stack_.empty()) return "";
        const Frame& parent = stack_.back();
        if (parent.value.is_array()) return elementPath(parent.path, parent.value.size());
        if (parent.expecting_key) return parent.path;
        return memberPath(parent.path, parent.key);
    }

    void open(Json value, YAML::anchor_t anchor, const YAML::Mark& mark) {
        std::string path = childPath();
        stack_.push_back({std::move(value), std::move(path), anchor, mark});
    }

    void close() {
        Frame frame = std::move(stack_.back());
        stack_.pop_back();
        place(std::move(frame.value), frame.anchor, frame.nodes, frame.mark);
    }

    void copy(std::size_t nodes, const YAML::Mark& mark) {
        copied_nodes_ += nodes;
        if (copied_nodes_ > kMaxCopiedNodes) {
            throw YAML::ParserException(mark, "anchors and aliases copy too many nodes");
        }
    }

    void place(Json value, YAML::anchor_t anchor, std::size_t nodes, const YAML::Mark& mark) {
        if (anchor != YAML::NullAnchor) {
            copy(nodes, mark);
            anchors_.insert_or_assign(anchor, Anchored{value, nodes});
        }
        if (stack_.empty()) {
            root_ = std::move(value);
            return;
        }
        Frame& parent = stack_.back();
        parent.nodes += nodes;
        if (parent.value.is_array()) {
            parent.value.push_back(std::move(value));
        } else if (parent.expecting_key) {
            parent.expecting_key = false;
            parent.skip_value = true;
            if (!value.is_string()) {
                sink_.error(parent.path, positionPrefix(mark) + "keys must be strings");
            } else if (parent.value.contains(value.get<std::string>())) {
                sink_.error(memberPath(parent.path, value.get<std::string>()), "duplicate key");
            } else {
                parent.key = value.get<std::string>();
                parent.skip_value = false;
            }
        } else {
            parent.expecting_key = true;
            if (!parent.skip_value) parent.value[parent.key] = std::move(value);
        }
    }

    DiagnosticSink& sink_;
    std::vector<Frame> stack_;
    std::map<YAML::anchor_t, Anchored> anchors_;
    std::size_t copied_nodes_ = 0;
    Json root_;
    YAML::Mark document_start_;
};

// Thrown out of the JSON parser's callback to stop at absurd nesting; yaml-cpp stops at 2000.
struct NestingTooDeep {};
constexpr std::size_t kMaxJsonDepth = 1000;

// Tracks where the JSON parser is so that a duplicate key can be reported with its path. Paths
// are built only when one is needed: building one per level would be quadratic in the depth.
class DuplicateKeyFinder {
public:
    explicit DuplicateKeyFinder(DiagnosticSink& sink) : sink_(sink) {}

    bool operator()(int /*depth*/, nlohmann::json::parse_event_t event, Json& parsed) {
        using Event = nlohmann::json::parse_event_t;
        switch (event) {
            case Event::object_start:
            case Event::array_start:
                if (frames_.size() >= kMaxJsonDepth) throw NestingTooDeep{};
                if (!frames_.empty() && frames_.back().array) ++frames_.back().index;
                frames_.push_back({event == Event::array_start, 0, "", {}});
                break;
            case Event::object_end:
            case Event::array_end:
                frames_.pop_back();
                break;
            case Event::key: {
                Frame& frame = frames_.back();
                frame.key = parsed.get<std::string>();
                if (!frame.keys.insert(frame.key).second) {
                    sink_.error(memberPath(pathOfTop(), frame.key), "duplicate key");
                }
                break;
            }
            case Event::value:
                if (!frames_.empty() && frames_.back().array) ++frames_.back().index;
                break;
        }
        return true;
    }

private:
    struct Frame {
        bool array;
        std::size_t index;  // arrays: elements started so far
        std::string key;    // objects: the key whose value is being parsed
        std::set<std::string> keys;
    };

    std::string pathOfTop() const {
        std::string path;
        for (std::size_t i = 0; i + 1 < frames_.size(); ++i) {
            const Frame& frame = frames_[i];
            path = frame.array ? elementPath(path, frame.index - 1) : memberPath(path, frame.key);
        }
        return path;
    }

    DiagnosticSink& sink_;
    std::vector<Frame> frames_;
};

}  // namespace

std::optional<Json> parseYaml(std::string_view text, DiagnosticSink& sink) {
    try {
        std::istringstream stream{std::string{text}};
        YAML::Parser parser{stream};
        JsonBuilder builder{sink};
        if (!parser.HandleNextDocument(builder)) return Json(nullptr);  // no document at all
        // One more step shows whether anything follows; never more, so a parser that does not
        // advance cannot keep us here.
        DiagnosticSink ignored;
        JsonBuilder next{ignored};
        if (parser.HandleNextDocument(next)) {
            const YAML::Mark& mark = next.documentStart();
            auto pos = static_cast<std::size_t>(std::max(mark.pos, 0));
            bool new_document = pos < text.size() && text.substr(pos, 3) == "---";
            sink.error("", positionPrefix(mark) +
                               (new_document ? "a second YAML document; the file must hold one"
                                             : "unexpected content after the end of the document"));
            return std::nullopt;
        }
        return builder.takeRoot();
    } catch (const YAML::DeepRecursion& e) {
        sink.error("", positionPrefix(e.mark) + "nesting is too deep");  // yaml-cpp says "bad file"
    } catch (const YAML::Exception& e) {
        sink.error("", positionPrefix(e.mark) + e.msg);
    } catch (const std::exception& e) {
        sink.error("", std::string{"cannot parse YAML: "} + e.what());
    }
    return std::nullopt;
}

std::optional<Json> parseJson(std::string_view text, DiagnosticSink& sink) {
    try {
        DuplicateKeyFinder finder{sink};
        return Json::parse(text.begin(), text.end(), std::ref(finder));
    } catch (const NestingTooDeep&) {
        sink.error("",
                   "nesting is too deep (more than " + std::to_string(kMaxJsonDepth) + " levels)");
    } catch (const nlohmann::json::parse_error& e) {
        // what() is "[json.exception.parse_error.101] parse error at line 2, column 3: ...".
        std::string message = e.what();
        auto at = message.find("at line ");
        sink.error("", at == std::string::npos ? message : message.substr(at + 3));
    } catch (const std::exception& e) {
        sink.error("", std::string{"cannot parse JSON: "} + e.what());
    }
    return std::nullopt;
}

}  // namespace aiproxy::config::detail
