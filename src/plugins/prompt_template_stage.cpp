// ai-prompt-template as a stage (APISIX): the client sends {"template_name": "...", <vars>};
// the named template, its {{var}} placeholders filled from the body, becomes the request body.

#include "prompt_body.hpp"
#include "stage_factories.hpp"

namespace aiproxy::plugins {
namespace {

using Json = nlohmann::json;

// A placeholder's value: a string as is (serialising the body escapes it), numbers, booleans
// and structures as their JSON text, a missing one as nothing. "a.b" reads a nested member.
std::string placeholderValue(const Json& vars, std::string_view name) {
    const Json* value = &vars;
    while (!name.empty()) {
        auto dot = name.find('.');
        auto key = name.substr(0, dot);
        if (!value->is_object()) return {};
        auto found = value->find(std::string(key));
        if (found == value->end()) return {};
        value = &*found;
        name = dot == std::string_view::npos ? std::string_view{} : name.substr(dot + 1);
    }
    if (value->is_string()) return value->get<std::string>();
    if (value->is_null()) return {};
    return value->dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string fill(std::string_view text, const Json& vars) {
    std::string out;
    out.reserve(text.size());
    while (true) {
        auto open = text.find("{{");
        auto close = open == std::string_view::npos ? open : text.find("}}", open + 2);
        if (close == std::string_view::npos) break;
        out.append(text.substr(0, open));
        auto name = text.substr(open + 2, close - open - 2);
        while (!name.empty() && name.front() == ' ')
            name.remove_prefix(1);
        while (!name.empty() && name.back() == ' ')
            name.remove_suffix(1);
        out += placeholderValue(vars, name);
        text.remove_prefix(close + 2);
    }
    out.append(text);
    return out;
}

void fillStrings(Json& node, const Json& vars) {
    if (node.is_string()) {
        const auto& text = node.get_ref<const std::string&>();
        if (text.find("{{") != std::string::npos) node = fill(text, vars);
    } else if (node.is_structured()) {
        for (auto& child : node)
            fillStrings(child, vars);
    }
}

class PromptTemplateStage final : public http::Stage {
public:
    explicit PromptTemplateStage(const StageBuild& build) : refusals_(build, "ai-prompt-template") {
        for (const auto& entry : build.route.ai_prompt_template->templates) {
            templates_.emplace_back(entry.name, Json::parse(entry.template_json));
        }
    }

    http::awaitable<http::StageVerdict> handle(http::RequestContext& context) override {
        const Json* body = context.request.jsonBody();
        if (!body || !body->is_object()) {
            co_return refusals_.refuse(context, 400, "could not parse JSON request body");
        }
        auto name = body->find("template_name");
        if (name == body->end() || !name->is_string()) {
            co_return refusals_.refuse(context, 400, "template name is missing in request.");
        }
        const auto& wanted = name->get_ref<const std::string&>();
        const Json* chosen = nullptr;
        for (const auto& [template_name, value] : templates_) {
            if (template_name == wanted) chosen = &value;
        }
        if (!chosen) {
            co_return refusals_.refuse(context, 400, "template: " + wanted + " not configured.");
        }
        Json rendered = *chosen;
        fillStrings(rendered, *body);
        // A client that asks to stream still streams: the template has no say in transport.
        for (const char* key : {"stream", "stream_options"}) {
            if (auto found = body->find(key); found != body->end() && !rendered.contains(key)) {
                rendered[key] = *found;
            }
        }
        auto api = promptApiOf(context.api_path);
        if (api != PromptApi::OpenAiChat && rendered.contains("messages")) {
            // Anthropic and Responses bodies keep system messages apart; move the template's.
            Json messages = std::move(rendered["messages"]);
            rendered.erase("messages");
            std::vector<config::PromptMessage> none;
            std::vector<config::PromptMessage> in_order;
            for (const auto& message : messages) {
                in_order.push_back(
                    {.role = message.value("role", ""), .content = message.value("content", "")});
            }
            std::string problem;
            decorate(rendered, api, in_order, none, problem);
        }
        context.request.replaceBody(serializeBody(rendered));
        co_return http::StageVerdict::Continue;
    }

private:
    PromptRefusals refusals_;
    std::vector<std::pair<std::string, Json>> templates_;
};

}  // namespace

std::unique_ptr<http::Stage> makePromptTemplateStage(const StageBuild& build) {
    if (!build.route.ai_prompt_template) return nullptr;
    return std::make_unique<PromptTemplateStage>(build);
}

}  // namespace aiproxy::plugins
