#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "aiproxy/config/config_loader.hpp"
#include "config_test_support.hpp"

namespace aiproxy::config {
namespace {

using test::messages;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

EnvLookup fakeEnvironment(std::map<std::string, std::string> variables) {
    return
        [variables = std::move(variables)](const std::string& name) -> std::optional<std::string> {
            auto it = variables.find(name);
            if (it == variables.end()) return std::nullopt;
            return it->second;
        };
}

struct Expansion {
    std::string text;
    std::vector<std::string> errors;
};

Expansion expand(std::string_view text, std::map<std::string, std::string> variables = {}) {
    std::vector<Diagnostic> errors;
    std::string out = expandEnvironment(text, fakeEnvironment(std::move(variables)), errors);
    return {out, messages(errors)};
}

TEST(EnvExpansionTest, ReplacesAVariableThatIsSet) {
    auto result = expand("key: ${API_KEY}\n", {{"API_KEY", "sk-123"}});
    EXPECT_EQ(result.text, "key: sk-123\n");
    EXPECT_THAT(result.errors, IsEmpty());
}

TEST(EnvExpansionTest, ReplacesSeveralVariablesOnOneLine) {
    auto result = expand("listen: [\"${HOST}:${PORT}\"]", {{"HOST", "127.0.0.1"}, {"PORT", "0"}});
    EXPECT_EQ(result.text, "listen: [\"127.0.0.1:0\"]");
}

TEST(EnvExpansionTest, UsesTheDefaultWhenTheVariableIsUnset) {
    auto result = expand("port: ${PORT:-9080}");
    EXPECT_EQ(result.text, "port: 9080");
    EXPECT_THAT(result.errors, IsEmpty());
}

TEST(EnvExpansionTest, UsesTheDefaultWhenTheVariableIsEmptyLikeTheShell) {
    EXPECT_EQ(expand("port: ${PORT:-9080}", {{"PORT", ""}}).text, "port: 9080");
}

TEST(EnvExpansionTest, PrefersTheVariableOverTheDefault) {
    EXPECT_EQ(expand("port: ${PORT:-9080}", {{"PORT", "8080"}}).text, "port: 8080");
}

TEST(EnvExpansionTest, AcceptsAnEmptyDefault) {
    auto result = expand("fallback: \"${FALLBACK:-}\"");
    EXPECT_EQ(result.text, "fallback: \"\"");
    EXPECT_THAT(result.errors, IsEmpty());
}

TEST(EnvExpansionTest, ASetButEmptyVariableWithoutDefaultIsEmpty) {
    auto result = expand("key: '${KEY}'", {{"KEY", ""}});
    EXPECT_EQ(result.text, "key: ''");
    EXPECT_THAT(result.errors, IsEmpty());
}

TEST(EnvExpansionTest, AnUnsetVariableWithoutDefaultIsAnErrorNamingItAndItsLine) {
    auto result = expand("a: 1\nb: 2\nkey: ${OPENAI_API_KEY}\n");
    EXPECT_THAT(result.errors,
                ElementsAre("line 3: environment variable OPENAI_API_KEY is not set"));
}

TEST(EnvExpansionTest, ReportsEveryUnsetVariable) {
    auto result = expand("a: ${A}\nb: ${B} ${C:-c}\nd: ${D}\n");
    EXPECT_THAT(result.errors, ElementsAre("line 1: environment variable A is not set",
                                           "line 2: environment variable B is not set",
                                           "line 3: environment variable D is not set"));
    EXPECT_EQ(result.text, "a: \nb:  c\nd: \n");
}

TEST(EnvExpansionTest, LeavesCommentLinesUntouched) {
    std::string text = "# key: ${UNSET}\n  \t# indented ${UNSET:-x}\nvalue: ${SET}\n";
    auto result = expand(text, {{"SET", "yes"}});
    EXPECT_EQ(result.text, "# key: ${UNSET}\n  \t# indented ${UNSET:-x}\nvalue: yes\n");
    EXPECT_THAT(result.errors, IsEmpty());
}

TEST(EnvExpansionTest, ExpandsTrailingCommentsBecauseOnlyWholeCommentLinesAreSkipped) {
    EXPECT_EQ(expand("a: 1 # ${X}", {{"X", "x"}}).text, "a: 1 # x");
}

TEST(EnvExpansionTest, DoesNotExpandValuesAgain) {
    auto result = expand("a: ${A}\nb: ${B:-${A}}\n", {{"A", "${B}"}});
    EXPECT_EQ(result.text, "a: ${B}\nb: ${A}\n");  // defaults are not expanded either
    EXPECT_THAT(result.errors, IsEmpty());
}

TEST(EnvExpansionTest, LeavesADollarWithoutBraceAlone) {
    auto result = expand("price: $5 and $HOME and $");
    EXPECT_EQ(result.text, "price: $5 and $HOME and $");
    EXPECT_THAT(result.errors, IsEmpty());
}

TEST(EnvExpansionTest, AnInvalidReferenceIsAnErrorAndKeptAsWritten) {
    auto result = expand("a: ${1ABC}\nb: ${A B}\nc: ${A:default}\n");
    EXPECT_THAT(result.errors,
                ElementsAre("line 1: invalid environment reference \"${1ABC}\" (expected ${NAME} "
                            "or ${NAME:-default})",
                            "line 2: invalid environment reference \"${A B}\" (expected ${NAME} "
                            "or ${NAME:-default})",
                            "line 3: invalid environment reference \"${A:default}\" (expected "
                            "${NAME} or ${NAME:-default})"));
    EXPECT_EQ(result.text, "a: ${1ABC}\nb: ${A B}\nc: ${A:default}\n");
}

TEST(EnvExpansionTest, AnUnterminatedReferenceIsAnError) {
    auto result = expand("a: 1\nb: ${NAME\n");
    EXPECT_THAT(result.errors, ElementsAre("line 2: unterminated \"${\""));
    EXPECT_EQ(result.text, "a: 1\nb: ${NAME\n");
}

TEST(EnvExpansionTest, KeepsWindowsLineEndings) {
    EXPECT_EQ(expand("a: ${A}\r\nb: 2\r\n", {{"A", "1"}}).text, "a: 1\r\nb: 2\r\n");
}

TEST(EnvExpansionTest, NamesMayHoldDigitsAndUnderscores) {
    EXPECT_EQ(expand("${_A1_b2}", {{"_A1_b2", "ok"}}).text, "ok");
}

TEST(EnvExpansionTest, ProcessEnvironmentReadsTheRealEnvironment) {
    ASSERT_EQ(::setenv("AIPROXY_CONFIG_TEST_VARIABLE", "from-env", 1), 0);
    EnvLookup env = processEnvironment();
    EXPECT_EQ(env("AIPROXY_CONFIG_TEST_VARIABLE"), "from-env");
    ASSERT_EQ(::unsetenv("AIPROXY_CONFIG_TEST_VARIABLE"), 0);
    EXPECT_EQ(env("AIPROXY_CONFIG_TEST_VARIABLE"), std::nullopt);
}

}  // namespace
}  // namespace aiproxy::config
