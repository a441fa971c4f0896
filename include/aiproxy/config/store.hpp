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

#include "aiproxy/config/config.hpp"
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

// The outcome of an asynchronous write (Store::putAsync, removeAsync).
struct WriteResult {
    enum class Status {
        Committed,
        Conflict,     // another writer changed the object since it was read: nothing stored
        Unavailable,  // the store cannot be reached; a timeout may or may not have committed
        Failed,       // the store refused or could not make the write durable: nothing stored
    };
    Status status = Status::Committed;
    std::string error;                     // why, when not committed
    const StoredObject* object = nullptr;  // putAsync, committed: the object as stored
    bool published = false;  // the store already ran the watch callback for this change
};
using WriteDone = std::function<void(WriteResult)>;

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
    // only writer of its file, so it never calls back. The etcd store calls it on the control
    // thread once per batch of applied changes, with empty resource and id.
    virtual void watch(std::function<void(std::string_view resource, std::string_view id)>) = 0;

    // put()/remove() for callers that must not wait on a network (the Admin API). `done` runs on
    // the caller's thread: in place for the file store, later for the etcd store. For a remove,
    // a missing object is Committed too.
    virtual void putAsync(std::string_view resource, std::string_view id, Document value,
                          WriteDone done) {
        WriteResult result;
        try {
            result.object = &put(resource, id, std::move(value));
        } catch (const StoreError& error) {
            result = {.status = WriteResult::Status::Failed, .error = error.what()};
        }
        done(std::move(result));
    }
    virtual void removeAsync(std::string_view resource, std::string_view id, WriteDone done) {
        WriteResult result;
        try {
            remove(resource, id);
        } catch (const StoreError& error) {
            result = {.status = WriteResult::Status::Failed, .error = error.what()};
        }
        done(std::move(result));
    }

    // aiproxy_config_store_up: whether writes can reach the store now. Thread-safe.
    virtual bool up() const { return true; }
    // Stored values left out because they are not JSON objects (etcd: written by hand).
    // Thread-safe.
    virtual std::uint64_t invalidValues() const { return 0; }
};

// The embedded store: <data_dir>/state.json, written atomically on every change (temp file,
// fsync, rename, fsync of the directory). Creates data_dir (mode 0700) when missing.
std::unique_ptr<Store> makeFileStore(const std::string& data_dir);

// The cluster store (etcd v3 through its JSON gateway). Its client runs on a thread of its own
// holding a copy of <prefix>/ that get() and list() read; writes and changes come back to the
// caller through `post` (onto the control thread), so no call here waits on etcd except load(),
// which waits up to settings.timeout once at start and does not throw when etcd is down: the
// store then starts empty and catches up when etcd answers.
using PostFunction = std::function<void(std::function<void()>)>;
std::unique_ptr<Store> makeEtcdStore(const EtcdConfig& settings, PostFunction post);

}  // namespace aiproxy::config
