// Route vars with APISIX (lua-resty-expr) semantics: every operator, negation, absent variables,
// post_arg paths into the JSON body, and the route table moving on to the next candidate when a
// route's vars fail.

#include "aiproxy/router/route_vars.hpp"

#include <map>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "aiproxy/router/route_table.hpp"

namespace aiproxy::router {
namespace {

// A request as the worker would describe it, with the body parsed on demand and counted.
struct FakeRequest {
    std::string method = "POST";
    std::string host = "api.example.com:9080";
    std::string uri = "/llm/chat/completions";
    std::string query;
    std::string remote_addr = "192.0.2.7";
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
    mutable std::optional<nlohmann::json> parsed;
    mutable int parses = 0;

    RequestVars vars() const {
        return RequestVars{
            .method = method,
            .host = host,
            .uri = uri,
            .request_uri = request_uri,
            .query = query,
            .remote_addr = remote_addr,
            .body = body,
            .header = [this](std::string_view name) -> std::optional<std::string_view> {
                std::string lower{name};
                for (char& c : lower)
                    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                auto found = headers.find(lower);
                if (found == headers.end()) return std::nullopt;
                return std::string_view{found->second};
            },
            .json_body = [this]() -> const nlohmann::json* {
                if (!parsed) {
                    ++parses;
                    parsed = nlohmann::json::parse(body, nullptr, false);
                }
                return parsed->is_discarded() ? nullptr : &*parsed;
            },
        };
    }

    std::string request_uri = "/llm/chat/completions";
};

config::VarCondition cond(std::string var, std::string op, std::vector<std::string> values,
                          bool negate = false) {
    return {
        .var = std::move(var), .op = std::move(op), .values = std::move(values), .negate = negate};
}

bool holds(const std::vector<config::VarCondition>& conditions, const FakeRequest& request) {
    return RouteVars{conditions}.matches(request.vars());
}

bool holds(const config::VarCondition& condition, const FakeRequest& request) {
    return holds(std::vector{condition}, request);
}

FakeRequest withBody(std::string body) {
    FakeRequest request;
    request.headers["content-type"] = "application/json";
    request.body = std::move(body);
    return request;
}

TEST(RouteVarsTest, NoConditionsAlwaysHold) {
    EXPECT_TRUE(RouteVars{{}}.empty());
    EXPECT_TRUE(holds(std::vector<config::VarCondition>{}, FakeRequest{}));
}

TEST(RouteVarsTest, RegexOnPostArgModel) {
    auto local = cond("post_arg.model", "~~", {R"("^local-")"});
    EXPECT_TRUE(holds(local, withBody(R"({"model":"local-llama"})")));
    EXPECT_FALSE(holds(local, withBody(R"({"model":"gpt-4o"})")));
    EXPECT_FALSE(holds(local, withBody(R"({"model":"LOCAL-llama"})")));
    EXPECT_FALSE(holds(local, withBody(R"({"messages":[]})")));
    EXPECT_FALSE(holds(local, withBody("not json")));
}

TEST(RouteVarsTest, RegexIsASearchNotAFullMatch) {
    EXPECT_TRUE(holds(cond("post_arg.model", "~~", {R"("llama")"}),
                      withBody(R"({"model":"local-llama-3"})")));
}

TEST(RouteVarsTest, CaseInsensitiveRegex) {
    auto local = cond("post_arg.model", "~*", {R"("^local-")"});
    EXPECT_TRUE(holds(local, withBody(R"({"model":"LOCAL-llama"})")));
    EXPECT_FALSE(holds(local, withBody(R"({"model":"gpt-4o"})")));
}

TEST(RouteVarsTest, RegexSearchesANumberAsItsText) {
    EXPECT_TRUE(holds(cond("post_arg.n", "~~", {R"("^4[0-9]$")"}), withBody(R"({"n":42})")));
    EXPECT_FALSE(holds(cond("post_arg.b", "~~", {R"("true")"}), withBody(R"({"b":true})")));
    EXPECT_FALSE(holds(cond("post_arg.o", "~~", {R"(".")"}), withBody(R"({"o":{"a":1}})")));
}

TEST(RouteVarsTest, RegexOnAVeryLongFieldDoesNotExhaustTheStack) {
    std::string long_model = "local-" + std::string(200'000, 'a');
    auto request = withBody(R"({"model":")" + long_model + R"("})");
    EXPECT_TRUE(holds(cond("post_arg.model", "~~", {R"("^local-.*a$")"}), request));
    EXPECT_FALSE(holds(cond("post_arg.model", "~~", {R"("^local-.*b$")"}), request));
}

TEST(RouteVarsTest, EqualityWithAStringNeedsAString) {
    EXPECT_TRUE(
        holds(cond("post_arg.model", "==", {R"("gpt-4o")"}), withBody(R"({"model":"gpt-4o"})")));
    EXPECT_FALSE(holds(cond("post_arg.model", "==", {R"("gpt-4o")"}),
                       withBody(R"({"model":"gpt-4o-mini"})")));
    // Lua's raw equality: the number 5 is not the string "5".
    EXPECT_FALSE(holds(cond("post_arg.n", "==", {R"("5")"}), withBody(R"({"n":5})")));
    EXPECT_TRUE(holds(cond("post_arg.n", "~=", {R"("5")"}), withBody(R"({"n":5})")));
}

TEST(RouteVarsTest, EqualityWithANumberReadsTheVariableAsANumber) {
    EXPECT_TRUE(holds(cond("post_arg.n", "==", {"5"}), withBody(R"({"n":5})")));
    EXPECT_TRUE(holds(cond("post_arg.n", "==", {"5"}), withBody(R"({"n":"5"})")));
    EXPECT_TRUE(holds(cond("post_arg.n", "==", {"5"}), withBody(R"({"n":5.0})")));
    EXPECT_FALSE(holds(cond("post_arg.n", "==", {"5"}), withBody(R"({"n":"five"})")));
    FakeRequest query;
    query.query = "n=%205";
    EXPECT_TRUE(holds(cond("arg_n", "==", {"5"}), query));
    EXPECT_FALSE(holds(cond("arg_n", "~=", {"5"}), query));
    // Not a number: unequal.
    EXPECT_TRUE(holds(cond("post_arg.n", "~=", {"5"}), withBody(R"({"n":"five"})")));
}

TEST(RouteVarsTest, BooleansCompareAsBooleans) {
    EXPECT_TRUE(holds(cond("post_arg.stream", "==", {"true"}), withBody(R"({"stream":true})")));
    EXPECT_FALSE(holds(cond("post_arg.stream", "==", {"true"}), withBody(R"({"stream":"true"})")));
    EXPECT_FALSE(holds(cond("post_arg.stream", "==", {"true"}), withBody(R"({"stream":false})")));
}

TEST(RouteVarsTest, NumericComparisons) {
    FakeRequest request;
    request.query = "n=10&x=abc";
    EXPECT_TRUE(holds(cond("arg_n", ">", {"5"}), request));
    EXPECT_FALSE(holds(cond("arg_n", ">", {"10"}), request));
    EXPECT_TRUE(holds(cond("arg_n", ">=", {"10"}), request));
    EXPECT_TRUE(holds(cond("arg_n", "<", {R"("10.5")"}), request));  // a numeric string
    EXPECT_FALSE(holds(cond("arg_n", "<", {"10"}), request));
    EXPECT_TRUE(holds(cond("arg_n", "<=", {"1e1"}), request));
    // Not a number, or absent: every comparison is false.
    for (const char* op : {">", ">=", "<", "<="}) {
        EXPECT_FALSE(holds(cond("arg_x", op, {"0"}), request)) << op;
        EXPECT_FALSE(holds(cond("arg_missing", op, {"0"}), request)) << op;
    }
    EXPECT_TRUE(
        holds(cond("post_arg.max_tokens", ">", {"1000"}), withBody(R"({"max_tokens":4096})")));
    EXPECT_FALSE(
        holds(cond("post_arg.max_tokens", ">", {"1000"}), withBody(R"({"max_tokens":[]})")));
}

TEST(RouteVarsTest, InListsCompareLikeEquality) {
    auto tiers = cond("http_x_tier", "in", {R"("gold")", R"("silver")", "3"});
    FakeRequest gold;
    gold.headers["x-tier"] = "gold";
    EXPECT_TRUE(holds(tiers, gold));
    FakeRequest bronze;
    bronze.headers["x-tier"] = "bronze";
    EXPECT_FALSE(holds(tiers, bronze));
    FakeRequest three;
    three.headers["x-tier"] = "3";  // text is not the number 3
    EXPECT_FALSE(holds(tiers, three));
    EXPECT_TRUE(holds(cond("post_arg.n", "in", {"1", "3"}), withBody(R"({"n":3})")));
    EXPECT_FALSE(holds(cond("post_arg.n", "in", {}), withBody(R"({"n":3})")));
    EXPECT_TRUE(holds(cond("post_arg.n", "in", {}, true), withBody(R"({"n":3})")));
}

TEST(RouteVarsTest, HasLooksInsideAJsonArray) {
    auto beta = cond("post_arg.tags", "has", {R"("beta")"});
    EXPECT_TRUE(holds(beta, withBody(R"({"tags":["alpha","beta"]})")));
    EXPECT_FALSE(holds(beta, withBody(R"({"tags":["alpha"]})")));
    EXPECT_FALSE(holds(beta, withBody(R"({"tags":"beta"})")));
    EXPECT_FALSE(holds(beta, withBody(R"({})")));
    EXPECT_TRUE(holds(cond("post_arg.ids", "has", {"2"}), withBody(R"({"ids":[1,2]})")));
}

TEST(RouteVarsTest, IpMatchOnRemoteAddr) {
    FakeRequest request;
    EXPECT_TRUE(holds(cond("remote_addr", "ipmatch", {R"("192.0.2.0/24")"}), request));
    EXPECT_FALSE(holds(cond("remote_addr", "ipmatch", {R"("10.0.0.0/8")"}), request));
    EXPECT_TRUE(
        holds(cond("remote_addr", "ipmatch", {R"("10.0.0.0/8")", R"("192.0.2.7")"}), request));
    request.remote_addr = "::ffff:192.0.2.7";  // dual-stack sockets report IPv4 clients so
    EXPECT_TRUE(holds(cond("remote_addr", "ipmatch", {R"("192.0.2.0/24")"}), request));
    request.headers["x-real-ip"] = "not an address";
    EXPECT_FALSE(holds(cond("http_x_real_ip", "ipmatch", {R"("0.0.0.0/0")"}), request));
}

TEST(RouteVarsTest, NegationFlipsTheResultAbsentVariablesIncluded) {
    auto request = withBody(R"({"model":"gpt-4o"})");
    EXPECT_TRUE(holds(cond("post_arg.model", "~~", {R"("^local-")"}, true), request));
    EXPECT_FALSE(holds(cond("post_arg.model", "==", {R"("gpt-4o")"}, true), request));
    EXPECT_TRUE(holds(cond("post_arg.missing", "~~", {R"(".")"}, true), request));
}

TEST(RouteVarsTest, AnAbsentVariableIsNil) {
    FakeRequest request;
    EXPECT_FALSE(holds(cond("http_x_tier", "==", {R"("")"}), request));
    EXPECT_TRUE(holds(cond("http_x_tier", "~=", {R"("gold")"}), request));
    EXPECT_TRUE(holds(cond("http_x_tier", "==", {"null"}), request));
    EXPECT_FALSE(holds(cond("http_x_tier", "~~", {R"(".*")"}), request));
    EXPECT_FALSE(holds(cond("http_x_tier", "in", {R"("gold")"}), request));
    EXPECT_FALSE(holds(cond("cookie_sid", "==", {R"("x")"}), request));
    // JSON null reads as nil too.
    EXPECT_TRUE(holds(cond("post_arg.model", "==", {"null"}), withBody(R"({"model":null})")));
    EXPECT_TRUE(holds(cond("post_arg.model", "~=", {R"("x")"}), withBody(R"({"model":null})")));
}

TEST(RouteVarsTest, PostArgWalksNestedObjectsAndArrayIndexes) {
    auto request =
        withBody(R"({"metadata":{"tier":"gold"},"messages":[{"role":"system"},{"role":"user"}]})");
    EXPECT_TRUE(holds(cond("post_arg.metadata.tier", "==", {R"("gold")"}), request));
    EXPECT_TRUE(holds(cond("post_arg.messages.0.role", "==", {R"("system")"}), request));
    EXPECT_TRUE(holds(cond("post_arg.messages.1.role", "==", {R"("user")"}), request));
    EXPECT_TRUE(holds(cond("post_arg.messages.2.role", "==", {"null"}), request));
    EXPECT_TRUE(holds(cond("post_arg.metadata.tier.x", "==", {"null"}), request));
    EXPECT_TRUE(holds(cond("post_arg.messages.first", "==", {"null"}), request));
    EXPECT_TRUE(holds(cond("post_arg.metadata", "~=", {R"("gold")"}), request));  // an object
}

TEST(RouteVarsTest, PostArgReadsAFormFieldFromAFormBody) {
    FakeRequest request;
    request.headers["content-type"] = "application/x-www-form-urlencoded";
    request.body = "model=local-llama&user=a+b";
    EXPECT_TRUE(holds(cond("post_arg.model", "~~", {R"("^local-")"}), request));
    EXPECT_TRUE(holds(cond("post_arg.user", "==", {R"("a b")"}), request));
    request.headers["content-type"] = "text/plain";
    EXPECT_FALSE(holds(cond("post_arg.model", "~~", {R"("^local-")"}), request));
}

TEST(RouteVarsTest, RequestLineAndHeaderVariables) {
    FakeRequest request;
    request.query = "user=alice%20b&empty=";
    request.request_uri = "/llm/chat/completions?user=alice%20b&empty=";
    request.headers["x-api-key"] = "k1";
    request.headers["cookie"] = "a=1; sid=xyz";
    EXPECT_TRUE(holds(cond("uri", "==", {R"("/llm/chat/completions")"}), request));
    EXPECT_TRUE(holds(cond("request_uri", "~~", {R"("\\?user=")"}), request));
    EXPECT_TRUE(holds(cond("host", "==", {R"("api.example.com")"}), request));  // no port
    EXPECT_TRUE(holds(cond("request_method", "==", {R"("POST")"}), request));
    EXPECT_TRUE(holds(cond("remote_addr", "==", {R"("192.0.2.7")"}), request));
    EXPECT_TRUE(holds(cond("arg_user", "==", {R"("alice b")"}), request));   // decoded
    EXPECT_TRUE(holds(cond("http_x_api_key", "==", {R"("k1")"}), request));  // '_' read as '-'
    EXPECT_TRUE(holds(cond("http_X_API_KEY", "==", {R"("k1")"}), request));
    EXPECT_TRUE(holds(cond("cookie_sid", "==", {R"("xyz")"}), request));
    request.host = "API.Example.COM";
    EXPECT_TRUE(holds(cond("host", "==", {R"("api.example.com")"}), request));
}

TEST(RouteVarsTest, AllConditionsMustHold) {
    auto request = withBody(R"({"model":"local-llama","stream":true})");
    auto local = cond("post_arg.model", "~~", {R"("^local-")"});
    EXPECT_TRUE(holds({local, cond("post_arg.stream", "==", {"true"})}, request));
    EXPECT_FALSE(holds({local, cond("post_arg.stream", "==", {"false"})}, request));
}

TEST(RouteVarsTest, TheBodyIsParsedOnceAndOnlyWhenAConditionReadsIt) {
    auto request = withBody(R"({"model":"local-llama","user":"u1"})");
    EXPECT_FALSE(holds(cond("uri", "==", {R"("/other")"}), request));
    EXPECT_EQ(request.parses, 0);
    EXPECT_TRUE(holds(
        {cond("post_arg.model", "~~", {R"("^local-")"}), cond("post_arg.user", "==", {R"("u1")"})},
        request));
    EXPECT_EQ(request.parses, 1);
}

TEST(RouteVarsTest, AnInvalidConditionNeverHolds) {
    FakeRequest request;
    EXPECT_FALSE(holds(cond("uri", "~~", {R"("(")"}), request));
    EXPECT_FALSE(holds(cond("uri", "~~", {R"("(")"}, true), request));
    EXPECT_FALSE(holds(cond("nope", "==", {"null"}), request));
    EXPECT_FALSE(holds(cond("uri", "=~", {R"("/x")"}), request));
    EXPECT_FALSE(holds(cond("uri", "==", {"not json"}), request));
}

config::RouteConfig route(std::string id, std::string uri, int priority,
                          std::vector<config::VarCondition> vars = {}) {
    return config::RouteConfig{.id = std::move(id),
                               .uris = {std::move(uri)},
                               .priority = priority,
                               .vars = std::move(vars)};
}

std::string matchedId(const std::vector<config::RouteConfig>& routes, const FakeRequest& request) {
    RouteTable table{routes};
    auto found = table.match(request.vars());
    return found ? routes[found->route_index].id : "none";
}

TEST(RouteTableVarsTest, FailingVarsFallThroughToTheNextCandidate) {
    std::vector routes{
        route("openai", "/llm/*", 0),
        route("local", "/llm/*", 10, {cond("post_arg.model", "~~", {R"("^local-")"})}),
    };
    EXPECT_EQ(matchedId(routes, withBody(R"({"model":"local-llama"})")), "local");
    EXPECT_EQ(matchedId(routes, withBody(R"({"model":"gpt-4o"})")), "openai");
    EXPECT_EQ(matchedId(routes, withBody(R"({"messages":[]})")), "openai");
    EXPECT_EQ(matchedId(routes, withBody("model=local-llama")), "openai");
}

TEST(RouteTableVarsTest, FallsThroughFromExactToPrefixAndFromLongerToShorterPrefix) {
    auto gold = cond("http_x_tier", "==", {R"("gold")"});
    std::vector routes{
        route("exact", "/llm/chat/completions", 0, {gold}),
        route("long", "/llm/chat/*", 0, {gold}),
        route("short", "/llm/*", 0),
    };
    FakeRequest request;
    EXPECT_EQ(matchedId(routes, request), "short");
    request.headers["x-tier"] = "gold";
    EXPECT_EQ(matchedId(routes, request), "exact");
    request.uri = "/llm/chat/other";
    EXPECT_EQ(matchedId(routes, request), "long");
}

TEST(RouteTableVarsTest, NoCandidateLeftIsNoMatch) {
    std::vector routes{route("local", "/llm/*", 0, {cond("post_arg.model", "~~", {R"("^l")"})})};
    EXPECT_EQ(matchedId(routes, withBody(R"({"model":"gpt-4o"})")), "none");
}

TEST(RouteTableVarsTest, RoutesWithoutVarsNeverParseTheBody) {
    std::vector routes{route("plain", "/llm/*", 0),
                       route("other", "/v2/*", 10, {cond("post_arg.model", "==", {R"("x")"})})};
    auto request = withBody(R"({"model":"x"})");
    EXPECT_EQ(matchedId(routes, request), "plain");
    EXPECT_EQ(request.parses, 0);
}

TEST(RouteTableVarsTest, TheThreeArgumentMatchSeesNoHeadersOrBody) {
    std::vector routes{route("tier", "/llm/*", 5, {cond("http_x_tier", "~=", {R"("gold")"})}),
                       route("uri", "/llm/*", 1, {cond("uri", "==", {R"("/llm/a")"})})};
    RouteTable table{routes};
    auto found = table.match("POST", "", "/llm/a");
    ASSERT_TRUE(found);
    EXPECT_EQ(routes[found->route_index].id, "tier");  // the absent header is not "gold"
}

}  // namespace
}  // namespace aiproxy::router
