#pragma once
// RedisConnection: one worker's connection to one Redis, pipelined: commands are written as
// they come (one write per burst) and replies matched to them in order. Nothing blocks the
// worker: the socket is the worker's Asio socket and hiredis only parses the bytes read. Every
// command is bounded by the target's timeout, connecting included; a timeout, a refused AUTH or
// a broken connection fails every command in flight and the next connect waits a backoff
// (100 ms doubling to 1 s), during which commands fail at once instead of waiting. Each new
// connection sends AUTH (when a password is set), SELECT and SCRIPT LOAD of the limit scripts
// ahead of everything else. Private to the plugins library; owned by one worker.

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "aiproxy/common/asio.hpp"
#include "aiproxy/config/config.hpp"
#include "aiproxy/plugins/redis_protocol.hpp"

namespace aiproxy::plugins {

struct RedisResult {
    std::optional<RedisReply> reply;  // may be an error reply (Type::Error)
    std::string error;                // no reply: why
};

class RedisConnection : public std::enable_shared_from_this<RedisConnection> {
public:
    RedisConnection(common::net::any_io_executor executor, config::RedisPolicyConfig target,
                    std::vector<std::string> scripts);
    ~RedisConnection();

    common::awaitable<RedisResult> command(std::vector<std::string> args);
    // Script `index` (of those given at construction) with its keys then args: EVALSHA once
    // SCRIPT LOAD told the SHA, EVAL before that and on NOSCRIPT (a flushed script cache).
    common::awaitable<RedisResult> eval(std::size_t index, std::vector<std::string> keys_and_args,
                                        std::size_t keys);

private:
    struct Pending;
    struct Session;

    std::shared_ptr<Session> session();  // the live one, a new one, or null during a backoff
    void handshake(Session& session);
    void fail(const std::shared_ptr<Session>& session, const std::string& reason);
    common::awaitable<void> connect(std::shared_ptr<Session> session);
    common::awaitable<void> readLoop(std::shared_ptr<Session> session);
    common::awaitable<void> writeLoop(std::shared_ptr<Session> session);
    void startWriting(const std::shared_ptr<Session>& session);

    common::net::any_io_executor executor_;
    config::RedisPolicyConfig target_;
    std::string address_;  // host:port, for messages
    std::vector<std::string> scripts_;
    std::vector<std::string> shas_;  // "" until SCRIPT LOAD answered
    std::shared_ptr<Session> session_;
    std::chrono::steady_clock::time_point retry_at_{};
    std::chrono::milliseconds backoff_{100};
    std::string last_error_;
    bool reported_ = false;  // this outage was logged
};

}  // namespace aiproxy::plugins
