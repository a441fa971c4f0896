#include "aiproxy/http/header_rules.hpp"

#include <gtest/gtest.h>

namespace aiproxy::http {
namespace {

namespace bhttp = boost::beast::http;

TEST(HeaderRulesTest, HopByHopNamesAreRecognisedCaseInsensitively) {
    for (auto name : {"Connection", "keep-alive", "Proxy-Connection", "Proxy-Authenticate",
                      "PROXY-AUTHORIZATION", "TE", "Trailer", "Transfer-Encoding", "Upgrade"}) {
        EXPECT_TRUE(isHopByHop(name)) << name;
    }
    for (auto name : {"Authorization", "Content-Type", "Content-Length", "X-Request-Id", "Host"}) {
        EXPECT_FALSE(isHopByHop(name)) << name;
    }
}

TEST(HeaderRulesTest, RemovesHopByHopAndHeadersNamedByConnection) {
    bhttp::fields fields;
    fields.set("Connection", "keep-alive, X-Foo ,x-bar");
    fields.insert("Connection", "X-Baz");
    fields.set("Keep-Alive", "timeout=5");
    fields.set("X-Foo", "1");
    fields.set("X-Bar", "2");
    fields.set("X-Baz", "3");
    fields.set("TE", "trailers");
    fields.set("Transfer-Encoding", "chunked");
    fields.set("Authorization", "Bearer sk");
    fields.set("Content-Type", "application/json");
    removeHopByHop(fields);
    std::vector<std::string> left;
    for (const auto& field : fields)
        left.emplace_back(field.name_string());
    EXPECT_EQ(left, (std::vector<std::string>{"Authorization", "Content-Type"}));
}

TEST(HeaderRulesTest, ForwardedForAppendsThePeer) {
    EXPECT_EQ(appendForwardedFor("", "127.0.0.1"), "127.0.0.1");
    EXPECT_EQ(appendForwardedFor(" 10.1.1.1 ", "127.0.0.1"), "10.1.1.1, 127.0.0.1");
    EXPECT_EQ(appendForwardedFor("1.1.1.1, 2.2.2.2", "::1"), "1.1.1.1, 2.2.2.2, ::1");
}

}  // namespace
}  // namespace aiproxy::http

namespace aiproxy::http {
namespace {

TEST(HeaderRulesTest, EndToEndFieldsAreSerializedWithoutHopByHopOrSkippedOnes) {
    boost::beast::http::fields fields;
    fields.set("Host", "gateway");
    fields.set("Connection", "keep-alive, X-Secret-Hop");
    fields.set("X-Secret-Hop", "1");
    fields.set("Authorization", "Bearer sk");
    fields.set("Content-Length", "10");
    fields.set("Upgrade", "h2c");
    fields.set("Content-Type", "application/json");
    std::string out;
    appendEndToEndFields(out, fields, {"host", "Content-Length"});
    EXPECT_EQ(out, "Authorization: Bearer sk\r\nContent-Type: application/json\r\n");
}

}  // namespace
}  // namespace aiproxy::http
