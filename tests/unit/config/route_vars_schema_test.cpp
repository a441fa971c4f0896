// routes[].vars: what the loader keeps (operator, JSON text of each value, negation) and the
// exact error, with its path, for each way a condition can be wrong. JSON documents, so each case
// also runs through the YAML parser (flow style).

#include <ostream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "aiproxy/config/config_loader.hpp"
#include "config_test_support.hpp"

namespace aiproxy::config {
namespace {

using test::messages;
using test::noEnvironment;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::string document(const std::string& vars) {
    return R"({"upstreams": [{"id": "primary", "nodes": {"127.0.0.1:8001": 1}}],)"
           R"( "routes": [{"id": "r1", "uri": "/llm/*", "vars": )" +
           vars + R"(, "plugins": {"ai-proxy": {"upstream_id": "primary"}}}]})";
}

std::vector<VarCondition> loadVars(const std::string& vars, Format format = Format::Json) {
    LoadResult result = parseConfig(document(vars), format, noEnvironment());
    EXPECT_THAT(messages(result.errors), IsEmpty()) << vars;
    if (!result.config) return {};
    return result.config->routes.at(0).vars;
}

std::vector<std::string> errorsFor(const std::string& vars, Format format = Format::Json) {
    LoadResult result = parseConfig(document(vars), format, noEnvironment());
    EXPECT_FALSE(result.config.has_value()) << vars;
    return messages(result.errors);
}

TEST(RouteVarsSchemaTest, KeepsEachConditionWithItsValuesAsJsonText) {
    for (Format format : {Format::Json, Format::Yaml}) {
        auto vars = loadVars(R"([["post_arg.model", "~~", "^local-"],)"
                             R"( ["arg_n", "!", ">", 5],)"
                             R"( ["http_x_tier", "IN", ["gold", 2, true, null]],)"
                             R"( ["post_arg.tags", "has", "beta"]])",
                             format);
        EXPECT_THAT(
            vars,
            ElementsAre(
                VarCondition{.var = "post_arg.model", .op = "~~", .values = {R"("^local-")"}},
                VarCondition{.var = "arg_n", .op = ">", .values = {"5"}, .negate = true},
                VarCondition{
                    .var = "http_x_tier", .op = "in", .values = {R"("gold")", "2", "true", "null"}},
                VarCondition{.var = "post_arg.tags", .op = "has", .values = {R"("beta")"}}));
    }
}

TEST(RouteVarsSchemaTest, NumberAndNumericStringStayDistinct) {
    auto vars = loadVars(R"([["post_arg.n", "==", 5], ["post_arg.n", "==", "5"]])");
    ASSERT_EQ(vars.size(), 2u);
    EXPECT_EQ(vars[0].values, std::vector<std::string>{"5"});
    EXPECT_EQ(vars[1].values, std::vector<std::string>{R"("5")"});
}

TEST(RouteVarsSchemaTest, TwoElementsMeanEquality) {
    EXPECT_THAT(loadVars(R"([["arg_name", "json"]])"),
                ElementsAre(VarCondition{.var = "arg_name", .op = "==", .values = {R"("json")"}}));
}

TEST(RouteVarsSchemaTest, AndGroupIsTheSameAsAList) {
    EXPECT_THAT(
        loadVars(R"(["AND", ["uri", "==", "/llm/x"], ["request_method", "~=", "GET"]])"),
        ElementsAre(VarCondition{.var = "uri", .op = "==", .values = {R"("/llm/x")"}},
                    VarCondition{.var = "request_method", .op = "~=", .values = {R"("GET")"}}));
}

TEST(RouteVarsSchemaTest, IpmatchTakesOneRangeOrAList) {
    EXPECT_THAT(
        loadVars(R"([["remote_addr", "ipmatch", "10.0.0.0/8"],)"
                 R"( ["remote_addr", "ipmatch", ["127.0.0.1", "::1/128"]]])"),
        ElementsAre(
            VarCondition{.var = "remote_addr", .op = "ipmatch", .values = {R"("10.0.0.0/8")"}},
            VarCondition{.var = "remote_addr",
                         .op = "ipmatch",
                         .values = {R"("127.0.0.1")", R"("::1/128")"}}));
}

TEST(RouteVarsSchemaTest, EmptyVarsIsNoCondition) {
    EXPECT_THAT(loadVars("[]"), IsEmpty());
}

struct ErrorCase {
    std::string vars;
    std::vector<std::string> expected;
};

void PrintTo(const ErrorCase& error_case, std::ostream* out) {
    *out << error_case.vars;
}

class RouteVarsErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(RouteVarsErrorTest, ReportsTheExactErrorWithItsPath) {
    for (Format format : {Format::Json, Format::Yaml}) {
        EXPECT_EQ(errorsFor(GetParam().vars, format), GetParam().expected)
            << GetParam().vars << (format == Format::Yaml ? " (yaml)" : " (json)");
    }
}

INSTANTIATE_TEST_SUITE_P(
    Config, RouteVarsErrorTest,
    ::testing::Values(
        ErrorCase{R"("post_arg.model")", {"routes[0].vars: must be a list"}},
        ErrorCase{R"(["post_arg.model", "==", "x"])",
                  {R"(routes[0].vars: must be a list of conditions such as [["post_arg.model", )"
                   R"("~~", "^local-"]]; "OR" and "!" groups are not supported)"}},
        ErrorCase{R"(["OR", ["uri", "==", "/a"], ["uri", "==", "/b"]])",
                  {R"(routes[0].vars: must be a list of conditions such as [["post_arg.model", )"
                   R"("~~", "^local-"]]; "OR" and "!" groups are not supported)"}},
        ErrorCase{R"([["OR", ["uri", "==", "/a"], ["uri", "==", "/b"]]])",
                  {R"(routes[0].vars[0]: nested "AND"/"OR" groups are not supported; list the )"
                   "conditions (all must hold)"}},
        ErrorCase{R"([["uri", "==", "/a"], "uri"])",
                  {R"(routes[0].vars[1]: must be a list: [var, operator, value] or )"
                   R"([var, "!", operator, value])"}},
        ErrorCase{R"([["uri"]])",
                  {R"(routes[0].vars[0]: must have 3 elements [var, operator, value] or 4 )"
                   R"([var, "!", operator, value])"}},
        ErrorCase{R"([["uri", "==", "/a", "/b", "/c"]])",
                  {R"(routes[0].vars[0]: must have 3 elements [var, operator, value] or 4 )"
                   R"([var, "!", operator, value])"}},
        ErrorCase{R"([["uri", "not", "==", "/a"]])",
                  {R"(routes[0].vars[0][1]: must be "!" (negation) in a condition of 4 elements)"}},
        ErrorCase{R"([["model", "==", "x"]])",
                  {R"(routes[0].vars[0][0]: unknown variable "model"; use uri, request_uri, )"
                   "host, remote_addr, request_method, arg_<name>, http_<name>, cookie_<name> or "
                   "post_arg.<path>"}},
        ErrorCase{R"([[5, "==", "x"]])", {"routes[0].vars[0][0]: must be a string"}},
        ErrorCase{R"([["http_", "==", "x"]])",
                  {R"(routes[0].vars[0][0]: missing the name after "http_")"}},
        ErrorCase{R"([["post_arg.a..b", "==", "x"]])",
                  {"routes[0].vars[0][0]: must be post_arg.<field>[.<field>...] with no empty "
                   "field"}},
        ErrorCase{R"([["post_arg.", "==", "x"]])",
                  {"routes[0].vars[0][0]: must be post_arg.<field>[.<field>...] with no empty "
                   "field"}},
        ErrorCase{R"([["uri", "=~", "x"]])",
                  {R"(routes[0].vars[0][1]: unknown operator "=~"; use ==, ~=, >, >=, <, <=, )"
                   "~~, ~*, in, has or ipmatch"}},
        ErrorCase{R"([["uri", "!", "=~", "x"]])",
                  {R"(routes[0].vars[0][2]: unknown operator "=~"; use ==, ~=, >, >=, <, <=, )"
                   "~~, ~*, in, has or ipmatch"}},
        ErrorCase{R"([["post_arg.model", "~~", "^local-("]])",
                  {"routes[0].vars[0][2]: invalid regular expression: Mismatched '(' and ')' "
                   "in regular expression"}},
        ErrorCase{R"([["post_arg.model", "!", "~*", "[a-"]])",
                  {"routes[0].vars[0][3]: invalid regular expression: Invalid end of '[x-x]' "
                   "range in regular expression"}},
        ErrorCase{R"([["uri", "~~", "(a)\\1"]])",
                  {"routes[0].vars[0][2]: invalid regular expression: Unexpected "
                   "back-reference in polynomial mode"}},
        ErrorCase{R"([["uri", "~~", 5]])", {"routes[0].vars[0][2]: must be a string"}},
        ErrorCase{R"([["arg_n", ">", "five"]])", {"routes[0].vars[0][2]: must be a number"}},
        ErrorCase{R"([["arg_n", "<=", true]])", {"routes[0].vars[0][2]: must be a number"}},
        ErrorCase{R"([["arg_n", "==", {"a": 1}]])",
                  {"routes[0].vars[0][2]: must be a string, number, boolean or null"}},
        ErrorCase{R"([["arg_n", "in", "a"]])", {"routes[0].vars[0][2]: must be a list"}},
        ErrorCase{R"([["arg_n", "in", ["a", ["b"]]]])",
                  {"routes[0].vars[0][2][1]: must be a string, number, boolean or null"}},
        ErrorCase{R"([["remote_addr", "ipmatch", "10.0.0.1/8"]])",
                  {"routes[0].vars[0][2]: must be an IP address or CIDR range (host bits zero)"}},
        ErrorCase{R"([["remote_addr", "ipmatch", ["127.0.0.1", "nope"]]])",
                  {"routes[0].vars[0][2][1]: must be an IP address or CIDR range (host bits "
                   "zero)"}},
        ErrorCase{R"([["remote_addr", "ipmatch", []]])",
                  {"routes[0].vars[0][2]: must not be empty"}},
        // Every condition is checked, so one pass reports them all.
        ErrorCase{R"([["model", "==", "x"], ["uri", "~~", "("]])",
                  {R"(routes[0].vars[0][0]: unknown variable "model"; use uri, request_uri, )"
                   "host, remote_addr, request_method, arg_<name>, http_<name>, cookie_<name> or "
                   "post_arg.<path>",
                   "routes[0].vars[1][2]: invalid regular expression: Mismatched '(' and ')' "
                   "in regular expression"}}));

}  // namespace
}  // namespace aiproxy::config
