#include "aiproxy/ai/request_model.hpp"

namespace aiproxy::ai {
namespace {

constexpr std::string_view kKey = "\"model\"";
constexpr std::size_t kMaxModelLength = 256;

bool isSpace(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

}  // namespace

std::optional<std::string_view> findRequestModel(std::string_view body) {
    for (std::size_t at = body.find(kKey); at != std::string_view::npos;
         at = body.find(kKey, at + 1)) {
        std::size_t i = at + kKey.size();
        while (i < body.size() && isSpace(body[i]))
            ++i;
        if (i >= body.size() || body[i] != ':') continue;
        ++i;
        while (i < body.size() && isSpace(body[i]))
            ++i;
        if (i >= body.size() || body[i] != '"') return std::nullopt;
        std::size_t start = ++i;
        while (i < body.size() && body[i] != '"' && body[i] != '\\' &&
               i - start <= kMaxModelLength) {
            ++i;
        }
        if (i >= body.size() || body[i] != '"') return std::nullopt;
        return body.substr(start, i - start);
    }
    return std::nullopt;
}

}  // namespace aiproxy::ai
