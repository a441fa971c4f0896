#pragma once
// AdminServer: the Admin API's listener on the control thread (admin.listen, loopback by
// default). Only clients inside admin.allow get past the socket (others: 403); requests are
// bounded in size and time and handed to AdminApi, whose writes run on this same thread, so they
// are applied one at a time in arrival order. Failed authentications are rate limited per source
// address (AuthFailureLimiter).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "aiproxy/admin/admin_api.hpp"
#include "aiproxy/common/cidr.hpp"

namespace aiproxy::admin {

/// Failed authentications per source address, so a key cannot be guessed at wire speed. Once an
/// address has failed `max_failures` times within `window` (counted from its first failure), it
/// is refused without a key check until that window ends. A success changes no counter: the
/// count simply expires. At most `max_tracked` addresses are tracked; to make room the one whose
/// window started first is dropped, so a flood of sources cannot grow memory. Pure (the caller
/// passes the time); one thread only.
class AuthFailureLimiter {
public:
    using Clock = std::chrono::steady_clock;
    struct Settings {
        int max_failures = 10;
        std::chrono::milliseconds window{60000};
        std::size_t max_tracked = 4096;
    };

    explicit AuthFailureLimiter(Settings settings);

    /// Whole seconds (rounded up) until `address` may try again; zero when it may try now.
    std::chrono::seconds blockedFor(const std::string& address, Clock::time_point now) const;
    /// Counts one failure; true when it is the one that blocks the address.
    bool recordFailure(const std::string& address, Clock::time_point now);
    std::size_t tracked() const { return entries_.size(); }
    const Settings& settings() const { return settings_; }

private:
    struct Entry {
        Clock::time_point window_start;
        int failures = 0;
    };

    void dropExpired(Clock::time_point now);

    Settings settings_;
    std::unordered_map<std::string, Entry> entries_;
    std::list<std::string> order_;  // addresses by window start, oldest first
};

class AdminServer {
public:
    // Binds host:port at once (throws std::runtime_error naming the address on failure).
    AdminServer(boost::asio::io_context& context, const std::string& host, std::uint16_t port,
                std::vector<common::Cidr> allow, AdminApi& api,
                AuthFailureLimiter::Settings auth_failure_limit = {});
    ~AdminServer();
    AdminServer(const AdminServer&) = delete;
    AdminServer& operator=(const AdminServer&) = delete;

    std::uint16_t port() const;
    void start();
    void stop();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace aiproxy::admin
