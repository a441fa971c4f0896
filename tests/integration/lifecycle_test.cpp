// The daemon as a process: config reload on SIGHUP, graceful drain on SIGTERM, and --check.

#include <csignal>
#include <ostream>
#include <thread>

#include <gtest/gtest.h>

#include "support/gateway_test.hpp"

namespace aiproxy::test {
namespace {

using LifecycleTest = GatewayTest;
using State = StreamingClient::State;

// Polls `condition` every 20 ms for up to 5 s, for changes the daemon does not announce.
template <class Condition>
bool eventually(Condition condition) {
    for (int attempt = 0; attempt < 250; ++attempt) {
        if (condition()) return true;
        std::this_thread::sleep_for(20ms);
    }
    return condition();
}

// Starts a gated three-event stream through the gateway and waits for its first event.
std::unique_ptr<StreamingClient> startGatedStream(uint16_t port, MockBackend& backend,
                                                  const std::shared_ptr<Gate>& gate) {
    backend.enqueue(Reply::gatedSse({"one", "two", "three"}, gate));
    auto client = std::make_unique<StreamingClient>(port);
    if (!client->send(chatRequest("/llm/chat/completions", true))) return nullptr;
    gate->release();
    auto first = client->nextEvent();
    if (!first || first->data != "one") return nullptr;
    return client;
}

// Lets the rest of a stream from startGatedStream() through and checks that it ends cleanly.
void expectStreamCompletes(StreamingClient& client, Gate& gate) {
    gate.releaseAll();
    auto second = client.nextEvent();
    auto third = client.nextEvent();
    ASSERT_TRUE(second && third) << client.error();
    EXPECT_EQ(second->data, "two");
    EXPECT_EQ(third->data, "three");
    EXPECT_FALSE(client.nextEvent());
    EXPECT_EQ(client.state(), State::Complete) << client.error();
}

TEST_F(LifecycleTest, SighupAppliesNewRoutesWhileAStreamOnTheOldOnesCompletes) {
    ASSERT_TRUE(startGateway(baseConfig()));
    auto gate = std::make_shared<Gate>();
    auto stream = startGatedStream(daemon_.port(), primary_, gate);
    ASSERT_TRUE(stream) << "the stream did not start";

    GatewayConfig reloaded = baseConfig();
    reloaded.uri = "/next/*";
    daemon_.writeConfig(reloaded.yaml());
    ASSERT_TRUE(daemon_.signal(SIGHUP));

    EXPECT_TRUE(eventually([&] { return post("/next/chat/completions").status == 200; }))
        << "the new route never answered";
    EXPECT_EQ(post("/llm/chat/completions").status, 404) << "the old route is still served";
    expectStreamCompletes(*stream, *gate);
}

TEST_F(LifecycleTest, SighupWithABadFileKeepsTheOldConfig) {
    ASSERT_TRUE(startGateway(baseConfig()));
    GatewayConfig broken = baseConfig();
    broken.uri = "/next/*";
    broken.retry = -1;
    daemon_.writeConfig(broken.yaml());
    std::size_t logged = daemon_.stderrText().size();

    ASSERT_TRUE(daemon_.signal(SIGHUP));

    // The rejection names the bad path, as --check does; only then is the old config checked.
    EXPECT_TRUE(daemon_.waitForStderr("routes[0].plugins.ai-proxy.retry", kWaitTimeout, logged))
        << "the rejection was not logged";
    EXPECT_EQ(post("/llm/chat/completions").status, 200);
    EXPECT_EQ(post("/next/chat/completions").status, 404);
    EXPECT_FALSE(daemon_.waitExit(0ms)) << "the daemon exited";
}

TEST_F(LifecycleTest, SigtermDrainsTheInFlightStreamAndRefusesNewConnections) {
    ASSERT_TRUE(startGateway(baseConfig()));
    auto gate = std::make_shared<Gate>();
    auto stream = startGatedStream(daemon_.port(), primary_, gate);
    ASSERT_TRUE(stream) << "the stream did not start";

    ASSERT_TRUE(daemon_.signal(SIGTERM));

    EXPECT_TRUE(eventually([&] { return connectionRefused(daemon_.port()); }))
        << "still accepting connections after SIGTERM";
    EXPECT_FALSE(daemon_.waitExit(0ms)) << "exited before its stream finished";
    expectStreamCompletes(*stream, *gate);
    EXPECT_EQ(daemon_.waitExit(), 0);
}

struct BadConfigCase {
    std::string name;
    std::string (*yaml)(const GatewayConfig& valid);
    std::string path;  // the error must name this config path

    friend void PrintTo(const BadConfigCase& value, std::ostream* out) { *out << value.name; }
};

class CheckBadConfigTest : public GatewayTest,
                           public ::testing::WithParamInterface<BadConfigCase> {};

TEST_P(CheckBadConfigTest, ExitsOneNamingThePath) {
    TempDir dir;
    auto file = dir.write("bad.yaml", GetParam().yaml(baseConfig()));

    RunResult result = runAiproxyd({"--check", "-c", file.string()});

    EXPECT_EQ(result.exit_code, 1) << result.output;
    EXPECT_NE(result.output.find(GetParam().path), std::string::npos) << result.output;
}

INSTANTIATE_TEST_SUITE_P(Configs, CheckBadConfigTest,
                         ::testing::Values(BadConfigCase{"NegativeRetry",
                                                         [](const GatewayConfig& valid) {
                                                             GatewayConfig config = valid;
                                                             config.retry = -1;
                                                             return config.yaml();
                                                         },
                                                         "routes[0].plugins.ai-proxy.retry"},
                                           BadConfigCase{"UnknownUpstream",
                                                         [](const GatewayConfig& valid) {
                                                             std::string yaml = valid.yaml();
                                                             const std::string from =
                                                                 "upstream_id: primary";
                                                             return yaml.replace(
                                                                 yaml.find(from), from.size(),
                                                                 "upstream_id: nowhere");
                                                         },
                                                         "routes[0].plugins.ai-proxy.upstream_id"}),
                         [](const auto& instance) { return instance.param.name; });

TEST(CheckTest, AcceptsTheShippedConfig) {
    RunResult result = runAiproxyd({"--check", "-c", AIPROXY_SOURCE_DIR "/config/aiproxy.yaml"});

    EXPECT_EQ(result.exit_code, 0) << result.output;
}

}  // namespace
}  // namespace aiproxy::test
