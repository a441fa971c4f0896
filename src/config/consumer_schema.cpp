// consumers[]: APISIX's consumer shape; the key-auth key is kept only as its SHA-256.

#include "aiproxy/common/digest.hpp"
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

void readConsumer(const Value& value, ConsumerConfig& consumer) {
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
        .on("labels",
            [&](const Value& v) {
                v.forEachMember([&](const std::string& name, const Value& label) {
                    if (auto text = label.string()) consumer.labels.emplace_back(name, *text);
                });
            })
        .on("plugins",
            [&](const Value& v) {
                v.forEachMember([&](const std::string& name, const Value& plugin) {
                    if (name == "key-auth") {
                        readKeyAuth(plugin, consumer);
                    } else {
                        plugin.warning("unknown consumer plugin, ignored");
                    }
                });
            })
        .ignore("desc")
        .ignore("group_id");
    if (!reader.read(value)) return;
    if (!reader.seen("username"))
        value.sink().error(memberPath(value.path(), "username"), "required");
}

}  // namespace aiproxy::config::detail
