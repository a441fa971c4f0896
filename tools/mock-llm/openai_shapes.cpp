#include "openai_shapes.hpp"

#include <bit>
#include <cmath>

#include <nlohmann/json.hpp>

namespace aiproxy::mock {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;  // keeps OpenAI's field order, which makes replies easy to read

constexpr std::size_t kEchoWords = 12;
constexpr std::size_t kEchoWordBytes = 40;
constexpr int kDefaultDimensions = 8;
constexpr int kMaxDimensions = 4096;
constexpr std::int64_t kModelsCreated = 1700000000;

// Request text is arbitrary bytes; replacing invalid UTF-8 keeps dump() from throwing.
template <typename Json>
std::string dump(const Json& value) {
    return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

bool isSpace(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::vector<std::string_view> splitWords(std::string_view text) {
    std::vector<std::string_view> words;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && isSpace(text[i]))
            ++i;
        std::size_t start = i;
        while (i < text.size() && !isSpace(text[i]))
            ++i;
        if (i > start) words.push_back(text.substr(start, i - start));
    }
    return words;
}

// Cuts at most `limit` bytes without splitting a UTF-8 sequence.
std::string_view utf8Prefix(std::string_view text, std::size_t limit) {
    if (text.size() <= limit) return text;
    std::size_t end = limit;
    while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80)
        --end;
    return text.substr(0, end);
}

std::string invalidRequest(std::string_view message, std::string_view code) {
    return errorJson(message, "invalid_request_error", code);
}

std::string invalidJsonError() {
    return invalidRequest(
        "We could not parse the JSON body of your request. The body must be a JSON object.",
        "invalid_json");
}

std::string invalidTypeError(std::string_view param, std::string_view expected) {
    return invalidRequest(
        "Invalid type for '" + std::string(param) + "': expected " + std::string(expected) + ".",
        "invalid_type");
}

// Text of a message's content: a string, or the text parts of a content array.
std::string messageText(const json& message) {
    auto content = message.find("content");
    if (content == message.end()) return {};
    if (content->is_string()) return content->get<std::string>();
    std::string text;
    if (content->is_array()) {
        for (const json& part : *content) {
            if (!part.is_object()) continue;
            auto part_text = part.find("text");
            if (part_text != part.end() && part_text->is_string()) {
                if (!text.empty()) text += ' ';
                text += part_text->get_ref<const std::string&>();
            }
        }
    }
    return text;
}

std::string modelOrDefault(const json& doc, std::string_view backend_name, std::string& error) {
    auto model = doc.find("model");
    if (model == doc.end() || model->is_null()) return "mock-" + std::string(backend_name);
    if (!model->is_string()) {
        error = invalidTypeError("model", "a string");
        return {};
    }
    if (model->get_ref<const std::string&>().empty()) return "mock-" + std::string(backend_name);
    return model->get<std::string>();
}

std::uint64_t fnv1a(std::string_view text) {
    std::uint64_t hash = 14695981039346656037ULL;
    for (char c : text) {
        hash ^= static_cast<unsigned char>(c);
        hash *= 1099511628211ULL;
    }
    return hash;
}

std::uint64_t splitMix64(std::uint64_t& state) {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

// A unit vector derived from the text alone, rounded to 6 decimals so the JSON stays short.
std::vector<double> embed(std::string_view text, int dimensions) {
    std::uint64_t state = fnv1a(text);
    std::vector<double> raw(static_cast<std::size_t>(dimensions));
    double norm = 0;
    for (double& value : raw) {
        value = static_cast<double>(splitMix64(state) >> 11) * 0x1.0p-53 * 2.0 - 1.0;
        norm += value * value;
    }
    norm = std::sqrt(norm);
    for (double& value : raw)
        value = norm > 0 ? std::round(value / norm * 1e6) / 1e6 : 0;
    return raw;
}

// encoding_format "base64": little-endian float32 bytes, as OpenAI (and its SDKs) expect.
std::string base64Floats(const std::vector<double>& vector) {
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string bytes;
    bytes.reserve(vector.size() * 4);
    for (double value : vector) {
        auto bits = std::bit_cast<std::uint32_t>(static_cast<float>(value));
        for (int shift = 0; shift < 32; shift += 8)
            bytes.push_back(static_cast<char>(bits >> shift));
    }
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    for (std::size_t i = 0; i < bytes.size(); i += 3) {
        std::uint32_t group = static_cast<unsigned char>(bytes[i]) << 16;
        if (i + 1 < bytes.size()) group |= static_cast<unsigned char>(bytes[i + 1]) << 8;
        if (i + 2 < bytes.size()) group |= static_cast<unsigned char>(bytes[i + 2]);
        out.push_back(kAlphabet[(group >> 18) & 63]);
        out.push_back(kAlphabet[(group >> 12) & 63]);
        out.push_back(i + 1 < bytes.size() ? kAlphabet[(group >> 6) & 63] : '=');
        out.push_back(i + 2 < bytes.size() ? kAlphabet[group & 63] : '=');
    }
    return out;
}

struct EmbeddingInput {
    std::string text;  // what the vector is derived from
    std::int64_t tokens = 0;
};

bool isTokenArray(const json& value) {
    if (!value.is_array() || value.empty()) return false;
    for (const json& item : value) {
        if (!item.is_number_integer()) return false;
    }
    return true;
}

// Accepts what OpenAI accepts: a string, strings, a token array, or token arrays.
bool readEmbeddingInputs(const json& input, std::vector<EmbeddingInput>& out) {
    if (input.is_string()) {
        const auto& text = input.get_ref<const std::string&>();
        out.push_back({text, countWords(text)});
        return true;
    }
    if (isTokenArray(input)) {
        out.push_back({dump(input), static_cast<std::int64_t>(input.size())});
        return true;
    }
    if (!input.is_array() || input.empty()) return false;
    for (const json& item : input) {
        if (item.is_string()) {
            const auto& text = item.get_ref<const std::string&>();
            out.push_back({text, countWords(text)});
        } else if (isTokenArray(item)) {
            out.push_back({dump(item), static_cast<std::int64_t>(item.size())});
        } else {
            return false;
        }
    }
    return true;
}

ordered_json chunkBase(const ChatCompletion& completion) {
    return ordered_json{{"id", completion.id},
                        {"object", "chat.completion.chunk"},
                        {"created", completion.created},
                        {"model", completion.model},
                        {"system_fingerprint", "fp_mock"}};
}

std::string event(const ordered_json& chunk) {
    return "data: " + dump(chunk) + "\n\n";
}

std::int64_t completionTokens(const ChatCompletion& completion) {
    return static_cast<std::int64_t>(completion.deltas.size());
}

ordered_json usageJson(const ChatCompletion& completion) {
    std::int64_t completion_tokens = completionTokens(completion);
    return ordered_json{{"prompt_tokens", completion.prompt_tokens},
                        {"completion_tokens", completion_tokens},
                        {"total_tokens", completion.prompt_tokens + completion_tokens}};
}

}  // namespace

std::string errorJson(std::string_view message, std::string_view type, std::string_view code) {
    ordered_json body{
        {"error", ordered_json{{"message", message}, {"type", type}, {"code", code}}}};
    return dump(body);
}

std::string errorJsonForStatus(int status, std::string_view message) {
    switch (status) {
        case 400:
            return errorJson(message, "invalid_request_error", "bad_request");
        case 401:
            return errorJson(message, "authentication_error", "invalid_api_key");
        case 403:
            return errorJson(message, "permission_error", "permission_denied");
        case 404:
            return errorJson(message, "invalid_request_error", "not_found");
        case 408:
            return errorJson(message, "timeout_error", "request_timeout");
        case 413:
            return errorJson(message, "invalid_request_error", "request_too_large");
        case 429:
            return errorJson(message, "rate_limit_error", "rate_limit_exceeded");
        case 500:
            return errorJson(message, "server_error", "internal_error");
        case 502:
            return errorJson(message, "server_error", "bad_gateway");
        case 503:
            return errorJson(message, "server_error", "service_unavailable");
        case 504:
            return errorJson(message, "server_error", "gateway_timeout");
        default:
            break;
    }
    std::string code = "http_" + std::to_string(status);
    return errorJson(message, status >= 500 ? "server_error" : "invalid_request_error", code);
}

std::int64_t countWords(std::string_view text) {
    std::int64_t words = 0;
    bool in_word = false;
    for (char c : text) {
        bool space = isSpace(c);
        if (!space && !in_word) ++words;
        in_word = !space;
    }
    return words;
}

ChatRequest parseChatRequest(std::string_view body, std::string_view backend_name) {
    ChatRequest request;
    json doc = json::parse(body, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
        request.error = invalidJsonError();
        return request;
    }
    auto messages = doc.find("messages");
    if (messages == doc.end() || messages->is_null()) {
        request.error =
            invalidRequest("Missing required parameter: 'messages'.", "missing_required_parameter");
        return request;
    }
    if (!messages->is_array()) {
        request.error = invalidTypeError("messages", "an array");
        return request;
    }
    if (messages->empty()) {
        request.error =
            invalidRequest("'messages' must contain at least one message.", "invalid_value");
        return request;
    }
    for (const json& message : *messages) {
        if (!message.is_object()) {
            request.error = invalidTypeError("messages[]", "an object");
            return request;
        }
        std::string text = messageText(message);
        request.prompt_tokens += countWords(text);
        auto role = message.find("role");
        if (role != message.end() && role->is_string() && *role == "user") {
            request.last_user_text = std::move(text);
        }
    }
    request.model = modelOrDefault(doc, backend_name, request.error);
    if (!request.error.empty()) return request;
    if (auto stream = doc.find("stream"); stream != doc.end() && !stream->is_null()) {
        if (!stream->is_boolean()) {
            request.error = invalidTypeError("stream", "a boolean");
            return request;
        }
        request.stream = stream->get<bool>();
    }
    if (auto options = doc.find("stream_options"); options != doc.end() && options->is_object()) {
        auto include_usage = options->find("include_usage");
        request.include_usage = include_usage != options->end() && include_usage->is_boolean() &&
                                include_usage->get<bool>();
    }
    return request;
}

ChatCompletion makeChatCompletion(const ChatRequest& request, std::string_view backend_name,
                                  std::string id, std::int64_t created) {
    std::string name(backend_name);
    std::string text = "[" + name + "] Hello from " + name + ".";
    std::vector<std::string_view> echo = splitWords(request.last_user_text);
    if (!echo.empty()) {
        text += " You said:";
        for (std::size_t i = 0; i < echo.size() && i < kEchoWords; ++i) {
            text += ' ';
            text += utf8Prefix(echo[i], kEchoWordBytes);
        }
        if (echo.size() > kEchoWords) text += " ...";
    }
    ChatCompletion completion{.id = std::move(id),
                              .created = created,
                              .model = request.model,
                              .prompt_tokens = request.prompt_tokens,
                              .include_usage = request.include_usage};
    for (std::string_view word : splitWords(text)) {
        completion.deltas.push_back(completion.deltas.empty() ? std::string(word)
                                                              : " " + std::string(word));
    }
    return completion;
}

std::string chatCompletionJson(const ChatCompletion& completion) {
    std::string content;
    for (const std::string& delta : completion.deltas)
        content += delta;
    ordered_json message{{"role", "assistant"}, {"content", std::move(content)}};
    ordered_json choice{{"index", 0},
                        {"message", std::move(message)},
                        {"logprobs", nullptr},
                        {"finish_reason", "stop"}};
    ordered_json body{{"id", completion.id},
                      {"object", "chat.completion"},
                      {"created", completion.created},
                      {"model", completion.model},
                      {"choices", ordered_json::array({std::move(choice)})},
                      {"usage", usageJson(completion)},
                      {"system_fingerprint", "fp_mock"}};
    return dump(body);
}

std::vector<std::string> chatCompletionEvents(const ChatCompletion& completion) {
    std::vector<std::string> events;
    events.reserve(completion.deltas.size() + 4);
    auto choiceChunk = [&](ordered_json delta, const char* finish_reason) {
        ordered_json chunk = chunkBase(completion);
        ordered_json choice{{"index", 0}, {"delta", std::move(delta)}, {"logprobs", nullptr}};
        choice["finish_reason"] = finish_reason ? ordered_json(finish_reason) : ordered_json();
        chunk["choices"] = ordered_json::array({std::move(choice)});
        // With include_usage OpenAI sends "usage": null on every chunk but the last.
        if (completion.include_usage) chunk["usage"] = nullptr;
        return event(chunk);
    };
    events.push_back(choiceChunk({{"role", "assistant"}, {"content", ""}}, nullptr));
    for (const std::string& delta : completion.deltas) {
        events.push_back(choiceChunk({{"content", delta}}, nullptr));
    }
    events.push_back(choiceChunk(ordered_json::object(), "stop"));
    if (completion.include_usage) {
        ordered_json chunk = chunkBase(completion);
        chunk["choices"] = ordered_json::array();
        chunk["usage"] = usageJson(completion);
        events.push_back(event(chunk));
    }
    events.emplace_back("data: [DONE]\n\n");
    return events;
}

JsonReply embeddingsReply(std::string_view body, std::string_view backend_name) {
    json doc = json::parse(body, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) return {400, invalidJsonError()};
    auto input = doc.find("input");
    if (input == doc.end() || input->is_null()) {
        return {400, invalidRequest("Missing required parameter: 'input'.",
                                    "missing_required_parameter")};
    }
    std::vector<EmbeddingInput> inputs;
    if (!readEmbeddingInputs(*input, inputs)) {
        return {400, invalidTypeError("input", "a string, an array of strings or token arrays")};
    }
    int dimensions = kDefaultDimensions;
    if (auto dims = doc.find("dimensions"); dims != doc.end() && !dims->is_null()) {
        if (!dims->is_number_integer() || *dims < 1 || *dims > kMaxDimensions) {
            return {400, invalidRequest("'dimensions' must be an integer between 1 and 4096.",
                                        "invalid_value")};
        }
        dimensions = dims->get<int>();
    }
    bool base64 = false;
    if (auto format = doc.find("encoding_format"); format != doc.end() && !format->is_null()) {
        if (*format != "float" && *format != "base64") {
            return {400, invalidRequest("'encoding_format' must be 'float' or 'base64'.",
                                        "invalid_value")};
        }
        base64 = *format == "base64";
    }
    std::string error;
    std::string model = modelOrDefault(doc, backend_name, error);
    if (!error.empty()) return {400, std::move(error)};

    ordered_json data = ordered_json::array();
    std::int64_t tokens = 0;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        std::vector<double> vector = embed(inputs[i].text, dimensions);
        ordered_json item{{"object", "embedding"}, {"index", i}};
        if (base64) {
            item["embedding"] = base64Floats(vector);
        } else {
            item["embedding"] = vector;
        }
        data.push_back(std::move(item));
        tokens += inputs[i].tokens;
    }
    ordered_json reply{{"object", "list"},
                       {"data", std::move(data)},
                       {"model", std::move(model)},
                       {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}};
    return {200, dump(reply)};
}

std::string modelsJson(std::string_view backend_name) {
    ordered_json data = ordered_json::array();
    for (std::string id : {"mock-" + std::string(backend_name), std::string("gpt-4o-mini"),
                           std::string("text-embedding-3-small")}) {
        data.push_back(ordered_json{{"id", std::move(id)},
                                    {"object", "model"},
                                    {"created", kModelsCreated},
                                    {"owned_by", backend_name}});
    }
    return dump(ordered_json{{"object", "list"}, {"data", std::move(data)}});
}

}  // namespace aiproxy::mock
