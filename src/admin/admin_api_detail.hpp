#pragma once
// What the two halves of AdminApi share: admin_api.cpp checks the key and routes a request,
// admin_api_objects.cpp reads and changes the objects. Answers keep APISIX's shapes and wording.

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "aiproxy/admin/admin_api.hpp"
#include "aiproxy/config/objects.hpp"

namespace aiproxy::admin {

struct AdminApi::Target {
    std::string resource;  // "" for the root
    std::string id;
    std::string sub_path;  // after the id
    std::map<std::string, std::string, std::less<>> query;
};

namespace detail {

// Answers: `body` as compact JSON; {"error_msg": message}; APISIX's 404 for a missing object.
AdminResponse json(unsigned status, const config::Document& body);
AdminResponse errorMessage(unsigned status, const std::string& message);
AdminResponse keyNotFound();
// Object ids (and sub-path segments): 1 to 64 characters from a-z, A-Z, 0-9, '-', '_' and '.'.
bool validId(std::string_view id);
std::string singular(std::string_view resource);  // "consumer_groups" -> "consumer group"
// An id as written in a body: a string or an integer; "" for anything else.
std::string idText(const config::Document& value);
// The request body as JSON, or nullopt with `error` set (too large, too deep, not JSON).
std::optional<config::Document> parseBody(const std::string& body, std::string& error);

}  // namespace detail
}  // namespace aiproxy::admin
