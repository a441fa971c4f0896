#include "redis_connection.hpp"

#include <deque>
#include <functional>

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

namespace aiproxy::plugins {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using common::use_nothrow;

constexpr std::chrono::milliseconds kFirstBackoff{100};
constexpr std::chrono::milliseconds kMaxBackoff{1000};
constexpr std::size_t kReadChunk = 16 * 1024;

}  // namespace

struct RedisConnection::Pending {
    explicit Pending(const net::any_io_executor& executor) : timer(executor) {}
    net::steady_timer timer;
    std::optional<RedisReply> reply;
    std::string error;
    bool done = false;
    // The handshake's commands: nobody waits on them; their replies are read here. An error
    // returned ends the connection.
    std::function<std::optional<std::string>(const RedisReply&)> on_reply;
};

struct RedisConnection::Session {
    explicit Session(const net::any_io_executor& executor) : socket(executor) {}
    tcp::socket socket;
    bool connected = false;
    bool dead = false;
    bool writing = false;
    std::string out;                               // encoded commands not yet written
    std::deque<std::shared_ptr<Pending>> pending;  // sent (or queued), awaiting replies in order
    RedisReplyParser parser;
};

RedisConnection::RedisConnection(net::any_io_executor executor, config::RedisPolicyConfig target,
                                 std::vector<std::string> scripts)
    : executor_(std::move(executor)),
      target_(std::move(target)),
      address_(target_.host + ":" + std::to_string(target_.port)),
      scripts_(std::move(scripts)),
      shas_(scripts_.size()) {}

RedisConnection::~RedisConnection() {
    if (session_) {
        boost::system::error_code ignored;
        session_->socket.close(ignored);
    }
}

std::shared_ptr<RedisConnection::Session> RedisConnection::session() {
    if (session_ && !session_->dead) return session_;
    if (session_ && std::chrono::steady_clock::now() < retry_at_) return nullptr;
    session_ = std::make_shared<Session>(executor_);
    handshake(*session_);
    net::co_spawn(executor_, connect(session_), net::detached);
    return session_;
}

void RedisConnection::handshake(Session& session) {
    using OnReply = std::function<std::optional<std::string>(const RedisReply&)>;
    auto internal = [&](const std::vector<std::string>& args, OnReply on_reply) {
        auto pending = std::make_shared<Pending>(executor_);
        pending->on_reply = std::move(on_reply);
        encodeCommand(session.out, args);
        session.pending.push_back(std::move(pending));
    };
    // A refused AUTH or SELECT ends the connection: nothing after it would be counted right.
    auto must_succeed = [](std::string step) -> OnReply {
        return [step](const RedisReply& reply) -> std::optional<std::string> {
            if (reply.type != RedisReply::Type::Error) return std::nullopt;
            return step + " refused: " + reply.text;
        };
    };
    if (!target_.password.empty()) {
        std::vector<std::string> auth{"AUTH"};
        if (!target_.username.empty()) auth.push_back(target_.username);
        auth.push_back(target_.password);
        internal(auth, must_succeed("AUTH"));
    }
    if (target_.database != 0) {
        internal({"SELECT", std::to_string(target_.database)}, must_succeed("SELECT"));
    }
    for (std::size_t i = 0; i < scripts_.size(); ++i) {
        // The connection outlives its sessions' replies (readLoop holds it).
        internal({"SCRIPT", "LOAD", scripts_[i]},
                 [this, i](const RedisReply& reply) -> std::optional<std::string> {
                     if (reply.type == RedisReply::Type::String) shas_[i] = reply.text;
                     return std::nullopt;
                 });
    }
}

void RedisConnection::fail(const std::shared_ptr<Session>& session, const std::string& reason) {
    if (!session || session->dead) return;
    session->dead = true;
    boost::system::error_code ignored;
    session->socket.close(ignored);
    for (auto& pending : session->pending) {
        pending->done = true;
        pending->error = reason;
        pending->timer.cancel();
    }
    session->pending.clear();
    if (session != session_) return;
    last_error_ = reason;
    retry_at_ = std::chrono::steady_clock::now() + backoff_;
    backoff_ = std::min(backoff_ * 2, kMaxBackoff);
    if (!reported_) {
        reported_ = true;
        spdlog::warn("redis {}: {}; limits on it degrade or refuse until it answers", address_,
                     reason);
    }
}

net::awaitable<void> RedisConnection::connect(std::shared_ptr<Session> session) {
    auto self = shared_from_this();
    tcp::resolver resolver{executor_};
    auto [resolve_error, endpoints] =
        co_await resolver.async_resolve(target_.host, std::to_string(target_.port), use_nothrow);
    if (session->dead) co_return;
    if (resolve_error) {
        fail(session, "cannot resolve " + target_.host + ": " + resolve_error.message());
        co_return;
    }
    auto [connect_error, endpoint] =
        co_await net::async_connect(session->socket, endpoints, use_nothrow);
    if (session->dead) co_return;
    if (connect_error) {
        fail(session, "cannot connect: " + connect_error.message());
        co_return;
    }
    boost::system::error_code ignored;
    session->socket.set_option(tcp::no_delay{true}, ignored);
    session->connected = true;
    startWriting(session);
    co_await readLoop(session);
}

net::awaitable<void> RedisConnection::readLoop(std::shared_ptr<Session> session) {
    auto self = shared_from_this();
    std::string buffer(kReadChunk, '\0');
    while (!session->dead) {
        auto [ec, n] = co_await session->socket.async_read_some(net::buffer(buffer), use_nothrow);
        if (session->dead) co_return;
        if (ec) {
            fail(session, ec == net::error::eof ? std::string{"connection closed by Redis"}
                                                : "read failed: " + ec.message());
            co_return;
        }
        if (!session->parser.feed(std::string_view{buffer.data(), n})) {
            fail(session, "unreadable reply");
            co_return;
        }
        while (auto reply = session->parser.next()) {
            if (session->pending.empty()) {
                fail(session, "reply without a command");
                co_return;
            }
            auto pending = std::move(session->pending.front());
            session->pending.pop_front();
            if (session == session_) {
                backoff_ = kFirstBackoff;
                if (reported_ && reply->type != RedisReply::Type::Error) {
                    reported_ = false;
                    spdlog::info("redis {}: answering again", address_);
                }
            }
            if (pending->on_reply) {
                if (auto error = pending->on_reply(*reply)) {
                    fail(session, *error);
                    co_return;
                }
            }
            pending->done = true;
            pending->reply = std::move(*reply);
            pending->timer.cancel();
            if (session->dead) co_return;
        }
        if (session->parser.failed()) {
            fail(session, "unreadable reply");
            co_return;
        }
    }
}

void RedisConnection::startWriting(const std::shared_ptr<Session>& session) {
    if (!session->connected || session->writing || session->dead || session->out.empty()) return;
    session->writing = true;
    net::co_spawn(executor_, writeLoop(session), net::detached);
}

net::awaitable<void> RedisConnection::writeLoop(std::shared_ptr<Session> session) {
    auto self = shared_from_this();
    std::string buffer;
    while (!session->dead && !session->out.empty()) {
        buffer.clear();
        buffer.swap(session->out);  // what arrives meanwhile goes out in the next write
        auto [ec, n] = co_await net::async_write(session->socket, net::buffer(buffer), use_nothrow);
        if (ec) {
            fail(session, "write failed: " + ec.message());
            break;
        }
    }
    session->writing = false;
}

net::awaitable<RedisResult> RedisConnection::command(std::vector<std::string> args) {
    auto self = shared_from_this();
    auto live = session();
    if (!live)
        co_return RedisResult{.error = "Redis " + address_ + " unavailable (" + last_error_ + ")"};
    auto pending = std::make_shared<Pending>(executor_);
    encodeCommand(live->out, args);
    live->pending.push_back(pending);
    startWriting(live);
    pending->timer.expires_after(target_.timeout);
    co_await pending->timer.async_wait(use_nothrow);
    if (!pending->done) {
        fail(live, "no answer within " + std::to_string(target_.timeout.count()) + " ms");
    }
    RedisResult result;
    if (pending->reply) {
        result.reply = std::move(pending->reply);
    } else {
        result.error = "Redis " + address_ + ": " + pending->error;
    }
    co_return result;
}

net::awaitable<RedisResult> RedisConnection::eval(std::size_t index,
                                                  std::vector<std::string> keys_and_args,
                                                  std::size_t keys) {
    std::vector<std::string> args;
    args.reserve(keys_and_args.size() + 3);
    bool by_sha = !shas_[index].empty();
    args.emplace_back(by_sha ? "EVALSHA" : "EVAL");
    args.push_back(by_sha ? shas_[index] : scripts_[index]);
    args.push_back(std::to_string(keys));
    for (auto& arg : keys_and_args)
        args.push_back(std::move(arg));
    auto result = co_await command(args);
    if (by_sha && result.reply && result.reply->type == RedisReply::Type::Error &&
        result.reply->text.starts_with("NOSCRIPT")) {
        args[0] = "EVAL";
        args[1] = scripts_[index];
        result = co_await command(std::move(args));
    }
    co_return result;
}

}  // namespace aiproxy::plugins
