#pragma once
// AdminServer: the Admin API's listener on the control thread (admin.listen, loopback by
// default). Only clients inside admin.allow get past the socket (others: 403); requests are
// bounded in size and time and handed to AdminApi, whose writes run on this same thread, so they
// are applied one at a time in arrival order.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "aiproxy/admin/admin_api.hpp"
#include "aiproxy/common/cidr.hpp"

namespace aiproxy::admin {

class AdminServer {
public:
    // Binds host:port at once (throws std::runtime_error naming the address on failure).
    AdminServer(boost::asio::io_context& context, const std::string& host, std::uint16_t port,
                std::vector<common::Cidr> allow, AdminApi& api);
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
