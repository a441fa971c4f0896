#include "aiproxy/ai/usage.hpp"

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "aiproxy/ai/request_model.hpp"
#include "aiproxy/common/json_depth.hpp"
#include "simple_json.hpp"

namespace aiproxy::ai {
namespace {

using Json = nlohmann::json;

Json parseObject(std::string_view text) {
    Json json = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
    return json.is_object() ? std::move(json) : Json();
}

// The top-level "model" and "usage" of a whole response body as a small object: the members
// are found by a structural scan that skips the rest (the choices, most of the bytes) without
// lexing it, and only those two values are parsed. A full parse (DOM, then SAX) of the body was
// a third of a proxied JSON request's instructions. A body that is not one JSON object yields
// nothing; a value that does not parse counts as absent.
Json parseModelAndUsage(std::string_view text) {
    std::optional<std::string_view> values[2];
    if (!scanTopLevelMembers(text, {"model", "usage"}, values)) return Json();
    Json out = Json::object();
    const char* names[] = {"model", "usage"};
    for (std::size_t i = 0; i < 2; ++i) {
        // A hostile upstream's deeply nested value must not reach a recursive destructor.
        if (!values[i] || common::nestsDeeperThan(*values[i], common::kMaxDocumentDepth)) continue;
        Json value = Json::parse(values[i]->begin(), values[i]->end(), nullptr,
                                 /*allow_exceptions=*/false);
        if (!value.is_discarded()) out[names[i]] = std::move(value);
    }
    return out;
}

const Json* member(const Json& object, const char* key, Json::value_t type) {
    if (!object.is_object()) return nullptr;
    const auto it = object.find(key);
    return it != object.end() && it->type() == type ? &*it : nullptr;
}

const Json* object(const Json& parent, const char* key) {
    return member(parent, key, Json::value_t::object);
}

std::optional<std::uint64_t> count(const Json* parent, const char* key) {
    if (parent == nullptr || !parent->is_object()) return std::nullopt;
    const auto it = parent->find(key);
    if (it == parent->end()) return std::nullopt;
    if (it->is_number_unsigned()) return it->get<std::uint64_t>();
    if (it->is_number_integer() && it->get<std::int64_t>() >= 0) {
        return static_cast<std::uint64_t>(it->get<std::int64_t>());
    }
    return std::nullopt;
}

// OpenAI's chat/completions names, else the Responses API's.
std::optional<std::uint64_t> count(const Json* parent, const char* key, const char* other_key) {
    const std::optional<std::uint64_t> value = count(parent, key);
    return value ? value : count(parent, other_key);
}

void readModel(const Json& response, Usage& usage) {
    if (const Json* model = member(response, "model", Json::value_t::string)) {
        usage.model = model->get<std::string>();
    }
}

std::optional<std::uint64_t> sum(std::optional<std::uint64_t> a, std::optional<std::uint64_t> b) {
    if (a && b) return *a + *b;
    return std::nullopt;
}

// OpenAI's usage object (chat, completions, embeddings, Responses API). Every field is
// rewritten: a later usage object replaces an earlier one.
void applyOpenAiUsage(const Json& usage_json, Usage& usage) {
    usage.prompt_tokens = count(&usage_json, "prompt_tokens", "input_tokens");
    usage.completion_tokens = count(&usage_json, "completion_tokens", "output_tokens");
    if (!usage.completion_tokens && usage.prompt_tokens) usage.completion_tokens = 0;
    const Json* prompt_details = object(usage_json, "prompt_tokens_details");
    if (prompt_details == nullptr) prompt_details = object(usage_json, "input_tokens_details");
    usage.cached_prompt_tokens =
        count(prompt_details, "cached_tokens")
            .value_or(count(&usage_json, "prompt_cache_hit_tokens").value_or(0));  // DeepSeek
    const Json* completion_details = object(usage_json, "completion_tokens_details");
    if (completion_details == nullptr) {
        completion_details = object(usage_json, "output_tokens_details");
    }
    usage.reasoning_tokens = count(completion_details, "reasoning_tokens").value_or(0);
    usage.cache_creation_tokens = 0;
    usage.total_tokens = count(&usage_json, "total_tokens");
    if (!usage.total_tokens) usage.total_tokens = sum(usage.prompt_tokens, usage.completion_tokens);
}

// applyOpenAiUsage over the text of a usage object that passed detail::isSimpleJson: the same
// members, read by a scan instead of a parse.
void applyOpenAiUsageText(std::string_view usage_json, Usage& usage) {
    enum Member {
        kPrompt,
        kInput,
        kCompletion,
        kOutput,
        kPromptDetails,
        kInputDetails,
        kCacheHit,
        kCompletionDetails,
        kOutputDetails,
        kTotal,
        kMembers
    };
    std::optional<std::string_view> values[kMembers];
    scanTopLevelMembers(usage_json,
                        {"prompt_tokens", "input_tokens", "completion_tokens", "output_tokens",
                         "prompt_tokens_details", "input_tokens_details", "prompt_cache_hit_tokens",
                         "completion_tokens_details", "output_tokens_details", "total_tokens"},
                        values);
    auto countOf = [](const std::optional<std::string_view>& value) {
        return value ? detail::simpleCount(*value) : std::nullopt;
    };
    auto either = [&countOf](const std::optional<std::string_view>& value,
                             const std::optional<std::string_view>& other) {
        auto first = countOf(value);
        return first ? first : countOf(other);
    };
    // The member `key` of whichever details object exists (the first name before the second).
    auto detailCount = [&countOf](const std::optional<std::string_view>& object,
                                  const std::optional<std::string_view>& other,
                                  std::string_view key) -> std::optional<std::uint64_t> {
        const std::optional<std::string_view>* chosen = nullptr;
        if (object && detail::simpleIsObject(*object)) {
            chosen = &object;
        } else if (other && detail::simpleIsObject(*other)) {
            chosen = &other;
        }
        if (chosen == nullptr) return std::nullopt;
        std::optional<std::string_view> value;
        scanTopLevelMembers(**chosen, {key}, &value);
        return countOf(value);
    };
    usage.prompt_tokens = either(values[kPrompt], values[kInput]);
    usage.completion_tokens = either(values[kCompletion], values[kOutput]);
    if (!usage.completion_tokens && usage.prompt_tokens) usage.completion_tokens = 0;
    usage.cached_prompt_tokens =
        detailCount(values[kPromptDetails], values[kInputDetails], "cached_tokens")
            .value_or(countOf(values[kCacheHit]).value_or(0));  // DeepSeek
    usage.reasoning_tokens =
        detailCount(values[kCompletionDetails], values[kOutputDetails], "reasoning_tokens")
            .value_or(0);
    usage.cache_creation_tokens = 0;
    usage.total_tokens = countOf(values[kTotal]);
    if (!usage.total_tokens) usage.total_tokens = sum(usage.prompt_tokens, usage.completion_tokens);
}

// Anthropic reports the prompt in three disjoint parts (see the header for the normal form);
// message_delta may repeat some of them. input_tokens is kept by the caller because Usage only
// holds the sum.
void applyAnthropicUsage(const Json& usage_json, std::optional<std::uint64_t>& input_tokens,
                         Usage& usage) {
    if (auto value = count(&usage_json, "input_tokens")) input_tokens = value;
    if (auto value = count(&usage_json, "cache_read_input_tokens")) {
        usage.cached_prompt_tokens = *value;
    }
    if (auto value = count(&usage_json, "cache_creation_input_tokens")) {
        usage.cache_creation_tokens = *value;
    }
    usage.prompt_tokens =
        sum(input_tokens, usage.cached_prompt_tokens + usage.cache_creation_tokens);
    usage.total_tokens = sum(usage.prompt_tokens, usage.completion_tokens);
}

// Whether a "usage" key holds an object: the prefilter that spares content chunks a parse.
// `"usage"` cannot occur inside a JSON string (its quotes would be escaped), so a match is a
// key or a whole string value; either way a false positive only costs one parse.
// Bytes of generated text in one stream event: the string values of the fields that carry it
// (OpenAI's delta "content" and "reasoning_content", Anthropic's "text" and "thinking" deltas,
// the Responses API's "delta"), escapes counted as written. A scan, not a parse: content chunks
// are the bulk of a stream.
std::uint64_t textBytes(std::string_view data) {
    static constexpr std::string_view kFields[] = {
        "\"content\":", "\"reasoning_content\":", "\"text\":", "\"thinking\":", "\"delta\":"};
    std::uint64_t total = 0;
    for (auto field : kFields) {
        for (auto at = data.find(field); at != std::string_view::npos;
             at = data.find(field, at + 1)) {
            std::size_t i = at + field.size();
            while (i < data.size() && data[i] == ' ')
                ++i;
            if (i >= data.size() || data[i] != '"') continue;
            std::size_t end = ++i;
            while (end < data.size() && data[end] != '"') {
                end += data[end] == '\\' ? 2 : 1;
            }
            total += std::min(end, data.size()) - i;
        }
    }
    return total;
}

bool mayCarryUsage(std::string_view data) {
    constexpr std::string_view kKey = "\"usage\"";
    const auto isSpace = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
    for (std::size_t at = data.find(kKey); at != std::string_view::npos;
         at = data.find(kKey, at + 1)) {
        std::size_t i = at + kKey.size();
        while (i < data.size() && isSpace(data[i]))
            ++i;
        if (i >= data.size() || data[i] != ':') continue;
        ++i;
        while (i < data.size() && isSpace(data[i]))
            ++i;
        if (i < data.size() && data[i] == '{') return true;
    }
    return false;
}

}  // namespace

Usage usageFromOpenAiBody(std::string_view body) {
    Usage usage;
    // The common case without a parse: a model string and a usage object in the simple subset
    // (see simple_json.hpp). Anything else takes the parse below, which decides as before.
    std::optional<std::string_view> values[2];
    if (!scanTopLevelMembers(body, {"model", "usage"}, values)) return usage;
    const auto& [model, usage_json] = values;
    // Only a string names the model; one with escapes or beyond ASCII is parsed. (A value may be
    // empty: the scan does not validate, `{"model":}` has one.)
    bool simple_model =
        !model || model->empty() || model->front() != '"' || detail::isSimpleJson(*model);
    bool simple_usage =
        !usage_json || !detail::simpleIsObject(*usage_json) || detail::isSimpleJson(*usage_json);
    if (simple_model && simple_usage) {
        if (model) {
            if (auto name = detail::simpleString(*model)) usage.model = *name;
        }
        if (usage_json && detail::simpleIsObject(*usage_json)) {
            applyOpenAiUsageText(*usage_json, usage);
        }
        return usage;
    }
    const Json response = parseModelAndUsage(body);
    readModel(response, usage);
    if (const Json* parsed = object(response, "usage")) applyOpenAiUsage(*parsed, usage);
    return usage;
}

Usage usageFromAnthropicBody(std::string_view body) {
    Usage usage;
    const Json response = parseModelAndUsage(body);
    readModel(response, usage);
    if (const Json* usage_json = object(response, "usage")) {
        usage.completion_tokens = count(usage_json, "output_tokens");
        std::optional<std::uint64_t> input_tokens;
        applyAnthropicUsage(*usage_json, input_tokens, usage);
    }
    return usage;
}

StreamEventKind StreamUsageAccumulator::add(const SseEvent& event) {
    if (count_text_) result_.text_bytes += textBytes(event.data);
    if (event.event.empty() || event.event == "message") return addOpenAiChunk(event.data);
    return addNamedEvent(event.event, event.data);
}

StreamEventKind StreamUsageAccumulator::addOpenAiChunk(std::string_view data) {
    if (data == "[DONE]") {
        result_.done = true;
        return StreamEventKind::Done;
    }
    ++result_.events;
    Usage& usage = result_.usage;
    if (!mayCarryUsage(data)) {
        if (usage.model.empty()) {
            if (auto model = findRequestModel(data)) usage.model = *model;
        }
        return StreamEventKind::Other;
    }
    if (detail::isSimpleJson(data)) return addSimpleUsageChunk(data);
    const Json chunk = parseObject(data);
    const Json* usage_json = object(chunk, "usage");
    if (usage_json == nullptr) {
        // A Responses API server that leaves out the `event:` lines: the type is in the data.
        const Json* type = member(chunk, "type", Json::value_t::string);
        if (type != nullptr && type->get_ref<const std::string&>().starts_with("response.")) {
            --result_.events;
            return addNamedEvent(type->get_ref<const std::string&>(), data);
        }
        return StreamEventKind::Other;
    }
    readModel(chunk, usage);
    // An unreadable usage object must not erase counts an earlier chunk gave.
    Usage reported = usage;
    applyOpenAiUsage(*usage_json, reported);
    if (reported.prompt_tokens || reported.completion_tokens) {
        usage = std::move(reported);
        result_.usage_reported = true;
    }
    const auto choices = chunk.find("choices");
    const bool no_choices = choices == chunk.end() || (choices->is_array() && choices->empty());
    return no_choices ? StreamEventKind::UsageOnly : StreamEventKind::Other;
}

// addOpenAiChunk's parse, for a chunk that passed detail::isSimpleJson: read by a scan.
StreamEventKind StreamUsageAccumulator::addSimpleUsageChunk(std::string_view data) {
    enum Member { kUsage, kType, kModel, kChoices, kMembers };
    std::optional<std::string_view> values[kMembers];
    if (!detail::simpleIsObject(data) ||
        !scanTopLevelMembers(data, {"usage", "type", "model", "choices"}, values)) {
        return StreamEventKind::Other;
    }
    if (!values[kUsage] || !detail::simpleIsObject(*values[kUsage])) {
        // A Responses API server that leaves out the `event:` lines: the type is in the data.
        auto type = values[kType] ? detail::simpleString(*values[kType]) : std::nullopt;
        if (type && type->starts_with("response.")) {
            --result_.events;
            return addNamedEvent(*type, data);
        }
        return StreamEventKind::Other;
    }
    Usage& usage = result_.usage;
    if (values[kModel]) {
        if (auto model = detail::simpleString(*values[kModel])) usage.model = *model;
    }
    // An unreadable usage object must not erase counts an earlier chunk gave.
    Usage reported = usage;
    applyOpenAiUsageText(*values[kUsage], reported);
    if (reported.prompt_tokens || reported.completion_tokens) {
        usage = std::move(reported);
        result_.usage_reported = true;
    }
    const auto& choices = values[kChoices];
    const bool no_choices = !choices || detail::simpleIsEmptyArray(*choices);
    return no_choices ? StreamEventKind::UsageOnly : StreamEventKind::Other;
}

StreamEventKind StreamUsageAccumulator::addNamedEvent(std::string_view type,
                                                      std::string_view data) {
    Usage& usage = result_.usage;
    if (type == "message_stop") {
        result_.done = true;
        return StreamEventKind::Done;
    }
    ++result_.events;
    if (type == "message_start") {
        const Json start = parseObject(data);
        const Json* message = object(start, "message");
        if (message == nullptr) return StreamEventKind::Other;
        readModel(*message, usage);
        // Its output_tokens is a placeholder; the real count comes with message_delta.
        if (const Json* usage_json = object(*message, "usage")) {
            applyAnthropicUsage(*usage_json, anthropic_input_tokens_, usage);
        }
    } else if (type == "message_delta") {
        const Json delta = parseObject(data);
        const Json* usage_json = object(delta, "usage");
        if (usage_json == nullptr) return StreamEventKind::Other;
        if (auto output = count(usage_json, "output_tokens")) {
            usage.completion_tokens = output;
            result_.usage_reported = true;
        }
        applyAnthropicUsage(*usage_json, anthropic_input_tokens_, usage);
    } else if (type == "response.completed" || type == "response.incomplete") {
        // The OpenAI Responses API: one final event holds the whole response, usage included.
        const Json completed = parseObject(data);
        const Json* response = object(completed, "response");
        if (response == nullptr) return StreamEventKind::Other;
        readModel(*response, usage);
        if (const Json* usage_json = object(*response, "usage")) {
            applyOpenAiUsage(*usage_json, usage);
            result_.usage_reported = true;
        }
        result_.done = true;
        return StreamEventKind::Done;
    }
    return StreamEventKind::Other;
}

}  // namespace aiproxy::ai
