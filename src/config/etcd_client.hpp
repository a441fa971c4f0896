#pragma once
// EtcdClient: POSTs to etcd's JSON gateway with Beast, one connection per call (admin writes are
// rare; the watch keeps its own), each bounded by the configured timeout. Endpoints are tried in
// turn: a failed connect moves on to the next. With user and password it authenticates once and
// again when etcd says the token is no longer valid. Lives on the store's etcd thread only.

#include <functional>
#include <optional>
#include <string>

#include "aiproxy/common/asio.hpp"
#include "aiproxy/config/config.hpp"
#include "aiproxy/config/etcd_protocol.hpp"

namespace aiproxy::config::etcd {

struct Reply {
    bool ok = false;  // a 200 answer: body is etcd's JSON
    std::string body;
    std::string error;  // why not, for logs and 503 answers
};

class EtcdClient {
public:
    EtcdClient(common::net::any_io_executor executor, EtcdConfig settings);

    common::awaitable<Reply> call(std::string path, std::string body);

    // Streams POST /v3/watch from start_revision, calling on_message for each message until the
    // stream ends or on_message returns false; returns why it ended. The header and the first
    // message must arrive within the timeout; after that the stream may stay quiet for ever (the
    // store's probe notices a hung etcd and calls cancelWatch()).
    common::awaitable<std::string> watch(
        std::uint64_t start_revision, const std::function<bool(const WatchMessage&)>& on_message);
    void cancelWatch();

    const EtcdConfig& settings() const { return settings_; }

private:
    struct Endpoint {
        std::string host;
        std::string port;
    };
    common::awaitable<Reply> exchange(const std::string& path, const std::string& body,
                                      bool with_token);
    common::awaitable<std::optional<std::string>> authenticate();

    common::net::any_io_executor executor_;
    EtcdConfig settings_;
    std::vector<Endpoint> endpoints_;
    std::size_t current_ = 0;
    std::string token_;
    std::function<void()> cancel_watch_;
};

}  // namespace aiproxy::config::etcd
