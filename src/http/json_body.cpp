#include "aiproxy/http/json_body.hpp"

#include <nlohmann/json.hpp>

namespace aiproxy::http {
namespace {

bool isJsonSpace(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool equalsLower(std::string_view text, std::string_view lower_case) {
    if (text.size() != lower_case.size()) return false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (lower(text[i]) != lower_case[i]) return false;
    }
    return true;
}

bool looksLikeJson(std::string_view body) {
    std::size_t i = 0;
    while (i < body.size() && isJsonSpace(body[i]))
        ++i;
    return i < body.size() && (body[i] == '{' || body[i] == '[');
}

}  // namespace

JsonBody::JsonBody() = default;
JsonBody::~JsonBody() = default;
JsonBody::JsonBody(JsonBody&&) noexcept = default;
JsonBody& JsonBody::operator=(JsonBody&&) noexcept = default;

void JsonBody::reset() {
    value_.reset();
    attempted_ = false;
}

const nlohmann::json* JsonBody::get(std::string_view content_type, std::string_view body) {
    if (attempted_) return value_.get();
    attempted_ = true;
    if (!isJsonContentType(content_type) && !looksLikeJson(body)) return nullptr;
    if (nestsDeeperThan(body, kMaxDepth)) return nullptr;
    try {
        auto parsed = nlohmann::json::parse(body.begin(), body.end(), nullptr,
                                            /*allow_exceptions=*/false);
        if (!parsed.is_discarded()) value_ = std::make_unique<nlohmann::json>(std::move(parsed));
    } catch (...) {  // allocation failure: treat as not JSON rather than fail the request
        value_.reset();
    }
    return value_.get();
}

bool isJsonContentType(std::string_view content_type) {
    auto semicolon = content_type.find(';');
    std::string_view type = content_type.substr(0, semicolon);
    while (!type.empty() && isJsonSpace(type.back()))
        type.remove_suffix(1);
    while (!type.empty() && isJsonSpace(type.front()))
        type.remove_prefix(1);
    if (equalsLower(type, "application/json")) return true;
    return type.size() > 5 && equalsLower(type.substr(type.size() - 5), "+json");
}

}  // namespace aiproxy::http
