#include "memory_store.hpp"

#include <algorithm>

namespace aiproxy::fuzz {
namespace {

template <typename Objects>
auto findById(Objects& objects, std::string_view id) {
    return std::find_if(objects.begin(), objects.end(),
                        [&](const config::StoredObject& object) { return object.id == id; });
}

}  // namespace

MemoryStore::Objects* MemoryStore::objectsOf(std::string_view resource) {
    auto found = resources_.find(resource);
    return found == resources_.end() ? nullptr : &found->second;
}

const MemoryStore::Objects* MemoryStore::objectsOf(std::string_view resource) const {
    auto found = resources_.find(resource);
    return found == resources_.end() ? nullptr : &found->second;
}

const config::StoredObject* MemoryStore::get(std::string_view resource, std::string_view id) const {
    const Objects* objects = objectsOf(resource);
    if (!objects) return nullptr;
    auto object = findById(*objects, id);
    return object == objects->end() ? nullptr : &*object;
}

std::vector<const config::StoredObject*> MemoryStore::list(std::string_view resource) const {
    std::vector<const config::StoredObject*> out;
    if (const Objects* objects = objectsOf(resource)) {
        for (const config::StoredObject& object : *objects)
            out.push_back(&object);
    }
    return out;
}

const config::StoredObject& MemoryStore::put(std::string_view resource, std::string_view id,
                                             config::Document value) {
    maybeFail();
    ++index_;
    Objects& objects = resources_[std::string{resource}];
    auto existing = findById(objects, id);
    if (existing != objects.end()) {  // a replace keeps its place and created_index
        existing->value = std::move(value);
        existing->modified_index = index_;
        return *existing;
    }
    objects.push_back({.id = std::string{id},
                       .value = std::move(value),
                       .created_index = index_,
                       .modified_index = index_});
    return objects.back();
}

bool MemoryStore::remove(std::string_view resource, std::string_view id) {
    Objects* objects = objectsOf(resource);
    if (!objects) return false;
    auto object = findById(*objects, id);
    if (object == objects->end()) return false;
    maybeFail();
    objects->erase(object);
    ++index_;
    return true;
}

void MemoryStore::maybeFail() {
    if (fail_next_write) {
        fail_next_write = false;
        throw config::StoreError("injected store failure");
    }
}

}  // namespace aiproxy::fuzz
