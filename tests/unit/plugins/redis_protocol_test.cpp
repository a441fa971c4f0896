// The Redis wire protocol the Redis counter store speaks: commands as RESP arrays, replies
// parsed incrementally by hiredis' reader, and the limit scripts' replies read back.

#include <gtest/gtest.h>

#include "aiproxy/plugins/redis_counter_store.hpp"
#include "aiproxy/plugins/redis_protocol.hpp"

namespace aiproxy::plugins {
namespace {

using namespace std::chrono_literals;

TEST(RedisProtocolTest, CommandsAreRespArraysOfBulkStrings) {
    std::string out;
    encodeCommand(out, {"EVALSHA", "abc", "1", "key\r\nwith crlf"});
    EXPECT_EQ(out, "*4\r\n$7\r\nEVALSHA\r\n$3\r\nabc\r\n$1\r\n1\r\n$14\r\nkey\r\nwith crlf\r\n");
}

TEST(RedisProtocolTest, RepliesArriveInPiecesAndInOrder) {
    RedisReplyParser parser;
    ASSERT_TRUE(parser.feed("+OK\r\n*4\r\n:1\r\n$3\r\n2.5\r\n:59"));
    auto ok = parser.next();
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->type, RedisReply::Type::Status);
    EXPECT_FALSE(parser.next());  // the array is not whole yet
    ASSERT_TRUE(parser.feed("000\r\n:1704067200000\r\n-NOSCRIPT No matching script\r\n"));
    auto window = parser.next();
    ASSERT_TRUE(window);
    auto use = windowFromReply(*window);
    ASSERT_TRUE(use);
    EXPECT_TRUE(use->allowed);
    EXPECT_DOUBLE_EQ(use->used, 2.5);
    EXPECT_EQ(use->reset, 59'000ms);
    EXPECT_EQ(use->start, 1'704'067'200'000ms);
    auto error = parser.next();
    ASSERT_TRUE(error);
    EXPECT_EQ(error->type, RedisReply::Type::Error);
    EXPECT_TRUE(error->text.starts_with("NOSCRIPT"));
    EXPECT_FALSE(parser.failed());
}

TEST(RedisProtocolTest, BytesThatAreNotRespFailTheParser) {
    RedisReplyParser parser;
    parser.feed("HTTP/1.1 400 Bad Request\r\n");
    EXPECT_FALSE(parser.next());
    EXPECT_TRUE(parser.failed());
}

TEST(RedisProtocolTest, ScriptRepliesOfTheWrongShapeAreRejected) {
    RedisReply bucket{.type = RedisReply::Type::Array,
                      .elements = {{.type = RedisReply::Type::Integer, .integer = 0},
                                   {.type = RedisReply::Type::Integer, .integer = 1500}}};
    auto refused = bucketFromReply(bucket);
    ASSERT_TRUE(refused);
    EXPECT_FALSE(refused->allowed);
    EXPECT_EQ(refused->retry_after, 1500ms);
    EXPECT_FALSE(windowFromReply(bucket));  // two elements, not four
    RedisReply error{.type = RedisReply::Type::Error, .text = "ERR"};
    EXPECT_FALSE(windowFromReply(error));
    EXPECT_FALSE(bucketFromReply(error));
    RedisReply not_a_number{.type = RedisReply::Type::Array,
                            .elements = {{.type = RedisReply::Type::Integer, .integer = 1},
                                         {.type = RedisReply::Type::String, .text = "x"}}};
    EXPECT_FALSE(bucketFromReply(not_a_number));
}

TEST(RedisProtocolTest, KeysAndConnectionNamesAreReadableAndKeepThePasswordOut) {
    EXPECT_EQ(redisKey("chat\nlimit-count\n60\nvar:remote_addr\nip=10.0.0.1"),
              "aiproxy:chat:limit-count:60:var:remote_addr:ip=10.0.0.1");
    auto name = redisStoreName({.host = "r", .password = "hunter2"});
    EXPECT_EQ(name.find("hunter2"), std::string::npos);
    EXPECT_NE(name, redisStoreName({.host = "r", .password = "other"}));
}

}  // namespace
}  // namespace aiproxy::plugins
