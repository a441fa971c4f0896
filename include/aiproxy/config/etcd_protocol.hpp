#pragma once
// etcd v3 through its HTTP/JSON gateway, as pure functions: the key layout (APISIX's
// <prefix>/<resource>/<id>), base64, request bodies and response parsing. The I/O lives in
// src/config/etcd_client.cpp; these are unit-tested without an etcd.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aiproxy::config::etcd {

std::string base64Encode(std::string_view bytes);
std::optional<std::string> base64Decode(std::string_view text);  // nullopt: not base64

// "<prefix>/<resource>/<id>", e.g. /apisix/routes/1.
std::string keyOf(std::string_view prefix, std::string_view resource, std::string_view id);
struct ObjectKey {
    std::string resource;
    std::string id;
};
// The resource and id of a key under the prefix; nullopt for anything else (other depths).
std::optional<ObjectKey> parseKey(std::string_view prefix, std::string_view key);

struct KeyValue {
    std::string key;  // decoded
    std::string value;
    std::uint64_t create_revision = 0;
    std::uint64_t mod_revision = 0;
};

struct RangeResult {
    std::uint64_t revision = 0;  // the store's revision the read saw
    std::vector<KeyValue> kvs;
};

struct TxnResult {
    bool succeeded = false;      // false: a compare failed (another writer moved the key)
    std::uint64_t revision = 0;  // the store's revision after the transaction
};

struct WatchEvent {
    bool deleted = false;
    KeyValue kv;  // a delete carries the key and its mod_revision only
};

struct WatchMessage {
    bool created = false;
    bool canceled = false;
    std::uint64_t compact_revision = 0;  // > 0: the start revision was compacted away
    std::vector<WatchEvent> events;
    std::string cancel_reason;
};

// Request bodies. Every key under prefix + "/" (so /apisix does not also read /apisix2).
std::string rangeRequest(std::string_view prefix, bool count_only = false);
// Put when the key is at expected_mod_revision; nullopt: only when the key does not exist.
std::string putIfRequest(std::string_view key, std::string_view value,
                         std::optional<std::uint64_t> expected_mod_revision);
std::string deleteIfRequest(std::string_view key, std::uint64_t expected_mod_revision);
std::string watchRequest(std::string_view prefix, std::uint64_t start_revision);
std::string authenticateRequest(std::string_view user, std::string_view password);

// Response parsing; nullopt with `error` set when the body is not what etcd answers.
std::optional<RangeResult> parseRange(std::string_view body, std::string& error);
std::optional<TxnResult> parseTxn(std::string_view body, std::string& error);
std::optional<WatchMessage> parseWatchMessage(std::string_view line, std::string& error);
std::optional<std::string> parseToken(std::string_view body, std::string& error);
// The message of a gateway error body ({"error","message","code"}); the body itself otherwise.
std::string errorText(std::string_view body);
// Whether an error answer means the auth token expired or is missing (gRPC code 16 and kin).
bool isAuthError(std::string_view body);

}  // namespace aiproxy::config::etcd
