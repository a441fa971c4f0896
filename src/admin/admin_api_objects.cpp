// The Admin API's object handlers: read, write, patch and delete the stored objects, and export
// the effective configuration. A change is validated, built into a data plane, persisted and
// published before it is answered.

#include "aiproxy/admin/admin_api.hpp"

#include <algorithm>
#include <charconv>

#include "admin_api_detail.hpp"
#include "aiproxy/config/store.hpp"

namespace aiproxy::admin {
namespace {

using config::Document;
using detail::errorMessage;
using detail::idText;
using detail::json;
using detail::keyNotFound;
using detail::parseBody;
using detail::singular;
using detail::validId;

std::string keyOf(std::string_view resource, std::string_view id) {
    return "/apisix/" + std::string{resource} + "/" + std::string{id};
}

Document entry(std::string_view resource, const config::StoredObject& object) {
    return Document{{"key", keyOf(resource, object.id)},
                    {"value", config::redactSecrets(resource, object.value)},
                    {"createdIndex", object.created_index},
                    {"modifiedIndex", object.modified_index}};
}

std::string joinErrors(const std::vector<config::Diagnostic>& errors) {
    std::string text;
    for (const auto& error : errors) {
        if (!text.empty()) text += "; ";
        text += error.toString();
    }
    return text;
}

// Puts the id (consumers: the username) first, so GET output reads like the documentation's
// examples.
Document withId(const std::string& field, const std::string& id, const Document& value) {
    Document object = Document::object();
    object[field] = id;
    for (const auto& [key, member] : value.items()) {
        if (key != field) object[key] = member;
    }
    return object;
}

// A JSON pointer from a sub-path ("plugins/ai-proxy/retry"), refusing empty segments.
std::optional<Document::json_pointer> subPointer(std::string_view sub_path) {
    std::string pointer;
    while (!sub_path.empty()) {
        auto slash = sub_path.find('/');
        auto segment = sub_path.substr(0, slash);
        // Field names of our schema only: a sub-path becomes a JSON key as it is.
        if (segment.empty() || !validId(segment)) return std::nullopt;
        pointer += '/';
        for (char c : segment) {
            if (c == '~') {
                pointer += "~0";
            } else {
                pointer += c;
            }
        }
        if (slash == std::string_view::npos) break;
        sub_path.remove_prefix(slash + 1);
    }
    return Document::json_pointer{pointer};
}

// A write the store did not commit: nothing changed.
AdminResponse storeFailure(const config::WriteResult& result) {
    switch (result.status) {
        case config::WriteResult::Status::Conflict:
            return errorMessage(409, "the object was not changed: " + result.error);
        case config::WriteResult::Status::Unavailable:
            return errorMessage(503, "the config store is unavailable: " + result.error);
        default:
            return errorMessage(500, "cannot store the change: " + result.error);
    }
}

}  // namespace

void mergePatch(Document& target, const Document& patch) {
    if (!patch.is_object()) {
        target = patch;
        return;
    }
    if (!target.is_object()) target = Document::object();
    for (const auto& [key, value] : patch.items()) {
        if (value.is_null()) {
            target.erase(key);
        } else {
            mergePatch(target[key], value);
        }
    }
}

AdminResponse AdminApi::getOne(const config::Resource& resource, const std::string& id) const {
    const config::StoredObject* object = store_.get(resource.name, id);
    if (!object) return keyNotFound();
    return json(200, entry(resource.name, *object));
}

AdminResponse AdminApi::getList(const config::Resource& resource, const Target& target) const {
    auto objects = store_.list(resource.name);
    std::size_t total = objects.size();
    auto page_it = target.query.find("page");
    auto size_it = target.query.find("page_size");
    std::size_t first = 0;
    std::size_t count = total;
    if (page_it != target.query.end() || size_it != target.query.end()) {
        auto number = [](const std::string& text, std::size_t& out) {
            auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
            return ec == std::errc{} && end == text.data() + text.size();
        };
        std::size_t page = 1;
        std::size_t page_size = 10;
        if (page_it != target.query.end() && (!number(page_it->second, page) || page < 1)) {
            return errorMessage(400, "page must be an integer >= 1");
        }
        if (size_it != target.query.end() &&
            (!number(size_it->second, page_size) || page_size < 10 || page_size > 500)) {
            return errorMessage(400, "page_size must be an integer between 10 and 500");
        }
        first = std::min(total, (page - 1) * page_size);
        count = std::min(page_size, total - first);
    }
    Document list = Document::array();
    for (std::size_t i = first; i < first + count; ++i)
        list.push_back(entry(resource.name, *objects[i]));
    return json(200, Document{{"list", std::move(list)}, {"total", total}});
}

AdminResponse AdminApi::write(const config::Resource& resource, const std::string& id,
                              Document value) {
    const config::Config& file = host_.fileConfig();
    if (resource.file_ids(file).count(id) != 0) {
        return errorMessage(400, singular(resource.name) + " \"" + id +
                                     "\" is declared in the config file, which wins each time "
                                     "it is loaded; change it there");
    }
    const config::StoredObject* existing = store_.get(resource.name, id);
    std::int64_t now = host_.now();
    Document object = withId(resource.id_field, id, value);
    if (resource.seal) resource.seal(object);
    object["create_time"] = existing && existing->value.contains("create_time")
                                ? existing->value["create_time"]
                                : Document(now);
    object["update_time"] = now;

    auto errors = resource.check(object, config::existingIds(file, store_));
    if (!errors.empty()) {
        return errorMessage(400, "invalid configuration: " + joinErrors(errors));
    }
    config::PendingChange change{resource.name, id, &object};
    config::Config candidate = config::effectiveConfig(file, store_, nullptr, &change);
    if (auto failure = host_.prepare(candidate)) {
        return errorMessage(400, "invalid configuration: " + *failure);
    }
    unsigned status = existing ? 200 : 201;
    const std::string& name = resource.name;  // resources() lives as long as the process
    AdminResponse answer;
    answer.pending = [this, &name, id, status, object = std::move(object)](AdminReply reply) {
        store_.putAsync(name, id, object, [this, &name, status, reply](config::WriteResult result) {
            if (result.status != config::WriteResult::Status::Committed) {
                reply(storeFailure(result));
                return;
            }
            if (!result.published) host_.publish();
            reply(json(status, entry(name, *result.object)));
        });
    };
    return answer;
}

AdminResponse AdminApi::patch(const config::Resource& resource, const std::string& id,
                              const std::string& sub_path, const std::string& body) {
    const config::StoredObject* existing = store_.get(resource.name, id);
    if (!existing) return keyNotFound();
    std::string error;
    auto patch_value = parseBody(body, error);
    if (!patch_value) return errorMessage(400, error);
    Document value = existing->value;
    value.erase("create_time");
    value.erase("update_time");
    if (sub_path.empty()) {
        if (!patch_value->is_object()) {
            return errorMessage(400, "the request body must be a JSON object");
        }
        for (const char* forbidden : {"create_time", "update_time"}) {
            if (patch_value->contains(forbidden)) {
                return errorMessage(400, std::string{"the property is forbidden: "} + forbidden);
            }
        }
        if (patch_value->contains(resource.id_field) &&
            idText((*patch_value)[resource.id_field]) != id) {
            return errorMessage(
                400, "wrong " + singular(resource.name) + " id: an object's id cannot be changed");
        }
        mergePatch(value, *patch_value);
    } else {
        auto pointer = subPointer(sub_path);
        if (!pointer) return errorMessage(400, "invalid sub-path \"" + sub_path + "\"");
        std::string first = sub_path.substr(0, sub_path.find('/'));
        if (first == resource.id_field || first == "create_time" || first == "update_time") {
            return errorMessage(400, "the property is forbidden: " + first);
        }
        // The parent must exist; the last segment may be new.
        if (!value.contains(pointer->parent_pointer())) {
            return errorMessage(400, "invalid sub-path \"" + sub_path + "\": " +
                                         pointer->parent_pointer().to_string() + " does not exist");
        }
        const Document& parent = value.at(pointer->parent_pointer());
        if (!parent.is_object()) {
            return errorMessage(
                400, "invalid sub-path \"" + sub_path + "\": only object members can be patched");
        }
        value[*pointer] = *patch_value;
    }
    return write(resource, id, std::move(value));
}

AdminResponse AdminApi::remove(const config::Resource& resource, const std::string& id,
                               bool force) {
    if (!store_.get(resource.name, id)) {
        if (resource.file_ids(host_.fileConfig()).count(id) != 0) {
            return errorMessage(400, singular(resource.name) + " \"" + id +
                                         "\" is declared in the config file; remove it there");
        }
        return keyNotFound();
    }
    if (!force) {
        for (const config::Resource& other : config::resources()) {
            std::vector<std::string> users;
            for (const config::StoredObject* object : store_.list(other.name)) {
                for (const auto& ref : other.references(object->value)) {
                    if (ref.resource == resource.name && ref.id == id) {
                        users.push_back(object->id);
                        break;
                    }
                }
            }
            if (users.empty()) continue;
            std::string list;
            for (const auto& user : users)
                list += (list.empty() ? "" : ",") + user;
            return errorMessage(400, "can not delete this " + singular(resource.name) + ", " +
                                         singular(other.name) + " [" + list +
                                         "] is still using it now");
        }
    }
    config::PendingChange change{resource.name, id, nullptr};
    config::Config candidate =
        config::effectiveConfig(host_.fileConfig(), store_, nullptr, &change);
    if (auto failure = host_.prepare(candidate)) {
        return errorMessage(400, "cannot apply the change: " + *failure);
    }
    const std::string& name = resource.name;
    AdminResponse answer;
    answer.pending = [this, &name, id](AdminReply reply) {
        store_.removeAsync(name, id, [this, &name, id, reply](config::WriteResult result) {
            if (result.status != config::WriteResult::Status::Committed) {
                reply(storeFailure(result));
                return;
            }
            if (!result.published) host_.publish();
            reply(json(200, Document{{"deleted", id}, {"key", keyOf(name, id)}}));
        });
    };
    return answer;
}

AdminResponse AdminApi::exportConfig() const {
    const config::Config& file = host_.fileConfig();
    Document out = Document::object();
    const Document* file_document = host_.fileDocument();
    for (const config::Resource& resource : config::resources()) {
        Document list = Document::array();
        auto file_ids = resource.file_ids(file);
        if (file_document && file_document->is_object()) {
            auto section = file_document->find(resource.name);
            if (section != file_document->end() && section->is_array()) {
                for (const Document& object : *section) {
                    list.push_back(
                        Document{{"source", "file"},
                                 {"value", config::redactSecrets(resource.name, object)}});
                }
            }
        }
        for (const config::StoredObject* object : store_.list(resource.name)) {
            if (file_ids.count(object->id) != 0) continue;  // shadowed by the file
            list.push_back(
                Document{{"source", "admin"},
                         {"key", keyOf(resource.name, object->id)},
                         {"value", config::redactSecrets(resource.name, object->value)}});
        }
        out[resource.name] = std::move(list);
    }
    return json(200, out);
}

std::string AdminApi::newId() {
    // 20 digits like APISIX's ids; time-based so ids sort by creation, bumped to stay unique.
    auto now = static_cast<std::uint64_t>(host_.now()) * 1'000'000;
    std::uint64_t candidate = std::max(now, last_generated_ + 1);
    std::string id;
    do {
        id = std::to_string(candidate);
        id.insert(0, id.size() < 20 ? 20 - id.size() : 0, '0');
        ++candidate;
    } while ([&] {
        for (const auto& resource : config::resources()) {
            if (store_.get(resource.name, id)) return true;
        }
        return false;
    }());
    last_generated_ = candidate - 1;
    return id;
}

}  // namespace aiproxy::admin
