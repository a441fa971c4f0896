// The Admin API through the real binary: the APISIX walk-through, status codes and shapes,
// roles and the allow list, durability (restart, kill -9 mid-burst, damaged state file), and
// live changes that never drop an in-flight stream.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/daemon.hpp"
#include "support/http_client.hpp"
#include "support/mock_backend.hpp"

namespace aiproxy::test {
namespace {

using Json = nlohmann::json;

constexpr const char* kKey = "edd1c9f034335f136f87ad84b625c8f1";
constexpr const char* kViewerKey = "4054f7cf07e344346cd3f287985e76a2";

// A config that declares no routes or upstreams: everything comes through the Admin API.
std::string emptyConfig(int workers = 1, const std::string& extra_admin = "") {
    return "server:\n  listen: [\"127.0.0.1:0\"]\n  workers: " + std::to_string(workers) +
           "\n  drain_timeout: 10\n"
           "status:\n  enabled: false\n"
           "admin:\n  listen: \"127.0.0.1:0\"\n  keys:\n"
           "    - {key: " +
           kKey +
           ", role: admin}\n"
           "    - {key: " +
           kViewerKey + ", role: viewer}\n" + extra_admin;
}

class AdminTest : public ::testing::Test {
protected:
    ::testing::AssertionResult start(const std::string& config) {
        const std::size_t from = 0;  // each start is a new process with its own log
        if (!daemon_.start(config)) {
            return ::testing::AssertionFailure() << "no start:\n" << daemon_.stderrText();
        }
        if (!daemon_.waitForStderr("admin API on ", kWaitTimeout, from)) {
            return ::testing::AssertionFailure() << "no admin line:\n" << daemon_.stderrText();
        }
        daemon_.waitForStderr(" ready: ", kWaitTimeout, from);
        admin_port_ = *parsePortAfter(daemon_.stderrText(), "admin API on ");
        return ::testing::AssertionSuccess();
    }

    ::testing::AssertionResult restart(const std::string& config) {
        daemon_.signal(SIGTERM);
        if (daemon_.waitExit() != 0) return ::testing::AssertionFailure() << "no clean exit";
        return start(config);
    }

    Response admin(const std::string& method, const std::string& path, const std::string& body = "",
                   const std::string& key = kKey) {
        Request request{.method = method, .target = "/apisix/admin/" + path, .body = body};
        if (!key.empty()) request.headers.add("X-API-KEY", key);
        if (!body.empty()) request.headers.add("Content-Type", "application/json");
        return sendRequest(admin_port_, request);
    }

    Response chat() {
        Request request = chatRequest("/llm/chat/completions");
        request.headers.add("Authorization", "Bearer sk-client");
        return sendRequest(daemon_.port(), request);
    }

    void putUpstream(const std::string& id, const MockBackend& backend) {
        auto response = admin("PUT", "upstreams/" + id,
                              R"({"nodes":{")" + backend.address() + R"(":1},"scheme":"http"})");
        ASSERT_TRUE(response.status == 201 || response.status == 200) << response.body;
    }

    void putRoute(const std::string& id, const std::string& upstream,
                  const std::string& fallback = "") {
        std::string plugin = R"({"upstream_id":")" + upstream + "\"";
        if (!fallback.empty()) plugin += R"(,"upstream_fallback_id":")" + fallback + "\"";
        plugin += R"(,"timeout":5000,"retry":1})";
        auto response = admin("PUT", "routes/" + id,
                              R"({"uri":"/llm/*","plugins":{"ai-proxy":)" + plugin + "}}");
        ASSERT_TRUE(response.status == 201 || response.status == 200) << response.body;
    }

    std::filesystem::path dataDir() const { return daemon_.configPath().parent_path() / "data"; }

    void TearDown() override {
        if (HasFailure()) std::cerr << "--- aiproxyd log ---\n" << daemon_.stderrText();
    }

    MockBackend backend_{"local"};
    MockBackend other_{"other"};
    Daemon daemon_;
    uint16_t admin_port_ = 0;
};

TEST_F(AdminTest, WalkThroughFromTheDocsFallsBackToTheLocalModel) {
    ASSERT_TRUE(start(emptyConfig()));
    // The documentation's three PUTs; the OpenAI host cannot resolve (.invalid), like a machine
    // without network access.
    auto openai = admin("PUT", "upstreams/openai_upstream",
                        R"({ "nodes": { "api.openai.invalid:443": 1 }, "scheme": "https",)"
                        R"( "tls": { "client_hello_timeout": 5000 } })");
    EXPECT_EQ(openai.status, 201) << openai.body;
    EXPECT_EQ(openai.headers.get("X-API-VERSION"), "v3");
    EXPECT_EQ(openai.headers.get("Content-Type"), "application/json");
    auto local = admin("PUT", "upstreams/nemoclaw_upstream",
                       R"({ "nodes": { ")" + backend_.address() + R"(": 1 }, "scheme": "http" })");
    EXPECT_EQ(local.status, 201) << local.body;
    auto route =
        admin("PUT", "routes/llm_route",
              R"({ "uri": "/llm/*", "plugins": { "ai-proxy": { "upstream_id": "openai_upstream",)"
              R"( "upstream_fallback_id": "nemoclaw_upstream", "timeout": 60000, "retry": 1,)"
              R"( "enable_upstream_host": true } } })");
    ASSERT_EQ(route.status, 201) << route.body;
    Json created = Json::parse(route.body);
    EXPECT_EQ(created["key"], "/apisix/routes/llm_route");
    EXPECT_EQ(created["value"]["uri"], "/llm/*");

    // The very next data-plane request sees the route.
    Response response = chat();
    EXPECT_EQ(response.status, 200) << response.body;
    EXPECT_EQ(response.headers.get("X-AIProxy-Upstream"), "nemoclaw_upstream");
    ASSERT_EQ(backend_.requestCount(), 1u);
    EXPECT_EQ(backend_.requests()[0].target, "/v1/chat/completions");
}

TEST_F(AdminTest, StatusCodesAndBodyShapes) {
    ASSERT_TRUE(start(emptyConfig()));
    auto missing = admin("GET", "routes", "", "");
    EXPECT_EQ(missing.status, 401);
    EXPECT_EQ(Json::parse(missing.body),
              (Json{{"error_msg", "failed to check token"}, {"description", "missing apikey"}}));
    auto wrong = admin("GET", "routes", "", "0123456789abcdef0123");
    EXPECT_EQ(wrong.status, 401);
    EXPECT_EQ(Json::parse(wrong.body)["description"], "wrong apikey");
    // ?api_key= works too.
    EXPECT_EQ(admin("GET", std::string{"routes?api_key="} + kKey, "", "").status, 200);

    auto not_found = admin("GET", "routes/nothing");
    EXPECT_EQ(not_found.status, 404);
    EXPECT_EQ(Json::parse(not_found.body), (Json{{"message", "Key not found"}}));

    putUpstream("up", backend_);
    auto posted =
        admin("POST", "routes", R"({"uri":"/llm/*","plugins":{"ai-proxy":{"upstream_id":"up"}}})");
    EXPECT_EQ(posted.status, 201) << posted.body;
    std::string id = Json::parse(posted.body)["value"]["id"];
    auto list = Json::parse(admin("GET", "routes").body);
    EXPECT_EQ(list["total"], 1);
    EXPECT_EQ(list["list"][0]["key"], "/apisix/routes/" + id);

    auto invalid =
        admin("PUT", "routes/r2", R"({"uri":"/x","plugins":{"ai-proxy":{"upstream_id":"nope"}}})");
    EXPECT_EQ(invalid.status, 400);
    EXPECT_EQ(Json::parse(invalid.body)["error_msg"],
              "invalid configuration: plugins.ai-proxy.upstream_id: upstream \"nope\" does not "
              "exist");
    EXPECT_EQ(admin("PUT", "routes/r2", "{not json").status, 400);

    auto in_use = admin("DELETE", "upstreams/up");
    EXPECT_EQ(in_use.status, 400);
    EXPECT_EQ(Json::parse(in_use.body)["error_msg"],
              "can not delete this upstream, route [" + id + "] is still using it now");
    auto deleted = admin("DELETE", "routes/" + id);
    EXPECT_EQ(deleted.status, 200);
    EXPECT_EQ(Json::parse(deleted.body), (Json{{"deleted", id}, {"key", "/apisix/routes/" + id}}));
    EXPECT_EQ(chat().status, 404);  // the route is gone from the data plane at once

    // A body over 1.5 MiB is refused without being stored.
    auto big = admin("PUT", "upstreams/big", std::string(1536 * 1024 + 10, ' '));
    EXPECT_EQ(big.status, 400);
    EXPECT_EQ(admin("GET", "upstreams/big").status, 404);
}

TEST_F(AdminTest, ViewerReadsButCannotWrite) {
    ASSERT_TRUE(start(emptyConfig()));
    putUpstream("up", backend_);
    EXPECT_EQ(admin("GET", "upstreams/up", "", kViewerKey).status, 200);
    auto denied = admin("PUT", "upstreams/up2", R"({"nodes":{")" + backend_.address() + R"(":1}})",
                        kViewerKey);
    EXPECT_EQ(denied.status, 403);
    EXPECT_EQ(admin("DELETE", "upstreams/up", "", kViewerKey).status, 403);
    EXPECT_EQ(admin("GET", "upstreams/up2").status, 404);
    EXPECT_EQ(admin("GET", "upstreams/up").status, 200);
}

// A request from 127.0.0.2 when only 127.0.0.1 is allowed.
std::string requestFrom(const char* source, uint16_t port, const std::string& request) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in local{};
    local.sin_family = AF_INET;
    ::inet_pton(AF_INET, source, &local.sin_addr);
    sockaddr_in remote{};
    remote.sin_family = AF_INET;
    remote.sin_port = htons(port);
    ::inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr);
    timeval timeout{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    std::string response;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) == 0 &&
        ::connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote) == 0 &&
        ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(request.size())) {
        char buffer[4096];
        ssize_t n;
        while ((n = ::recv(fd, buffer, sizeof buffer, 0)) > 0)
            response.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return response;
}

TEST_F(AdminTest, AddressesOutsideTheAllowListGet403) {
    ASSERT_TRUE(start(emptyConfig(1, "  allow: [\"127.0.0.1/32\"]\n")));
    std::string request =
        std::string{
            "GET /apisix/admin/routes HTTP/1.1\r\nHost: x\r\n"
            "X-API-KEY: "} +
        kKey + "\r\nConnection: close\r\n\r\n";
    std::string refused = requestFrom("127.0.0.2", admin_port_, request);
    EXPECT_EQ(refused.rfind("HTTP/1.1 403", 0), 0u) << refused;
    EXPECT_NE(refused.find("admin.allow"), std::string::npos);
    std::string allowed = requestFrom("127.0.0.1", admin_port_, request);
    EXPECT_EQ(allowed.rfind("HTTP/1.1 200", 0), 0u) << allowed;
}

TEST_F(AdminTest, RestartKeepsEveryWrite) {
    ASSERT_TRUE(start(emptyConfig()));
    putUpstream("u1", backend_);
    putUpstream("u2", other_);
    putRoute("r1", "u1");
    ASSERT_EQ(admin("PATCH", "routes/r1/plugins/ai-proxy/upstream_id", R"("u2")").status, 200);
    ASSERT_EQ(admin("DELETE", "upstreams/u1").status, 200);
    std::string before = admin("GET", "routes/r1").body;

    ASSERT_TRUE(restart(emptyConfig()));
    EXPECT_EQ(admin("GET", "routes/r1").body, before);
    EXPECT_EQ(admin("GET", "upstreams/u1").status, 404);
    EXPECT_EQ(chat().status, 200);
    EXPECT_EQ(other_.requestCount(), 1u);
    EXPECT_EQ(backend_.requestCount(), 0u);
    struct stat info {};
    ASSERT_EQ(::stat((dataDir() / "state.json").c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0600u);
}

TEST_F(AdminTest, KillNineDuringAPutBurstLosesNoAcknowledgedWrite) {
    std::set<std::string> acknowledged;
    int next = 0;
    for (int round = 0; round < 3; ++round) {
        ASSERT_TRUE(start(emptyConfig()));
        // Each round kills at a different point of its burst of 200 PUTs.
        const int kill_after = 20 + round * 60;
        std::atomic<int> acked{0};
        std::vector<std::string> acked_ids;
        std::mutex mutex;
        std::thread writer([&] {
            for (int i = 0; i < 200; ++i) {
                std::string id = "u" + std::to_string(next++);
                auto response =
                    admin("PUT", "upstreams/" + id,
                          R"({"nodes":{"127.0.0.1:)" + std::to_string(1000 + i) + R"(":1}})");
                if (response.status != 201) break;  // the daemon is gone
                std::lock_guard lock{mutex};
                acked_ids.push_back(id);
                acked.fetch_add(1);
            }
        });
        while (acked.load() < kill_after)
            std::this_thread::yield();
        daemon_.signal(SIGKILL);
        writer.join();
        ASSERT_TRUE(daemon_.waitExit().has_value());
        acknowledged.insert(acked_ids.begin(), acked_ids.end());

        // The state file loads and holds every write that got its 201.
        ASSERT_TRUE(start(emptyConfig())) << "round " << round;
        Json list = Json::parse(admin("GET", "upstreams").body);
        std::set<std::string> stored;
        for (const auto& item : list["list"])
            stored.insert(item["value"]["id"].get<std::string>());
        for (const auto& id : acknowledged)
            EXPECT_EQ(stored.count(id), 1u) << "lost acknowledged write " << id;
        daemon_.signal(SIGKILL);
        daemon_.waitExit();
    }
}

TEST_F(AdminTest, ChangingARouteUnderFiftyStreamsDropsNone) {
    ASSERT_TRUE(start(emptyConfig(2)));
    auto gate = std::make_shared<Gate>();
    backend_.setDefault(Reply::gatedSse({"{\"n\":1}", "{\"n\":2}", "[DONE]"}, gate));
    putUpstream("u1", backend_);
    putUpstream("u2", other_);
    putRoute("r1", "u1");
    constexpr int kStreams = 50;
    std::vector<std::unique_ptr<StreamingClient>> clients;
    for (int i = 0; i < kStreams; ++i) {
        auto client = std::make_unique<StreamingClient>(daemon_.port());
        ASSERT_TRUE(client->send(chatRequest("/llm/chat/completions", true)));
        clients.push_back(std::move(client));
    }
    ASSERT_TRUE(backend_.waitForRequests(kStreams));
    gate->release();  // every stream is past its commit point and mid-way
    for (auto& client : clients) {
        auto first = client->nextEvent();
        ASSERT_TRUE(first.has_value()) << client->error();
        EXPECT_EQ(first->data, "{\"n\":1}");
    }
    // The route moves to another upstream while every stream is open.
    putRoute("r1", "u2");
    EXPECT_EQ(chat().status, 200);
    EXPECT_EQ(other_.requestCount(), 1u);  // new requests follow the change at once
    gate->releaseAll();
    for (auto& client : clients) {
        EXPECT_EQ(client->readToEnd(), StreamingClient::State::Complete) << client->error();
        EXPECT_NE(client->body().find("[DONE]"), std::string::npos);
    }
}

TEST_F(AdminTest, SighupReloadKeepsAdminManagedObjects) {
    ASSERT_TRUE(start(emptyConfig()));
    putUpstream("admin_up", backend_);
    putRoute("admin_route", "admin_up");
    std::string with_file_route =
        emptyConfig() + "upstreams:\n  - id: file_up\n    nodes: {\"" + other_.address() +
        "\": 1}\nroutes:\n  - id: file_route\n    uri: /file/*\n    plugins: {ai-proxy: "
        "{upstream_id: file_up}}\n";
    daemon_.writeConfig(with_file_route);
    std::size_t from = daemon_.stderrText().size();
    daemon_.signal(SIGHUP);
    ASSERT_TRUE(daemon_.waitForStderr("reload done", kWaitTimeout, from));
    EXPECT_EQ(chat().status, 200);
    EXPECT_EQ(backend_.requestCount(), 1u);
    EXPECT_EQ(sendRequest(daemon_.port(), chatRequest("/file/chat/completions")).status, 200);
    EXPECT_EQ(other_.requestCount(), 1u);
    // The export shows where each object comes from.
    Json exported = Json::parse(admin("GET", "configs").body);
    std::map<std::string, std::string> sources;
    for (const auto& item : exported["routes"])
        sources[item["value"]["id"]] = item["source"];
    EXPECT_EQ(sources["file_route"], "file");
    EXPECT_EQ(sources["admin_route"], "admin");
    // The file's ids are not writable through the API.
    EXPECT_EQ(admin("DELETE", "routes/file_route").status, 400);
}

TEST_F(AdminTest, DamagedStateFileStopsTheStartWithItsNameAndOffset) {
    ASSERT_TRUE(start(emptyConfig()));
    putUpstream("u1", backend_);
    daemon_.signal(SIGTERM);
    ASSERT_EQ(daemon_.waitExit(), 0);
    auto state = dataDir() / "state.json";
    auto size = std::filesystem::file_size(state);
    std::filesystem::resize_file(state, size / 2);
    daemon_.start(emptyConfig(), std::chrono::milliseconds(3000));
    EXPECT_EQ(daemon_.waitExit(), 1);
    std::string log = daemon_.stderrText();
    EXPECT_NE(log.find(state.string()), std::string::npos) << log;
    EXPECT_NE(log.find("byte offset " + std::to_string(size / 2)), std::string::npos) << log;
}

TEST_F(AdminTest, WithoutKeysAKeyIsGeneratedAndNeverLogged) {
    std::string config =
        "server:\n  listen: [\"127.0.0.1:0\"]\n  workers: 1\nstatus:\n  enabled: false\n"
        "admin:\n  listen: \"127.0.0.1:0\"\n";
    ASSERT_TRUE(start(config));
    auto key_file = dataDir() / "admin.key";
    struct stat info {};
    ASSERT_EQ(::stat(key_file.c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0600u);
    std::string key;
    std::ifstream{key_file} >> key;
    EXPECT_GE(key.size(), 32u);
    EXPECT_NE(daemon_.stderrText().find(key_file.string()), std::string::npos);
    EXPECT_EQ(daemon_.stderrText().find(key), std::string::npos);
    EXPECT_EQ(admin("GET", "routes", "", key).status, 200);
    EXPECT_EQ(admin("GET", "routes").status, 401);
    // The same key after a restart.
    ASSERT_TRUE(restart(config));
    EXPECT_EQ(admin("GET", "routes", "", key).status, 200);
}

}  // namespace
}  // namespace aiproxy::test
