#include "mock_api.hpp"

#include <algorithm>
#include <array>
#include <ctime>
#include <limits>

#include <nlohmann/json.hpp>

#include "anthropic_shapes.hpp"
#include "openai_shapes.hpp"
#include "responses_shapes.hpp"

namespace aiproxy::mock {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;
using std::chrono::milliseconds;

constexpr std::string_view kControlPrefix = "/_mock";
constexpr std::string_view kControlPathPrefix = "/_mock/";

struct Endpoint {
    std::string_view path;
    std::string_view method;
};

constexpr std::array kModelEndpoints{
    Endpoint{"/v1/chat/completions", "POST"},
    Endpoint{"/v1/embeddings", "POST"},
    Endpoint{"/v1/models", "GET"},
    Endpoint{"/v1/messages", "POST"},
    Endpoint{"/v1/responses", "POST"},
};

constexpr std::array kControlEndpoints{
    Endpoint{"/_mock/stats", "GET"},
    Endpoint{"/_mock/config", "GET, POST"},
    Endpoint{"/_mock/reset", "POST"},
};

constexpr std::array<std::string_view, 5> kBehaviourKeys{"latency_ms", "stream_chunk_ms", "status",
                                                         "fail_first", "drop_after_chunks"};

template <typename Json>
std::string dump(const Json& value) {
    return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

Answer jsonAnswer(int status, std::string body) {
    Answer answer;
    answer.status = status;
    answer.body = std::move(body);
    return answer;
}

Answer notFound(const Request& request) {
    return jsonAnswer(404, errorJson("Unknown request URL: " + request.method + " " +
                                         request.target + ". Please check the URL for typos.",
                                     "invalid_request_error", "not_found"));
}

// Allowed methods are written "GET, POST", which is also the Allow header's syntax.
bool methodAllowed(const Endpoint& endpoint, std::string_view method) {
    std::string_view allowed = endpoint.method;
    while (!allowed.empty()) {
        std::size_t comma = allowed.find(',');
        if (allowed.substr(0, comma) == method) return true;
        if (comma == std::string_view::npos) break;
        allowed.remove_prefix(comma + 2);
    }
    return false;
}

// nullptr with `answer` set when the path is unknown or the method is not allowed.
template <std::size_t N>
const Endpoint* findEndpoint(const std::array<Endpoint, N>& endpoints, const Request& request,
                             std::string_view path, Answer& answer) {
    for (const Endpoint& endpoint : endpoints) {
        if (endpoint.path != path) continue;
        if (methodAllowed(endpoint, request.method)) return &endpoint;
        answer = jsonAnswer(
            405, errorJson("Method " + request.method + " is not allowed for " + std::string(path) +
                               "; use " + std::string(endpoint.method) + ".",
                           "invalid_request_error", "method_not_allowed"));
        answer.headers.emplace_back("Allow", endpoint.method);
        return nullptr;
    }
    answer = notFound(request);
    return nullptr;
}

ordered_json behaviourJson(const Behaviour& behaviour) {
    return ordered_json{{"latency_ms", behaviour.latency_ms},
                        {"stream_chunk_ms", behaviour.stream_chunk_ms},
                        {"status", behaviour.status},
                        {"fail_first", behaviour.fail_first},
                        {"drop_after_chunks", behaviour.drop_after_chunks}};
}

ordered_json headersJson(const HeaderList& headers) {
    ordered_json object = ordered_json::object();
    for (const auto& [name, value] : headers) {
        auto it = object.find(name);
        if (it == object.end()) {
            object[name] = value;
        } else {
            it->get_ref<std::string&>() += ", " + value;
        }
    }
    return object;
}

// The value of header `name` (lower case), if the request has it.
const std::string* findHeader(const Request& request, std::string_view name) {
    for (const auto& [field, value] : request.headers) {
        if (field == name) return &value;
    }
    return nullptr;
}

}  // namespace

MockApi::MockApi(std::string name, const Behaviour& initial, std::string require_key)
    : name_(std::move(name)),
      require_key_(std::move(require_key)),
      initial_(initial),
      models_json_(modelsJson(name_)) {
    store(initial_);
}

void MockApi::store(const Behaviour& behaviour) {
    live_.latency_ms.store(behaviour.latency_ms);
    live_.stream_chunk_ms.store(behaviour.stream_chunk_ms);
    live_.status.store(behaviour.status);
    live_.fail_first.store(behaviour.fail_first);
    live_.drop_after_chunks.store(behaviour.drop_after_chunks);
    fail_remaining_.store(behaviour.fail_first);
}

Answer MockApi::handle(Request&& request, ConnectionTally& tally) {
    std::string_view target = request.target;
    std::string_view path = target.substr(0, target.find('?'));
    if (path == kControlPrefix || path.starts_with(kControlPathPrefix)) {
        return control(request, path);
    }

    requests_.fetch_add(1, std::memory_order_relaxed);
    std::uint64_t generation = generation_.load();
    if (tally.counted_generation != generation) {
        tally.counted_generation = generation;
        connections_.fetch_add(1, std::memory_order_relaxed);
    }
    Answer answer = modelRequest(request, path);

    // Swapped under the lock; the previous request is freed after it is released.
    std::optional<Request> previous(std::move(request));
    {
        std::lock_guard lock(last_request_mutex_);
        last_request_.swap(previous);
    }
    return answer;
}

Answer MockApi::modelRequest(const Request& request, std::string_view path) {
    Answer answer;
    const Endpoint* endpoint = findEndpoint(kModelEndpoints, request, path, answer);
    if (endpoint == nullptr) return answer;
    const bool anthropic = endpoint->path == "/v1/messages";
    if (auto rejected = rejectKey(request, anthropic)) return std::move(*rejected);
    auto errorBody = [anthropic](int status, const std::string& message) {
        return anthropic ? anthropicErrorJsonForStatus(status, message)
                         : errorJsonForStatus(status, message);
    };

    answer.latency = milliseconds(live_.latency_ms.load(std::memory_order_relaxed));
    if (slow_every_ > 0 && (slow_count_.fetch_add(1) + 1) % slow_every_ == 0) {
        answer.latency += milliseconds(slow_ms_);
    }
    if (int status = live_.status.load(std::memory_order_relaxed); status != 0) {
        answer.status = status;
        answer.body = errorBody(
            status, "mock backend " + name_ + " answers " + std::to_string(status) + " (status)");
        if (status == 429) answer.headers.emplace_back("Retry-After", "1");
        return answer;
    }
    if (takeForcedFailure()) {
        answer.status = 500;
        answer.body = errorBody(500, "mock backend " + name_ + " failed (fail_first)");
        return answer;
    }
    if (anthropic) {
        Answer message = messagesRequest(request);
        message.latency = answer.latency;
        return message;
    }

    if (endpoint->path == "/v1/responses") {
        Answer response = responsesRequest(request);
        response.latency = answer.latency;
        return response;
    }
    if (endpoint->path == "/v1/models") {
        answer.body = models_json_;
        return answer;
    }
    if (endpoint->path == "/v1/embeddings") {
        JsonReply reply = embeddingsReply(request.body, name_);
        answer.status = reply.status;
        answer.body = std::move(reply.body);
        return answer;
    }
    ChatRequest chat = parseChatRequest(request.body, name_);
    if (!chat.error.empty()) {
        answer.status = 400;
        answer.body = std::move(chat.error);
        return answer;
    }
    std::string id = "chatcmpl-mock-" + std::to_string(next_id_.fetch_add(1));
    ChatCompletion completion = makeChatCompletion(chat, name_, std::move(id),
                                                   static_cast<std::int64_t>(std::time(nullptr)));
    if (!chat.stream) {
        answer.body = chatCompletionJson(completion);
        return answer;
    }
    answer.content_type = "text/event-stream";
    answer.headers.emplace_back("Cache-Control", "no-cache");
    answer.events = chatCompletionEvents(completion);
    answer.chunk_gap = milliseconds(live_.stream_chunk_ms.load(std::memory_order_relaxed));
    answer.drop_after_chunks = live_.drop_after_chunks.load(std::memory_order_relaxed);
    return answer;
}

std::optional<Answer> MockApi::rejectKey(const Request& request, bool anthropic) const {
    if (require_key_.empty()) return std::nullopt;
    if (anthropic) {
        const std::string* key = findHeader(request, "x-api-key");
        if (key == nullptr || *key != require_key_) {
            return jsonAnswer(401, anthropicErrorJson("authentication_error", "invalid x-api-key"));
        }
        if (findHeader(request, "anthropic-version") == nullptr) {
            return jsonAnswer(400, anthropicErrorJson("invalid_request_error",
                                                      "anthropic-version: header is required"));
        }
        return std::nullopt;
    }
    const std::string* authorization = findHeader(request, "authorization");
    if (authorization == nullptr || *authorization != "Bearer " + require_key_) {
        return jsonAnswer(401, errorJson("Incorrect API key provided.", "invalid_request_error",
                                         "invalid_api_key"));
    }
    return std::nullopt;
}

Answer MockApi::messagesRequest(const Request& request) {
    MessagesRequest parsed = parseMessagesRequest(request.body);
    if (!parsed.error.empty()) return jsonAnswer(400, std::move(parsed.error));
    std::string id = "msg_mock_" + std::to_string(next_id_.fetch_add(1));
    MessageReply reply = makeMessageReply(parsed, name_, std::move(id));
    if (!parsed.chat.stream) return streamOrBody(false, messageJson(reply), {});
    return streamOrBody(true, {}, messageEvents(reply));
}

Answer MockApi::responsesRequest(const Request& request) {
    ResponsesRequest parsed = parseResponsesRequest(request.body, name_);
    if (!parsed.error.empty()) return jsonAnswer(400, std::move(parsed.error));
    std::string id = "resp_mock_" + std::to_string(next_id_.fetch_add(1));
    ResponsesReply reply = makeResponsesReply(parsed, name_, std::move(id),
                                              static_cast<std::int64_t>(std::time(nullptr)));
    if (!parsed.chat.stream) return streamOrBody(false, responseJson(reply), {});
    return streamOrBody(true, {}, responseEvents(reply));
}

Answer MockApi::streamOrBody(bool stream, std::string body, std::vector<std::string> events) {
    Answer answer;
    if (!stream) {
        answer.body = std::move(body);
        return answer;
    }
    answer.content_type = "text/event-stream";
    answer.headers.emplace_back("Cache-Control", "no-cache");
    answer.events = std::move(events);
    answer.chunk_gap = milliseconds(live_.stream_chunk_ms.load(std::memory_order_relaxed));
    answer.drop_after_chunks = live_.drop_after_chunks.load(std::memory_order_relaxed);
    return answer;
}

bool MockApi::takeForcedFailure() {
    std::int64_t remaining = fail_remaining_.load();
    while (remaining > 0) {
        if (fail_remaining_.compare_exchange_weak(remaining, remaining - 1)) return true;
    }
    return false;
}

void MockApi::streamEnded(StreamEnd end) {
    switch (end) {
        case StreamEnd::kCompleted:
            streams_completed_.fetch_add(1);
            break;
        case StreamEnd::kCancelled:
            streams_cancelled_.fetch_add(1);
            break;
        case StreamEnd::kDropped:
            streams_dropped_.fetch_add(1);
            break;
    }
}

Answer MockApi::control(const Request& request, std::string_view path) {
    Answer answer;
    const Endpoint* endpoint = findEndpoint(kControlEndpoints, request, path, answer);
    if (endpoint == nullptr) return answer;
    if (endpoint->path == "/_mock/stats") return jsonAnswer(200, statsJson());
    if (endpoint->path == "/_mock/reset") {
        reset();
        return jsonAnswer(200, R"({"reset":true})");
    }
    if (request.method == "POST") return applyConfig(request.body);
    return jsonAnswer(200, dump(behaviourJson(current())));
}

Answer MockApi::applyConfig(std::string_view body) {
    auto invalid = [](const std::string& message) {
        return jsonAnswer(400, errorJson(message, "invalid_request_error", "invalid_config"));
    };
    json doc = json::parse(body, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) return invalid("body must be a JSON object");
    // Everything is checked before anything changes, so a bad request changes nothing.
    for (const auto& [key, value] : doc.items()) {
        if (std::ranges::find(kBehaviourKeys, key) == kBehaviourKeys.end()) {
            return invalid("unknown setting '" + key + "'");
        }
        if (value.is_null()) continue;
        if (!value.is_number_integer() ||
            (value.is_number_unsigned() &&
             value.get<std::uint64_t>() > std::numeric_limits<std::int64_t>::max())) {
            return invalid("'" + key + "' must be an integer or null");
        }
        std::string problem = checkBehaviourValue(key, value.get<std::int64_t>());
        if (!problem.empty()) return invalid("'" + key + "' " + problem);
    }
    auto valueOf = [&doc](const char* key) -> std::optional<std::int64_t> {
        auto it = doc.find(key);
        if (it == doc.end() || it->is_null()) return std::nullopt;
        return it->get<std::int64_t>();
    };
    if (auto v = valueOf("latency_ms")) live_.latency_ms.store(*v);
    if (auto v = valueOf("stream_chunk_ms")) live_.stream_chunk_ms.store(*v);
    if (auto v = valueOf("status")) live_.status.store(static_cast<int>(*v));
    if (auto v = valueOf("drop_after_chunks")) live_.drop_after_chunks.store(*v);
    if (auto v = valueOf("fail_first")) {
        live_.fail_first.store(*v);
        fail_remaining_.store(*v);
    }
    return jsonAnswer(200, dump(behaviourJson(current())));
}

void MockApi::reset() {
    store(initial_);
    requests_.store(0);
    connections_.store(0);
    connections_accepted_.store(0);
    streams_completed_.store(0);
    streams_cancelled_.store(0);
    streams_dropped_.store(0);
    generation_.fetch_add(1);
    std::optional<Request> previous;
    std::lock_guard lock(last_request_mutex_);
    last_request_.swap(previous);
}

Behaviour MockApi::current() const {
    return Behaviour{.latency_ms = live_.latency_ms.load(),
                     .stream_chunk_ms = live_.stream_chunk_ms.load(),
                     .status = live_.status.load(),
                     .fail_first = live_.fail_first.load(),
                     .drop_after_chunks = live_.drop_after_chunks.load()};
}

std::string MockApi::statsJson() {
    ordered_json last = nullptr;
    {
        std::lock_guard lock(last_request_mutex_);
        if (last_request_) {
            last = ordered_json{{"method", last_request_->method},
                                {"target", last_request_->target},
                                {"headers", headersJson(last_request_->headers)},
                                {"body", last_request_->body}};
        }
    }
    ordered_json stats{{"name", name_},
                       {"requests", requests_.load()},
                       {"connections", connections_.load()},
                       {"connections_accepted", connections_accepted_.load()},
                       {"streams_completed", streams_completed_.load()},
                       {"streams_cancelled", streams_cancelled_.load()},
                       {"streams_dropped", streams_dropped_.load()},
                       {"fail_first_remaining", fail_remaining_.load()},
                       {"config", behaviourJson(current())},
                       {"last_request", std::move(last)}};
    return dump(stats);
}

}  // namespace aiproxy::mock
