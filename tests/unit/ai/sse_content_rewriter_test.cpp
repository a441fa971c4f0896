#include "aiproxy/ai/sse_content_rewriter.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "aiproxy/ai/sse_framer.hpp"

namespace aiproxy::ai {
namespace {

using Json = nlohmann::json;

std::shared_ptr<const ResponseRewrite> makeRewrite(const std::string& pattern,
                                                   const std::string& replace,
                                                   const std::string& prepend = "",
                                                   const std::string& append = "",
                                                   std::size_t max_chars = 64) {
    config::AiResponseRewriteConfig config{
        .prepend_text = prepend, .append_text = append, .max_holdback_chars = max_chars};
    if (!pattern.empty()) config.redact.push_back({.pattern = pattern, .replace = replace});
    std::string error;
    auto rewrite = compileResponseRewrite(config, error);
    EXPECT_TRUE(rewrite) << error;
    return rewrite;
}

// ---- OpenAI chat chunks ----

std::string chunk(const Json& delta, const Json& finish_reason = nullptr, int index = 0) {
    return "data: " +
           Json{{"id", "chatcmpl-1"},
                {"object", "chat.completion.chunk"},
                {"created", 1700000000},
                {"model", "gpt-4o-mini"},
                {"choices",
                 Json::array(
                     {{{"index", index}, {"delta", delta}, {"finish_reason", finish_reason}}})}}
               .dump() +
           "\n\n";
}

std::string textChunk(const std::string& text, int index = 0) {
    return chunk({{"content", text}}, nullptr, index);
}

const std::string kRole = chunk({{"role", "assistant"}, {"content", ""}});
const std::string kFinish = chunk(Json::object(), "stop");
const std::string kUsage =
    R"(data: {"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[],)"
    R"("usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}})"
    "\n\n";
const std::string kDone = "data: [DONE]\n\n";

struct Relayed {
    std::string bytes;
    std::vector<SseEvent> events;
};

// Feeds `pieces` (client-side SSE bytes, cut anywhere) and finishes; parses what came out.
Relayed relay(SseContentRewriter& rewriter, const std::vector<std::string>& pieces,
              bool finish = true) {
    Relayed out;
    for (const auto& piece : pieces)
        out.bytes += rewriter.feed(piece);
    if (finish) out.bytes += rewriter.finish();
    SseFramer framer;
    framer.feed(out.bytes, out.events);
    return out;
}

// The text an OpenAI client assembles per choice, and whether every event is valid.
std::vector<std::string> choiceTexts(const std::vector<SseEvent>& events) {
    std::vector<std::string> texts;
    for (const auto& event : events) {
        if (event.data == "[DONE]") continue;
        Json data = Json::parse(event.data, nullptr, false);
        EXPECT_FALSE(data.is_discarded()) << event.data;
        for (const auto& choice : data.value("choices", Json::array())) {
            auto index = choice.value("index", 0);
            if (texts.size() <= static_cast<std::size_t>(index)) texts.resize(index + 1);
            const Json& delta = choice.value("delta", Json::object());
            if (delta.contains("content") && delta["content"].is_string()) {
                texts[index] += delta["content"].get<std::string>();
            }
        }
    }
    return texts;
}

TEST(SseContentRewriterTest, OpenAiSecretSplitAcrossTwoDeltasIsReplaced) {
    auto rewrite = makeRewrite(R"(sk-[a-z0-9]{8})", "[KEY]");
    SseContentRewriter rewriter{*rewrite, ClientApi::OpenAiChat};
    auto out = relay(
        rewriter, {kRole, textChunk("the key is sk-ab"), textChunk("cd1234, ok"), kFinish, kDone});
    EXPECT_EQ(choiceTexts(out.events), std::vector<std::string>{"the key is [KEY], ok"});
    EXPECT_EQ(rewriter.redactions(), 1U);
    // The first delta went out without the possible start of the key; the second with it.
    ASSERT_EQ(out.events.size(), 5U) << out.bytes;
    EXPECT_EQ(Json::parse(out.events[1].data)["choices"][0]["delta"]["content"], "the key is ");
    EXPECT_EQ(Json::parse(out.events[2].data)["choices"][0]["delta"]["content"], "[KEY], ok");
    EXPECT_EQ(out.events[4].data, "[DONE]");
}

TEST(SseContentRewriterTest, TheSameTextComesOutWhereverTheBytesAreCut) {
    auto rewrite = makeRewrite(R"(sk-[a-z0-9]{8})", "[KEY]", "> ", " <");
    const std::string stream =
        kRole + textChunk("key sk-ab") + textChunk("cd1234 é.") + kFinish + kUsage + kDone;
    for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
        SseContentRewriter rewriter{*rewrite, ClientApi::OpenAiChat};
        auto out = relay(rewriter, {stream.substr(0, cut), stream.substr(cut)});
        EXPECT_EQ(choiceTexts(out.events), std::vector<std::string>{"> key [KEY] é. <"})
            << "cut at " << cut << ":\n"
            << out.bytes;
        ASSERT_FALSE(out.events.empty());
        EXPECT_EQ(out.events.back().data, "[DONE]") << cut;
    }
}

TEST(SseContentRewriterTest, EventsWithoutTextPassByteForByte) {
    auto rewrite = makeRewrite("secret", "[X]");
    SseContentRewriter rewriter{*rewrite, ClientApi::OpenAiChat};
    const std::string stream =
        ": keep-alive\n\n" + kRole + textChunk("hello") + kFinish + kUsage + kDone;
    auto out = relay(rewriter, {stream});
    EXPECT_EQ(out.bytes, stream);
}

TEST(SseContentRewriterTest, OpenAiPrependGoesIntoTheFirstTextAndAppendBeforeTheFinish) {
    auto rewrite = makeRewrite("", "", "Note: ", " [AI]");
    SseContentRewriter rewriter{*rewrite, ClientApi::OpenAiChat};
    auto out =
        relay(rewriter, {kRole, textChunk("Hello"), textChunk(" there"), kFinish, kUsage, kDone});
    ASSERT_EQ(out.events.size(), 7U) << out.bytes;
    EXPECT_EQ(out.events[0].data, kRole.substr(6, kRole.size() - 8));  // the role chunk as it was
    EXPECT_EQ(Json::parse(out.events[1].data)["choices"][0]["delta"]["content"], "Note: Hello");
    EXPECT_EQ(Json::parse(out.events[2].data)["choices"][0]["delta"]["content"], " there");
    // The footer in a chunk of the same shape, before the one with the finish reason.
    Json footer = Json::parse(out.events[3].data);
    EXPECT_EQ(footer["choices"][0]["delta"]["content"], " [AI]");
    EXPECT_TRUE(footer["choices"][0]["finish_reason"].is_null());
    EXPECT_EQ(footer["id"], "chatcmpl-1");
    EXPECT_EQ(footer["model"], "gpt-4o-mini");
    EXPECT_EQ(footer["object"], "chat.completion.chunk");
    EXPECT_EQ(Json::parse(out.events[4].data)["choices"][0]["finish_reason"], "stop");
    EXPECT_EQ(out.events[6].data, "[DONE]");
}

TEST(SseContentRewriterTest, HeldTextAndTheFooterJoinAFinishChunkThatCarriesText) {
    auto rewrite = makeRewrite(R"(\d+)", "#", "", " END");
    SseContentRewriter rewriter{*rewrite, ClientApi::OpenAiChat};
    auto out =
        relay(rewriter, {textChunk("call 55"), chunk({{"content", "5 now"}}, "stop"), kDone});
    ASSERT_EQ(out.events.size(), 3U) << out.bytes;
    EXPECT_EQ(Json::parse(out.events[0].data)["choices"][0]["delta"]["content"], "call ");
    Json last = Json::parse(out.events[1].data);
    EXPECT_EQ(last["choices"][0]["delta"]["content"], "# now END");
    EXPECT_EQ(last["choices"][0]["finish_reason"], "stop");
}

TEST(SseContentRewriterTest, AStreamEndingWithoutFinishOrDoneStillGetsItsHeldTextAndFooter) {
    auto rewrite = makeRewrite(R"(\d+)", "#", "", " END");
    SseContentRewriter rewriter{*rewrite, ClientApi::OpenAiChat};
    auto out = relay(rewriter, {textChunk("value 42")});
    EXPECT_EQ(choiceTexts(out.events), std::vector<std::string>{"value # END"});
}

TEST(SseContentRewriterTest, AnUnterminatedLastEventIsNotMergedWithTheFooter) {
    auto rewrite = makeRewrite("", "", "", " END");
    SseContentRewriter rewriter{*rewrite, ClientApi::OpenAiChat};
    std::string last = textChunk("hi");
    last.resize(last.size() - 2);  // no blank line: the upstream closed right after it
    auto out = relay(rewriter, {last});
    EXPECT_EQ(choiceTexts(out.events), std::vector<std::string>{"hi END"}) << out.bytes;
}

TEST(SseContentRewriterTest, EachChoiceHasItsOwnTextState) {
    auto rewrite = makeRewrite(R"(sk-[a-z0-9]{8})", "[KEY]", "> ", " <");
    SseContentRewriter rewriter{*rewrite, ClientApi::OpenAiChat};
    auto out =
        relay(rewriter, {textChunk("a sk-ab", 0), textChunk("b sk-12", 1), textChunk("cd1234", 0),
                         textChunk("345678", 1), chunk(Json::object(), "stop", 0),
                         chunk(Json::object(), "stop", 1), kDone});
    EXPECT_EQ(choiceTexts(out.events), (std::vector<std::string>{"> a [KEY] <", "> b [KEY] <"}));
    EXPECT_EQ(rewriter.redactions(), 2U);
}

TEST(SseContentRewriterTest, FlushHeldSendsHeldTextInAChunkOfTheSameShape) {
    auto rewrite = makeRewrite(R"(\d+)", "#");
    SseContentRewriter rewriter{*rewrite, ClientApi::OpenAiChat};
    EXPECT_EQ(rewriter.feed(kRole), kRole);
    std::string first{rewriter.feed(textChunk("call 555"))};
    EXPECT_TRUE(rewriter.holding());
    std::string flushed{rewriter.flushHeld()};
    EXPECT_FALSE(rewriter.holding());
    SseFramer framer;
    std::vector<SseEvent> events;
    framer.feed(flushed, events);
    ASSERT_EQ(events.size(), 1U) << flushed;
    Json data = Json::parse(events[0].data);
    EXPECT_EQ(data["choices"][0]["delta"]["content"], "#");
    EXPECT_EQ(data["id"], "chatcmpl-1");
    EXPECT_EQ(rewriter.flushHeld(), "");  // nothing more held
}

// ---- Anthropic messages events ----

std::string named(const Json& data) {
    return "event: " + data["type"].get<std::string>() + "\ndata: " + data.dump() + "\n\n";
}

const std::string kMessageStart =
    named({{"type", "message_start"},
           {"message", {{"id", "msg_1"}, {"role", "assistant"}, {"content", Json::array()}}}});

std::string blockStart(int index, const std::string& type = "text") {
    Json block = type == "text" ? Json{{"type", "text"}, {"text", ""}}
                                : Json{{"type", type}, {"id", "toolu_1"}, {"name", "get"}};
    return named({{"type", "content_block_start"}, {"index", index}, {"content_block", block}});
}

std::string textDelta(const std::string& text, int index = 0) {
    return named({{"type", "content_block_delta"},
                  {"index", index},
                  {"delta", {{"type", "text_delta"}, {"text", text}}}});
}

std::string blockStop(int index = 0) {
    return named({{"type", "content_block_stop"}, {"index", index}});
}

const std::string kMessageDelta = named({{"type", "message_delta"},
                                         {"delta", {{"stop_reason", "end_turn"}}},
                                         {"usage", {{"output_tokens", 7}}}});
const std::string kMessageStop = named({{"type", "message_stop"}});

struct AnthropicView {
    std::vector<std::string> types;
    std::vector<std::string> blocks;  // text per block index
};

AnthropicView anthropicView(const std::vector<SseEvent>& events) {
    AnthropicView view;
    for (const auto& event : events) {
        Json data = Json::parse(event.data, nullptr, false);
        EXPECT_FALSE(data.is_discarded()) << event.data;
        std::string type = data.value("type", "");
        EXPECT_TRUE(event.event.empty() || event.event == type) << event.event << " " << type;
        view.types.push_back(type);
        if (type == "content_block_start") {
            view.blocks.resize(data["index"].get<std::size_t>() + 1);
        }
        if (type == "content_block_delta" && data["delta"]["type"] == "text_delta") {
            view.blocks.at(data["index"].get<std::size_t>()) += data["delta"]["text"];
        }
    }
    return view;
}

TEST(SseContentRewriterTest, AnthropicSecretSplitAcrossTextDeltasAndTheFrame) {
    auto rewrite = makeRewrite(R"(sk-[a-z0-9]{8})", "[KEY]", "Note: ", " [AI]");
    SseContentRewriter rewriter{*rewrite, ClientApi::AnthropicMessages};
    auto out = relay(rewriter, {kMessageStart, blockStart(0), textDelta("key sk-ab"),
                                textDelta("cd1234."), blockStop(), kMessageDelta, kMessageStop});
    auto view = anthropicView(out.events);
    EXPECT_EQ(view.blocks, std::vector<std::string>{"Note: key [KEY]. [AI]"}) << out.bytes;
    // The footer goes into the text block, before its stop and the message's end.
    EXPECT_EQ(view.types, (std::vector<std::string>{"message_start", "content_block_start",
                                                    "content_block_delta", "content_block_delta",
                                                    "content_block_delta", "content_block_stop",
                                                    "message_delta", "message_stop"}));
    EXPECT_EQ(rewriter.redactions(), 1U);
}

TEST(SseContentRewriterTest, AnthropicTextWhereverTheBytesAreCut) {
    auto rewrite = makeRewrite(R"(sk-[a-z0-9]{8})", "[KEY]", "> ", " <");
    const std::string stream = kMessageStart + blockStart(0) + textDelta("key sk-ab") +
                               textDelta("cd1234.") + blockStop() + kMessageDelta + kMessageStop;
    for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
        SseContentRewriter rewriter{*rewrite, ClientApi::AnthropicMessages};
        auto out = relay(rewriter, {stream.substr(0, cut), stream.substr(cut)});
        auto view = anthropicView(out.events);
        EXPECT_EQ(view.blocks, std::vector<std::string>{"> key [KEY]. <"}) << cut;
        ASSERT_FALSE(view.types.empty());
        EXPECT_EQ(view.types.back(), "message_stop") << cut;
    }
}

TEST(SseContentRewriterTest, AnthropicEventsWithoutEventLinesAreRecognisedByType) {
    auto rewrite = makeRewrite("secret", "[X]");
    SseContentRewriter rewriter{*rewrite, ClientApi::AnthropicMessages};
    auto unnamed = [](const std::string& event) { return event.substr(event.find("data: ")); };
    auto out = relay(rewriter, {unnamed(blockStart(0)), unnamed(textDelta("a secret")),
                                unnamed(blockStop()), unnamed(kMessageStop)});
    EXPECT_EQ(anthropicView(out.events).blocks, std::vector<std::string>{"a [X]"}) << out.bytes;
}

TEST(SseContentRewriterTest, AnthropicFooterAfterAToolCallComesAsATextBlockOfItsOwn) {
    auto rewrite = makeRewrite("", "", "", " [AI]");
    SseContentRewriter rewriter{*rewrite, ClientApi::AnthropicMessages};
    auto out =
        relay(rewriter, {kMessageStart, blockStart(0), textDelta("Let me look."), blockStop(0),
                         blockStart(1, "tool_use"), blockStop(1), kMessageDelta, kMessageStop});
    auto view = anthropicView(out.events);
    ASSERT_EQ(view.blocks.size(), 3U) << out.bytes;
    EXPECT_EQ(view.blocks[0], "Let me look.");
    EXPECT_EQ(view.blocks[2], " [AI]");
    EXPECT_EQ(view.types.back(), "message_stop");
}

TEST(SseContentRewriterTest, AnthropicAnswerWithoutTextGetsNoFrame) {
    auto rewrite = makeRewrite("", "", "> ", " <");
    SseContentRewriter rewriter{*rewrite, ClientApi::AnthropicMessages};
    const std::string stream =
        kMessageStart + blockStart(0, "tool_use") + blockStop(0) + kMessageDelta + kMessageStop;
    EXPECT_EQ(relay(rewriter, {stream}).bytes, stream);
}

TEST(SseContentRewriterTest, AnthropicFlushHeldSendsATextDelta) {
    auto rewrite = makeRewrite(R"(\d+)", "#");
    SseContentRewriter rewriter{*rewrite, ClientApi::AnthropicMessages};
    rewriter.feed(kMessageStart + blockStart(0));
    std::string first{rewriter.feed(textDelta("call 555"))};
    EXPECT_TRUE(rewriter.holding());
    std::string held{rewriter.flushHeld()};
    SseFramer framer;
    std::vector<SseEvent> events;
    framer.feed(held, events);
    ASSERT_EQ(events.size(), 1U) << held;
    EXPECT_EQ(events[0].event, "content_block_delta");
    EXPECT_EQ(Json::parse(events[0].data)["delta"]["text"], "#");
    EXPECT_FALSE(rewriter.holding());
}

}  // namespace
}  // namespace aiproxy::ai
