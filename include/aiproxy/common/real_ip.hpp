#pragma once
// RealIp: who the client is when the gateway sits behind proxies (nginx real_ip, APISIX
// real-ip). A forwarding header is believed only when the TCP peer is a trusted proxy; then
// X-Forwarded-For is walked from the right past the addresses of further trusted proxies
// (recursive), or its last entry is taken. An entry that is not an address ends the walk: the
// last address found stays the answer, so garbage never becomes the client.

#include <string>
#include <string_view>
#include <vector>

#include "aiproxy/common/cidr.hpp"

namespace aiproxy::common {

class RealIp {
public:
    RealIp(std::string header, std::vector<Cidr> trusted, bool recursive);

    // The header that names the client ("X-Forwarded-For", "X-Real-IP", ...).
    const std::string& header() const { return header_; }

    // peer: the TCP peer's address; forwarded: the header's value, several fields joined by
    // ',' (empty when absent). Returns the client's address in canonical text form.
    std::string resolve(std::string_view peer, std::string_view forwarded) const;

private:
    std::string header_;
    std::vector<Cidr> trusted_;
    bool recursive_ = true;
};

}  // namespace aiproxy::common
