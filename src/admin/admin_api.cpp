// The Admin API's request handling: the key check and the routing of a request to its handler
// (admin_api_objects.cpp). Shapes and messages follow APISIX's v3 Admin API, so its documented
// curl walk-throughs work unchanged against this gateway.

#include "aiproxy/admin/admin_api.hpp"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <algorithm>
#include <map>

#include "admin_api_detail.hpp"
#include "aiproxy/admin/status_page.hpp"
#include "aiproxy/common/url.hpp"

namespace aiproxy::admin {
namespace {

using common::percentDecode;
using config::Document;
using detail::errorMessage;
using detail::idText;
using detail::json;
using detail::keyNotFound;
using detail::parseBody;
using detail::singular;
using detail::validId;
constexpr std::string_view kPrefix = "/apisix/admin/";

std::map<std::string, std::string, std::less<>> parseQuery(std::string_view query) {
    std::map<std::string, std::string, std::less<>> params;
    while (!query.empty()) {
        auto amp = query.find('&');
        auto pair = query.substr(0, amp);
        auto eq = pair.find('=');
        std::string name = percentDecode(pair.substr(0, eq));
        std::string value = eq == std::string_view::npos ? "" : percentDecode(pair.substr(eq + 1));
        if (!name.empty()) params.emplace(std::move(name), std::move(value));
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
    }
    return params;
}

// Compares digests, so neither the content nor the length of a key leaks through timing.
bool sameKey(std::string_view presented, std::string_view expected) {
    unsigned char a[SHA256_DIGEST_LENGTH];
    unsigned char b[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(presented.data()), presented.size(), a);
    SHA256(reinterpret_cast<const unsigned char*>(expected.data()), expected.size(), b);
    return CRYPTO_memcmp(a, b, sizeof a) == 0;
}

std::string invalidIdMessage(std::string_view id) {
    return "invalid id \"" + std::string{id} +
           "\": use 1 to 64 characters from a-z, A-Z, 0-9, '-', '_' and '.'";
}

}  // namespace

AdminApi::AdminApi(config::Store& store, AdminHost& host, std::vector<config::AdminKey> keys)
    : store_(store), host_(host), keys_(std::move(keys)) {}

std::string AdminApi::presentedKey(const AdminRequest& request) {
    if (!request.x_api_key.empty()) return request.x_api_key;
    auto query_start = request.target.find('?');
    if (query_start != std::string::npos) {
        auto key = common::queryArgument(std::string_view{request.target}.substr(query_start + 1),
                                         "api_key");
        if (!key.empty()) return key;
    }
    return std::string{common::cookieValue(request.cookie, "x_api_key")};
}

AdminResponse AdminApi::handle(const AdminRequest& request) {
    AdminResponse answer = handleNow(request);
    if (!answer.pending) return answer;
    // The commit starts now. The file store answers in place; the etcd store later, on this
    // thread, when the caller may or may not have asked for it yet.
    struct Relay {
        std::optional<AdminResponse> early;
        AdminReply reply;
    };
    auto relay = std::make_shared<Relay>();
    answer.pending([relay](AdminResponse done) {
        if (relay->reply) {
            relay->reply(std::move(done));
        } else {
            relay->early = std::move(done);
        }
    });
    if (relay->early) return std::move(*relay->early);
    AdminResponse later;
    later.pending = [relay](AdminReply reply) {
        if (relay->early) {
            reply(std::move(*relay->early));
        } else {
            relay->reply = std::move(reply);
        }
    };
    return later;
}

AdminResponse AdminApi::handleNow(const AdminRequest& request) {
    std::string presented = presentedKey(request);
    if (presented.empty()) {
        return json(401, Document{{"error_msg", "failed to check token"},
                                  {"description", "missing apikey"}});
    }
    const config::AdminKey* matched = nullptr;
    for (const auto& key : keys_) {
        // Every key is compared, so the time taken does not say which one matched.
        if (sameKey(presented, key.key) && !matched) matched = &key;
    }
    if (!matched) {
        return json(
            401, Document{{"error_msg", "failed to check token"}, {"description", "wrong apikey"}});
    }
    if (matched->role != "admin" && request.method != "GET" && request.method != "HEAD") {
        return errorMessage(403, "the viewer role may only read (GET)");
    }

    std::string_view target = request.target;
    auto query_start = target.find('?');
    std::string_view path = target.substr(0, query_start);
    Target parsed;
    if (query_start != std::string_view::npos) {
        parsed.query = parseQuery(target.substr(query_start + 1));
    }
    if (path == "/status" || path == "/status.json") return statusPage(request.method, path);
    if (path.substr(0, kPrefix.size()) != kPrefix && path != "/apisix/admin") {
        return errorMessage(404, "404 Route Not Found");
    }
    path.remove_prefix(std::min(path.size(), kPrefix.size()));
    while (!path.empty() && path.back() == '/')
        path.remove_suffix(1);
    auto slash = path.find('/');
    parsed.resource = std::string{path.substr(0, slash)};
    if (slash != std::string_view::npos) {
        path.remove_prefix(slash + 1);
        auto next = path.find('/');
        parsed.id = percentDecode(path.substr(0, next));
        if (next != std::string_view::npos) parsed.sub_path = std::string{path.substr(next + 1)};
    }
    return dispatch(request, parsed);
}

// The status page and its JSON, behind the key like everything here: the page passes its own
// ?api_key= on to status.json (or the browser sends the x_api_key cookie).
AdminResponse AdminApi::statusPage(const std::string& method, std::string_view path) const {
    if (method != "GET" && method != "HEAD") {
        return errorMessage(405, "method not allowed: use GET");
    }
    auto json = host_.statusJson();
    if (!json) return errorMessage(404, "404 Route Not Found");
    if (path == "/status.json") return {.status = 200, .body = std::move(*json)};
    return {.status = 200,
            .body = std::string{statusPageHtml()},
            .content_type = kStatusPageContentType};
}

AdminResponse AdminApi::dispatch(const AdminRequest& request, const Target& target) {
    const std::string& method = request.method;
    if (target.resource == "configs" && target.id.empty()) {
        if (method != "GET") return errorMessage(405, "method not allowed: use GET");
        return exportConfig();
    }
    const config::Resource* resource = config::findResource(target.resource);
    if (!resource) return errorMessage(404, "404 Route Not Found");

    if ((target.resource == "upstreams" || target.resource == "routes") &&
        target.sub_path == "health" && method == "GET") {
        auto health = host_.health(target.resource, target.id);
        if (!health) return keyNotFound();
        return json(200, *health);
    }
    if (!target.id.empty() && !validId(target.id)) {
        return errorMessage(400, invalidIdMessage(target.id));
    }
    if (!target.sub_path.empty() && method != "PATCH") {
        return errorMessage(404, "404 Route Not Found");
    }

    if (method == "GET") {
        return target.id.empty() ? getList(*resource, target) : getOne(*resource, target.id);
    }
    if (method == "DELETE") {
        if (target.id.empty()) {
            return errorMessage(400, "missing " + singular(resource->name) + " id");
        }
        auto force = target.query.find("force");
        return remove(*resource, target.id, force != target.query.end() && force->second == "true");
    }
    if (method == "PATCH") {
        if (target.id.empty()) {
            return errorMessage(400, "missing " + singular(resource->name) + " id");
        }
        return patch(*resource, target.id, target.sub_path, request.body);
    }
    if (method != "PUT" && method != "POST") {
        return errorMessage(405, "method not allowed: " + method);
    }

    std::string error;
    auto body = parseBody(request.body, error);
    if (!body) return errorMessage(400, error);
    if (!body->is_object()) return errorMessage(400, "the request body must be a JSON object");
    for (const char* forbidden : {"create_time", "update_time"}) {
        if (body->contains(forbidden)) {
            return errorMessage(400, std::string{"the property is forbidden: "} + forbidden);
        }
    }
    const std::string& id_field = resource->id_field;
    std::string body_id = body->contains(id_field) ? idText((*body)[id_field]) : "";
    if (body->contains(id_field) && body_id.empty()) {
        return errorMessage(400, id_field + " must be a string or an integer");
    }
    if (method == "POST") {
        if (!target.id.empty()) {
            return errorMessage(405, "POST creates an object with a generated id; use PUT " +
                                         std::string{kPrefix} + resource->name + "/{id}");
        }
        if (!body_id.empty()) {
            return errorMessage(400, "wrong " + singular(resource->name) +
                                         " id, do not need it: POST generates the id");
        }
        return write(*resource, newId(), std::move(*body));
    }
    std::string id = target.id;
    if (id.empty()) {
        if (body_id.empty()) {
            return errorMessage(400, "missing " + singular(resource->name) + " id");
        }
        id = body_id;
    } else if (!body_id.empty() && body_id != id) {
        return errorMessage(400, "wrong " + singular(resource->name) + " id: the path says \"" +
                                     id + "\" but the body says \"" + body_id + "\"");
    }
    if (!validId(id)) return errorMessage(400, invalidIdMessage(id));
    return write(*resource, id, std::move(*body));
}

}  // namespace aiproxy::admin
