#pragma once
// AdminApi: the Admin API's request handling (APISIX v3 shapes) as a pure function of a request,
// the store and the file's config; AdminServer does the I/O. A successful write is validated,
// built into a data plane, persisted and published before its response is produced, so the next
// data-plane request sees it (ARCHITECTURE.md section 3).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aiproxy/config/config.hpp"
#include "aiproxy/config/objects.hpp"

namespace aiproxy::config {
class Store;
}

namespace aiproxy::admin {

// Request bodies above this are refused (APISIX's limit is 1.5 MiB too).
inline constexpr std::size_t kMaxAdminBodyBytes = 1536 * 1024;

struct AdminRequest {
    std::string method;     // "GET", "PUT", ...
    std::string target;     // "/apisix/admin/routes/1?force=true"
    std::string x_api_key;  // the X-API-KEY header
    std::string cookie;     // the Cookie header
    std::string body;
};

struct AdminResponse;
using AdminReply = std::function<void(AdminResponse)>;

struct AdminResponse {
    unsigned status = 200;
    std::string body;  // JSON, except for the status page
    std::string_view content_type = "application/json";
    // Set when the answer comes later (a write to the etcd store, committed on its own thread):
    // call it with where the answer goes; that runs on the calling thread once etcd answered.
    std::function<void(AdminReply)> pending;
};

// What the API needs from the process around it.
class AdminHost {
public:
    virtual ~AdminHost() = default;
    virtual const config::Config& fileConfig() const = 0;
    // The file's document after env expansion (for the export), or null.
    virtual const config::Document* fileDocument() const = 0;
    // Builds the data plane for an effective config without publishing it; an error otherwise.
    virtual std::optional<std::string> prepare(const config::Config& effective) = 0;
    // Publishes what the last successful prepare() built; returns once workers use it.
    virtual void publish() = 0;
    // Seconds since the epoch, for create_time and update_time.
    virtual std::int64_t now() const = 0;
    // GET /apisix/admin/{upstreams|routes}/{id}/health: the nodes of an upstream, or the
    // instances of an ai-proxy-multi route; nullopt when there is no such object.
    virtual std::optional<config::Document> health(std::string_view resource,
                                                   std::string_view id) const {
        (void)resource;
        (void)id;
        return std::nullopt;
    }
    // GET /status.json: what the status page polls (admin/status_page.hpp); nullopt: no page.
    virtual std::optional<std::string> statusJson() const { return std::nullopt; }
};

class AdminApi {
public:
    AdminApi(config::Store& store, AdminHost& host, std::vector<config::AdminKey> keys);

    // The answer, or one with `pending` set when the store commits asynchronously.
    AdminResponse handle(const AdminRequest& request);

    // The key a request presents: X-API-KEY, else ?api_key=, else the x_api_key cookie.
    static std::string presentedKey(const AdminRequest& request);

private:
    struct Target;
    AdminResponse handleNow(const AdminRequest& request);
    AdminResponse dispatch(const AdminRequest& request, const Target& target);
    AdminResponse getOne(const config::Resource& resource, const std::string& id) const;
    AdminResponse getList(const config::Resource& resource, const Target& target) const;
    AdminResponse write(const config::Resource& resource, const std::string& id,
                        config::Document value);
    AdminResponse patch(const config::Resource& resource, const std::string& id,
                        const std::string& sub_path, const std::string& body);
    AdminResponse remove(const config::Resource& resource, const std::string& id, bool force);
    AdminResponse exportConfig() const;
    AdminResponse statusPage(const std::string& method, std::string_view path) const;
    std::string newId();

    config::Store& store_;
    AdminHost& host_;
    std::vector<config::AdminKey> keys_;
    std::uint64_t last_generated_ = 0;
};

// JSON merge patch (RFC 7396): objects merged, null deletes, everything else replaced.
void mergePatch(config::Document& target, const config::Document& patch);

}  // namespace aiproxy::admin
