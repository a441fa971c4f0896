#include "support/llm_replies.hpp"

#include <nlohmann/json.hpp>

namespace aiproxy::test {

std::string openAiCompletion(const std::string& text, int prompt, int completion,
                             const std::string& model) {
    using Json = nlohmann::json;
    return Json{{"id", "chatcmpl-1"},
                {"object", "chat.completion"},
                {"created", 1700000000},
                {"model", model},
                {"choices", Json::array({{{"index", 0},
                                          {"message", {{"role", "assistant"}, {"content", text}}},
                                          {"finish_reason", "stop"}}})},
                {"usage",
                 {{"prompt_tokens", prompt},
                  {"completion_tokens", completion},
                  {"total_tokens", prompt + completion}}}}
        .dump();
}

}  // namespace aiproxy::test
