#pragma once
// Store: where admin-managed objects persist (ARCHITECTURE.md section 3). The embedded FileStore
// keeps one state file; a cluster store (etcd) implements the same interface.

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "aiproxy/config/objects.hpp"

namespace aiproxy::config {

struct StoredObject {
    std::string id;
    Document value;  // as GET shows it: includes id, create_time and update_time
    std::uint64_t created_index = 0;
    std::uint64_t modified_index = 0;
};

// Corrupt or unreadable state, or a write that could not be made durable.
class StoreError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class Store {
public:
    virtual ~Store() = default;

    // Reads the persisted objects, replacing what is held. Throws StoreError naming the file and
    // the byte offset when the state is corrupt or truncated; never resets it silently.
    virtual void load() = 0;

    virtual const StoredObject* get(std::string_view resource, std::string_view id) const = 0;
    // One resource's objects in creation order.
    virtual std::vector<const StoredObject*> list(std::string_view resource) const = 0;

    // Creates or replaces. Durable when it returns (a crash after it loses nothing); on
    // StoreError nothing changed. Indexes are assigned here; created_index survives a replace.
    virtual const StoredObject& put(std::string_view resource, std::string_view id,
                                    Document value) = 0;
    // False when there was no such object. Durable when it returns.
    virtual bool remove(std::string_view resource, std::string_view id) = 0;

    // Called after a change made by another writer (a cluster peer). The embedded store is the
    // only writer of its file, so it never calls back.
    virtual void watch(std::function<void(std::string_view resource, std::string_view id)>) = 0;
};

// The embedded store: <data_dir>/state.json, written atomically on every change (temp file,
// fsync, rename, fsync of the directory). Creates data_dir (mode 0700) when missing.
std::unique_ptr<Store> makeFileStore(const std::string& data_dir);

}  // namespace aiproxy::config
