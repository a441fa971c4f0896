// ${NAME} and ${NAME:-default} expansion on the raw text of a config file, before parsing, so that
// secrets and per-host values never need to sit in the file and work the same in YAML and JSON.

#include <cstdlib>
#include <string>

#include "aiproxy/config/config_loader.hpp"

namespace aiproxy::config {
namespace {

bool isNameStart(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}
bool isNameChar(char c) {
    return isNameStart(c) || (c >= '0' && c <= '9');
}

bool isCommentLine(std::string_view line) {
    auto first = line.find_first_not_of(" \t");
    return first != std::string_view::npos && line[first] == '#';
}

void expandLine(std::string_view line, std::size_t line_number, const EnvLookup& env,
                std::vector<Diagnostic>& errors, std::string& out) {
    auto fail = [&](std::string message) {
        errors.push_back({"", "line " + std::to_string(line_number) + ": " + std::move(message)});
    };
    std::size_t pos = 0;
    while (pos < line.size()) {
        auto start = line.find("${", pos);
        if (start == std::string_view::npos) break;
        out += line.substr(pos, start - pos);
        auto close = line.find('}', start + 2);
        if (close == std::string_view::npos) {
            fail("unterminated \"${\"");
            out += line.substr(start);
            return;
        }
        std::string_view reference = line.substr(start + 2, close - start - 2);
        std::size_t name_end = 0;
        if (!reference.empty() && isNameStart(reference[0])) {
            name_end = 1;
            while (name_end < reference.size() && isNameChar(reference[name_end]))
                ++name_end;
        }
        std::string_view rest = reference.substr(name_end);
        bool has_default = rest.substr(0, 2) == ":-";
        if (name_end == 0 || (!rest.empty() && !has_default)) {
            fail("invalid environment reference \"" +
                 std::string{line.substr(start, close - start + 1)} +
                 "\" (expected ${NAME} or ${NAME:-default})");
            out += line.substr(start, close - start + 1);
            pos = close + 1;
            continue;
        }
        std::string name{reference.substr(0, name_end)};
        std::optional<std::string> value = env(name);
        if (has_default && (!value || value->empty())) {
            // Shell semantics: ":-" also replaces a variable that is set but empty.
            out += rest.substr(2);
        } else if (value) {
            out += *value;  // inserted as is: values are never expanded again
        } else {
            fail("environment variable " + name + " is not set");
        }
        pos = close + 1;
    }
    out += line.substr(pos);
}

}  // namespace

EnvLookup processEnvironment() {
    return [](const std::string& name) -> std::optional<std::string> {
        const char* value = std::getenv(name.c_str());
        if (value == nullptr) return std::nullopt;
        return std::string{value};
    };
}

std::string expandEnvironment(std::string_view text, const EnvLookup& env,
                              std::vector<Diagnostic>& errors) {
    std::string out;
    out.reserve(text.size());
    std::size_t line_number = 1;
    std::size_t pos = 0;
    while (pos < text.size()) {
        auto newline = text.find('\n', pos);
        std::size_t end = newline == std::string_view::npos ? text.size() : newline + 1;
        std::string_view line = text.substr(pos, end - pos);
        if (isCommentLine(line)) {
            out += line;
        } else {
            expandLine(line, line_number, env, errors, out);
        }
        pos = end;
        ++line_number;
    }
    return out;
}

}  // namespace aiproxy::config
