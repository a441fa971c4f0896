#include "aiproxy/plugins/redis_protocol.hpp"

#include <charconv>
#include <cmath>

#include <hiredis/hiredis.h>

namespace aiproxy::plugins {

struct RedisReplyParser::Reader {
    redisReader* handle = redisReaderCreate();
    ~Reader() {
        if (handle) redisReaderFree(handle);
    }
};

namespace {

RedisReply convert(const redisReply& raw) {
    RedisReply out;
    switch (raw.type) {
        case REDIS_REPLY_INTEGER:
            out.type = RedisReply::Type::Integer;
            out.integer = raw.integer;
            break;
        case REDIS_REPLY_STRING:
            out.type = RedisReply::Type::String;
            out.text.assign(raw.str, raw.len);
            break;
        case REDIS_REPLY_STATUS:
            out.type = RedisReply::Type::Status;
            out.text.assign(raw.str, raw.len);
            break;
        case REDIS_REPLY_ERROR:
            out.type = RedisReply::Type::Error;
            out.text.assign(raw.str, raw.len);
            break;
        case REDIS_REPLY_ARRAY:
            out.type = RedisReply::Type::Array;
            out.elements.reserve(raw.elements);
            for (std::size_t i = 0; i < raw.elements; ++i)
                out.elements.push_back(convert(*raw.element[i]));
            break;
        default:
            out.type = RedisReply::Type::Nil;
    }
    return out;
}

// A number in an integer reply, or in a string reply (scripts return fractions as strings,
// since Redis truncates Lua numbers to integers).
std::optional<double> numberOf(const RedisReply& reply) {
    if (reply.type == RedisReply::Type::Integer) return static_cast<double>(reply.integer);
    if (reply.type != RedisReply::Type::String) return std::nullopt;
    double value = 0;
    const char* end = reply.text.data() + reply.text.size();
    auto [ptr, ec] = std::from_chars(reply.text.data(), end, value);
    if (ec != std::errc{} || ptr != end || !std::isfinite(value)) return std::nullopt;
    return value;
}

}  // namespace

void encodeCommand(std::string& out, const std::vector<std::string>& args) {
    out += '*';
    out += std::to_string(args.size());
    out += "\r\n";
    for (const auto& arg : args) {
        out += '$';
        out += std::to_string(arg.size());
        out += "\r\n";
        out += arg;
        out += "\r\n";
    }
}

RedisReplyParser::RedisReplyParser() : reader_(std::make_unique<Reader>()) {}
RedisReplyParser::~RedisReplyParser() = default;

bool RedisReplyParser::feed(std::string_view bytes) {
    if (failed_ || !reader_->handle) return false;
    if (redisReaderFeed(reader_->handle, bytes.data(), bytes.size()) != REDIS_OK) failed_ = true;
    return !failed_;
}

std::optional<RedisReply> RedisReplyParser::next() {
    if (failed_ || !reader_->handle) return std::nullopt;
    void* raw = nullptr;
    if (redisReaderGetReply(reader_->handle, &raw) != REDIS_OK) {
        failed_ = true;
        return std::nullopt;
    }
    if (!raw) return std::nullopt;
    RedisReply reply = convert(*static_cast<redisReply*>(raw));
    freeReplyObject(raw);
    return reply;
}

std::optional<WindowUse> windowFromReply(const RedisReply& reply) {
    if (reply.type != RedisReply::Type::Array || reply.elements.size() != 4) return std::nullopt;
    auto allowed = numberOf(reply.elements[0]);
    auto used = numberOf(reply.elements[1]);
    auto reset = numberOf(reply.elements[2]);
    auto start = numberOf(reply.elements[3]);
    if (!allowed || !used || !reset || !start) return std::nullopt;
    return WindowUse{.allowed = *allowed != 0,
                     .used = *used,
                     .reset = Millis{static_cast<std::int64_t>(std::max(*reset, 0.0))},
                     .start = Millis{static_cast<std::int64_t>(*start)}};
}

std::optional<BucketUse> bucketFromReply(const RedisReply& reply) {
    if (reply.type != RedisReply::Type::Array || reply.elements.size() != 2) return std::nullopt;
    auto allowed = numberOf(reply.elements[0]);
    auto millis = numberOf(reply.elements[1]);
    if (!allowed || !millis) return std::nullopt;
    Millis wait{static_cast<std::int64_t>(std::max(*millis, 0.0))};
    if (*allowed != 0) return BucketUse{.allowed = true, .delay = wait};
    return BucketUse{.allowed = false, .retry_after = wait};
}

}  // namespace aiproxy::plugins
