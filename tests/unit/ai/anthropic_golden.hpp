#pragma once
// The Anthropic translation tests' golden files (tests/unit/ai/golden/anthropic/) as JSON, and a
// reader for the SSE transcripts written there and produced by the translators. The transcripts
// are well formed by construction (one "event:" and one "data:" line per event, or a comment),
// so this is a splitter for them, not an SSE parser: the framer owns that job.

#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "aiproxy/ai/sse_event.hpp"
#include "golden.hpp"

namespace aiproxy::ai::test {

using Json = nlohmann::json;

// A JSON golden file by its path under tests/unit/ai/golden/ ("anthropic/...").
inline Json readGoldenJson(std::string_view name) {
    Json value = Json::parse(readGolden(name), nullptr, false);
    EXPECT_FALSE(value.is_discarded()) << name << " is not JSON";
    return value;
}

inline Json parse(std::string_view text) {
    return Json::parse(text, nullptr, false);
}

// One block of an SSE transcript: an event, or a comment line (": ping").
struct SseBlock {
    std::string event;
    std::string data;
    std::string comment;
    SseEvent toEvent() const { return {.event = event, .data = data}; }
};

inline std::vector<SseBlock> splitSse(std::string_view text) {
    std::vector<SseBlock> blocks;
    while (!text.empty()) {
        auto end = text.find("\n\n");
        std::string_view block = text.substr(0, end);
        text = end == std::string_view::npos ? std::string_view() : text.substr(end + 2);
        SseBlock parsed;
        while (!block.empty()) {
            auto eol = block.find('\n');
            std::string_view line = block.substr(0, eol);
            block = eol == std::string_view::npos ? std::string_view() : block.substr(eol + 1);
            if (line.starts_with("event: ")) parsed.event = line.substr(7);
            if (line.starts_with("data: ")) parsed.data = line.substr(6);
            if (line.starts_with(":")) parsed.comment = line;
        }
        blocks.push_back(std::move(parsed));
    }
    return blocks;
}

// Same events in the same order; data compared as JSON when it is JSON ("[DONE]" is not).
inline void expectSameSse(std::string_view actual, std::string_view expected) {
    auto got = splitSse(actual);
    auto want = splitSse(expected);
    ASSERT_FALSE(want.empty());
    ASSERT_EQ(got.size(), want.size()) << "actual:\n" << actual;
    for (std::size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(got[i].event, want[i].event) << "event " << i;
        EXPECT_EQ(got[i].comment, want[i].comment) << "event " << i;
        Json got_data = parse(got[i].data);
        Json want_data = parse(want[i].data);
        if (want_data.is_discarded()) {
            EXPECT_EQ(got[i].data, want[i].data) << "event " << i;
        } else {
            EXPECT_EQ(got_data, want_data) << "event " << i << "\n got: " << got[i].data;
        }
    }
}

}  // namespace aiproxy::ai::test
