#pragma once
// Admin-managed objects (ARCHITECTURE.md section 3). One Resource entry per kind defines how an
// object is checked (the same readers, messages and paths as the config file) and which other
// objects it refers to; the admin API and the effective config are generic over these entries.

#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "aiproxy/config/config.hpp"
#include "aiproxy/config/config_loader.hpp"

namespace aiproxy::config {

class Store;

// Objects as the admin API and the state file hold them; key order is kept for display.
using Document = nlohmann::ordered_json;

// Ids that exist, per resource name ("upstreams" -> {...}), for reference checks.
using ObjectIds = std::map<std::string, std::set<std::string>, std::less<>>;

struct Reference {
    std::string resource;  // "upstreams"
    std::string id;
    std::string field;  // "plugins.ai-proxy.upstream_id", for messages
};

struct Resource {
    std::string name;  // the path segment: "routes", "upstreams", "consumers", "consumer_groups"
    std::string id_field = "id";  // consumers: "username"
    // Validates one object (with its id; create_time and update_time are ignored). Errors carry
    // paths relative to the object ("nodes[\"a:1\"]: must be >= 0").
    std::function<std::vector<Diagnostic>(const Document& value, const ObjectIds& existing)> check;
    // Objects this one names; each must exist.
    std::function<std::vector<Reference>(const Document& value)> references;
    // Parses an object into the config; returns check()'s errors and adds nothing if any.
    std::function<std::vector<Diagnostic>(const Document& value, const ObjectIds& existing,
                                          Config& config)>
        add;
    // Ids the file declares for this resource.
    std::function<std::set<std::string>(const Config& file)> file_ids;
    // Applied to a written object before it is checked and stored (consumers: a clear key-auth
    // key becomes key_sha256, so the state file never holds it). May be empty.
    std::function<void(Document& value)> seal;
};

// In dependency order: an object only refers to resources listed before its own.
const std::vector<Resource>& resources();
const Resource* findResource(std::string_view name);

// The ids of every object in the file and the store.
ObjectIds existingIds(const Config& file, const Store& store);

// A write not stored yet: what the effective config would be with it.
struct PendingChange {
    std::string_view resource;
    std::string_view id;
    const Document* value = nullptr;  // null: the object is removed
};

// The file's objects, then the store's in creation order, except ids the file declares (the file
// wins). A stored object that no longer checks (e.g. its upstream was force-deleted) is left out
// and reported in `skipped`, so a bad object never takes the data plane down.
Config effectiveConfig(const Config& file, const Store& store,
                       std::vector<Diagnostic>* skipped = nullptr,
                       const PendingChange* pending = nullptr);

// A copy of an object with its secrets (upstream and instance auth values, consumer keys and
// their digests) replaced by "***", for display.
Document redactSecrets(std::string_view resource, const Document& value);

}  // namespace aiproxy::config
