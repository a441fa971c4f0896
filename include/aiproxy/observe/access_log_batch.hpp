#pragma once
// AccessLogBatch: one worker's access-log lines not yet handed to the AccessLog. Handing over a
// line costs a queue push and a wake-up of the log's writer thread; batching makes that one
// hand-over per batch instead of per request. A batch goes when it is big enough (kMaxBytes),
// at the latest kDelay after its first line, and at flush(), which the owner calls when it
// stops.

#include <chrono>
#include <cstddef>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

namespace aiproxy::observe {

class AccessLog;
struct AccessRecord;

class AccessLogBatch {
public:
    static constexpr std::size_t kMaxBytes = std::size_t{16} * 1024;
    static constexpr std::chrono::milliseconds kDelay{20};

    // log (null when the access log is off) outlives the batch; the batch (its timer) goes
    // before executor's io_context. It belongs to the thread that runs executor: add and flush
    // are called there, or once that event loop has stopped.
    AccessLogBatch(const boost::asio::any_io_executor& executor, AccessLog* log);
    AccessLogBatch(const AccessLogBatch&) = delete;
    AccessLogBatch& operator=(const AccessLogBatch&) = delete;

    // False when the access log is off: the caller can skip building records.
    bool enabled() const { return log_ != nullptr; }
    // Formats the record into the batch (the record's views are not kept).
    void add(const AccessRecord& record);
    // Hands the batched lines to the log now.
    void flush();

private:
    AccessLog* log_;
    std::string lines_;  // complete lines separated by '\n', without the last one
    boost::asio::steady_timer timer_;
    bool timer_armed_ = false;
};

}  // namespace aiproxy::observe
