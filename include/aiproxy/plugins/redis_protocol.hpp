#pragma once
// The Redis wire protocol (RESP2) as the Redis counter store speaks it: commands encoded here,
// replies parsed by hiredis' redisReader (its parser only: the socket is the worker's own Asio
// one), turned into plain values, and the limit scripts' replies read into WindowUse and
// BucketUse. No I/O, so all of it is tested on bytes.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aiproxy/plugins/counter_store.hpp"

namespace aiproxy::plugins {

struct RedisReply {
    enum class Type { Nil, Integer, String, Status, Error, Array };
    Type type = Type::Nil;
    std::int64_t integer = 0;
    std::string text;  // String, Status, Error
    std::vector<RedisReply> elements;
};

// RESP array of bulk strings: what every command is sent as.
void encodeCommand(std::string& out, const std::vector<std::string>& args);

// Incremental reply parser over hiredis' redisReader.
class RedisReplyParser {
public:
    RedisReplyParser();
    ~RedisReplyParser();
    RedisReplyParser(const RedisReplyParser&) = delete;
    RedisReplyParser& operator=(const RedisReplyParser&) = delete;

    // False when the bytes are not RESP (the connection must be dropped).
    bool feed(std::string_view bytes);
    // The next whole reply; nullopt when more bytes are needed or on a protocol error
    // (failed() then says so).
    std::optional<RedisReply> next();
    bool failed() const { return failed_; }

private:
    struct Reader;
    std::unique_ptr<Reader> reader_;
    bool failed_ = false;
};

// The fixed-window scripts' reply {allowed, used, reset_ms, start_ms}; nullopt when it is not
// that shape (an error reply, another script's answer).
std::optional<WindowUse> windowFromReply(const RedisReply& reply);
// The leaky-bucket script's reply {allowed, delay_or_retry_ms}.
std::optional<BucketUse> bucketFromReply(const RedisReply& reply);

}  // namespace aiproxy::plugins
