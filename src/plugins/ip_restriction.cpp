#include "aiproxy/plugins/ip_restriction.hpp"

namespace aiproxy::plugins {

IpRestriction::IpRestriction(const config::IpRestrictionConfig& config)
    : whitelist_(!config.whitelist.empty()),
      status_(config.response_code),
      message_(config.message) {
    for (const auto& text : whitelist_ ? config.whitelist : config.blacklist) {
        if (auto range = common::Cidr::parse(text)) ranges_.push_back(*range);
    }
}

bool IpRestriction::allows(std::string_view client) const {
    boost::system::error_code ec;
    auto address = boost::asio::ip::make_address(std::string(client), ec);
    bool listed = !ec && common::anyContains(ranges_, address);
    return whitelist_ ? listed : !listed;
}

}  // namespace aiproxy::plugins
