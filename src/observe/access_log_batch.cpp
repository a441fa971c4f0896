#include "aiproxy/observe/access_log_batch.hpp"

#include <boost/asio/error.hpp>

#include "aiproxy/observe/access_log.hpp"
#include "aiproxy/observe/access_record.hpp"

namespace aiproxy::observe {

AccessLogBatch::AccessLogBatch(const boost::asio::any_io_executor& executor, AccessLog* log)
    : log_(log), timer_(executor) {}

void AccessLogBatch::add(const AccessRecord& record) {
    if (!log_) return;
    if (!lines_.empty()) lines_ += '\n';
    appendAccessLine(lines_, record);
    if (lines_.size() >= kMaxBytes) {
        flush();
    } else if (!timer_armed_) {
        timer_armed_ = true;
        timer_.expires_after(kDelay);
        timer_.async_wait([this](const boost::system::error_code& error) {
            // Aborted only when the timer is destroyed: the batch is gone, touch nothing.
            if (error == boost::asio::error::operation_aborted) return;
            timer_armed_ = false;
            flush();
        });
    }
}

void AccessLogBatch::flush() {
    if (lines_.empty() || !log_) return;
    // One message of several lines: the log ends it with the last newline.
    log_->write(lines_);
    lines_.clear();
}

}  // namespace aiproxy::observe
