// Helpers of the Admin API's request handling (admin_api_detail.hpp): answers and messages in
// APISIX's shapes, ids, and the request body.

#include "admin_api_detail.hpp"

#include <algorithm>

#include "aiproxy/common/json_depth.hpp"

namespace aiproxy::admin::detail {
namespace {

using config::Document;
constexpr std::size_t kMaxIdLength = 64;

}  // namespace

// Messages may quote client input; invalid UTF-8 in it is replaced, never thrown about.
AdminResponse json(unsigned status, const Document& body) {
    return {status, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)};
}

AdminResponse errorMessage(unsigned status, const std::string& message) {
    return json(status, Document{{"error_msg", message}});
}

AdminResponse keyNotFound() {
    return json(404, Document{{"message", "Key not found"}});
}

bool validId(std::string_view id) {
    if (id.empty() || id.size() > kMaxIdLength) return false;
    return std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_' || c == '.';
    });
}

// "routes" -> "route", "consumer_groups" -> "consumer group", for messages in APISIX's wording.
std::string singular(std::string_view resource) {
    std::string name{resource};
    if (!name.empty() && name.back() == 's') name.pop_back();
    std::replace(name.begin(), name.end(), '_', ' ');
    return name;
}

std::string idText(const Document& value) {
    if (value.is_string()) return value.get<std::string>();
    if (value.is_number_unsigned()) return std::to_string(value.get<std::uint64_t>());
    if (value.is_number_integer()) return std::to_string(value.get<std::int64_t>());
    return {};
}

std::optional<Document> parseBody(const std::string& body, std::string& error) {
    if (body.size() > kMaxAdminBodyBytes) {
        error = "request body too large: over " + std::to_string(kMaxAdminBodyBytes) + " bytes";
        return std::nullopt;
    }
    if (common::nestsDeeperThan(body, common::kMaxDocumentDepth)) {
        error = "request body nests deeper than " + std::to_string(common::kMaxDocumentDepth) +
                " levels";
        return std::nullopt;
    }
    try {
        return Document::parse(body);
    } catch (const nlohmann::json::exception& e) {
        std::string what = e.what();
        auto colon = what.find("] ");
        error = "invalid JSON in the request body: " +
                (colon == std::string::npos ? what : what.substr(colon + 2));
        return std::nullopt;
    }
}

}  // namespace aiproxy::admin::detail
