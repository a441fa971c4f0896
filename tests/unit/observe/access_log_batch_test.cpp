// AccessLogBatch: lines reach the log when the batch is full, when its delay has passed and when
// the owner flushes; nothing reaches it when the log is off.

#include "aiproxy/observe/access_log_batch.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include <boost/asio/io_context.hpp>

#include "aiproxy/observe/access_log.hpp"
#include "aiproxy/observe/access_record.hpp"

namespace aiproxy::observe {
namespace {

// The record's views must outlive it: ids are literals or strings the caller keeps.
AccessRecord recordWithId(std::string_view id) {
    return AccessRecord{.request_id = id, .method = "GET", .path = "/", .status = 200};
}

std::string lineOf(const AccessRecord& record) {
    std::string line;
    appendAccessLine(line, record);
    return line;
}

class AccessLogBatchTest : public testing::Test {
protected:
    void SetUp() override {
        path_ = testing::TempDir() + "access_log_batch_test_" +
                testing::UnitTest::GetInstance()->current_test_info()->name() + ".log";
        std::remove(path_.c_str());
        log_ = std::make_unique<AccessLog>(path_);
    }
    void TearDown() override { std::remove(path_.c_str()); }

    // Ends the log's writer thread (which writes what is queued) and reads the file.
    std::string writtenText() {
        log_.reset();
        std::ifstream file(path_);
        std::stringstream text;
        text << file.rdbuf();
        return text.str();
    }

    boost::asio::io_context io_;
    std::string path_;
    std::unique_ptr<AccessLog> log_;
};

TEST_F(AccessLogBatchTest, FlushHandsOverAllLinesAsOneMessage) {
    AccessLogBatch batch{io_.get_executor(), log_.get()};
    batch.add(recordWithId("a"));
    batch.add(recordWithId("b"));
    batch.flush();
    batch.flush();  // nothing left: writes nothing
    EXPECT_EQ(writtenText(), lineOf(recordWithId("a")) + "\n" + lineOf(recordWithId("b")) + "\n");
}

TEST_F(AccessLogBatchTest, LinesGoAfterTheDelayWithoutAFlush) {
    AccessLogBatch batch{io_.get_executor(), log_.get()};
    batch.add(recordWithId("a"));
    batch.add(recordWithId("b"));
    io_.run();  // returns once the timer has fired and handed the batch over
    EXPECT_EQ(writtenText(), lineOf(recordWithId("a")) + "\n" + lineOf(recordWithId("b")) + "\n");
}

TEST_F(AccessLogBatchTest, FullBatchGoesAtOnce) {
    std::string expected;
    {
        AccessLogBatch batch{io_.get_executor(), log_.get()};
        std::size_t batched = 0;
        for (int i = 0; batched < AccessLogBatch::kMaxBytes; ++i) {
            std::string id = std::to_string(i);
            auto record = recordWithId(id);
            batch.add(record);
            if (batched != 0) ++batched;
            batched += lineOf(record).size();
            expected += lineOf(record) + "\n";
        }
        // The event loop never ran: the full batch went from add(). This one waits for a flush
        // that never comes.
        batch.add(recordWithId("left behind"));
    }
    EXPECT_EQ(writtenText(), expected);
}

TEST_F(AccessLogBatchTest, TimerOutlivedByTheEventLoopTouchesNothing) {
    {
        AccessLogBatch batch{io_.get_executor(), log_.get()};
        batch.add(recordWithId("a"));
    }
    io_.run();  // the aborted wait of the destroyed batch completes here
    EXPECT_EQ(writtenText(), "");
}

TEST(AccessLogBatchOffTest, DisabledBatchFormatsNothingAndArmsNoTimer) {
    boost::asio::io_context io;
    AccessLogBatch batch{io.get_executor(), nullptr};
    EXPECT_FALSE(batch.enabled());
    batch.add(recordWithId("a"));
    batch.flush();
    EXPECT_EQ(io.run(), 0u);
}

}  // namespace
}  // namespace aiproxy::observe
