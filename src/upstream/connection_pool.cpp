#include "aiproxy/upstream/connection_pool.hpp"

#include <algorithm>

#include <boost/asio/error.hpp>

namespace aiproxy::upstream {
namespace {
constexpr auto kTrustIdleFor = std::chrono::seconds(1);
}

std::unique_ptr<UpstreamConnection> ConnectionPool::take(const std::string& key) {
    auto it = idle_.find(key);
    if (it == idle_.end()) return nullptr;
    auto& list = it->second;
    auto now = Clock::now();
    while (!list.empty()) {
        auto connection = std::move(list.back());
        list.pop_back();
        changeIdle(-1);
        // A connection idle for under a second is taken on trust (no poll syscall): if the peer
        // did close it, the attempt sees that before any response byte and reconnects once.
        bool recent = now - connection->idle_since < kTrustIdleFor;
        if (connection->idle_until > now && (recent || !connection->peerClosedWhileIdle())) {
            connection->reused = true;
            return connection;
        }
    }
    return nullptr;
}

void ConnectionPool::give(std::unique_ptr<UpstreamConnection> connection,
                          const config::KeepalivePool& settings) {
    if (settings.size == 0 || connection->requests >= settings.requests) return;
    auto& list = idle_[connection->poolKey()];
    // Expired entries sit at the front (oldest); drop them so idle sockets do not pile up.
    auto now = Clock::now();
    while (!list.empty() && list.front()->idle_until <= now) {
        list.pop_front();
        changeIdle(-1);
    }
    if (list.size() >= settings.size) {
        list.pop_front();
        changeIdle(-1);
    }
    connection->reused = false;
    connection->idle_since = now;
    connection->idle_until = now + settings.idle_timeout;
    auto idle_until = connection->idle_until;
    list.push_back(std::move(connection));
    changeIdle(+1);
    armSweep(idle_until);
}

void ConnectionPool::armSweep(Clock::time_point when) {
    // Sweeps stay sweep_interval_ apart, so connections expiring one after another cost one
    // wake-up a second at most, and none when nothing is due.
    if (sweep_armed_ && sweep_timer_.expiry() <= when) return;
    when = std::max(when, Clock::now() + sweep_interval_);
    sweep_armed_ = true;
    sweep_timer_.expires_at(when);  // a later wait still pending ends aborted, touching nothing
    sweep_timer_.async_wait([this](const error_code& ec) {
        if (ec == boost::asio::error::operation_aborted) return;
        sweep_armed_ = false;
        sweep();
    });
}

void ConnectionPool::sweep() {
    auto now = Clock::now();
    auto next = Clock::time_point::max();
    for (auto it = idle_.begin(); it != idle_.end();) {
        auto& list = it->second;
        std::erase_if(list, [&](std::unique_ptr<UpstreamConnection>& connection) {
            bool gone = connection->idle_until <= now || connection->peerClosedWhileIdle();
            if (gone) changeIdle(-1);
            return gone;
        });
        for (const auto& connection : list)
            next = std::min(next, connection->idle_until);
        it = list.empty() ? idle_.erase(it) : std::next(it);
    }
    if (next != Clock::time_point::max()) armSweep(next);
}

void ConnectionPool::retain(const std::unordered_set<std::string>& keys) {
    for (auto it = idle_.begin(); it != idle_.end();) {
        if (keys.count(it->first) != 0) {
            ++it;
            continue;
        }
        changeIdle(-static_cast<std::int64_t>(it->second.size()));
        it = idle_.erase(it);
    }
}

void ConnectionPool::clear() {
    retain({});
    sweep_timer_.cancel();
    sweep_armed_ = false;
}

Clock::time_point ConnectionPool::nextSweep() const {
    return sweep_armed_ ? sweep_timer_.expiry() : Clock::time_point::max();
}

}  // namespace aiproxy::upstream
