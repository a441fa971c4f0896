// Usage read by a scan (bodies and chunks in the simple JSON subset) must equal usage read by a
// parse: each case runs twice, once as it is and once with an escaped string added to the usage
// object, which leaves the counts alone but sends the text down the parse.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "aiproxy/ai/sse_framer.hpp"
#include "aiproxy/ai/usage.hpp"

namespace aiproxy::ai {
namespace {

const std::vector<std::string> kUsageObjects = {
    R"({"prompt_tokens":1,"completion_tokens":7,"total_tokens":8})",
    R"({ "prompt_tokens" : 12 , "completion_tokens" : 0 })",
    R"({"prompt_tokens":5})",
    R"({"input_tokens":3,"output_tokens":4,"input_tokens_details":{"cached_tokens":2},)"
    R"("output_tokens_details":{"reasoning_tokens":1}})",
    R"({"prompt_tokens":9,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":4},)"
    R"("completion_tokens_details":{"reasoning_tokens":1,"audio_tokens":0}})",
    R"({"prompt_tokens":9,"prompt_tokens_details":null,"input_tokens_details":{"cached_tokens":3}})",
    R"({"prompt_tokens":9,"prompt_cache_hit_tokens":6,"prompt_cache_miss_tokens":3})",
    R"({"prompt_tokens":-0,"completion_tokens":-5})",
    R"({"prompt_tokens":1.0,"completion_tokens":2e1,"total_tokens":3E0})",
    R"({"prompt_tokens":18446744073709551615,"completion_tokens":18446744073709551616})",
    R"({"prompt_tokens":99999999999999999999999,"completion_tokens":1})",
    R"({"prompt_tokens":"5","completion_tokens":true,"total_tokens":null})",
    R"({"prompt_tokens":1,"prompt_tokens":2,"completion_tokens":[],"total_tokens":{}})",
    R"({"prompt_tokens":1,"completion_tokens":2,"extra":{"a":[1,{"b":[true,false,null]}]}})",
    R"({})",
};

// The same object with an escaped string member first: the counts stay, the scan refuses it.
std::string withEscape(const std::string& object) {
    std::string escaped = object;
    escaped.insert(1, object == "{}" ? R"("zz":"\u0041")" : R"("zz":"\u0041",)");
    return escaped;
}

StreamUsage accumulate(const std::string& stream) {
    SseFramer framer;
    std::vector<SseEvent> events;
    framer.feed(stream, events);
    StreamUsageAccumulator accumulator;
    for (const SseEvent& event : events)
        accumulator.add(event);
    return accumulator.result();
}

TEST(UsageScanTest, BodiesReadByTheScanEqualBodiesReadByTheParse) {
    for (const auto& object : kUsageObjects) {
        SCOPED_TRACE(object);
        const std::string head = R"({"id":"x","model":"m-1","choices":[{"message":{}}],"usage":)";
        Usage scanned = usageFromOpenAiBody(head + object + "}");
        Usage parsed = usageFromOpenAiBody(head + withEscape(object) + "}");
        EXPECT_EQ(scanned, parsed);
        EXPECT_EQ(scanned.model, "m-1");
    }
}

TEST(UsageScanTest, StreamUsageChunksReadByTheScanEqualChunksReadByTheParse) {
    for (const auto& object : kUsageObjects) {
        SCOPED_TRACE(object);
        const std::string first = "data: {\"model\":\"m\",\"choices\":[{\"delta\":{}}]}\n\n";
        for (const std::string choices : {"[]", "[ ]", "[{\"index\":0}]"}) {
            auto chunk = [&](const std::string& usage) {
                return first + "data: {\"model\":\"m-2\",\"choices\":" + choices +
                       ",\"usage\":" + usage + "}\n\ndata: [DONE]\n\n";
            };
            EXPECT_EQ(accumulate(chunk(object)), accumulate(chunk(withEscape(object))));
        }
    }
}

TEST(UsageScanTest, ModelsOutsideTheSimpleSubsetAreParsed) {
    EXPECT_EQ(usageFromOpenAiBody(R"({"model":"m\u0041","usage":{"prompt_tokens":1}})").model,
              "mA");
    EXPECT_EQ(usageFromOpenAiBody("{\"model\":\"caf\xc3\xa9\"}").model, "caf\xc3\xa9");
    EXPECT_EQ(usageFromOpenAiBody(R"({"model":5,"usage":{"prompt_tokens":1}})").model, "");
    // The scan leaves a missing value empty; it names no model and spoils nothing else.
    const Usage empty_model = usageFromOpenAiBody(R"({"model":,"usage":{"prompt_tokens":1}})");
    EXPECT_EQ(empty_model.model, "");
    EXPECT_EQ(empty_model.prompt_tokens, 1u);
    // A usage object that does not parse counts as absent, whichever way it was read.
    EXPECT_EQ(usageFromOpenAiBody(R"({"model":"m","usage":{"prompt_tokens":01}})").prompt_tokens,
              std::nullopt);
    EXPECT_EQ(usageFromOpenAiBody(R"({"model":"m","usage":{"prompt_tokens":1,}})").prompt_tokens,
              std::nullopt);
}

TEST(UsageScanTest, ResponsesEventsWithoutEventLinesStillReadByTheirType) {
    const StreamUsage result = accumulate(
        "data: {\"type\":\"response.completed\",\"response\":{\"model\":\"r\",\"usage\":"
        "{\"input_tokens\":2,\"output_tokens\":3,\"total_tokens\":5}}}\n\n");
    EXPECT_TRUE(result.done);
    EXPECT_EQ(result.usage.model, "r");
    EXPECT_EQ(result.usage.completion_tokens, 3u);
}

}  // namespace
}  // namespace aiproxy::ai
