// The prompt plugins of a route (APISIX 3.x field names, defaults and checks):
// ai-prompt-template, ai-prompt-decorator, ai-request-rewrite, ai-prompt-guard, and our
// ai-response-rewrite. Patterns are compiled here, so a bad one fails the load, never a request.

#include <limits>

#include "aiproxy/common/pattern.hpp"
#include "schema.hpp"

namespace aiproxy::config::detail {
namespace {

// A string of at least one character.
std::optional<std::string> readNonEmpty(const Value& value) {
    auto text = value.string();
    if (!text) return std::nullopt;
    if (text->empty()) {
        value.error("must not be empty");
        return std::nullopt;
    }
    return text;
}

// {role: system|user|assistant, content: "..."}, both required.
std::optional<PromptMessage> readPromptMessage(const Value& value) {
    PromptMessage message;
    ObjectReader reader;
    reader
        .on("role",
            [&](const Value& v) {
                auto role = v.string();
                if (!role) return;
                if (*role != "system" && *role != "user" && *role != "assistant") {
                    v.error("must be one of: system, user, assistant");
                    return;
                }
                message.role = *role;
            })
        .on("content", [&](const Value& v) {
            if (auto content = readNonEmpty(v)) message.content = *content;
        });
    if (!reader.read(value)) return std::nullopt;
    bool complete = true;
    for (const char* key : {"role", "content"}) {
        if (!reader.seen(key)) {
            value.sink().error(memberPath(value.path(), key), "required");
            complete = false;
        }
    }
    if (!complete || message.role.empty() || message.content.empty()) return std::nullopt;
    return message;
}

void readPromptMessages(const Value& value, bool require_one, std::vector<PromptMessage>& out) {
    std::vector<PromptMessage> messages;
    bool is_list = value.forEachElement([&](const Value& element) {
        if (auto message = readPromptMessage(element)) messages.push_back(std::move(*message));
    });
    if (!is_list) return;
    if (require_one && value.json().empty()) value.error("must have at least 1 item");
    out = std::move(messages);
}

// A list of patterns, each compiled: "invalid deny_pattern: (x: missing closing parenthesis".
void readPatterns(const Value& value, std::string_view what, std::vector<std::string>& out) {
    std::vector<std::string> patterns;
    bool is_list = value.forEachElement([&](const Value& element) {
        auto source = element.string();
        if (!source) return;
        std::string problem;
        if (!common::Pattern::compile(*source, problem)) {
            element.error("invalid " + std::string(what) + ": " + *source + " (" + problem + ")");
            return;
        }
        patterns.push_back(std::move(*source));
    });
    if (is_list) out = std::move(patterns);
}

void readBool(const Value& value, bool& out) {
    if (auto flag = value.boolean()) out = *flag;
}

// APISIX's buffering bound; this gateway's own body limit (server.max_body_bytes) applies.
constexpr const char* kMaxReqBodySize = "max_req_body_size";

}  // namespace

void readAiPromptTemplate(const Value& value, AiPromptTemplateConfig& config) {
    ObjectReader reader;
    reader.ignore(kMaxReqBodySize).on("templates", [&](const Value& v) {
        std::vector<PromptTemplate> templates;
        bool is_list = v.forEachElement([&](const Value& element) {
            PromptTemplate entry;
            ObjectReader entry_reader;
            entry_reader
                .on("name",
                    [&](const Value& n) {
                        if (auto name = readNonEmpty(n)) entry.name = *name;
                    })
                .on("template", [&](const Value& t) {
                    ObjectReader template_reader;
                    template_reader.on("model", [&](const Value& m) { readNonEmpty(m); })
                        .on("messages", [&](const Value& m) {
                            std::vector<PromptMessage> messages;
                            readPromptMessages(m, true, messages);
                        });
                    // Other members (max_tokens, temperature ...) go into the body as written.
                    if (template_reader.read(t, ObjectReader::Unknown::Warning)) {
                        entry.template_json = t.json().dump();
                    }
                });
            if (!entry_reader.read(element)) return;
            for (const char* key : {"name", "template"}) {
                if (!entry_reader.seen(key)) {
                    element.sink().error(memberPath(element.path(), key), "required");
                }
            }
            for (const auto& other : templates) {
                if (!entry.name.empty() && other.name == entry.name) {
                    element.sink().error(memberPath(element.path(), "name"),
                                         "duplicate template name \"" + entry.name + "\"");
                }
            }
            templates.push_back(std::move(entry));
        });
        if (!is_list) return;
        if (v.json().empty()) v.error("must have at least 1 item");
        config.templates = std::move(templates);
    });
    if (!reader.read(value)) return;
    if (!reader.seen("templates")) {
        value.sink().error(memberPath(value.path(), "templates"), "required");
    }
}

void readAiPromptDecorator(const Value& value, AiPromptDecoratorConfig& config) {
    ObjectReader reader;
    reader.ignore(kMaxReqBodySize)
        .on("prepend", [&](const Value& v) { readPromptMessages(v, false, config.prepend); })
        .on("append", [&](const Value& v) { readPromptMessages(v, false, config.append); });
    if (!reader.read(value)) return;
    if (!reader.seen("prepend") && !reader.seen("append")) {
        value.error("needs prepend or append");
    }
}

void readAiRequestRewrite(const Value& value, AiRequestRewriteConfig& config) {
    // prompt, timeout and ssl_verify are this plugin's; the rest describe the LLM as an
    // ai-proxy-multi instance does, and are read as one.
    Json instance = Json::object();
    bool ssl_verify = true;
    ObjectReader reader;
    reader.ignore(kMaxReqBodySize)
        .ignore("keepalive")
        .ignore("keepalive_timeout")
        .ignore("keepalive_pool")
        .on("prompt",
            [&](const Value& v) {
                if (auto prompt = readNonEmpty(v)) config.prompt = *prompt;
            })
        .on("timeout",
            [&](const Value& v) {
                if (auto ms = v.integer(1, 60'000)) config.timeout = Milliseconds{*ms};
            })
        .on("ssl_verify", [&](const Value& v) { readBool(v, ssl_verify); });
    for (const char* key : {"provider", "auth", "options", "override"}) {
        reader.on(key, [&instance, key](const Value& v) { instance[key] = v.json(); });
    }
    if (!reader.read(value)) return;
    for (const char* key : {"prompt", "provider", "auth"}) {
        if (!reader.seen(key)) value.sink().error(memberPath(value.path(), key), "required");
    }
    if (!reader.seen("provider")) return;
    instance["name"] = "ai-request-rewrite";
    readInstance(Value{instance, value.path(), value.sink()}, config.llm);
    config.llm.tls.verify = ssl_verify;
}

void readAiPromptGuard(const Value& value, AiPromptGuardConfig& config) {
    ObjectReader{}
        .ignore(kMaxReqBodySize)
        .on("match_all_roles", [&](const Value& v) { readBool(v, config.match_all_roles); })
        .on("match_all_conversation_history",
            [&](const Value& v) { readBool(v, config.match_all_conversation_history); })
        .on("allow_patterns",
            [&](const Value& v) { readPatterns(v, "allow_pattern", config.allow_patterns); })
        .on("deny_patterns",
            [&](const Value& v) { readPatterns(v, "deny_pattern", config.deny_patterns); })
        .read(value);
}

void readAiResponseRewrite(const Value& value, AiResponseRewriteConfig& config) {
    ObjectReader reader;
    reader
        .on("redact",
            [&](const Value& v) {
                std::vector<TextRedaction> redactions;
                bool is_list = v.forEachElement([&](const Value& element) {
                    TextRedaction redaction;
                    ObjectReader entry;
                    entry
                        .on("pattern",
                            [&](const Value& p) {
                                auto source = readNonEmpty(p);
                                if (!source) return;
                                std::string problem;
                                if (!common::Pattern::compile(*source, problem)) {
                                    p.error("invalid pattern: " + *source + " (" + problem + ")");
                                    return;
                                }
                                redaction.pattern = *source;
                            })
                        .on("replace", [&](const Value& r) {
                            if (auto text = r.string()) redaction.replace = *text;
                        });
                    if (!entry.read(element)) return;
                    if (!entry.seen("pattern")) {
                        element.sink().error(memberPath(element.path(), "pattern"), "required");
                    }
                    if (!redaction.pattern.empty()) redactions.push_back(std::move(redaction));
                });
                if (is_list) config.redact = std::move(redactions);
            })
        .on("prepend_text",
            [&](const Value& v) {
                if (auto text = v.string()) config.prepend_text = *text;
            })
        .on("append_text",
            [&](const Value& v) {
                if (auto text = v.string()) config.append_text = *text;
            })
        .on("max_holdback_chars",
            [&](const Value& v) {
                if (auto chars = v.integer(0, 65'536)) {
                    config.max_holdback_chars = static_cast<std::size_t>(*chars);
                }
            })
        .on("max_holdback_ms", [&](const Value& v) {
            if (auto ms = v.integer(0, 10'000)) config.max_holdback_ms = Milliseconds{*ms};
        });
    if (!reader.read(value)) return;
    if (config.redact.empty() && config.prepend_text.empty() && config.append_text.empty() &&
        !reader.seen("redact")) {
        value.error("needs redact, prepend_text or append_text");
    }
}

}  // namespace aiproxy::config::detail
