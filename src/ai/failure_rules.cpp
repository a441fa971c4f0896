#include "aiproxy/ai/failure_rules.hpp"

#include <algorithm>

#include "aiproxy/ai/stream_preamble.hpp"

namespace aiproxy::ai {

AttemptLabel labelOf(Failure failure, unsigned status, bool client_cancel) {
    if (client_cancel) return AttemptLabel::ClientCancel;
    switch (failure) {
        case Failure::Connect:
            return AttemptLabel::ConnectError;
        case Failure::Timeout:
            return AttemptLabel::Timeout;
        case Failure::Reset:
            return AttemptLabel::Reset;
        case Failure::Status:
        case Failure::None:
            break;
    }
    if (status == 429) return AttemptLabel::Status429;
    if (status >= 500) return AttemptLabel::Status5xx;
    if (status >= 400) return AttemptLabel::Status4xx;
    return AttemptLabel::Success;
}

bool commitsNow(bool event_stream, std::string_view held) {
    std::size_t verified = 0;
    return commitsNow(event_stream, held, verified);
}

bool commitsNow(bool event_stream, std::string_view held, std::size_t& verified) {
    if (held.empty()) return false;
    if (!event_stream) return true;
    return held.size() >= kMaxPreambleBytes || !onlyStreamPreamble(held, verified);
}

std::optional<Failure> bodyFailure(bool committed, bool timed_out) {
    if (committed) return std::nullopt;
    return timed_out ? Failure::Timeout : Failure::Reset;
}

Clock::time_point attemptDeadline(Clock::time_point now, std::chrono::milliseconds timeout,
                                  std::optional<Clock::time_point> request_deadline) {
    auto own = now + timeout;
    return request_deadline ? std::min(own, *request_deadline) : own;
}

FinalAnswer finalAnswer(bool have_kept_answer, Failure last_failure, bool deadline_spent) {
    if (have_kept_answer) return FinalAnswer::KeptUpstreamAnswer;
    if (deadline_spent || last_failure == Failure::Timeout) return FinalAnswer::GatewayTimeout;
    return FinalAnswer::BadGateway;
}

}  // namespace aiproxy::ai

namespace aiproxy::ai {

std::string_view attemptLabelName(AttemptLabel label) {
    switch (label) {
        case AttemptLabel::Success:
            return "success";
        case AttemptLabel::ConnectError:
            return "connect_error";
        case AttemptLabel::Timeout:
            return "timeout";
        case AttemptLabel::Reset:
            return "reset";
        case AttemptLabel::Status4xx:
            return "status_4xx";
        case AttemptLabel::Status429:
            return "status_429";
        case AttemptLabel::Status5xx:
            return "status_5xx";
        case AttemptLabel::ClientCancel:
            return "client_cancel";
    }
    return "unknown";
}

}  // namespace aiproxy::ai
