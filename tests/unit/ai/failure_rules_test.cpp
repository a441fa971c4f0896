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

CommitPoint pointOf(bool event_stream, std::string_view held, PreambleHold hold = {},
                    std::string* error = nullptr) {
    std::size_t verified = 0;
    return commitPoint(event_stream, held, verified, hold, error);
}

TEST(FailureRulesTest, APlainAnswerCommitsWithItsFirstByte) {
    EXPECT_EQ(pointOf(false, ""), CommitPoint::Hold);
    EXPECT_EQ(pointOf(false, "{"), CommitPoint::Commit);
    EXPECT_EQ(pointOf(false, R"({"error":{"message":"overloaded"}})"), CommitPoint::Commit);
}

const std::string kRole =
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}\n\n";
const std::string kContent =
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n";

TEST(FailureRulesTest, AStreamCommitsOnlyWithContent) {
    EXPECT_EQ(pointOf(true, ""), CommitPoint::Hold);
    EXPECT_EQ(pointOf(true, kRole), CommitPoint::Hold);
    EXPECT_EQ(pointOf(true, ": ping\n\n"), CommitPoint::Hold);
    EXPECT_EQ(pointOf(true, kRole + kContent), CommitPoint::Commit);
    EXPECT_EQ(pointOf(true, "data: [DONE]\n\n"), CommitPoint::Commit);
}

TEST(FailureRulesTest, AFullPreambleHoldCommitsAnyway) {
    std::string pings;
    while (pings.size() < kMaxPreambleBytes)
        pings += ": ping\n\n";
    EXPECT_EQ(pointOf(true, pings), CommitPoint::Commit);
    EXPECT_EQ(pointOf(true, ": ping\n\n", {.max_bytes = 8}), CommitPoint::Commit);
}

TEST(FailureRulesTest, AnErrorEventBeforeContentFailsTheAttempt) {
    std::string error;
    EXPECT_EQ(pointOf(true,
                      kRole + R"(data: {"error":{"message":"overloaded","type":"server_error"}})"
                              "\n\n",
                      {}, &error),
              CommitPoint::UpstreamError);
    EXPECT_EQ(error, "overloaded");
    EXPECT_EQ(pointOf(true,
                      "event: message_start\ndata: {\"type\":\"message_start\"}\n\n"
                      "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":"
                      "\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
                      {}, &error),
              CommitPoint::UpstreamError);
    EXPECT_EQ(error, "Overloaded");
    // After content, an error event is part of the response the client already has.
    EXPECT_EQ(pointOf(true, kContent + R"(data: {"error":{"message":"x"}})"
                                       "\n\n"),
              CommitPoint::Commit);
    // One that blames the request would fail on every node: relayed, not retried.
    EXPECT_EQ(
        pointOf(true, R"(data: {"error":{"message":"too long","code":"context_length_exceeded"}})"
                      "\n\n"),
        CommitPoint::Commit);
    EXPECT_EQ(pointOf(true,
                      "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":"
                      "\"invalid_request_error\",\"message\":\"bad\"}}\n\n"),
              CommitPoint::Commit);
    EXPECT_EQ(labelOf(Failure::StreamError, 200, false), AttemptLabel::StreamError);
    EXPECT_EQ(attemptLabelName(AttemptLabel::StreamError), "stream_error");
}

TEST(FailureRulesTest, WithoutTheHoldAStreamCommitsWithItsFirstByte) {
    EXPECT_EQ(pointOf(true, kRole, {.enabled = false}), CommitPoint::Commit);
    EXPECT_EQ(pointOf(true,
                      R"(data: {"error":{"message":"overloaded"}})"
                      "\n\n",
                      {.enabled = false}),
              CommitPoint::Commit);
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
