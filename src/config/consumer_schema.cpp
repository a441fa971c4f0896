// consumers[]: APISIX's consumer shape; the key-auth key is kept only as its SHA-256.
// consumer_groups[]: the limits a consumer's group_id adds to every key-auth route.

#include "aiproxy/common/digest.hpp"
#include "limits_schema.hpp"
#include "schema.hpp"

namespace aiproxy::config::detail {
namespace {

bool isHexDigest(std::string_view text) {
    if (text.size() != 64) return false;
    for (char c : text) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
}

void readKeyAuth(const Value& value, ConsumerConfig& consumer) {
    ObjectReader reader;
    reader
        .on("key",
            [&](const Value& v) {
                auto key = v.string();
                if (!key) return;
                if (key->empty()) {
                    v.error("must not be empty");
                    return;
                }
                consumer.key_sha256 = common::sha256Hex(*key);
            })
        .on("key_sha256", [&](const Value& v) {
            auto digest = v.string();
            if (!digest) return;
            if (!isHexDigest(*digest)) {
                v.error("must be 64 lower-case hex digits");
                return;
            }
            consumer.key_sha256 = *digest;
        });
    if (!reader.read(value)) return;
    if (reader.seen("key") && reader.seen("key_sha256")) {
        value.sink().error(memberPath(value.path(), "key_sha256"),
                           "cannot be used together with key");
    } else if (!reader.seen("key") && !reader.seen("key_sha256")) {
        value.sink().error(memberPath(value.path(), "key"), "required");
    }
}

}  // namespace

void readConsumer(const Value& value, const std::set<std::string>& group_ids,
                  ConsumerConfig& consumer) {
    ObjectReader reader;
    reader
        .on("username",
            [&](const Value& v) {
                auto name = v.string();
                if (!name) return;
                bool valid = !name->empty() && name->size() <= 100;
                for (char c : *name) {
                    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                              (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
                    valid = valid && ok;
                }
                if (!valid) {
                    v.error("must be 1 to 100 letters, digits, '_', '-' or '.'");
                    return;
                }
                consumer.id = *name;
            })
        .on("labels", [&](const Value& v) { readLabels(v, consumer.labels); })
        .on("plugins",
            [&](const Value& v) {
                v.forEachMember([&](const std::string& name, const Value& plugin) {
                    if (name == "key-auth") {
                        readKeyAuth(plugin, consumer);
                    } else {
                        plugin.error("unknown plugin [" + name + "]");
                    }
                });
            })
        .on("group_id",
            [&](const Value& v) {
                auto id = v.id();
                if (!id) return;
                if (group_ids.count(*id) == 0) {
                    v.error("consumer group \"" + *id + "\" does not exist");
                    return;
                }
                consumer.group_id = *id;
            })
        .ignore("desc");
    if (!reader.read(value)) return;
    if (!reader.seen("username"))
        value.sink().error(memberPath(value.path(), "username"), "required");
}

void readConsumerGroup(const Value& value, ConsumerGroupConfig& group) {
    ObjectReader reader;
    reader
        .on("id",
            [&](const Value& v) {
                if (auto id = v.id()) group.id = *id;
            })
        .on("labels", [&](const Value& v) { readLabels(v, group.labels); })
        .on("plugins",
            [&](const Value& v) {
                v.forEachMember([&](const std::string& name, const Value& plugin) {
                    // "limit-count:" with nothing under it reads as an empty configuration.
                    static const Json kEmpty = Json::object();
                    Value config = plugin.json().is_null()
                                       ? Value{kEmpty, plugin.path(), plugin.sink()}
                                       : plugin;
                    if (name == "limit-count") {
                        readLimitCount(config, group.limit_count.emplace(),
                                       LimitScope::ConsumerGroup);
                    } else if (name == "limit-req") {
                        readLimitReq(config, group.limit_req.emplace(), LimitScope::ConsumerGroup);
                    } else if (name == "ai-rate-limiting") {
                        readAiRateLimiting(config, group.ai_rate_limiting.emplace());
                    } else {
                        plugin.error("unknown plugin [" + name + "]");
                    }
                });
            })
        .ignore("desc")
        .ignore("name");
    if (!reader.read(value)) return;
    if (!reader.seen("id")) value.sink().error(memberPath(value.path(), "id"), "required");
}

}  // namespace aiproxy::config::detail
