#pragma once

// The fixture of the suites about traffic limits (limits_test, consumer_groups_test): one aiproxyd
// over one backend with its status endpoint and Admin API on, requests sent with a consumer's
// key, and what a limit's refusal looks like to a client.

#include <string>
#include <utility>

#include <gtest/gtest.h>

#include "support/daemon_fixture.hpp"
#include "support/http_client.hpp"

namespace aiproxy::test {

/// A day, in seconds: windows align to the clock, so a short one could roll over in the middle of
/// a test. Window boundaries are the unit tests' business (fake clock).
inline constexpr const char* kDay = "86400";

/// A limit plugin's entry under a route's or a group's plugins (YAML, 6 spaces in) with `fields`
/// and a window of a day, e.g. dailyLimit("limit-count", "count: 3, key: consumer_name").
std::string dailyLimit(const std::string& plugin, const std::string& fields);

/// A limit's refusal: `status`, an OpenAI-style rate_limit_exceeded error of `type` ("requests"
/// or "tokens") and a Retry-After of a second or more.
void expectRateLimited(const Response& response, int status, const std::string& type = "requests");

class LimitsFixture : public DaemonFixture {
protected:
    explicit LimitsFixture(std::string admin_key) : admin_key_(std::move(admin_key)) {}

    /// A chat completion POST to /llm/chat/completions, with `apikey` unless it is empty.
    Response chat(const std::string& apikey = "");
    /// An Admin API call with the admin key; `path` is under /apisix/admin/.
    Response admin(const std::string& method, const std::string& path,
                   const std::string& body = "");
    /// Waits for the access-log line of `response`: usage is booked before it is written.
    ::testing::AssertionResult accessLogged(const Response& response);

    const std::string admin_key_;
};

}  // namespace aiproxy::test
