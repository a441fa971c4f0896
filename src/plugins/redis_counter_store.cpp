#include "aiproxy/plugins/redis_counter_store.hpp"

#include <algorithm>
#include <cstdio>

#include "aiproxy/common/digest.hpp"
#include "aiproxy/http/stage.hpp"
#include "redis_connection.hpp"

namespace aiproxy::plugins {
namespace {

// Numbers go to Lua as text with every digit a double has; Lua's tostring keeps only 14.
std::string numberText(double value) {
    char buffer[40];
    std::snprintf(buffer, sizeof buffer, "%.17g", value);
    return buffer;
}

// The scripts, in the order of the indexes below. Each reads the Redis server's clock, so all
// nodes share one window boundary; fractions travel as strings ("%.17g"), since Redis turns a
// Lua number reply into a truncated integer, and integer arguments as "%d", since Redis may
// write a large Lua number with an exponent.
const std::vector<std::string>& scripts() {
    static const std::vector<std::string> kScripts{
        // 0, fixed window: KEYS[1] = hash {start, used}; ARGV = window_ms, limit, amount, mode.
        // mode 0 (limit-count): admitted when used + amount <= limit. mode 1 (a budget's
        // reservation): the same, or when the window is still empty, and never once it is used
        // up. Replies {allowed, used, reset_ms, start_ms}.
        R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local start = now - (now % window)
local state = redis.call('HMGET', KEYS[1], 'start', 'used')
local used = 0
if tonumber(state[1]) == start then used = tonumber(state[2]) or 0 end
local limit, amount = tonumber(ARGV[2]), tonumber(ARGV[3])
local ok = used + amount <= limit
if ARGV[4] == '1' then ok = used < limit and (ok or used == 0) end
if ok then
  used = used + amount
  redis.call('HSET', KEYS[1], 'start', string.format('%.17g', start),
             'used', string.format('%.17g', used))
  redis.call('PEXPIREAT', KEYS[1], string.format('%d', start + window + 1000))
end
return {ok and 1 or 0, string.format('%.17g', used), start + window - now, start}
)lua",
        // 1, settle: a reservation replaced by the actual usage. KEYS[1] = the window's hash;
        // ARGV = start_ms of the reservation's window, delta (may be < 0). A window that has
        // ended is left alone. Replies 1 when applied.
        R"lua(
local state = redis.call('HMGET', KEYS[1], 'start', 'used')
if tonumber(state[1]) ~= tonumber(ARGV[1]) then return 0 end
local used = math.max((tonumber(state[2]) or 0) + tonumber(ARGV[2]), 0)
redis.call('HSET', KEYS[1], 'used', string.format('%.17g', used))
return 1
)lua",
        // 2, leaky bucket (nginx limit_req, as LimitStore::leak): KEYS[1] = hash {mark,
        // excess}; ARGV = rate per second, burst. Replies {1, delay_ms} or {0, retry_after_ms}.
        R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'mark', 'excess')
local excess = 0
if state[1] then
  local elapsed = math.abs(now - tonumber(state[1]))
  excess = math.max((tonumber(state[2]) or 0) - rate * elapsed / 1000 + 1, 0)
end
if excess > burst then return {0, math.ceil((excess - burst) / rate * 1000)} end
redis.call('HSET', KEYS[1], 'mark', string.format('%.17g', now),
           'excess', string.format('%.17g', excess))
redis.call('PEXPIRE', KEYS[1], string.format('%d', math.ceil((excess + 1) / rate * 1000) + 1000))
return {1, math.ceil(excess / rate * 1000)}
)lua",
    };
    return kScripts;
}

constexpr std::size_t kWindowScript = 0;
constexpr std::size_t kSettleScript = 1;
constexpr std::size_t kBucketScript = 2;

}  // namespace

std::string redisKey(const std::string& key) {
    std::string out = "aiproxy:" + key;
    std::replace(out.begin(), out.end(), '\n', ':');
    return out;
}

std::string redisStoreName(const config::RedisPolicyConfig& target) {
    return "redis\n" + target.host + "\n" + std::to_string(target.port) + "\n" + target.username +
           "\n" + common::sha256Hex(target.password) + "\n" + std::to_string(target.database) +
           "\n" + std::to_string(target.timeout.count());
}

RedisCounterStore::RedisCounterStore(config::RedisPolicyConfig target)
    : target_(std::move(target)), name_(redisStoreName(target_)) {}

common::awaitable<CounterAnswer> RedisCounterStore::apply(CounterOp op,
                                                          http::StageServices& worker) {
    auto& slot = worker.worker_objects[name_];
    if (!slot) slot = std::make_shared<RedisConnection>(worker.executor, target_, scripts());
    auto connection = std::static_pointer_cast<RedisConnection>(slot);
    std::vector<std::string> args{redisKey(op.key)};
    std::size_t script = kWindowScript;
    switch (op.kind) {
        case CounterOp::Kind::Take:
        case CounterOp::Kind::Reserve:
            args.push_back(std::to_string(op.window.count()));
            args.push_back(numberText(op.limit));
            args.push_back(numberText(op.amount));
            args.emplace_back(op.kind == CounterOp::Kind::Reserve ? "1" : "0");
            break;
        case CounterOp::Kind::Settle:
            script = kSettleScript;
            args.push_back(std::to_string(op.start.count()));
            args.push_back(numberText(op.amount));
            break;
        case CounterOp::Kind::Leak:
            script = kBucketScript;
            args.push_back(numberText(op.limit));
            args.push_back(numberText(op.amount));
            break;
    }
    RedisResult result = co_await connection->eval(script, std::move(args), 1);
    CounterAnswer answer;
    if (!result.reply) {
        answer.answered = false;
        answer.error = std::move(result.error);
        co_return answer;
    }
    const RedisReply& reply = *result.reply;
    if (reply.type == RedisReply::Type::Error) {
        answer.answered = false;
        answer.error = "Redis answered: " + reply.text;
        co_return answer;
    }
    if (op.kind == CounterOp::Kind::Settle) {
        answer.window.allowed = reply.type == RedisReply::Type::Integer && reply.integer == 1;
        co_return answer;
    }
    if (op.kind == CounterOp::Kind::Leak) {
        if (auto bucket = bucketFromReply(reply)) {
            answer.bucket = *bucket;
            co_return answer;
        }
    } else if (auto window = windowFromReply(reply)) {
        answer.window = *window;
        co_return answer;
    }
    answer.answered = false;
    answer.error = "unexpected reply from Redis";
    co_return answer;
}

}  // namespace aiproxy::plugins
