// The pure half of the etcd store: APISIX's key layout, base64, request bodies and the JSON
// gateway's answers as etcd 3.4 writes them (int64 as strings, zero values left out).

#include "aiproxy/config/etcd_protocol.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "config_test_support.hpp"

namespace aiproxy::config::etcd {
namespace {

using Json = nlohmann::json;

TEST(EtcdProtocolTest, Base64RoundTripsEveryLengthAndByte) {
    EXPECT_EQ(base64Encode(""), "");
    EXPECT_EQ(base64Encode("f"), "Zg==");
    EXPECT_EQ(base64Encode("fo"), "Zm8=");
    EXPECT_EQ(base64Encode("foo"), "Zm9v");
    EXPECT_EQ(base64Encode("/apisix/routes/1"), "L2FwaXNpeC9yb3V0ZXMvMQ==");
    std::string all;
    for (int i = 0; i < 256; ++i)
        all += static_cast<char>(i);
    for (std::size_t n = 0; n <= all.size(); n += 37) {
        auto decoded = base64Decode(base64Encode(all.substr(0, n)));
        ASSERT_TRUE(decoded);
        EXPECT_EQ(*decoded, all.substr(0, n));
    }
}

TEST(EtcdProtocolTest, Base64RefusesWhatIsNotBase64) {
    EXPECT_FALSE(base64Decode("abc"));
    EXPECT_FALSE(base64Decode("ab!d"));
    EXPECT_FALSE(base64Decode("a=bc"));
    EXPECT_FALSE(base64Decode("Zg==Zg=="));
}

TEST(EtcdProtocolTest, KeysFollowApisixLayout) {
    EXPECT_EQ(keyOf("/apisix", "routes", "1"), "/apisix/routes/1");
    EXPECT_EQ(keyOf("/apisix", "consumers", "jack"), "/apisix/consumers/jack");
    auto key = parseKey("/apisix", "/apisix/consumer_groups/company_a");
    ASSERT_TRUE(key);
    EXPECT_EQ(key->resource, "consumer_groups");
    EXPECT_EQ(key->id, "company_a");
    EXPECT_FALSE(parseKey("/apisix", "/apisix/routes"));  // APISIX 2's directory marker
    EXPECT_FALSE(parseKey("/apisix", "/apisix/routes/"));
    EXPECT_FALSE(parseKey("/apisix", "/apisix2/routes/1"));  // another prefix
    EXPECT_FALSE(parseKey("/apisix", "/apisix/a/b/c"));      // deeper
    EXPECT_FALSE(parseKey("/apisix", "/other/routes/1"));
}

TEST(EtcdProtocolTest, RangeCoversThePrefixDirectoryOnly) {
    Json range = Json::parse(rangeRequest("/apisix"));
    EXPECT_EQ(*base64Decode(range["key"].get<std::string>()), "/apisix/");
    EXPECT_EQ(*base64Decode(range["range_end"].get<std::string>()), "/apisix0");
    EXPECT_FALSE(range.contains("count_only"));
    EXPECT_TRUE(Json::parse(rangeRequest("/apisix", true))["count_only"].get<bool>());
}

TEST(EtcdProtocolTest, CreateComparesCreateRevisionZero) {
    Json txn = Json::parse(putIfRequest("/apisix/routes/1", R"({"id":"1"})", std::nullopt));
    const Json& compare = txn["compare"][0];
    EXPECT_EQ(compare["target"], "CREATE");
    EXPECT_EQ(compare["create_revision"], "0");
    EXPECT_EQ(*base64Decode(compare["key"].get<std::string>()), "/apisix/routes/1");
    const Json& put = txn["success"][0]["request_put"];
    EXPECT_EQ(*base64Decode(put["value"].get<std::string>()), R"({"id":"1"})");
}

TEST(EtcdProtocolTest, ReplaceAndDeleteCompareTheModRevision) {
    Json put = Json::parse(putIfRequest("/apisix/routes/1", "{}", 42));
    EXPECT_EQ(put["compare"][0]["target"], "MOD");
    EXPECT_EQ(put["compare"][0]["mod_revision"], "42");
    Json remove = Json::parse(deleteIfRequest("/apisix/routes/1", 43));
    EXPECT_EQ(remove["compare"][0]["mod_revision"], "43");
    EXPECT_TRUE(remove["success"][0].contains("request_delete_range"));
}

TEST(EtcdProtocolTest, WatchStartsAtTheGivenRevision) {
    Json watch = Json::parse(watchRequest("/apisix", 8));
    EXPECT_EQ(watch["create_request"]["start_revision"], "8");
    EXPECT_EQ(*base64Decode(watch["create_request"]["range_end"].get<std::string>()), "/apisix0");
}

TEST(EtcdProtocolTest, ParsesARangeAnswerWithRevisionsAsStrings) {
    std::string error;
    auto range = parseRange(
        R"({"header":{"cluster_id":"1","revision":"7"},"kvs":[{"key":"L2FwaXNpeC9yb3V0ZXMvMQ==",
            "create_revision":"2","mod_revision":"5","version":"3","value":"eyJpZCI6IjEifQ=="}],
            "count":"1"})",
        error);
    ASSERT_TRUE(range) << error;
    EXPECT_EQ(range->revision, 7u);
    ASSERT_EQ(range->kvs.size(), 1u);
    EXPECT_EQ(range->kvs[0].key, "/apisix/routes/1");
    EXPECT_EQ(range->kvs[0].value, R"({"id":"1"})");
    EXPECT_EQ(range->kvs[0].create_revision, 2u);
    EXPECT_EQ(range->kvs[0].mod_revision, 5u);
}

TEST(EtcdProtocolTest, AnEmptyRangeHasNoKvs) {
    std::string error;
    auto range = parseRange(R"({"header":{"revision":"1"}})", error);
    ASSERT_TRUE(range) << error;
    EXPECT_TRUE(range->kvs.empty());
}

TEST(EtcdProtocolTest, AFailedCompareLeavesSucceededOut) {
    std::string error;
    auto failed = parseTxn(R"({"header":{"revision":"9"}})", error);
    ASSERT_TRUE(failed) << error;
    EXPECT_FALSE(failed->succeeded);
    auto done = parseTxn(
        R"({"header":{"revision":"10"},"succeeded":true,"responses":[{"response_put":{}}]})",
        error);
    ASSERT_TRUE(done) << error;
    EXPECT_TRUE(done->succeeded);
    EXPECT_EQ(done->revision, 10u);
}

TEST(EtcdProtocolTest, ParsesWatchEventsPutsWithoutTypeAndDeletes) {
    std::string error;
    auto message = parseWatchMessage(
        R"({"result":{"header":{"revision":"4"},"events":[{"kv":{"key":"L2FwaXNpeC9yb3V0ZXMvMQ==",
            "create_revision":"2","mod_revision":"3","value":"e30="}},
            {"type":"DELETE","kv":{"key":"L2FwaXNpeC9yb3V0ZXMvMQ==","mod_revision":"4"}}]}})",
        error);
    ASSERT_TRUE(message) << error;
    ASSERT_EQ(message->events.size(), 2u);
    EXPECT_FALSE(message->events[0].deleted);
    EXPECT_EQ(message->events[0].kv.value, "{}");
    EXPECT_EQ(message->events[0].kv.mod_revision, 3u);
    EXPECT_TRUE(message->events[1].deleted);
    EXPECT_EQ(message->events[1].kv.mod_revision, 4u);
}

TEST(EtcdProtocolTest, ACompactedStartCancelsTheWatch) {
    std::string error;
    auto created =
        parseWatchMessage(R"({"result":{"header":{"revision":"4"},"created":true}})", error);
    ASSERT_TRUE(created) << error;
    EXPECT_TRUE(created->created);
    auto compacted = parseWatchMessage(
        R"({"result":{"header":{},"canceled":true,"compact_revision":"3"}})", error);
    ASSERT_TRUE(compacted) << error;
    EXPECT_TRUE(compacted->canceled);
    EXPECT_EQ(compacted->compact_revision, 3u);
}

TEST(EtcdProtocolTest, GatewayErrorsBecomeMessages) {
    std::string error;
    EXPECT_FALSE(parseRange(R"({"error":"etcdserver: request timed out","code":14})", error));
    EXPECT_EQ(error, "etcdserver: request timed out");
    EXPECT_FALSE(parseRange("not json", error));
    EXPECT_TRUE(isAuthError(R"({"error":"etcdserver: invalid auth token","code":16})"));
    EXPECT_TRUE(isAuthError(R"({"error":"etcdserver: user name is empty","code":3})"));
    EXPECT_FALSE(isAuthError(R"({"error":"etcdserver: request timed out","code":14})"));
    auto token = parseToken(R"({"header":{"revision":"1"},"token":"abc.1"})", error);
    ASSERT_TRUE(token);
    EXPECT_EQ(*token, "abc.1");
}

TEST(EtcdStorageConfigTest, FileIsTheDefault) {
    auto result = test::loadOneRoute("");
    ASSERT_TRUE(result.config);
    EXPECT_EQ(result.config->storage.type, StorageConfig::Type::File);
}

TEST(EtcdStorageConfigTest, ReadsEtcdSettings) {
    auto result = test::loadOneRoute(
        "", "",
        R"("storage": {"type": "etcd", "etcd": {"endpoints": ["http://10.0.0.1:2379",
            "http://etcd:2379"], "prefix": "/gw", "timeout": 2.5, "user": "root",
            "password": "pw"}}, )");
    ASSERT_TRUE(result.config) << test::messages(result.errors).front();
    const auto& etcd = result.config->storage.etcd;
    EXPECT_EQ(result.config->storage.type, StorageConfig::Type::Etcd);
    EXPECT_EQ(etcd.endpoints,
              (std::vector<std::string>{"http://10.0.0.1:2379", "http://etcd:2379"}));
    EXPECT_EQ(etcd.prefix, "/gw");
    EXPECT_EQ(etcd.timeout, std::chrono::milliseconds(2500));
    EXPECT_EQ(etcd.user, "root");
}

TEST(EtcdStorageConfigTest, ErrorsNameTheField) {
    auto result = test::loadOneRoute(
        "", "",
        R"("storage": {"type": "redis", "etcd": {"endpoints": ["https://etcd:2379", "etcd"],
            "prefix": "apisix/", "timeout": 0, "user": "root"}}, )");
    ASSERT_FALSE(result.config);
    auto errors = test::messages(result.errors);
    auto has = [&](const std::string& text) {
        return std::find(errors.begin(), errors.end(), text) != errors.end();
    };
    EXPECT_TRUE(has("storage.type: must be one of: file, etcd"));
    EXPECT_TRUE(has("storage.etcd.endpoints[0]: must be http://host:port (etcd's client URL)"));
    EXPECT_TRUE(has("storage.etcd.endpoints[1]: must be http://host:port (etcd's client URL)"));
    EXPECT_TRUE(has("storage.etcd.prefix: must start with '/' and not end with it (like /apisix)"));
    EXPECT_TRUE(has("storage.etcd: user and password go together: give both or neither"));
    bool timeout = false;
    for (const auto& error : errors)
        timeout = timeout || error.rfind("storage.etcd.timeout:", 0) == 0;
    EXPECT_TRUE(timeout);
}

}  // namespace
}  // namespace aiproxy::config::etcd
