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
        case Failure::StreamError:
            return AttemptLabel::StreamError;
        case Failure::Status:
        case Failure::None:
            break;
    }
    if (status == 429) return AttemptLabel::Status429;
    if (status >= 500) return AttemptLabel::Status5xx;
    if (status >= 400) return AttemptLabel::Status4xx;
    return AttemptLabel::Success;
}

CommitPoint commitPoint(bool event_stream, std::string_view held, std::size_t& verified,
                        const PreambleHold& hold, std::string* error) {
    if (held.empty()) return CommitPoint::Hold;
    if (!event_stream || !hold.enabled) return CommitPoint::Commit;
    switch (classifyStreamStart(held, verified, error)) {
        case StreamStart::UpstreamError:
            return CommitPoint::UpstreamError;
        case StreamStart::Content:
            return CommitPoint::Commit;
        case StreamStart::Preamble:
            break;
    }
    return held.size() >= hold.max_bytes ? CommitPoint::Commit : CommitPoint::Hold;
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
        case AttemptLabel::StreamError:
            return "stream_error";
        case AttemptLabel::HedgeCancelled:
            return "hedge_cancelled";
    }
    return "unknown";
}

}  // namespace aiproxy::ai
