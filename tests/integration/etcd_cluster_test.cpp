// Several aiproxyd nodes sharing their Admin API objects through a real etcd: a write on one node
// serves on the others within a second, the keys follow APISIX's layout, and etcd going away
// (killed or hung) costs no data-plane request while writes answer 503 until it is back.

#include <atomic>
#include <csignal>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/daemon.hpp"
#include "support/etcd_process.hpp"
#include "support/http_client.hpp"
#include "support/mock_backend.hpp"

namespace aiproxy::test {
namespace {

using Json = nlohmann::json;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr const char* kKey = "edd1c9f034335f136f87ad84b625c8f1";
constexpr milliseconds kPropagation{1000};  // the issue's promise: every node within 1 s

struct Node {
    Daemon daemon;
    uint16_t admin_port = 0;
    uint16_t status_port = 0;

    Response admin(const std::string& method, const std::string& path,
                   const std::string& body = "") const {
        return adminCall(admin_port, kKey, method, path, body);
    }
    Response chat() const {
        Request request = chatRequest("/llm/chat/completions");
        request.timeout = std::chrono::seconds(5);
        return sendRequest(daemon.port(), request);
    }
    double metric(const std::string& series) const { return metricSample(status_port, series); }
};

// Polls `condition` until it holds or `limit` passes; returns how long it took (nullopt: never).
template <class Condition>
std::optional<milliseconds> within(milliseconds limit, Condition condition) {
    auto start = Clock::now();
    while (true) {
        if (condition()) return std::chrono::duration_cast<milliseconds>(Clock::now() - start);
        if (Clock::now() - start > limit) return std::nullopt;
        std::this_thread::sleep_for(milliseconds(10));  // polling other processes' state
    }
}

class EtcdClusterTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (auto missing = EtcdProcess::missingReason(); !missing.empty()) GTEST_SKIP() << missing;
        ASSERT_TRUE(etcd_.start()) << etcd_.log();
    }

    void TearDown() override {
        if (!HasFailure()) return;
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
            std::cerr << "--- node " << i << " log ---\n" << nodes_[i]->daemon.stderrText();
        }
        std::cerr << "--- etcd log ---\n" << etcd_.log();
    }

    std::string config(const std::string& file_objects = "") const {
        return "server:\n  listen: [\"127.0.0.1:0\"]\n  workers: 2\n  drain_timeout: 5\n"
               "status:\n  listen: \"127.0.0.1:0\"\n"
               "admin:\n  listen: \"127.0.0.1:0\"\n  keys:\n    - {key: " +
               std::string{kKey} +
               ", role: admin}\n"
               "storage:\n  type: etcd\n  etcd:\n    endpoints: [\"" +
               etcd_.url() + "\"]\n    prefix: /apisix\n    timeout: 1\n" + file_objects;
    }

    ::testing::AssertionResult startNodes(std::size_t count, const std::string& file_objects = "") {
        for (std::size_t i = 0; i < count; ++i) {
            auto node = std::make_unique<Node>();
            if (!node->daemon.start(config(file_objects)) ||
                !node->daemon.waitForStderr(" ready: ")) {
                return ::testing::AssertionFailure() << "node " << i << " did not start:\n"
                                                     << node->daemon.stderrText();
            }
            std::string log = node->daemon.stderrText();
            node->admin_port = parsePortAfter(log, "admin API on ").value_or(0);
            node->status_port = parsePortAfter(log, "status endpoint on ").value_or(0);
            nodes_.push_back(std::move(node));
        }
        return ::testing::AssertionSuccess();
    }

    void putRoute(const Node& node, const std::string& id, const std::string& uri) {
        auto upstream = node.admin("PUT", "upstreams/" + id,
                                   R"({"nodes":{")" + backend_.address() + R"(":1}})");
        ASSERT_TRUE(upstream.status == 201 || upstream.status == 200) << upstream.body;
        auto route = node.admin(
            "PUT", "routes/" + id,
            R"({"uri":")" + uri + R"(","plugins":{"ai-proxy":{"upstream_id":")" + id + R"("}}})");
        ASSERT_TRUE(route.status == 201 || route.status == 200) << route.body;
    }

    static bool serves(const Node& node, const std::string& target) {
        Request request = chatRequest(target);
        request.timeout = std::chrono::seconds(5);
        Response response = sendRequest(node.daemon.port(), request);
        return response.ok() && response.status == 200;
    }

    MockBackend backend_{"llm"};
    EtcdProcess etcd_;
    std::vector<std::unique_ptr<Node>> nodes_;
};

TEST_F(EtcdClusterTest, PutOnOneNodeServesOnTheOthersWithinOneSecond) {
    ASSERT_TRUE(startNodes(3));
    putRoute(*nodes_[0], "shared", "/shared/*");
    // Acknowledged means served by the writing node at once...
    EXPECT_TRUE(serves(*nodes_[0], "/shared/chat/completions"));
    // ...and by every other node within a second.
    for (std::size_t i = 1; i < nodes_.size(); ++i) {
        auto took =
            within(kPropagation, [&] { return serves(*nodes_[i], "/shared/chat/completions"); });
        ASSERT_TRUE(took) << "node " << i << " did not serve the route within 1 s";
        std::cout << "node " << i << " served the new route after " << took->count() << " ms\n";
    }

    // DELETE on another node propagates back.
    ASSERT_EQ(nodes_[1]->admin("DELETE", "routes/shared").status, 200);
    for (const auto& node : nodes_) {
        EXPECT_TRUE(within(kPropagation, [&] {
            Request request = chatRequest("/shared/chat/completions");
            return sendRequest(node->daemon.port(), request).status == 404;
        }));
    }
    // Every node's Admin API lists what etcd holds.
    EXPECT_EQ(nodes_[2]->admin("GET", "routes/shared").status, 404);
    EXPECT_EQ(nodes_[2]->admin("GET", "upstreams/shared").status, 200);
}

TEST_F(EtcdClusterTest, KeysAndRevisionsFollowApisixLayout) {
    ASSERT_TRUE(startNodes(1));
    putRoute(*nodes_[0], "r1", "/llm/*");
    auto consumer = nodes_[0]->admin("PUT", "consumers",
                                     R"({"username":"jack","plugins":{"key-auth":{"key":"k1"}}})");
    ASSERT_EQ(consumer.status, 201) << consumer.body;

    int code = 0;
    std::string keys = etcd_.etcdctl({"get", "--prefix", "--keys-only", "/apisix/"}, &code);
    ASSERT_EQ(code, 0) << keys;
    EXPECT_NE(keys.find("/apisix/routes/r1"), std::string::npos) << keys;
    EXPECT_NE(keys.find("/apisix/upstreams/r1"), std::string::npos) << keys;
    EXPECT_NE(keys.find("/apisix/consumers/jack"), std::string::npos) << keys;

    std::string value = etcd_.etcdctl({"get", "--print-value-only", "/apisix/routes/r1"});
    Json route = Json::parse(value);
    EXPECT_EQ(route["id"], "r1");
    EXPECT_EQ(route["uri"], "/llm/*");
    EXPECT_TRUE(route.contains("create_time"));

    // createdIndex and modifiedIndex are etcd's create_revision and mod_revision.
    Json fields = Json::parse(etcd_.etcdctl({"get", "-w", "json", "/apisix/routes/r1"}));
    auto create_revision = fields["kvs"][0]["create_revision"].get<std::uint64_t>();
    Json first = Json::parse(nodes_[0]->admin("GET", "routes/r1").body);
    EXPECT_EQ(first["key"], "/apisix/routes/r1");
    EXPECT_EQ(first["createdIndex"].get<std::uint64_t>(), create_revision);
    auto patched = nodes_[0]->admin("PATCH", "routes/r1", R"({"desc":"changed"})");
    ASSERT_EQ(patched.status, 200) << patched.body;
    Json after = Json::parse(patched.body);
    fields = Json::parse(etcd_.etcdctl({"get", "-w", "json", "/apisix/routes/r1"}));
    EXPECT_EQ(after["createdIndex"].get<std::uint64_t>(), create_revision);
    EXPECT_EQ(after["modifiedIndex"].get<std::uint64_t>(),
              fields["kvs"][0]["mod_revision"].get<std::uint64_t>());
    EXPECT_GT(after["modifiedIndex"].get<std::uint64_t>(), create_revision);

    // A write that does not validate stores nothing.
    auto bad = nodes_[0]->admin("PUT", "routes/bad", R"({"uri":"/x","plugins":{"ai-proxy":{}}})");
    EXPECT_EQ(bad.status, 400) << bad.body;
    EXPECT_EQ(etcd_.etcdctl({"get", "--keys-only", "/apisix/routes/bad"}).find("bad"),
              std::string::npos);
}

TEST_F(EtcdClusterTest, ValuesWrittenByHandThatDoNotValidateAreSkippedAndCounted) {
    ASSERT_TRUE(startNodes(2));
    putRoute(*nodes_[0], "good", "/good/*");
    double before = nodes_[1]->metric("aiproxy_config_store_invalid_objects_total");
    etcd_.etcdctl({"put", "/apisix/routes/garbage", "not json at all"});
    etcd_.etcdctl({"put", "/apisix/routes/wrong", R"({"id":"wrong","uri":5})"});
    // A valid object written next (by hand, as another tool would) still applies.
    etcd_.etcdctl(
        {"put", "/apisix/routes/byhand",
         R"({"id":"byhand","uri":"/byhand/*","plugins":{"ai-proxy":{"upstream_id":"good"}}})"});
    for (const auto& node : nodes_) {
        EXPECT_TRUE(
            within(kPropagation, [&] { return serves(*node, "/byhand/chat/completions"); }));
        EXPECT_TRUE(serves(*node, "/good/chat/completions"));
        EXPECT_TRUE(within(kPropagation, [&] {
            return node->metric("aiproxy_config_store_invalid_objects_total") >= before + 2;
        })) << node->metric("aiproxy_config_store_invalid_objects_total");
    }
    EXPECT_TRUE(
        nodes_[1]->daemon.waitForStderr("/apisix/routes/garbage does not hold a JSON object"));
}

TEST_F(EtcdClusterTest, EtcdKilledAndRestartedUnderLoad) {
    ASSERT_TRUE(startNodes(2));
    putRoute(*nodes_[0], "steady", "/llm/*");
    ASSERT_TRUE(within(kPropagation, [&] { return serves(*nodes_[1], "/llm/chat/completions"); }));
    EXPECT_EQ(nodes_[0]->metric("aiproxy_config_store_up"), 1);

    std::atomic<bool> stop{false};
    std::atomic<int> sent{0};
    std::atomic<int> failed{0};
    std::thread load([&] {
        while (!stop) {
            for (const auto& node : nodes_) {
                Response response = node->chat();
                ++sent;
                if (!response.ok() || response.status != 200) ++failed;
            }
        }
    });

    etcd_.kill();
    for (const auto& node : nodes_) {
        EXPECT_TRUE(within(std::chrono::seconds(3),
                           [&] { return node->metric("aiproxy_config_store_up") == 0; }));
        Response ready = sendRequest(node->status_port, Request{.target = "/readyz"});
        EXPECT_EQ(ready.status, 200) << "readiness does not depend on etcd";
    }
    Response refused =
        nodes_[1]->admin("PUT", "routes/later",
                         R"({"uri":"/later/*","plugins":{"ai-proxy":{"upstream_id":"steady"}}})");
    EXPECT_EQ(refused.status, 503) << refused.body;
    EXPECT_NE(refused.body.find("config store is unavailable"), std::string::npos) << refused.body;
    EXPECT_EQ(nodes_[1]->admin("GET", "routes/steady").status, 200) << "reads keep working";

    ASSERT_TRUE(etcd_.start()) << etcd_.log();
    for (const auto& node : nodes_) {
        EXPECT_TRUE(within(std::chrono::seconds(3),
                           [&] { return node->metric("aiproxy_config_store_up") == 1; }));
    }
    // Writes succeed again and reach the other node through the resumed watch.
    Response accepted;
    EXPECT_TRUE(
        within(std::chrono::seconds(3),
               [&] {
                   accepted = nodes_[1]->admin(
                       "PUT", "routes/later",
                       R"({"uri":"/later/*","plugins":{"ai-proxy":{"upstream_id":"steady"}}})");
                   // 200: an earlier attempt that timed out had been committed after all.
                   return accepted.status == 201 || accepted.status == 200;
               }))
        << accepted.status << " " << accepted.body;
    EXPECT_TRUE(
        within(kPropagation, [&] { return serves(*nodes_[0], "/later/chat/completions"); }));

    stop = true;
    load.join();
    EXPECT_GT(sent.load(), 0);
    EXPECT_EQ(failed.load(), 0) << "of " << sent.load() << " data-plane requests";
    std::cout << sent.load() << " data-plane requests during the outage, " << failed.load()
              << " failed\n";
}

TEST_F(EtcdClusterTest, AHungEtcdNeverBlocksTheControlThread) {
    ASSERT_TRUE(startNodes(1));
    putRoute(*nodes_[0], "r", "/llm/*");
    etcd_.pause();
    auto start = Clock::now();
    // A write started while etcd hangs answers 503 within the configured timeout (1 s)...
    Response write = nodes_[0]->admin(
        "PUT", "routes/r2", R"({"uri":"/r2/*","plugins":{"ai-proxy":{"upstream_id":"r"}}})");
    auto took = Clock::now() - start;
    EXPECT_EQ(write.status, 503) << write.body;
    EXPECT_LT(took, std::chrono::seconds(3));
    // ...and meanwhile the same thread answers reads, and the data plane and status keep going.
    EXPECT_EQ(nodes_[0]->admin("GET", "routes/r").status, 200);
    EXPECT_TRUE(serves(*nodes_[0], "/llm/chat/completions"));
    EXPECT_TRUE(within(std::chrono::seconds(3),
                       [&] { return nodes_[0]->metric("aiproxy_config_store_up") == 0; }));
    etcd_.resume();
    EXPECT_TRUE(within(std::chrono::seconds(3),
                       [&] { return nodes_[0]->metric("aiproxy_config_store_up") == 1; }));
}

TEST_F(EtcdClusterTest, StartsOnTheFileWhenEtcdIsDownAndCatchesUp) {
    etcd_.kill();
    std::string file_objects = "upstreams:\n  - id: file\n    nodes: {\"" + backend_.address() +
                               "\": 1}\nroutes:\n  - id: file\n    uri: /file/*\n    plugins:\n"
                               "      ai-proxy: {upstream_id: file}\n";
    ASSERT_TRUE(startNodes(1, file_objects));
    EXPECT_TRUE(serves(*nodes_[0], "/file/chat/completions"));
    EXPECT_EQ(nodes_[0]->metric("aiproxy_config_store_up"), 0);
    EXPECT_TRUE(nodes_[0]->daemon.waitForStderr("etcd is unavailable at start"));

    ASSERT_TRUE(etcd_.start()) << etcd_.log();
    etcd_.etcdctl(
        {"put", "/apisix/routes/late",
         R"({"id":"late","uri":"/late/*","plugins":{"ai-proxy":{"upstream_id":"file"}}})"});
    EXPECT_TRUE(within(std::chrono::seconds(3),
                       [&] { return serves(*nodes_[0], "/late/chat/completions"); }));
    // The store counts as up once its watch is open, a round trip after the read that made
    // the route live: under load the metric can trail the route by that much.
    EXPECT_TRUE(within(std::chrono::seconds(3),
                       [&] { return nodes_[0]->metric("aiproxy_config_store_up") == 1; }));
}

TEST_F(EtcdClusterTest, ALostCompareAndSwapAnswers409) {
    ASSERT_TRUE(startNodes(1));
    putRoute(*nodes_[0], "r", "/llm/*");
    // Another writer changes the key; until this node's watch has it, its copy is older.
    int code = 0;
    etcd_.etcdctl({"put", "/apisix/routes/r",
                   R"({"id":"r","uri":"/moved/*","plugins":{"ai-proxy":{"upstream_id":"r"}}})"},
                  &code);
    ASSERT_EQ(code, 0);
    // Whether the watch or the write wins the race, a write never overwrites what it did not
    // see: either 409, or (watch first) 200 on top of the newer value.
    Response patch = nodes_[0]->admin("PATCH", "routes/r", R"({"desc":"mine"})");
    EXPECT_TRUE(patch.status == 409 || patch.status == 200) << patch.status << patch.body;
    if (patch.status == 409) {
        EXPECT_NE(patch.body.find("changed by another writer"), std::string::npos);
    } else {
        EXPECT_EQ(Json::parse(patch.body)["value"]["uri"], "/moved/*");
    }
}

}  // namespace
}  // namespace aiproxy::test
