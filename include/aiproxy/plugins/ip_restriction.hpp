#pragma once
// IpRestriction: a route's ip-restriction plugin, compiled once per snapshot (the CIDRs are
// parsed there, never per request). Runs before key-auth and the limits: it is the cheapest
// check, and an address it refuses must not use up anyone's rate budget.

#include <string>
#include <string_view>
#include <vector>

#include "aiproxy/common/cidr.hpp"
#include "aiproxy/common/metric_cells.hpp"
#include "aiproxy/config/config.hpp"

namespace aiproxy::plugins {

class IpRestriction {
public:
    // The config is validated: an entry that does not parse is left out.
    explicit IpRestriction(const config::IpRestrictionConfig& config);

    // client: the client address as text (real_ip's). One that is not an address is in no
    // list: a whitelist refuses it, a blacklist lets it through.
    bool allows(std::string_view client) const;

    int status() const { return status_; }
    const std::string& message() const { return message_; }

    // aiproxy_ip_restriction_rejected_total{route}; null = not recorded.
    metrics::CounterCell* rejected = nullptr;

private:
    std::vector<common::Cidr> ranges_;
    bool whitelist_ = true;
    int status_ = 403;
    std::string message_;
};

}  // namespace aiproxy::plugins
