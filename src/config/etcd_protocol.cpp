// etcd's JSON gateway encodes keys and values in base64 and 64-bit integers as strings, and
// leaves out every field at its zero value (a PUT event has no "type", a failed txn no
// "succeeded"); the parsers read it that way.

#include "aiproxy/config/etcd_protocol.hpp"

#include <array>
#include <charconv>

#include <nlohmann/json.hpp>

namespace aiproxy::config::etcd {
namespace {

using Json = nlohmann::json;

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// The first key after every key that starts with `prefix`: its last byte plus one.
std::string rangeEnd(std::string_view prefix) {
    std::string end{prefix};
    while (!end.empty()) {
        auto& last = reinterpret_cast<unsigned char&>(end.back());
        if (last < 0xff) {
            ++last;
            return end;
        }
        end.pop_back();
    }
    return std::string(1, '\0');  // every key
}

std::uint64_t revisionOf(const Json& object, const char* field) {
    auto it = object.find(field);
    if (it == object.end()) return 0;
    if (it->is_number_unsigned()) return it->get<std::uint64_t>();
    if (it->is_number_integer()) return static_cast<std::uint64_t>(std::max<std::int64_t>(0, *it));
    if (!it->is_string()) return 0;
    const auto& text = it->get_ref<const std::string&>();
    std::uint64_t value = 0;
    std::from_chars(text.data(), text.data() + text.size(), value);
    return value;
}

std::optional<Json> parseObject(std::string_view body, std::string& error) {
    Json json = Json::parse(body, nullptr, false);
    if (json.is_discarded() || !json.is_object()) {
        error = "etcd answered something that is not a JSON object";
        return std::nullopt;
    }
    if (json.contains("error")) {
        error = errorText(body);
        return std::nullopt;
    }
    return json;
}

std::optional<KeyValue> readKeyValue(const Json& kv, std::string& error) {
    if (!kv.is_object()) {
        error = "a key-value is not an object";
        return std::nullopt;
    }
    KeyValue out;
    auto key = base64Decode(kv.value("key", ""));
    auto value = base64Decode(kv.value("value", ""));
    if (!key || !value) {
        error = "a key or value is not base64";
        return std::nullopt;
    }
    out.key = std::move(*key);
    out.value = std::move(*value);
    out.create_revision = revisionOf(kv, "create_revision");
    out.mod_revision = revisionOf(kv, "mod_revision");
    return out;
}

std::string keyField(std::string_view key) {
    return base64Encode(key);
}

}  // namespace

std::string base64Encode(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    auto byte = [&](std::size_t at) { return static_cast<unsigned char>(bytes[at]); };
    for (; i + 2 < bytes.size(); i += 3) {
        std::uint32_t n = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
        for (int shift : {18, 12, 6, 0})
            out += kAlphabet[(n >> shift) & 63];
    }
    if (std::size_t left = bytes.size() - i; left > 0) {
        std::uint32_t n = byte(i) << 16;
        if (left == 2) n |= byte(i + 1) << 8;
        out += kAlphabet[(n >> 18) & 63];
        out += kAlphabet[(n >> 12) & 63];
        out += left == 2 ? kAlphabet[(n >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

std::optional<std::string> base64Decode(std::string_view text) {
    if (text.size() % 4 != 0) return std::nullopt;
    std::array<int, 256> values{};
    values.fill(-1);
    for (std::size_t i = 0; i < kAlphabet.size(); ++i)
        values[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int>(i);
    std::string out;
    out.reserve(text.size() / 4 * 3);
    for (std::size_t i = 0; i < text.size(); i += 4) {
        std::uint32_t n = 0;
        int padding = 0;
        for (std::size_t j = 0; j < 4; ++j) {
            char c = text[i + j];
            if (c == '=' && i + 4 == text.size() && j >= 2) {
                ++padding;
                n <<= 6;
                continue;
            }
            int value = values[static_cast<unsigned char>(c)];
            if (value < 0 || padding > 0) return std::nullopt;
            n = (n << 6) | static_cast<std::uint32_t>(value);
        }
        out += static_cast<char>((n >> 16) & 0xff);
        if (padding < 2) out += static_cast<char>((n >> 8) & 0xff);
        if (padding < 1) out += static_cast<char>(n & 0xff);
    }
    return out;
}

std::string keyOf(std::string_view prefix, std::string_view resource, std::string_view id) {
    std::string key{prefix};
    key += '/';
    key += resource;
    key += '/';
    key += id;
    return key;
}

std::optional<ObjectKey> parseKey(std::string_view prefix, std::string_view key) {
    if (key.size() <= prefix.size() + 1 || key.substr(0, prefix.size()) != prefix ||
        key[prefix.size()] != '/') {
        return std::nullopt;
    }
    key.remove_prefix(prefix.size() + 1);
    auto slash = key.find('/');
    if (slash == std::string_view::npos || slash == 0 || slash + 1 == key.size()) {
        return std::nullopt;
    }
    auto id = key.substr(slash + 1);
    if (id.find('/') != std::string_view::npos) return std::nullopt;
    return ObjectKey{std::string{key.substr(0, slash)}, std::string{id}};
}

std::string rangeRequest(std::string_view prefix, bool count_only) {
    std::string under = std::string{prefix} + "/";
    Json request{{"key", keyField(under)}, {"range_end", keyField(rangeEnd(under))}};
    if (count_only) request["count_only"] = true;
    return request.dump();
}

std::string putIfRequest(std::string_view key, std::string_view value,
                         std::optional<std::uint64_t> expected_mod_revision) {
    Json compare =
        expected_mod_revision
            ? Json{{"key", keyField(key)},
                   {"target", "MOD"},
                   {"mod_revision", std::to_string(*expected_mod_revision)}}
            : Json{{"key", keyField(key)}, {"target", "CREATE"}, {"create_revision", "0"}};
    Json put{{"request_put", {{"key", keyField(key)}, {"value", base64Encode(value)}}}};
    return Json{{"compare", Json::array({compare})}, {"success", Json::array({put})}}.dump();
}

std::string deleteIfRequest(std::string_view key, std::uint64_t expected_mod_revision) {
    Json compare{{"key", keyField(key)},
                 {"target", "MOD"},
                 {"mod_revision", std::to_string(expected_mod_revision)}};
    Json remove{{"request_delete_range", {{"key", keyField(key)}}}};
    return Json{{"compare", Json::array({compare})}, {"success", Json::array({remove})}}.dump();
}

std::string watchRequest(std::string_view prefix, std::uint64_t start_revision) {
    std::string under = std::string{prefix} + "/";
    return Json{{"create_request",
                 {{"key", keyField(under)},
                  {"range_end", keyField(rangeEnd(under))},
                  {"start_revision", std::to_string(start_revision)}}}}
        .dump();
}

std::string authenticateRequest(std::string_view user, std::string_view password) {
    return Json{{"name", user}, {"password", password}}.dump();
}

std::optional<RangeResult> parseRange(std::string_view body, std::string& error) {
    auto json = parseObject(body, error);
    if (!json) return std::nullopt;
    RangeResult result;
    result.revision = revisionOf(json->value("header", Json::object()), "revision");
    if (result.revision == 0) {
        error = "etcd's answer has no header.revision";
        return std::nullopt;
    }
    auto kvs = json->find("kvs");
    if (kvs == json->end()) return result;
    if (!kvs->is_array()) {
        error = "kvs is not a list";
        return std::nullopt;
    }
    for (const auto& kv : *kvs) {
        auto parsed = readKeyValue(kv, error);
        if (!parsed) return std::nullopt;
        result.kvs.push_back(std::move(*parsed));
    }
    return result;
}

std::optional<TxnResult> parseTxn(std::string_view body, std::string& error) {
    auto json = parseObject(body, error);
    if (!json) return std::nullopt;
    TxnResult result;
    result.revision = revisionOf(json->value("header", Json::object()), "revision");
    result.succeeded = json->value("succeeded", false);
    if (result.revision == 0) {
        error = "etcd's answer has no header.revision";
        return std::nullopt;
    }
    return result;
}

std::optional<WatchMessage> parseWatchMessage(std::string_view line, std::string& error) {
    auto json = parseObject(line, error);
    if (!json) return std::nullopt;
    auto result = json->find("result");
    if (result == json->end() || !result->is_object()) {
        error = "a watch message without result";
        return std::nullopt;
    }
    WatchMessage message;
    message.created = result->value("created", false);
    message.canceled = result->value("canceled", false);
    message.compact_revision = revisionOf(*result, "compact_revision");
    if (auto reason = result->find("cancel_reason");
        reason != result->end() && reason->is_string()) {
        message.cancel_reason = *reason;
    }
    auto events = result->find("events");
    if (events == result->end()) return message;
    if (!events->is_array()) {
        error = "events is not a list";
        return std::nullopt;
    }
    for (const auto& event : *events) {
        if (!event.is_object() || !event.contains("kv")) {
            error = "an event without kv";
            return std::nullopt;
        }
        auto kv = readKeyValue(event["kv"], error);
        if (!kv) return std::nullopt;
        message.events.push_back({.deleted = event.value("type", "PUT") == "DELETE", .kv = *kv});
    }
    return message;
}

std::optional<std::string> parseToken(std::string_view body, std::string& error) {
    auto json = parseObject(body, error);
    if (!json) return std::nullopt;
    auto token = json->find("token");
    if (token == json->end() || !token->is_string() || token->get<std::string>().empty()) {
        error = "etcd's authenticate answer has no token";
        return std::nullopt;
    }
    return token->get<std::string>();
}

std::string errorText(std::string_view body) {
    Json json = Json::parse(body, nullptr, false);
    if (json.is_object()) {
        for (const char* field : {"message", "error"}) {
            auto it = json.find(field);
            if (it != json.end() && it->is_string() && !it->get<std::string>().empty()) {
                return it->get<std::string>();
            }
        }
    }
    return std::string{body.substr(0, 200)};
}

bool isAuthError(std::string_view body) {
    Json json = Json::parse(body, nullptr, false);
    if (!json.is_object()) return false;
    if (json.value("code", 0) == 16) return true;
    std::string text = errorText(body);
    return text.find("auth token") != std::string::npos ||
           text.find("user name is empty") != std::string::npos;
}

}  // namespace aiproxy::config::etcd
