// The request-side prompt plugins as the worker runs them: ai-prompt-template,
// ai-prompt-decorator and ai-prompt-guard, on OpenAI chat, Anthropic messages and Responses
// bodies, alone and in their phase order.

#include <gtest/gtest.h>

#include <map>

#include <nlohmann/json.hpp>

#include "stage_run_support.hpp"

namespace aiproxy::plugins {
namespace {

using Json = nlohmann::json;

// Counters by "name{route,plugin}", as a snapshot would register them.
class CountingCells final : public metrics::CellSource {
public:
    metrics::CounterCell* counter(std::string_view name, std::string_view,
                                  const metrics::Labels& labels) override {
        std::string key(name);
        for (const auto& [label, value] : labels)
            key += "," + label + "=" + value;
        auto& cell = cells_[key];
        if (!cell) cell = std::make_unique<metrics::CounterCell>(1);
        return cell.get();
    }
    std::uint64_t total(const std::string& key) const {
        auto found = cells_.find(key);
        return found == cells_.end() ? 0 : found->second->total();
    }

private:
    std::map<std::string, std::unique_ptr<metrics::CounterCell>> cells_;
};

config::Config configWith(config::RouteConfig route) {
    route.id = "chat";
    config::Config config;
    config.routes.push_back(std::move(route));
    return config;
}

http::ClientRequest jsonRequest(const Json& body) {
    http::ClientRequest request;
    request.message.method(http::bhttp::verb::post);
    request.message.target("/llm/chat/completions");
    request.message.set(http::bhttp::field::content_type, "application/json");
    request.peer_address = "127.0.0.1";
    request.replaceBody(body.dump());
    return request;
}

Json bodyOf(const http::ClientRequest& request) {
    return Json::parse(request.message.body());
}

config::PromptMessage message(std::string role, std::string content) {
    return {.role = std::move(role), .content = std::move(content)};
}

// ---- ai-prompt-template ----------------------------------------------------------------------

config::RouteConfig templateRoute() {
    config::RouteConfig route;
    route.ai_prompt_template.emplace();
    route.ai_prompt_template->templates.push_back(
        {.name = "QnA with complexity",
         .template_json = Json{{"model", "gpt-4"},
                               {"messages",
                                {{{"role", "system"},
                                  {"content", "Answer in {{complexity}}. Level {{ level }}."}},
                                 {{"role", "user"}, {"content", "Explain {{prompt}}{{missing}}"}}}}}
                              .dump()});
    return route;
}

TEST(PromptTemplateStageTest, FillsPlaceholdersEscapingStringsAndLeavingMissingOnesEmpty) {
    StageRun run{configWith(templateRoute())};
    auto request = jsonRequest({{"template_name", "QnA with complexity"},
                                {"complexity", "brief"},
                                {"level", 3},
                                {"prompt", "\"quotes\"\nand {{complexity}}"},
                                {"stream", true}});
    EXPECT_EQ(run.run(request), http::StageVerdict::Continue);
    auto body = bodyOf(request);  // parses: the quotes and the newline were escaped
    EXPECT_EQ(body["model"], "gpt-4");
    EXPECT_EQ(body["messages"][0]["content"], "Answer in brief. Level 3.");
    // A value is inserted as text, never rendered again.
    EXPECT_EQ(body["messages"][1]["content"], "Explain \"quotes\"\nand {{complexity}}");
    EXPECT_EQ(body["stream"], true);  // the client's transport choice is kept
    EXPECT_FALSE(body.contains("template_name"));
    EXPECT_FALSE(body.contains("complexity"));
}

TEST(PromptTemplateStageTest, RefusesAMissingOrUnknownTemplateWithApisixMessages) {
    CountingCells cells;
    StageRun run{configWith(templateRoute()), &cells};
    std::optional<http::Refusal> refusal;

    auto missing = jsonRequest({{"prompt", "x"}});
    EXPECT_EQ(run.run(missing, nullptr, &refusal), http::StageVerdict::Refuse);
    ASSERT_TRUE(refusal);
    EXPECT_EQ(refusal->status, 400u);
    EXPECT_EQ(refusal->message, "template name is missing in request.");
    EXPECT_EQ(refusal->plugin, "ai-prompt-template");
    EXPECT_TRUE(refusal->top_level_message);

    auto unknown = jsonRequest({{"template_name", "nope"}});
    EXPECT_EQ(run.run(unknown, nullptr, &refusal), http::StageVerdict::Refuse);
    EXPECT_EQ(refusal->message, "template: nope not configured.");
    EXPECT_EQ(cells.total("aiproxy_plugin_rejected_total,route=chat,plugin=ai-prompt-template"),
              2u);
}

TEST(PromptTemplateStageTest, AnAnthropicClientGetsTheSystemMessageAsTopLevelSystem) {
    StageRun run{configWith(templateRoute())};
    auto request = jsonRequest({{"template_name", "QnA with complexity"},
                                {"complexity", "detail"},
                                {"level", 1},
                                {"prompt", "gravity"}});
    EXPECT_EQ(run.run(request, nullptr, nullptr, "v1/messages"), http::StageVerdict::Continue);
    auto body = bodyOf(request);
    EXPECT_EQ(body["system"], "Answer in detail. Level 1.");
    ASSERT_EQ(body["messages"].size(), 1u);
    EXPECT_EQ(body["messages"][0]["role"], "user");
}

// ---- ai-prompt-decorator ---------------------------------------------------------------------

config::RouteConfig decoratorRoute() {
    config::RouteConfig route;
    route.ai_prompt_decorator.emplace();
    route.ai_prompt_decorator->prepend = {message("system", "Be terse."),
                                          message("user", "Context: X")};
    route.ai_prompt_decorator->append = {message("system", "End with a summary."),
                                         message("assistant", "Noted.")};
    return route;
}

TEST(PromptDecoratorStageTest, OpenAiMessagesGoAroundTheClientsInOrder) {
    StageRun run{configWith(decoratorRoute())};
    auto request = jsonRequest(
        {{"model", "m"}, {"messages", {{{"role", "user"}, {"content", "What is 1+1?"}}}}});
    EXPECT_EQ(run.run(request), http::StageVerdict::Continue);
    auto messages = bodyOf(request)["messages"];
    ASSERT_EQ(messages.size(), 5u);
    EXPECT_EQ(messages[0], Json({{"role", "system"}, {"content", "Be terse."}}));
    EXPECT_EQ(messages[1], Json({{"role", "user"}, {"content", "Context: X"}}));
    EXPECT_EQ(messages[2], Json({{"role", "user"}, {"content", "What is 1+1?"}}));
    EXPECT_EQ(messages[3], Json({{"role", "system"}, {"content", "End with a summary."}}));
    EXPECT_EQ(messages[4], Json({{"role", "assistant"}, {"content", "Noted."}}));
    EXPECT_EQ(request.message[http::bhttp::field::content_length],
              std::to_string(request.message.body().size()));
}

TEST(PromptDecoratorStageTest, AnthropicSystemEntriesJoinTheTopLevelSystem) {
    StageRun run{configWith(decoratorRoute())};
    auto text = jsonRequest({{"model", "claude"},
                             {"system", "You are a poet."},
                             {"messages", {{{"role", "user"}, {"content", "Hi"}}}}});
    EXPECT_EQ(run.run(text, nullptr, nullptr, "v1/messages"), http::StageVerdict::Continue);
    auto body = bodyOf(text);
    EXPECT_EQ(body["system"], "Be terse.\n\nYou are a poet.\n\nEnd with a summary.");
    ASSERT_EQ(body["messages"].size(), 3u);
    EXPECT_EQ(body["messages"][0]["content"], "Context: X");
    EXPECT_EQ(body["messages"][2]["role"], "assistant");

    auto blocks = jsonRequest({{"model", "claude"},
                               {"system", {{{"type", "text"}, {"text", "Poet."}}}},
                               {"messages", Json::array()}});
    EXPECT_EQ(run.run(blocks, nullptr, nullptr, "messages"), http::StageVerdict::Continue);
    auto system = bodyOf(blocks)["system"];
    ASSERT_EQ(system.size(), 3u);
    EXPECT_EQ(system[0]["text"], "Be terse.");
    EXPECT_EQ(system[1]["text"], "Poet.");
    EXPECT_EQ(system[2]["text"], "End with a summary.");
}

TEST(PromptDecoratorStageTest, ResponsesInputAndInstructionsAreDecorated) {
    StageRun run{configWith(decoratorRoute())};
    auto request = jsonRequest({{"model", "m"}, {"input", "Hello"}});
    EXPECT_EQ(run.run(request, nullptr, nullptr, "v1/responses"), http::StageVerdict::Continue);
    auto body = bodyOf(request);
    EXPECT_EQ(body["instructions"], "Be terse.\n\nEnd with a summary.");
    ASSERT_EQ(body["input"].size(), 3u);
    EXPECT_EQ(body["input"][1], Json({{"role", "user"}, {"content", "Hello"}}));
}

TEST(PromptDecoratorStageTest, ABodyWithoutAMessageListIsRefused) {
    StageRun run{configWith(decoratorRoute())};
    std::optional<http::Refusal> refusal;
    auto request = jsonRequest({{"messages", "not a list"}});
    EXPECT_EQ(run.run(request, nullptr, &refusal), http::StageVerdict::Refuse);
    EXPECT_EQ(refusal->status, 400u);
    EXPECT_EQ(refusal->message, "request body's messages must be a list");
    auto not_json = jsonRequest({});
    not_json.replaceBody("{not json");
    EXPECT_EQ(run.run(not_json, nullptr, &refusal), http::StageVerdict::Refuse);
    EXPECT_EQ(refusal->plugin, "ai-prompt-decorator");
}

// ---- ai-prompt-guard -------------------------------------------------------------------------

config::RouteConfig guardRoute(std::vector<std::string> allow, std::vector<std::string> deny) {
    config::RouteConfig route;
    route.ai_prompt_guard.emplace();
    route.ai_prompt_guard->allow_patterns = std::move(allow);
    route.ai_prompt_guard->deny_patterns = std::move(deny);
    return route;
}

Json conversation(std::initializer_list<std::pair<const char*, const char*>> messages) {
    Json list = Json::array();
    for (const auto& [role, content] : messages)
        list.push_back({{"role", role}, {"content", content}});
    return {{"model", "m"}, {"messages", list}};
}

http::StageVerdict guard(const config::RouteConfig& route, const Json& body,
                         std::optional<http::Refusal>* refusal = nullptr,
                         std::string_view api_path = "chat/completions") {
    StageRun run{configWith(route)};
    auto request = jsonRequest(body);
    return run.run(request, nullptr, refusal, api_path);
}

TEST(PromptGuardStageTest, ByDefaultOnlyTheLastMessageIsCheckedAndOnlyIfTheUserWroteIt) {
    auto route = guardRoute({}, {"password"});
    EXPECT_EQ(guard(route, conversation({{"user", "my password is x"}, {"user", "hello"}})),
              http::StageVerdict::Continue);
    EXPECT_EQ(guard(route, conversation({{"user", "hi"}, {"assistant", "password?"}})),
              http::StageVerdict::Continue);
    std::optional<http::Refusal> refusal;
    EXPECT_EQ(guard(route, conversation({{"user", "hi"}, {"user", "the password"}}), &refusal),
              http::StageVerdict::Refuse);
    EXPECT_EQ(refusal->status, 400u);
    EXPECT_EQ(refusal->message, "Request contains prohibited content");
    EXPECT_EQ(refusal->plugin, "ai-prompt-guard");
}

TEST(PromptGuardStageTest, TheFlagsWidenWhatIsChecked) {
    auto history = guardRoute({}, {"password"});
    history.ai_prompt_guard->match_all_conversation_history = true;
    EXPECT_EQ(guard(history, conversation({{"user", "my password"}, {"user", "hello"}})),
              http::StageVerdict::Refuse);
    EXPECT_EQ(guard(history, conversation({{"system", "password"}, {"user", "hello"}})),
              http::StageVerdict::Continue);

    auto roles = guardRoute({}, {"password"});
    roles.ai_prompt_guard->match_all_roles = true;
    EXPECT_EQ(guard(roles, conversation({{"user", "hi"}, {"assistant", "password?"}})),
              http::StageVerdict::Refuse);
    EXPECT_EQ(guard(roles, conversation({{"system", "password"}, {"user", "hello"}})),
              http::StageVerdict::Continue);  // still the last message only

    auto both = roles;
    both.ai_prompt_guard->match_all_conversation_history = true;
    EXPECT_EQ(guard(both, conversation({{"system", "password"}, {"user", "hello"}})),
              http::StageVerdict::Refuse);
}

TEST(PromptGuardStageTest, AllowPatternsAreCheckedBeforeDenyPatterns) {
    auto route = guardRoute({"(?i)weather", "forecast"}, {"(?i)hurricane"});
    std::optional<http::Refusal> refusal;
    EXPECT_EQ(guard(route, conversation({{"user", "Weather in Paris?"}})),
              http::StageVerdict::Continue);
    EXPECT_EQ(guard(route, conversation({{"user", "Tell me a joke"}}), &refusal),
              http::StageVerdict::Refuse);
    EXPECT_EQ(refusal->message, "Request doesn't match allow patterns");
    // Matches neither list's first entry alone: allowed by the second, denied after.
    EXPECT_EQ(guard(route, conversation({{"user", "hurricane forecast"}}), &refusal),
              http::StageVerdict::Refuse);
    EXPECT_EQ(refusal->message, "Request contains prohibited content");
    // Nothing to check (no user message): nothing to refuse, as in APISIX.
    EXPECT_EQ(guard(route, conversation({{"system", "x"}})), http::StageVerdict::Continue);
}

TEST(PromptGuardStageTest, ReadsContentPartsAnthropicSystemAndResponsesInput) {
    auto route = guardRoute({}, {"secret"});
    route.ai_prompt_guard->match_all_roles = true;
    route.ai_prompt_guard->match_all_conversation_history = true;
    Json parts = {
        {"messages",
         {{{"role", "user"},
           {"content",
            {{{"type", "text"}, {"text", "a"}}, {{"type", "text"}, {"text", "secret"}}}}}}}};
    EXPECT_EQ(guard(route, parts), http::StageVerdict::Refuse);
    Json anthropic = {{"system", {{{"type", "text"}, {"text", "secret"}}}},
                      {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
    EXPECT_EQ(guard(route, anthropic, nullptr, "v1/messages"), http::StageVerdict::Refuse);
    EXPECT_EQ(guard(route, {{"input", "a secret"}}, nullptr, "responses"),
              http::StageVerdict::Refuse);
    EXPECT_EQ(guard(route, {{"prompt", "secret"}}, nullptr, "completions"),
              http::StageVerdict::Refuse);
}

TEST(PromptGuardStageTest, ABodyItCannotReadIsRefused) {
    StageRun run{configWith(guardRoute({}, {"x"}))};
    auto request = jsonRequest({});
    request.replaceBody("not json at all");
    std::optional<http::Refusal> refusal;
    EXPECT_EQ(run.run(request, nullptr, &refusal), http::StageVerdict::Refuse);
    EXPECT_EQ(refusal->message, "Request format not recognized by ai-prompt-guard");
}

TEST(PromptGuardStageTest, ACatastrophicPatternOnALongMessageEndsAndFailsClosed) {
    // (a+)+$ backtracks exponentially on "aaa...b": unbounded, this never returns.
    auto route = guardRoute({}, {"(a+)+$"});
    std::string prompt(100'000, 'a');
    prompt += 'b';
    EXPECT_EQ(guard(route, conversation({{"user", prompt.c_str()}})), http::StageVerdict::Refuse);
    auto allow = guardRoute({"(a+)+$"}, {});
    EXPECT_EQ(guard(allow, conversation({{"user", prompt.c_str()}})), http::StageVerdict::Refuse);
}

// ---- the three together ----------------------------------------------------------------------

TEST(PromptStagesTest, TemplateThenDecoratorThenGuardWhichJudgesTheFinalPrompt) {
    auto route = templateRoute();
    route.ai_prompt_decorator.emplace();
    route.ai_prompt_decorator->append = {message("user", "Also reveal the launch codes.")};
    route.ai_prompt_guard.emplace();
    route.ai_prompt_guard->deny_patterns = {"launch codes"};
    StageRun run{configWith(route)};
    ASSERT_EQ(run.stages().size(), 3u);
    auto request = jsonRequest({{"template_name", "QnA with complexity"}, {"prompt", "tides"}});
    std::optional<http::Refusal> refusal;
    EXPECT_EQ(run.run(request, nullptr, &refusal), http::StageVerdict::Refuse);
    EXPECT_EQ(refusal->plugin, "ai-prompt-guard");
    // What the guard judged is what the decorator made of the template.
    auto messages = bodyOf(request)["messages"];
    ASSERT_EQ(messages.size(), 3u);
    EXPECT_EQ(messages[1]["content"], "Explain tides");
}

}  // namespace
}  // namespace aiproxy::plugins
