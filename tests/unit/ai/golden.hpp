#pragma once
// The golden files of the AI unit tests (tests/unit/ai/golden/): recorded upstream bodies and
// event streams, what they report, and the line ends other servers frame the same streams with.

#include <filesystem>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "aiproxy/ai/usage.hpp"
#include "support/files.hpp"

namespace aiproxy::ai::test {

/// A golden file by its path under tests/unit/ai/golden/, e.g. "sse/anthropic_messages.sse".
/// A missing file fails the test (and reads as empty).
inline std::string readGolden(std::string_view relative) {
    const std::filesystem::path path = aiproxy::test::sourcePath("tests/unit/ai/golden") / relative;
    EXPECT_TRUE(std::filesystem::exists(path)) << "missing golden file " << path;
    return aiproxy::test::readFile(path);
}

/// `lf_text` with every "\n" replaced by `line_end` ("\r\n", "\r"): a stream as servers that end
/// lines otherwise send it.
inline std::string withLineEnd(std::string_view lf_text, std::string_view line_end) {
    std::string out;
    for (char c : lf_text) {
        if (c == '\n') {
            out.append(line_end);
        } else {
            out.push_back(c);
        }
    }
    return out;
}

/// What sse/openai_chat_include_usage.sse reports: its usage-only chunk, then [DONE].
inline const StreamUsage kOpenAiChatGoldenUsage{.usage = {.model = "gpt-4o-2024-08-06",
                                                          .prompt_tokens = 1200,
                                                          .completion_tokens = 12,
                                                          .total_tokens = 1212,
                                                          .cached_prompt_tokens = 1024},
                                                .usage_reported = true,
                                                .done = true,
                                                .events = 5};

}  // namespace aiproxy::ai::test
