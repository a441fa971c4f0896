#include "config_store.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

#include "aiproxy/config/objects.hpp"

namespace aiproxy::server {

std::unique_ptr<config::Store> openStore(const config::StorageConfig& storage,
                                         boost::asio::io_context& control) {
    std::unique_ptr<config::Store> store;
    if (storage.type == config::StorageConfig::Type::Etcd) {
        store = config::makeEtcdStore(storage.etcd, [&control](std::function<void()> fn) {
            boost::asio::post(control, std::move(fn));
        });
    } else {
        store = config::makeFileStore(storage.data_dir);
    }
    store->load();
    return store;
}

config::Config LeftOutObjects::effective(const config::Config& file, const config::Store& store) {
    std::vector<config::Diagnostic> skipped;
    config::Config effective = config::effectiveConfig(file, store, &skipped);
    for (const auto& problem : skipped) {
        std::string text = problem.toString();
        if (seen_.insert(text).second) {
            spdlog::warn("admin-managed object left out: {}", text);
            count_.fetch_add(1, std::memory_order_relaxed);
        }
    }
    return effective;
}

}  // namespace aiproxy::server
