// The resource table of the admin API and the merge of file and admin-managed objects.

#include "aiproxy/config/objects.hpp"

#include <algorithm>

#include "aiproxy/common/digest.hpp"
#include "aiproxy/config/store.hpp"
#include "schema.hpp"

namespace aiproxy::config {
namespace {

using detail::DiagnosticSink;
using detail::Json;
using detail::Value;

// Admin bookkeeping fields are not part of the schema the file readers know.
Json withoutTimes(const Document& value) {
    Json copy = value;
    if (copy.is_object()) {
        copy.erase("create_time");
        copy.erase("update_time");
    }
    return copy;
}

const std::set<std::string>& idsOf(const ObjectIds& ids, std::string_view resource) {
    static const std::set<std::string> kNone;
    auto found = ids.find(resource);
    return found == ids.end() ? kNone : found->second;
}

std::string textId(const Json& value) {
    if (value.is_string()) return value.get<std::string>();
    if (value.is_number_unsigned()) return std::to_string(value.get<std::uint64_t>());
    if (value.is_number_integer()) return std::to_string(value.get<std::int64_t>());
    return {};
}

std::vector<Reference> routeReferences(const Document& value) {
    std::vector<Reference> refs;
    if (!value.is_object()) return refs;
    auto plugins = value.find("plugins");
    if (plugins == value.end() || !plugins->is_object()) return refs;
    auto ai_proxy = plugins->find("ai-proxy");
    if (ai_proxy == plugins->end() || !ai_proxy->is_object()) return refs;
    for (const char* field : {"upstream_id", "upstream_fallback_id"}) {
        auto ref = ai_proxy->find(field);
        if (ref == ai_proxy->end()) continue;
        std::string id = textId(*ref);
        if (!id.empty()) {
            refs.push_back({"upstreams", id, std::string{"plugins.ai-proxy."} + field});
        }
    }
    return refs;
}

std::vector<Reference> consumerReferences(const Document& value) {
    std::vector<Reference> refs;
    if (!value.is_object()) return refs;
    auto group = value.find("group_id");
    if (group == value.end()) return refs;
    std::string id = textId(*group);
    if (!id.empty()) refs.push_back({"consumer_groups", id, "group_id"});
    return refs;
}

// One kind of object: how to read it (the file's reader for that section) and where it goes.
template <class Object, class Read>
Resource makeResource(std::string name, Read read, std::vector<Object> Config::*section,
                      std::function<std::vector<Reference>(const Document&)> references) {
    auto parse = [read](const Document& value, const ObjectIds& existing, Object& out) {
        DiagnosticSink sink;
        Json object = withoutTimes(value);
        read(Value{object, "", sink}, existing, out);
        return std::move(sink.errors);
    };
    return Resource{
        .name = std::move(name),
        .check =
            [parse](const Document& value, const ObjectIds& existing) {
                Object out;
                return parse(value, existing, out);
            },
        .references = std::move(references),
        .add =
            [parse, section](const Document& value, const ObjectIds& existing, Config& config) {
                Object out;
                auto errors = parse(value, existing, out);
                if (errors.empty()) (config.*section).push_back(std::move(out));
                return errors;
            },
        .file_ids =
            [section](const Config& file) {
                std::set<std::string> ids;
                for (const auto& object : file.*section)
                    ids.insert(object.id);
                return ids;
            },
    };
}

// A clear key-auth key is replaced by its SHA-256 before anything stores it, so the admin API
// accepts a key once and can never show it again.
void sealConsumer(Document& value) {
    if (!value.is_object()) return;
    auto plugins = value.find("plugins");
    if (plugins == value.end() || !plugins->is_object()) return;
    auto key_auth = plugins->find("key-auth");
    if (key_auth == plugins->end() || !key_auth->is_object()) return;
    auto key = key_auth->find("key");
    if (key == key_auth->end() || !key->is_string() || key->get<std::string>().empty()) return;
    // A clear key replaces a stored digest: PATCH {"plugins":{"key-auth":{"key":...}}} rotates it.
    std::string digest = common::sha256Hex(key->get<std::string>());
    key_auth->erase("key");
    (*key_auth)["key_sha256"] = digest;
}

std::vector<Resource> makeResources() {
    std::vector<Resource> list;
    list.push_back(makeResource<ConsumerGroupConfig>(
        "consumer_groups",
        [](const Value& value, const ObjectIds&, ConsumerGroupConfig& out) {
            detail::readConsumerGroup(value, out);
        },
        &Config::consumer_groups, [](const Document&) { return std::vector<Reference>{}; }));
    Resource consumers = makeResource<ConsumerConfig>(
        "consumers",
        [](const Value& value, const ObjectIds& existing, ConsumerConfig& out) {
            detail::readConsumer(value, idsOf(existing, "consumer_groups"), out);
        },
        &Config::consumers, consumerReferences);
    consumers.id_field = "username";
    consumers.seal = sealConsumer;
    list.push_back(std::move(consumers));
    list.push_back(makeResource<UpstreamConfig>(
        "upstreams",
        [](const Value& value, const ObjectIds&, UpstreamConfig& out) {
            detail::readUpstream(value, out);
        },
        &Config::upstreams, [](const Document&) { return std::vector<Reference>{}; }));
    list.push_back(makeResource<RouteConfig>(
        "routes",
        [](const Value& value, const ObjectIds& existing, RouteConfig& out) {
            detail::readRoute(value, idsOf(existing, "upstreams"), out);
        },
        &Config::routes, routeReferences));
    return list;
}

}  // namespace

const std::vector<Resource>& resources() {
    static const std::vector<Resource> kResources = makeResources();
    return kResources;
}

const Resource* findResource(std::string_view name) {
    for (const Resource& resource : resources()) {
        if (resource.name == name) return &resource;
    }
    return nullptr;
}

ObjectIds existingIds(const Config& file, const Store& store) {
    ObjectIds ids;
    for (const Resource& resource : resources()) {
        auto& set = ids[resource.name];
        set = resource.file_ids(file);
        for (const StoredObject* object : store.list(resource.name))
            set.insert(object->id);
    }
    return ids;
}

Config effectiveConfig(const Config& file, const Store& store, std::vector<Diagnostic>* skipped,
                       const PendingChange* pending) {
    Config config = file;
    // Grown resource by resource, so a reference only counts objects that made it in.
    ObjectIds present;
    for (const Resource& resource : resources()) {
        auto file_ids = resource.file_ids(file);
        auto& ids = present[resource.name];
        ids = file_ids;
        bool pending_here = pending && pending->resource == resource.name;
        bool pending_seen = false;
        auto addObject = [&](const std::string& id, const Document& value) {
            if (file_ids.count(id) != 0) return;  // the file wins
            auto errors = resource.add(value, present, config);
            if (!errors.empty()) {
                if (skipped) {
                    for (auto& error : errors) {
                        skipped->push_back({resource.name + "/" + id +
                                                (error.path.empty() ? "" : "." + error.path),
                                            error.message});
                    }
                }
                return;
            }
            ids.insert(id);
        };
        for (const StoredObject* object : store.list(resource.name)) {
            if (pending_here && object->id == pending->id) {
                pending_seen = true;
                if (pending->value) addObject(object->id, *pending->value);
                continue;
            }
            addObject(object->id, object->value);
        }
        if (pending_here && !pending_seen && pending->value) {
            addObject(std::string{pending->id}, *pending->value);
        }
    }
    return config;
}

Document redactSecrets(std::string_view resource, const Document& value) {
    Document copy = value;
    auto redactAuth = [](Document& holder) {
        if (!holder.is_object()) return;
        auto auth = holder.find("auth");
        if (auth == holder.end() || !auth->is_object()) return;
        for (const char* part : {"header", "query"}) {
            auto section = auth->find(part);
            if (section == auth->end() || !section->is_object()) continue;
            for (auto& [name, secret] : section->items()) {
                (void)name;
                secret = "***";
            }
        }
    };
    if (resource == "upstreams") redactAuth(copy);
    if (resource == "consumers" && copy.is_object()) {
        auto plugins = copy.find("plugins");
        if (plugins != copy.end() && plugins->is_object()) {
            auto key_auth = plugins->find("key-auth");
            if (key_auth != plugins->end() && key_auth->is_object()) {
                for (const char* field : {"key", "key_sha256"}) {
                    if (key_auth->contains(field)) (*key_auth)[field] = "***";
                }
            }
        }
    }
    if (resource == "routes" && copy.is_object()) {
        auto plugins = copy.find("plugins");
        if (plugins != copy.end() && plugins->is_object()) {
            auto multi = plugins->find("ai-proxy-multi");
            if (multi != plugins->end() && multi->is_object()) {
                auto instances = multi->find("instances");
                if (instances != multi->end() && instances->is_array()) {
                    for (auto& instance : *instances)
                        redactAuth(instance);
                }
            }
        }
    }
    return copy;
}

}  // namespace aiproxy::config
