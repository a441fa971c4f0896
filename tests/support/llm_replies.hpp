#pragma once
// Bodies an OpenAI-style backend answers with, for mocks in the integration tests.

#include <string>

namespace aiproxy::test {

/// A non-streaming chat.completion with `text` as the answer and the given usage.
std::string openAiCompletion(const std::string& text, int prompt, int completion,
                             const std::string& model = "gpt-4o-mini-2024-07-18");

}  // namespace aiproxy::test
