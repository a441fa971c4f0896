// Hostile input through the real binary: request smuggling and malformed framing, slow and idle
// clients, the connection limit, oversized and odd bodies, misbehaving upstreams, and the Admin
// API's defences (failed-authentication limit, keys kept out of logs). Raw bytes go through plain
// POSIX sockets so every case sends exactly what it says.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/gateway_test.hpp"

namespace aiproxy::test {
namespace {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;
using State = StreamingClient::State;

// One blocking loopback TCP connection; every wait is bounded by poll().
class PlainSocket {
public:
    enum class Event { Data, Closed, Timeout };

    // `source`: the local address to connect from (any 127.0.0.0/8 address), else the default.
    explicit PlainSocket(uint16_t port, const char* source = nullptr) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd_ < 0) return;
        timeval send_timeout{.tv_sec = 5, .tv_usec = 0};  // a stalled peer fails, not hangs
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        if (source != nullptr) {
            ::inet_pton(AF_INET, source, &address.sin_addr);
            if (::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) return;
        }
        address.sin_port = htons(port);
        ::inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
        connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    }
    ~PlainSocket() {
        if (fd_ >= 0) ::close(fd_);
    }
    PlainSocket(const PlainSocket&) = delete;
    PlainSocket& operator=(const PlainSocket&) = delete;

    bool connected() const { return connected_; }

    bool send(std::string_view bytes) {
        while (!bytes.empty()) {
            auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n <= 0) return false;
            bytes.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }

    // Waits up to `timeout` for bytes or the end of the stream (FIN or reset).
    Event readSome(std::chrono::milliseconds timeout) {
        if (closed_) return Event::Closed;
        pollfd watched{.fd = fd_, .events = POLLIN, .revents = 0};
        if (::poll(&watched, 1, static_cast<int>(timeout.count())) <= 0) return Event::Timeout;
        char chunk[16384];
        auto n = ::recv(fd_, chunk, sizeof chunk, 0);
        if (n <= 0) {
            closed_ = true;
            return Event::Closed;
        }
        received_.append(chunk, static_cast<std::size_t>(n));
        return Event::Data;
    }

    bool readUntil(std::string_view needle, std::chrono::milliseconds timeout = kWaitTimeout) {
        auto deadline = Clock::now() + timeout;
        while (received_.find(needle) == std::string::npos) {
            if (Clock::now() >= deadline || readSome(left(deadline)) == Event::Closed) {
                return received_.find(needle) != std::string::npos;
            }
        }
        return true;
    }

    // True once the peer has ended the connection; false if it is still open at the timeout.
    bool waitClosed(std::chrono::milliseconds timeout = kWaitTimeout) {
        auto deadline = Clock::now() + timeout;
        while (!closed_ && Clock::now() < deadline)
            readSome(left(deadline));
        return closed_;
    }

    const std::string& received() const { return received_; }

private:
    static std::chrono::milliseconds left(Clock::time_point deadline) {
        auto rest = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        return std::max(rest, std::chrono::milliseconds(1));
    }

    int fd_ = -1;
    bool connected_ = false;
    bool closed_ = false;
    std::string received_;
};

// The status code of the first status line in `text`, or 0.
int statusOf(std::string_view text) {
    if (text.substr(0, 9) != "HTTP/1.1 " || text.size() < 12) return 0;
    return std::atoi(std::string(text.substr(9, 3)).c_str());
}

std::string bodyOf(std::string_view text) {
    auto end = text.find("\r\n\r\n");
    return end == std::string_view::npos ? std::string() : std::string(text.substr(end + 4));
}

// A request whose bytes are complete and well-formed.
constexpr std::string_view kValidRequest =
    "POST /llm/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    "Content-Length: 2\r\n\r\n{}";

class HostileInputTest : public GatewayTest {
protected:
    // Sends `bytes` on a fresh connection; expects `status`, then the end of the connection.
    void expectAnsweredAndClosed(std::string_view bytes, int status) {
        PlainSocket socket{daemon_.port()};
        ASSERT_TRUE(socket.connected());
        ASSERT_TRUE(socket.send(bytes));
        EXPECT_TRUE(socket.readUntil("\r\n\r\n")) << socket.received();
        EXPECT_EQ(statusOf(socket.received()), status) << socket.received();
        EXPECT_TRUE(socket.waitClosed()) << "still open after " << status;
    }

    // A chat completion that is answered by the default reply of the primary.
    void expectStillServing() {
        Response response = post();
        EXPECT_EQ(response.status, 200) << response.error << response.body;
        EXPECT_EQ(response.body, primary_.defaultBody());
    }
};

// ---- Request smuggling and malformed framing -----------------------------------------------

struct RawCase {
    std::string name;
    std::string bytes;
    int status = 400;

    friend void PrintTo(const RawCase& value, std::ostream* out) { *out << value.name; }
};

class SmugglingTest : public HostileInputTest, public ::testing::WithParamInterface<RawCase> {};

// Each request hides a second, well-formed one behind framing that parsers may read differently:
// the gateway answers, closes and forwards nothing, neither the first nor the hidden one.
TEST_P(SmugglingTest, IsRejectedClosedAndNeverForwarded) {
    GatewayConfig config = baseConfig();
    config.limits = {{"max_header_bytes", "8192"}};
    ASSERT_TRUE(startGateway(config));

    expectAnsweredAndClosed(GetParam().bytes, GetParam().status);

    EXPECT_EQ(primary_.requestCount(), 0U);
    EXPECT_EQ(fallback_.requestCount(), 0U);
    expectStillServing();
}

std::string head(std::string_view fields) {
    return "POST /llm/chat/completions HTTP/1.1\r\nHost: x\r\n" + std::string(fields) + "\r\n";
}

const std::string kHidden{kValidRequest};

INSTANTIATE_TEST_SUITE_P(
    Requests, SmugglingTest,
    ::testing::Values(
        RawCase{
            "ContentLengthThenChunked",
            head("Content-Length: 4\r\nTransfer-Encoding: chunked\r\n") + "0\r\n\r\n" + kHidden},
        RawCase{
            "ChunkedThenContentLength",
            head("Transfer-Encoding: chunked\r\nContent-Length: 70\r\n") + "0\r\n\r\n" + kHidden},
        RawCase{"TransferEncodingNotChunked",
                head("Transfer-Encoding: xchunked\r\n") + "5\r\nhello\r\n0\r\n\r\n" + kHidden},
        RawCase{"TransferEncodingIdentityWithContentLength",
                head("Transfer-Encoding: identity\r\nContent-Length: 5\r\n") + "hello" + kHidden},
        RawCase{"ChunkedNotTheFinalCoding",
                head("Transfer-Encoding: chunked, identity\r\n") + "0\r\n\r\n" + kHidden},
        RawCase{"GzipThenChunked",
                head("Transfer-Encoding: gzip, chunked\r\n") + "0\r\n\r\n" + kHidden},
        RawCase{"TwoTransferEncodingFields",
                head("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n") + "0\r\n\r\n" +
                    kHidden},
        RawCase{"ChunkedInHttp10",
                "POST /llm/chat/completions HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: "
                "chunked\r\n\r\n0\r\n\r\n" +
                    kHidden},
        RawCase{"DuplicateContentLengthDiffering",
                head("Content-Length: 2\r\nContent-Length: 72\r\n") + "{}" + kHidden},
        RawCase{"DuplicateContentLengthEqual",
                head("Content-Length: 2\r\nContent-Length: 2\r\n") + "{}" + kHidden},
        RawCase{"ContentLengthList", head("Content-Length: 2, 2\r\n") + "{}" + kHidden},
        RawCase{"NegativeContentLength", head("Content-Length: -1\r\n") + kHidden},
        RawCase{"SignedContentLength", head("Content-Length: +2\r\n") + "{}" + kHidden},
        RawCase{"OverflowingContentLength",
                head("Content-Length: 18446744073709551617\r\n") + kHidden},
        RawCase{"SpaceBeforeColon", head("Content-Length : 2\r\n") + "{}" + kHidden},
        RawCase{"OverflowingChunkSize", head("Transfer-Encoding: chunked\r\n") +
                                            "fffffffffffffffff1\r\n{}\r\n0\r\n\r\n" + kHidden},
        RawCase{"NegativeChunkSize",
                head("Transfer-Encoding: chunked\r\n") + "-2\r\n{}\r\n0\r\n\r\n" + kHidden},
        RawCase{"ChunkLongerThanItsSize",
                head("Transfer-Encoding: chunked\r\n") + "2\r\n{}xx\r\n0\r\n\r\n" + kHidden},
        RawCase{"ObsFold", head("X-Folded: a\r\n b\r\nContent-Length: 2\r\n") + "{}" + kHidden},
        RawCase{"ObsFoldedContentLength", head("Content-Length:\r\n 2\r\n") + "{}" + kHidden},
        RawCase{"WhitespaceAfterRequestLine",
                "POST /llm/chat/completions HTTP/1.1\r\n Host: x\r\nContent-Length: 2\r\n\r\n{}" +
                    kHidden},
        RawCase{"BareLfLineEndings",
                "POST /llm/chat/completions HTTP/1.1\nHost: x\nContent-Length: 2\n\n{}" + kHidden},
        RawCase{"BareLfInOneField",
                head("X-A: 1\nContent-Length: 72\r\nContent-Length: 2\r\n") + "{}" + kHidden},
        RawCase{"BareCrInOneField", head("X-A: 1\rContent-Length: 2\r\n") + "{}" + kHidden},
        RawCase{"OversizedRequestLine",
                "GET /llm/" + std::string(10000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n" + kHidden,
                431},
        RawCase{"OversizedHeaderField", head("X-Big: " + std::string(10000, 'a') + "\r\n"), 431},
        RawCase{"HeaderThatNeverEndsWithinTheLimit",
                head("X-Big: " + std::string(10000, 'a')).substr(0, 9000), 431}),
    [](const auto& instance) { return instance.param.name; });

TEST_F(HostileInputTest, SmuggledRequestAfterAServedOneOnTheSameConnectionIsNotForwarded) {
    ASSERT_TRUE(startGateway(baseConfig()));
    PlainSocket socket{daemon_.port()};
    ASSERT_TRUE(socket.connected());

    ASSERT_TRUE(socket.send(std::string(kValidRequest) +
                            head("Content-Length: 4\r\nTransfer-Encoding: chunked\r\n") +
                            "0\r\n\r\n" + kHidden));

    EXPECT_TRUE(socket.waitClosed()) << socket.received();
    const std::string& received = socket.received();
    EXPECT_EQ(statusOf(received), 200) << received;
    auto second = received.find("HTTP/1.1 ", 1);
    ASSERT_NE(second, std::string::npos) << received;
    EXPECT_EQ(statusOf(std::string_view(received).substr(second)), 400) << received;
    EXPECT_EQ(primary_.requestCount(), 1U);
}

// ---- Slow and idle clients ---------------------------------------------------------------

// Sends `bytes` one at a time; between two bytes it waits up to `pace` for the connection to
// end, which is the event the caller is after. Returns true once it has ended.
bool trickleUntilClosed(PlainSocket& socket, std::string_view bytes,
                        std::chrono::milliseconds pace) {
    for (char c : bytes) {
        if (!socket.send(std::string_view(&c, 1))) return true;  // reset by the peer
        if (socket.readSome(pace) == PlainSocket::Event::Closed) return true;
    }
    return socket.waitClosed(0ms);
}

TEST_F(HostileInputTest, SlowlorisHeaderIsCutAtTheHeaderTimeout) {
    GatewayConfig config = baseConfig();
    config.limits = {{"header_timeout", "0.5"}};
    ASSERT_TRUE(startGateway(config));
    PlainSocket socket{daemon_.port()};
    ASSERT_TRUE(socket.connected());
    auto started = Clock::now();

    // 100 bytes at one per 50 ms would take 5 s: far past the 0.5 s header timeout.
    bool closed = trickleUntilClosed(socket, head("X-Slow: " + std::string(50, 's')), 50ms);

    EXPECT_TRUE(closed) << "a header trickled for 5 s was not cut by a 0.5 s header timeout";
    EXPECT_GE(Clock::now() - started, 400ms) << "closed before the header timeout";
    EXPECT_EQ(socket.received().find("HTTP/1.1 2"), std::string::npos) << socket.received();
    EXPECT_EQ(primary_.requestCount(), 0U);
}

TEST_F(HostileInputTest, SlowBodyIsCutAtTheBodyTimeout) {
    GatewayConfig config = baseConfig();
    config.limits = {{"body_timeout", "0.5"}};
    ASSERT_TRUE(startGateway(config));
    PlainSocket socket{daemon_.port()};
    ASSERT_TRUE(socket.connected());
    ASSERT_TRUE(socket.send(head("Content-Type: application/json\r\nContent-Length: 100\r\n")));
    auto started = Clock::now();

    bool closed = trickleUntilClosed(socket, std::string(100, ' '), 50ms);

    EXPECT_TRUE(closed) << "a body trickled for 5 s was not cut by a 0.5 s body timeout";
    EXPECT_GE(Clock::now() - started, 400ms) << "closed before the body timeout";
    EXPECT_EQ(socket.received().find("HTTP/1.1 2"), std::string::npos) << socket.received();
    EXPECT_EQ(primary_.requestCount(), 0U);
}

// Raises this process's open-file soft limit to at least `needed` (the daemon, a child,
// inherits it); false when the hard limit does not allow that.
bool raiseOpenFileLimit(rlim_t needed) {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return false;
    if (limit.rlim_cur >= needed) return true;
    if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < needed) return false;
    limit.rlim_cur = limit.rlim_max == RLIM_INFINITY ? needed : limit.rlim_max;
    return ::setrlimit(RLIMIT_NOFILE, &limit) == 0;
}

TEST_F(HostileInputTest, TwoThousandIdleConnectionsDoNotStopOthersFromBeingServed) {
    constexpr int kIdle = 2000;
    if (!raiseOpenFileLimit(kIdle + 512)) {
        GTEST_SKIP() << "RLIMIT_NOFILE hard limit below " << kIdle + 512;
    }
    GatewayConfig config = baseConfig();
    config.limits = {{"max_connections", "4000"}};
    ASSERT_TRUE(startGateway(config));
    std::vector<std::unique_ptr<PlainSocket>> idle;
    idle.reserve(kIdle);
    for (int i = 0; i < kIdle; ++i) {
        idle.push_back(std::make_unique<PlainSocket>(daemon_.port()));
        ASSERT_TRUE(idle.back()->connected()) << "connection " << i;
    }
    // Half of them started a request and stopped after its first line.
    for (int i = 0; i < kIdle; i += 2)
        ASSERT_TRUE(idle[i]->send("POST /llm/chat/completions HTTP/1.1\r\n"));

    // Accepted in order, so this one comes after every idle connection.
    Response response = post();

    EXPECT_EQ(response.status, 200) << response.error;
    EXPECT_EQ(response.body, primary_.defaultBody());
    for (int i = 0; i < kIdle; i += 97) {
        EXPECT_EQ(idle[i]->readSome(0ms), PlainSocket::Event::Timeout) << "connection " << i;
    }
}

TEST_F(HostileInputTest, ConnectionsOverMaxConnectionsGetA503AndAClose) {
    GatewayConfig config = baseConfig();
    config.limits = {{"max_connections", "5"}};
    ASSERT_TRUE(startGateway(config));
    std::vector<std::unique_ptr<PlainSocket>> open;
    for (int i = 0; i < 5; ++i) {
        open.push_back(std::make_unique<PlainSocket>(daemon_.port()));
        ASSERT_TRUE(open.back()->connected());
    }

    PlainSocket sixth{daemon_.port()};
    ASSERT_TRUE(sixth.connected());
    ASSERT_TRUE(sixth.send(kValidRequest));

    EXPECT_TRUE(sixth.waitClosed());
    EXPECT_EQ(statusOf(sixth.received()), 503) << sixth.received();
    EXPECT_NE(sixth.received().find("Retry-After: 1\r\n"), std::string::npos);
    Json body = Json::parse(bodyOf(sixth.received()), nullptr, false);
    EXPECT_EQ(body["error"]["code"], "too_many_connections") << sixth.received();
    EXPECT_EQ(primary_.requestCount(), 0U);

    // The five are still served, and a slot freed by one of them goes to the next client.
    ASSERT_TRUE(open[0]->send(kValidRequest));
    EXPECT_TRUE(open[0]->readUntil(primary_.defaultBody())) << open[0]->received();
    EXPECT_EQ(statusOf(open[0]->received()), 200);
    open.pop_back();
    int status = 0;
    for (int attempt = 0; attempt < 200 && status != 200; ++attempt) {
        PlainSocket next{daemon_.port()};  // refused until the daemon has seen the close
        if (!next.send(kValidRequest) || !next.readUntil("\r\n\r\n")) continue;
        status = statusOf(next.received());
        next.waitClosed(100ms);
    }
    EXPECT_EQ(status, 200);
}

// ---- Large and odd bodies ------------------------------------------------------------------

TEST_F(HostileInputTest, DeclaredBodyOverTheLimitGets413BeforeAnyBodyByte) {
    GatewayConfig config = baseConfig();
    config.limits = {{"max_body_bytes", "1024"}};
    ASSERT_TRUE(startGateway(config));

    // Only the head: the answer must not wait for a gigabyte that never comes.
    expectAnsweredAndClosed(
        head("Content-Type: application/json\r\nContent-Length: 1000000000\r\n"), 413);

    EXPECT_EQ(primary_.requestCount(), 0U);
}

TEST_F(HostileInputTest, ChunkedBodyOverTheLimitGets413WhileItIsStillComing) {
    GatewayConfig config = baseConfig();
    config.limits = {{"max_body_bytes", "1024"}};
    ASSERT_TRUE(startGateway(config));
    std::string chunk = "400\r\n" + std::string(1024, 'x') + "\r\n";

    // Two chunks of 1 KiB and no last chunk: the body never ends.
    expectAnsweredAndClosed(head("Transfer-Encoding: chunked\r\n") + chunk + chunk, 413);

    EXPECT_EQ(primary_.requestCount(), 0U);
}

// An upstream of provider anthropic: the gateway translates, so it must parse the body.
std::vector<std::pair<std::string, std::string>> anthropicUpstream() {
    return {{"provider", "anthropic"}, {"scheme", "http"}, {"auth", "{header: {x-api-key: k}}"}};
}

TEST_F(HostileInputTest, InvalidJsonWhereTheRouteNeedsJsonGets400) {
    GatewayConfig config = baseConfig();
    config.primary_settings = anthropicUpstream();
    ASSERT_TRUE(startGateway(config));
    Request request = chatRequest();
    request.body = R"({"model": "gpt-4o-mini", "messages": [)";

    Response response = sendRequest(daemon_.port(), request);

    ASSERT_TRUE(response.ok()) << response.error;
    EXPECT_EQ(response.status, 400) << response.body;
    Json body = Json::parse(response.body, nullptr, false);
    EXPECT_EQ(body["error"]["code"], "invalid_json") << response.body;
    EXPECT_EQ(primary_.requestCount(), 0U);
}

struct DeepJsonCase {
    std::string name;
    std::string body;
    bool translated = false;  // the route's upstream is anthropic: the body is parsed and rebuilt

    friend void PrintTo(const DeepJsonCase& value, std::ostream* out) { *out << value.name; }
};

class DeepJsonTest : public HostileInputTest, public ::testing::WithParamInterface<DeepJsonCase> {};

// 100,000 levels of nesting: whatever the answer, the daemon survives it and serves the next.
TEST_P(DeepJsonTest, DaemonAnswersAndKeepsServing) {
    GatewayConfig config = baseConfig();
    config.retry = 0;
    if (GetParam().translated) config.primary_settings = anthropicUpstream();
    ASSERT_TRUE(startGateway(config));
    Request request = chatRequest();
    request.body = GetParam().body;

    Response deep = sendRequest(daemon_.port(), request);
    Response next = post();

    EXPECT_TRUE(deep.ok()) << deep.error;
    EXPECT_NE(deep.status, 0);
    EXPECT_TRUE(next.ok()) << next.error;
    EXPECT_FALSE(daemon_.waitExit(0ms)) << "the daemon died";
}

constexpr int kDepth = 100'000;
const std::string kOpen(kDepth, '[');
const std::string kNested = kOpen + std::string(kDepth, ']');

INSTANTIATE_TEST_SUITE_P(
    Bodies, DeepJsonTest,
    ::testing::Values(
        DeepJsonCase{"UnclosedArrays", kOpen},
        DeepJsonCase{"NestedMessages", R"({"model":"gpt-4o-mini","messages":)" + kNested + "}"},
        DeepJsonCase{"NestedMessagesInAStreamWithStreamOptions",
                     R"({"model":"gpt-4o-mini","stream":true,)"
                     R"("stream_options":{"include_usage":false},"messages":)" +
                         kNested + "}"},
        DeepJsonCase{"NestedMessagesInAStream",
                     R"({"model":"gpt-4o-mini","stream":true,"messages":)" + kNested + "}"},
        DeepJsonCase{"UnclosedArraysTranslated", kOpen, true},
        DeepJsonCase{"NestedMessagesTranslated",
                     R"({"model":"gpt-4o-mini","messages":)" + kNested + "}", true}),
    [](const auto& instance) { return instance.param.name; });

// ---- Upstream misbehaviour -----------------------------------------------------------------

struct UpstreamCase {
    std::string name;
    std::string bytes;        // the upstream's whole answer, then FIN
    bool translated = false;  // the gateway must read the whole answer before replying

    friend void PrintTo(const UpstreamCase& value, std::ostream* out) { *out << value.name; }
};

constexpr const char* kAnthropicMessage =
    R"({"id":"msg_02","type":"message","role":"assistant","model":"claude-test",)"
    R"("content":[{"type":"text","text":"fine"}],"stop_reason":"end_turn",)"
    R"("stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}})";

class BadUpstreamTest : public HostileInputTest,
                        public ::testing::WithParamInterface<UpstreamCase> {};

// Before the first byte reaches the client, every one of these is a clean 502 with the gateway's
// JSON error; the next request gets its own answer, untouched by the broken one.
TEST_P(BadUpstreamTest, Gets502AndTheNextRequestIsUnaffected) {
    GatewayConfig config = baseConfig();
    config.retry = 0;
    config.limits = {{"max_response_header_bytes", "8192"}, {"max_response_body_bytes", "65536"}};
    if (GetParam().translated) config.primary_settings = anthropicUpstream();
    ASSERT_TRUE(startGateway(config));
    primary_.enqueue(Reply::garbage(GetParam().bytes));

    Response response = post();

    ASSERT_TRUE(response.ok()) << response.error;
    EXPECT_EQ(response.status, 502) << response.body;
    Json body = Json::parse(response.body, nullptr, false);
    EXPECT_TRUE(body.contains("error") || body.contains("type")) << response.body;
    if (!GetParam().translated) {
        EXPECT_EQ(body["error"]["code"], "upstream_unavailable") << response.body;
        expectStillServing();
        return;
    }
    primary_.enqueue(Reply::json(200, kAnthropicMessage));
    Response next = post();
    EXPECT_EQ(next.status, 200) << next.error << next.body;
    Json translated = Json::parse(next.body, nullptr, false);
    EXPECT_EQ(translated["choices"][0]["message"]["content"], "fine") << next.body;
}

const std::string kJsonHead = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n";

INSTANTIATE_TEST_SUITE_P(
    Answers, BadUpstreamTest,
    ::testing::Values(
        UpstreamCase{"NotHttp", "SSH-2.0-OpenSSH_9.2\r\n\r\n"},
        UpstreamCase{"HeaderOverTheLimit", kJsonHead + "X-Big: " + std::string(20000, 'x') +
                                               "\r\nContent-Length: 2\r\n\r\n{}"},
        UpstreamCase{"DeclaredBodyOverTheLimit",
                     kJsonHead + "Content-Length: 100000000\r\n\r\n" + std::string(200000, 'x')},
        UpstreamCase{"ChunkedAndClosedBeforeTheBody",
                     kJsonHead + "Transfer-Encoding: chunked\r\n\r\n"},
        UpstreamCase{"UnboundedBodyOverTheLimitTranslated",
                     kJsonHead + "\r\n" + std::string(1 << 20, 'x'), true},
        UpstreamCase{"ChunkedAndClosedEarlyTranslated",
                     kJsonHead + "Transfer-Encoding: chunked\r\n\r\n10\r\n{\"id\":\"msg_01\",",
                     true},
        UpstreamCase{"ShortBodyTranslated",
                     kJsonHead + "Content-Length: 1000\r\n\r\n{\"id\":\"msg_01\",", true}),
    [](const auto& instance) { return instance.param.name; });

class CutUpstreamTest : public HostileInputTest,
                        public ::testing::WithParamInterface<UpstreamCase> {};

// Once the first body byte went out there is no 502 to give: the client must see the answer
// break (no terminating chunk, or fewer bytes than announced), never a complete-looking one.
TEST_P(CutUpstreamTest, ClientSeesABrokenAnswerAndTheNextRequestIsUnaffected) {
    GatewayConfig config = baseConfig();
    config.retry = 0;
    config.limits = {{"max_response_body_bytes", "65536"}};
    ASSERT_TRUE(startGateway(config));
    primary_.enqueue(Reply::garbage(GetParam().bytes));
    StreamingClient client{daemon_.port()};
    ASSERT_TRUE(client.send(chatRequest()));

    ASSERT_TRUE(client.readHeader()) << client.error();
    State end = client.readToEnd();

    EXPECT_EQ(client.status(), 200);
    EXPECT_EQ(end, State::Broken) << client.body().size() << " bytes";
    EXPECT_LE(client.body().size(), 65536U + 65536U);
    expectStillServing();
}

INSTANTIATE_TEST_SUITE_P(
    Answers, CutUpstreamTest,
    ::testing::Values(
        UpstreamCase{"UnboundedBodyOverTheLimit", kJsonHead + "\r\n" + std::string(4 << 20, 'x')},
        UpstreamCase{"ChunkedBodyOverTheLimit", kJsonHead + "Transfer-Encoding: chunked\r\n\r\n" +
                                                    [] {
                                                        std::string chunks;
                                                        for (int i = 0; i < 64; ++i)
                                                            chunks += "1000\r\n" +
                                                                      std::string(4096, 'x') +
                                                                      "\r\n";
                                                        return chunks;
                                                    }()},
        UpstreamCase{"ChunkedAndClosedEarly",
                     kJsonHead + "Transfer-Encoding: chunked\r\n\r\n10\r\n{\"id\":\"chatcmpl"},
        UpstreamCase{"ShortBody", kJsonHead + "Content-Length: 1000\r\n\r\n{\"id\":\"chatcmpl"}),
    [](const auto& instance) { return instance.param.name; });

// ---- Admin API -----------------------------------------------------------------------------

constexpr std::string_view kAdminKey = "a1d9c3b5e7f90817263544536271809a";
constexpr std::string_view kWrongKey = "f00dfeedf00dfeedf00dfeedf00dfeed";

class AdminDefenceTest : public HostileInputTest {
protected:
    // admin_keys: more lines under admin: (2 spaces in).
    ::testing::AssertionResult startWithAdminKey(const std::string& admin_keys = "") {
        std::string yaml = baseConfig().yaml();
        const std::string admin = "admin:\n  listen: \"127.0.0.1:0\"\n";
        auto at = yaml.find(admin);
        if (at == std::string::npos) return ::testing::AssertionFailure() << yaml;
        yaml.insert(at + admin.size(), "  keys:\n    - {key: " + std::string(kAdminKey) +
                                           ", role: admin}\n" + admin_keys);
        if (!daemon_.start(yaml)) {
            return ::testing::AssertionFailure() << "no start:\n" << daemon_.stderrText();
        }
        constexpr std::string_view kMarker = "admin API on ";
        if (!daemon_.waitForStderr(kMarker)) {
            return ::testing::AssertionFailure() << "no admin line:\n" << daemon_.stderrText();
        }
        std::string log = daemon_.stderrText();
        auto start = log.find(kMarker) + kMarker.size();
        auto end = log.find(' ', start);
        std::string address = log.substr(start, end - start);
        admin_port_ = static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
        return ::testing::AssertionSuccess();
    }

    // One Admin API call on its own connection from `source`; the whole answer.
    std::string adminCall(std::string_view key, const char* source = "127.0.0.1",
                          const std::string& target = "/apisix/admin/routes",
                          const std::string& extra_fields = "") {
        PlainSocket socket{admin_port_, source};
        if (!socket.connected()) return "not connected";
        std::string request = "GET " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n";
        if (!key.empty()) request += "X-API-KEY: " + std::string(key) + "\r\n";
        request += extra_fields + "\r\n";
        if (!socket.send(request)) return "not sent";
        socket.waitClosed();
        return socket.received();
    }

    uint16_t admin_port_ = 0;
};

TEST_F(AdminDefenceTest, FailedAuthenticationsAreLimitedPerSourceAddress) {
    ASSERT_TRUE(startWithAdminKey());
    for (int i = 0; i < 10; ++i) {
        std::string answer = adminCall(kWrongKey);
        ASSERT_EQ(statusOf(answer), 401) << "attempt " << i << ": " << answer;
    }

    // Blocked: even the right key is not looked at.
    std::string blocked = adminCall(kAdminKey);
    // Another address is not affected, and counts its own failures.
    std::string other = adminCall(kAdminKey, "127.0.0.2");
    std::string other_wrong = adminCall(kWrongKey, "127.0.0.2");

    EXPECT_EQ(statusOf(blocked), 429) << blocked;
    EXPECT_EQ(Json::parse(bodyOf(blocked), nullptr, false),
              Json({{"error_msg", "too many failed authentication attempts"}}))
        << blocked;
    auto retry_after = blocked.find("Retry-After: ");
    ASSERT_NE(retry_after, std::string::npos) << blocked;
    int seconds = std::atoi(blocked.c_str() + retry_after + 13);
    EXPECT_GE(seconds, 1);
    EXPECT_LE(seconds, 60);
    EXPECT_EQ(statusOf(other), 200) << other;
    EXPECT_EQ(statusOf(other_wrong), 401) << other_wrong;
    EXPECT_TRUE(daemon_.waitForStderr("admin: 127.0.0.1 blocked"));
}

TEST_F(AdminDefenceTest, TheFailedAuthenticationLimitIsConfigurable) {
    ASSERT_TRUE(startWithAdminKey("  auth_failure_limit: {max_failures: 3, window: 5}\n"));
    for (int i = 0; i < 3; ++i) {
        std::string answer = adminCall(kWrongKey);
        ASSERT_EQ(statusOf(answer), 401) << "attempt " << i << ": " << answer;
    }

    std::string blocked = adminCall(kAdminKey);

    EXPECT_EQ(statusOf(blocked), 429) << blocked;
    auto retry_after = blocked.find("Retry-After: ");
    ASSERT_NE(retry_after, std::string::npos) << blocked;
    int seconds = std::atoi(blocked.c_str() + retry_after + 13);
    EXPECT_GE(seconds, 1);
    EXPECT_LE(seconds, 5);
    EXPECT_TRUE(daemon_.waitForStderr("admin: 127.0.0.1 blocked for"));
    EXPECT_NE(daemon_.stderrText().find("after 3 failed authentications"), std::string::npos);
}

TEST_F(AdminDefenceTest, KeysNeverAppearInTheLog) {
    ASSERT_TRUE(startWithAdminKey());
    constexpr std::string_view kClientKey = "sk-client-0123456789abcdef0123456789";

    std::vector<std::string> answers{
        adminCall(kWrongKey),
        adminCall(kAdminKey),
        adminCall("", "127.0.0.1", "/apisix/admin/routes?api_key=" + std::string(kWrongKey)),
        adminCall("", "127.0.0.1", "/apisix/admin/routes?api_key=" + std::string(kAdminKey)),
        adminCall("", "127.0.0.1", "/apisix/admin/routes",
                  "Cookie: x_api_key=" + std::string(kAdminKey) + "\r\n"),
        adminCall(kAdminKey, "127.0.0.1", "/apisix/admin/nowhere"),
    };
    for (int i = 0; i < 12; ++i)  // into the failed-authentication block and past it
        answers.push_back(adminCall(kWrongKey, "127.0.0.3"));
    Request chat = chatRequest();
    chat.headers.add("Authorization", "Bearer " + std::string(kClientKey));
    Response data_plane = sendRequest(daemon_.port(), chat);
    primary_.enqueue(Reply::json(401, R"({"error":{"message":"bad key"}})"));
    Response refused = sendRequest(daemon_.port(), chat);

    EXPECT_EQ(statusOf(answers[0]), 401);
    EXPECT_EQ(statusOf(answers[1]), 200);
    EXPECT_EQ(statusOf(answers[3]), 200);
    EXPECT_EQ(statusOf(answers[4]), 200);
    EXPECT_EQ(statusOf(answers.back()), 429);
    EXPECT_EQ(data_plane.status, 200) << data_plane.error;
    EXPECT_EQ(refused.status, 401) << refused.error;
    ASSERT_TRUE(daemon_.waitForStderr("admin: 127.0.0.3 blocked"));
    std::string log = daemon_.stderrText();
    EXPECT_EQ(log.find(kAdminKey), std::string::npos) << log;
    EXPECT_EQ(log.find(kWrongKey), std::string::npos) << log;
    EXPECT_EQ(log.find(kClientKey), std::string::npos) << log;
}

}  // namespace
}  // namespace aiproxy::test
