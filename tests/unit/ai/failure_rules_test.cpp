// The proxy stage's failure rules, without sockets: labels, the commit point, failures in the
// middle of an exchange, the attempt's time under a deadline, and the final answer.

#include "aiproxy/ai/failure_rules.hpp"

#include <gtest/gtest.h>

#include <string>

#include "aiproxy/ai/stream_preamble.hpp"

namespace aiproxy::ai {
namespace {

using namespace std::chrono_literals;

TEST(FailureRulesTest, LabelsFollowTheFailureThenTheStatus) {
    EXPECT_EQ(labelOf(Failure::Connect, 0, false), AttemptLabel::ConnectError);
    EXPECT_EQ(labelOf(Failure::Timeout, 0, false), AttemptLabel::Timeout);
    EXPECT_EQ(labelOf(Failure::Reset, 200, false), AttemptLabel::Reset);
    EXPECT_EQ(labelOf(Failure::Status, 429, false), AttemptLabel::Status429);
    EXPECT_EQ(labelOf(Failure::Status, 503, false), AttemptLabel::Status5xx);
    EXPECT_EQ(labelOf(Failure::None, 404, false), AttemptLabel::Status4xx);
    EXPECT_EQ(labelOf(Failure::None, 200, false), AttemptLabel::Success);
}

TEST(FailureRulesTest, AClientThatLeftIsNeverTheNodesFailure) {
    EXPECT_EQ(labelOf(Failure::Timeout, 0, true), AttemptLabel::ClientCancel);
    EXPECT_EQ(labelOf(Failure::Status, 503, true), AttemptLabel::ClientCancel);
    EXPECT_EQ(attemptLabelName(AttemptLabel::ClientCancel), "client_cancel");
}

TEST(FailureRulesTest, APlainAnswerCommitsWithItsFirstByte) {
    EXPECT_FALSE(commitsNow(false, ""));
    EXPECT_TRUE(commitsNow(false, "{"));
}

TEST(FailureRulesTest, AStreamCommitsOnlyWithContent) {
    const std::string role =
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}\n\n";
    const std::string content =
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n";
    EXPECT_FALSE(commitsNow(true, ""));
    EXPECT_FALSE(commitsNow(true, role));
    EXPECT_FALSE(commitsNow(true, ": ping\n\n"));
    EXPECT_TRUE(commitsNow(true, role + content));
    EXPECT_TRUE(commitsNow(true, "data: [DONE]\n\n"));
}

TEST(FailureRulesTest, AFullPreambleHoldCommitsAnyway) {
    std::string pings;
    while (pings.size() < kMaxPreambleBytes)
        pings += ": ping\n\n";
    EXPECT_TRUE(commitsNow(true, pings));
}

TEST(FailureRulesTest, BodyFailuresBeforeTheCommitPointAreTheAttempts) {
    EXPECT_EQ(bodyFailure(false, true), Failure::Timeout);
    EXPECT_EQ(bodyFailure(false, false), Failure::Reset);
}

TEST(FailureRulesTest, BodyFailuresAfterTheCommitPointAreNeverRetried) {
    EXPECT_EQ(bodyFailure(true, true), std::nullopt);
    EXPECT_EQ(bodyFailure(true, false), std::nullopt);
}

TEST(FailureRulesTest, AnAttemptGetsItsTimeoutCappedByTheDeadline) {
    auto now = Clock::now();
    EXPECT_EQ(attemptDeadline(now, 300ms, std::nullopt), now + 300ms);
    EXPECT_EQ(attemptDeadline(now, 300ms, now + 1s), now + 300ms);
    EXPECT_EQ(attemptDeadline(now, 300ms, now + 120ms), now + 120ms);
}

TEST(FailureRulesTest, AKeptUpstreamAnswerBeatsAGatewayError) {
    EXPECT_EQ(finalAnswer(true, Failure::Timeout, false), FinalAnswer::KeptUpstreamAnswer);
    EXPECT_EQ(finalAnswer(true, Failure::Connect, true), FinalAnswer::KeptUpstreamAnswer);
}

TEST(FailureRulesTest, TimeoutsAndSpentDeadlinesAre504sOtherFailures502s) {
    EXPECT_EQ(finalAnswer(false, Failure::Timeout, false), FinalAnswer::GatewayTimeout);
    EXPECT_EQ(finalAnswer(false, Failure::Connect, true), FinalAnswer::GatewayTimeout);
    EXPECT_EQ(finalAnswer(false, Failure::Connect, false), FinalAnswer::BadGateway);
    EXPECT_EQ(finalAnswer(false, Failure::Reset, false), FinalAnswer::BadGateway);
}

}  // namespace
}  // namespace aiproxy::ai
