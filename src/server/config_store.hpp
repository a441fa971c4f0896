#pragma once
// The config store of this process and what it adds to the file's objects.

#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <string>

#include <boost/asio/io_context.hpp>

#include "aiproxy/config/config.hpp"
#include "aiproxy/config/store.hpp"

namespace aiproxy::server {

// storage.type: the state file (one node), or etcd (every node shares and watches it; its
// results are posted to `control`). Loaded: a damaged state file throws with its name and offset.
std::unique_ptr<config::Store> openStore(const config::StorageConfig& storage,
                                         boost::asio::io_context& control);

// The effective configuration (the file's objects plus the store's). A stored object that no
// longer checks is left out, logged and counted once per version of it.
class LeftOutObjects {
public:
    config::Config effective(const config::Config& file, const config::Store& store);
    // Distinct problems seen so far (aiproxy_config_store_invalid_objects_total); any thread.
    std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }

private:
    std::set<std::string> seen_;  // control thread only
    std::atomic<std::uint64_t> count_{0};
};

}  // namespace aiproxy::server
