// The boundary between untrusted clients and credentialed upstreams, through the real binary
// and raw bytes (issue "Strict at every boundary"): response splitting, trailers, hidden
// credentials, dot segments, Host, Expect, absolute-form targets, 1xx/204/304 upstream answers,
// the top-level model and compressed upstream answers.

#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/backend_config.hpp"
#include "support/daemon_fixture.hpp"
#include "support/http_client.hpp"
#include "support/mock_backend.hpp"

namespace aiproxy::test {
namespace {

using Json = nlohmann::json;

constexpr const char* kAdminKey = "boundary-test-admin-key-0123456789";
constexpr const char* kAliceKey = "alice-key-0123456789abcdef";

class BoundaryTest : public DaemonFixture {
protected:
    // One route /llm/* to the backend; `upstream_extra` and `route_plugins` are YAML lines (4 and
    // 6 spaces in); `server_extra` goes under server (2 spaces in).
    std::string config(const std::string& upstream_extra = "",
                       const std::string& route_plugins = "",
                       const std::string& server_extra = "") const {
        return BackendConfig{.backend = backend_.address(),
                             .admin_key = kAdminKey,
                             .server_extra = server_extra,
                             .consumers = {{"alice", kAliceKey}},
                             .upstream_extra = upstream_extra,
                             .routes = backendRoute("chat", "/llm/*", route_plugins)}
            .yaml();
    }

    // One raw request on a fresh connection; returns what came back until the close (or the
    // timeout).
    std::string raw(const std::string& bytes) {
        RawConnection connection{daemon_.port()};
        EXPECT_TRUE(connection.connected());
        connection.send(bytes);
        connection.waitClosed();
        return connection.received();
    }

    static std::string chatBody(const std::string& model = "gpt-4o-mini") {
        return R"({"model":")" + model + R"(","messages":[{"role":"user","content":"hi"}]})";
    }

    static std::string post(const std::string& target, const std::string& body,
                            const std::string& extra_headers = "") {
        return "POST " + target + " HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n" +
               extra_headers + "Content-Length: " + std::to_string(body.size()) +
               "\r\nConnection: close\r\n\r\n" + body;
    }

    static int statusOf(const std::string& response) {
        if (response.size() < 12 || !response.starts_with("HTTP/1.")) return 0;
        return std::stoi(response.substr(9, 3));
    }

    static std::string headOf(const std::string& response) {
        return response.substr(0, response.find("\r\n\r\n") + 2);
    }
};

// 1. A model name from the request never splits the response head.
TEST_F(BoundaryTest, AModelWithLineBreaksIsRefusedAndNeverReachesAHeader) {
    ASSERT_TRUE(startDaemon(config("    model_map: {gpt-4o: gpt-4o-2024}\n")));
    for (const std::string& model :
         {std::string(R"(gpt\r\nSet-Cookie: evil=1)"), std::string("gpt\r\nSet-Cookie: evil=1")}) {
        std::string response =
            raw(post("/llm/chat/completions", R"({"messages":[],"model":")" + model + R"("})"));
        EXPECT_EQ(headOf(response).find("Set-Cookie"), std::string::npos) << response;
        EXPECT_EQ(statusOf(response), 400) << response;
    }
    EXPECT_EQ(backend_.requestCount(), 0u);
}

// 2. Trailer fields are not headers: not for real_ip and ip-restriction, not for the request id,
// and they are bounded like a head.
TEST_F(BoundaryTest, ATrailerCannotPoseAsForwardedForOrRequestId) {
    ASSERT_TRUE(startDaemon(config("", "      ip-restriction: {whitelist: [\"9.9.9.9\"]}\n",
                                   "  real_ip: {header: X-Forwarded-For, trusted_addresses: "
                                   "[\"127.0.0.0/8\"]}\n")));
    std::string body = chatBody();
    char size[16];
    std::snprintf(size, sizeof size, "%zx", body.size());
    std::string request =
        "POST /llm/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
        std::string(size) + "\r\n" + body +
        "\r\n0\r\nX-Forwarded-For: 9.9.9.9\r\nX-Request-Id: injected\r\n\r\n";
    std::string response = raw(request);
    EXPECT_EQ(statusOf(response), 403) << response;
    EXPECT_EQ(headOf(response).find("injected"), std::string::npos) << response;
    EXPECT_EQ(backend_.requestCount(), 0u);
}

TEST_F(BoundaryTest, AnOversizedTrailerSectionIsRefusedLikeAnOversizedHead) {
    ASSERT_TRUE(startDaemon(config("", "", "  limits: {max_header_bytes: 4096}\n")));
    std::string trailer;
    for (int i = 0; i < 400; ++i)
        trailer += "X-T" + std::to_string(i) + ": " + std::string(20, 'v') + "\r\n";
    std::string body = chatBody();
    char size[16];
    std::snprintf(size, sizeof size, "%zx", body.size());
    std::string response =
        raw("POST /llm/chat/completions HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n"
            "Connection: close\r\n\r\n" +
            std::string(size) + "\r\n" + body + "\r\n0\r\n" + trailer + "\r\n");
    EXPECT_EQ(statusOf(response), 431) << response.substr(0, 200);
    EXPECT_EQ(backend_.requestCount(), 0u);
}

// 3. hide_credentials clears every place key-auth reads a key from.
TEST_F(BoundaryTest, AKeySentTwiceIsHiddenFromTheUpstreamBothTimes) {
    ASSERT_TRUE(startDaemon(config("", "      key-auth: {hide_credentials: true}\n")));
    Request request = chatRequest();
    request.headers.add("apikey", kAliceKey);
    request.headers.add("Authorization", std::string("Bearer ") + kAliceKey);
    auto response = sendRequest(daemon_.port(), request);
    ASSERT_EQ(response.status, 200) << response.body;
    ASSERT_TRUE(backend_.waitForRequests(1));
    auto requests = backend_.requests();
    const auto& seen = requests.front().headers;
    EXPECT_FALSE(seen.has("apikey"));
    EXPECT_FALSE(seen.has("Authorization"));
}

// 4. Dot segments are resolved before routing; the upstream gets the normalised path.
TEST_F(BoundaryTest, DotSegmentsCannotEscapeTheRoutePrefix) {
    ASSERT_TRUE(startDaemon(config()));
    EXPECT_EQ(statusOf(raw(post("/llm/../admin/secret", chatBody()))), 404);
    EXPECT_EQ(statusOf(raw(post("/llm/%2e%2e/admin/secret", chatBody()))), 404);
    EXPECT_EQ(statusOf(raw(post("/llm/../../etc/passwd", chatBody()))), 400);
    EXPECT_EQ(backend_.requestCount(), 0u);
    EXPECT_EQ(statusOf(raw(post("/llm/x/../chat/completions#frag", chatBody()))), 200);
    ASSERT_TRUE(backend_.waitForRequests(1));
    EXPECT_EQ(backend_.requests().front().target, "/v1/chat/completions");
}

// 5. Unknown plugins fail loudly through the Admin API too.
TEST_F(BoundaryTest, AnUnknownPluginIsRefusedByTheAdminApi) {
    ASSERT_TRUE(startDaemon(config()));
    auto response = adminCall(
        admin_port_, kAdminKey, "PUT", "routes/r",
        R"({"uri":"/r/*","plugins":{"key-auht":{},"ai-proxy":{"upstream_id":"backend"}}})");
    EXPECT_EQ(response.status, 400) << response.body;
    EXPECT_NE(response.body.find("unknown plugin [key-auht]"), std::string::npos) << response.body;
}

// 6. Exactly one Host in HTTP/1.1.
TEST_F(BoundaryTest, NoHostOrTwoHostsIsABadRequest) {
    ASSERT_TRUE(startDaemon(config()));
    std::string body = chatBody();
    std::string length = "Content-Length: " + std::to_string(body.size()) + "\r\n";
    EXPECT_EQ(statusOf(raw("POST /llm/chat/completions HTTP/1.1\r\n" + length +
                           "Connection: close\r\n\r\n" + body)),
              400);
    EXPECT_EQ(statusOf(raw("POST /llm/chat/completions HTTP/1.1\r\nHost: a\r\nHost: b\r\n" +
                           length + "Connection: close\r\n\r\n" + body)),
              400);
    EXPECT_EQ(backend_.requestCount(), 0u);
    EXPECT_EQ(statusOf(raw("POST /llm/chat/completions HTTP/1.0\r\n" + length + "\r\n" + body)),
              200);
}

// 7. An upstream 101 is a broken upstream, not a protocol switch for the client.
TEST_F(BoundaryTest, AnUpstreamSwitchingProtocolsIsABadGateway) {
    backend_.setDefault(Reply::garbage(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        "binary stuff"));
    ASSERT_TRUE(startDaemon(config()));
    std::string response = raw(post("/llm/chat/completions", chatBody()));
    EXPECT_EQ(statusOf(response), 502) << response;
}

// 8. Expect: 100-continue in any case, and only for HTTP/1.1.
TEST_F(BoundaryTest, ExpectContinueIsCaseInsensitiveAndOnlyForHttp11) {
    ASSERT_TRUE(startDaemon(config()));
    std::string body = chatBody();
    {
        RawConnection connection{daemon_.port()};
        connection.send(
            "POST /llm/chat/completions HTTP/1.1\r\nHost: gw\r\nExpect: 100-Continue\r\n"
            "Content-Length: " +
            std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n");
        EXPECT_TRUE(connection.readUntil("HTTP/1.1 100 Continue\r\n\r\n"));
        connection.send(body);
        connection.waitClosed();
        EXPECT_NE(connection.received().find("HTTP/1.1 200"), std::string::npos);
    }
    {
        RawConnection connection{daemon_.port()};
        connection.send(
            "POST /llm/chat/completions HTTP/1.0\r\nExpect: 100-continue\r\n"
            "Content-Length: " +
            std::to_string(body.size()) + "\r\n\r\n" + body);
        connection.waitClosed();
        EXPECT_EQ(connection.received().find("100 Continue"), std::string::npos)
            << connection.received();
        EXPECT_EQ(statusOf(connection.received()), 200);
    }
}

// 8. 100 Continue comes only after routing and admission: a client is never asked for a body
// only to be turned away.
TEST_F(BoundaryTest, ExpectContinueComesOnlyAfterRoutingAndAdmission) {
    ASSERT_TRUE(startDaemon(config("", "      key-auth: {}\n")));
    std::string body = chatBody();
    auto head = [&](const std::string& target, const std::string& extra) {
        return "POST " + target + " HTTP/1.1\r\nHost: gw\r\nExpect: 100-continue\r\n" + extra +
               "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    };
    {
        RawConnection unrouted{daemon_.port()};
        unrouted.send(head("/nowhere", ""));
        EXPECT_TRUE(unrouted.waitClosed());
        EXPECT_TRUE(unrouted.received().starts_with("HTTP/1.1 404")) << unrouted.received();
    }
    {
        RawConnection keyless{daemon_.port()};
        keyless.send(head("/llm/chat/completions", ""));
        EXPECT_TRUE(keyless.waitClosed());
        EXPECT_TRUE(keyless.received().starts_with("HTTP/1.1 401")) << keyless.received();
    }
    {
        RawConnection admitted{daemon_.port()};
        admitted.send(head("/llm/chat/completions", std::string("apikey: ") + kAliceKey + "\r\n"));
        ASSERT_TRUE(admitted.readUntil("HTTP/1.1 100 Continue\r\n\r\n"));
        admitted.send(body);
        EXPECT_TRUE(admitted.readUntil("HTTP/1.1 200"));
    }
    EXPECT_EQ(backend_.requestCount(), 1u);
}

// 9. Absolute-form targets are routed; their authority is the Host.
TEST_F(BoundaryTest, AnAbsoluteFormTargetIsRoutedWithItsAuthorityAsHost) {
    ASSERT_TRUE(startDaemon(config()));
    std::string response = raw(post("http://api.example.com/llm/chat/completions", chatBody()));
    EXPECT_EQ(statusOf(response), 200) << response;
    ASSERT_TRUE(backend_.waitForRequests(1));
    EXPECT_EQ(backend_.requests().front().target, "/v1/chat/completions");
    EXPECT_EQ(backend_.requests().front().headers.get("X-Forwarded-Host"), "api.example.com");
}

// 10. 204 has no Content-Length; 304 keeps the upstream's.
TEST_F(BoundaryTest, NoContentHasNoLengthAndNotModifiedKeepsTheUpstreams) {
    backend_.enqueue(Reply::garbage("HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n"));
    backend_.enqueue(
        Reply::garbage("HTTP/1.1 304 Not Modified\r\nETag: \"e\"\r\nContent-Length: 42\r\n\r\n"));
    ASSERT_TRUE(startDaemon(config()));
    std::string no_content = headOf(raw(post("/llm/chat/completions", chatBody())));
    EXPECT_EQ(statusOf(no_content), 204) << no_content;
    EXPECT_EQ(no_content.find("Content-Length"), std::string::npos) << no_content;
    EXPECT_EQ(no_content.find("Transfer-Encoding"), std::string::npos) << no_content;
    std::string not_modified = headOf(raw(post("/llm/chat/completions", chatBody())));
    EXPECT_EQ(statusOf(not_modified), 304) << not_modified;
    EXPECT_NE(not_modified.find("Content-Length: 42\r\n"), std::string::npos) << not_modified;
}

// 11. One reading of the model: the top-level key, the last duplicate.
TEST_F(BoundaryTest, TheTopLevelModelIsMappedWhateverElseIsCalledModel) {
    ASSERT_TRUE(startDaemon(config("    model_map: {gpt-4o: gpt-4o-2024-08-06}\n")));
    for (const std::string& body :
         {std::string(R"({"metadata":{"model":"tier1"},"model":"gpt-4o","messages":[]})"),
          std::string(R"({"model":"x","model":"gpt-4o","messages":[]})")}) {
        auto response = sendRequest(
            daemon_.port(), Request{.method = "POST",
                                    .target = "/llm/chat/completions",
                                    .headers = Headers{{"Content-Type", "application/json"}},
                                    .body = body});
        ASSERT_EQ(response.status, 200) << response.body;
        EXPECT_EQ(response.headers.get("X-AIProxy-Model"), "gpt-4o-2024-08-06");
    }
    ASSERT_TRUE(backend_.waitForRequests(2));
    for (const auto& seen : backend_.requests()) {
        EXPECT_EQ(Json::parse(seen.body)["model"], "gpt-4o-2024-08-06") << seen.body;
    }
}

// 14. The upstream is asked for an uncompressed answer whatever the client accepts, so usage is
// always read.
TEST_F(BoundaryTest, TheUpstreamIsAskedForIdentityEncodingWhateverTheClientAccepts) {
    ASSERT_TRUE(startDaemon(config()));
    Request request = chatRequest();
    request.headers.add("Accept-Encoding", "gzip, deflate");
    ASSERT_EQ(sendRequest(daemon_.port(), request).status, 200);
    ASSERT_TRUE(backend_.waitForRequests(1));
    EXPECT_EQ(backend_.requests().front().headers.get("Accept-Encoding"), "identity");
}

}  // namespace
}  // namespace aiproxy::test
