#include "aiproxy/ai/response_rewrite.hpp"

#include <nlohmann/json.hpp>

#include "json_access.hpp"

namespace aiproxy::ai {
namespace {

// ordered_json keeps the upstream's member order in what the client gets.
using OrderedJson = nlohmann::ordered_json;

// Replaces a string value with its redacted text; true when it had text.
bool redactString(const ResponseRewrite& rewrite, OrderedJson& value, std::size_t& redactions) {
    if (!value.is_string()) return false;
    auto& text = value.get_ref<std::string&>();
    if (text.empty()) return false;
    text = redactText(rewrite.redact, text, redactions);
    return true;
}

bool rewriteOpenAi(const ResponseRewrite& rewrite, OrderedJson& answer, std::size_t& redactions) {
    auto choices = answer.find("choices");
    if (choices == answer.end() || !choices->is_array()) return false;
    for (auto& choice : *choices) {
        if (!choice.is_object()) continue;
        auto message = choice.find("message");
        if (message == choice.end() || !message->is_object()) continue;
        auto content = message->find("content");
        if (content == message->end() || !redactString(rewrite, *content, redactions)) continue;
        auto& text = content->get_ref<std::string&>();
        text.insert(0, rewrite.prepend_text);
        text.append(rewrite.append_text);
    }
    return true;
}

bool rewriteAnthropic(const ResponseRewrite& rewrite, OrderedJson& answer,
                      std::size_t& redactions) {
    auto content = answer.find("content");
    if (content == answer.end() || !content->is_array()) return false;
    OrderedJson* first = nullptr;
    OrderedJson* last = nullptr;
    for (auto& block : *content) {
        if (!block.is_object() || block.value("type", "") != "text") continue;
        auto text = block.find("text");
        if (text == block.end() || !redactString(rewrite, *text, redactions)) continue;
        if (!first) first = &*text;
        last = &*text;
    }
    if (first) {
        first->get_ref<std::string&>().insert(0, rewrite.prepend_text);
        last->get_ref<std::string&>().append(rewrite.append_text);
    }
    return true;
}

}  // namespace

std::shared_ptr<const ResponseRewrite> compileResponseRewrite(
    const config::AiResponseRewriteConfig& config, std::string& error) {
    auto rewrite = std::make_shared<ResponseRewrite>();
    for (const auto& redaction : config.redact) {
        auto pattern = common::Pattern::compile(redaction.pattern, error);
        if (!pattern) {
            error =
                "ai-response-rewrite: invalid pattern " + redaction.pattern + " (" + error + ")";
            return nullptr;
        }
        rewrite->redact.push_back({.pattern = std::move(*pattern), .replace = redaction.replace});
    }
    rewrite->prepend_text = config.prepend_text;
    rewrite->append_text = config.append_text;
    rewrite->max_holdback_chars = config.max_holdback_chars;
    rewrite->max_holdback = config.max_holdback_ms;
    return rewrite;
}

std::optional<std::string> rewriteAnswerBody(const ResponseRewrite& rewrite, ClientApi api,
                                             std::string_view body, std::size_t& redactions) {
    if (detail::nestsDeeperThan(body, detail::kMaxJsonDepth)) return std::nullopt;
    OrderedJson answer = OrderedJson::parse(body, nullptr, /*allow_exceptions=*/false);
    if (!answer.is_object()) return std::nullopt;
    bool known = api == ClientApi::AnthropicMessages ? rewriteAnthropic(rewrite, answer, redactions)
                                                     : rewriteOpenAi(rewrite, answer, redactions);
    if (!known) return std::nullopt;
    return answer.dump(-1, ' ', false, OrderedJson::error_handler_t::replace);
}

}  // namespace aiproxy::ai
