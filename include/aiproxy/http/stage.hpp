#pragma once
// Stage: one step of a route's pipeline (ARCHITECTURE.md section 4.3). A route compiles, once
// per snapshot, into its ordered stages; the worker runs them for each request and knows
// nothing of any particular plugin. A stage sees the request's context and continues, refuses
// (the pipeline answers with the refusal in the client's API shape) or ends the request itself
// (it answered, or the client left).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "aiproxy/http/http_session.hpp"
#include "aiproxy/http/request_trace.hpp"

namespace aiproxy::http {

// A gateway answer made before any upstream (401, 403, 429, 503 ...).
struct Refusal {
    unsigned status = 500;
    std::string message;
    std::string type;  // OpenAI's error type, e.g. "invalid_request_error"
    std::string code;  // e.g. "invalid_api_key"
    std::vector<std::pair<std::string, std::string>> headers;
    std::string_view plugin;  // the refusing plugin, for the access log ("ai-prompt-guard")
    // Also {"message": ...} at the top level of an OpenAI-shaped body: APISIX's prompt plugins
    // answer in that shape, and scripts written against them read it.
    bool top_level_message = false;
};

// One upstream attempt, as the access log shows it.
struct AttemptFacts {
    std::string_view upstream;
    std::string_view node;
    std::string_view outcome;  // "success", "timeout", "status_5xx" ...
    unsigned status = 0;       // 0 when no response arrived
    double ms = 0;
    bool hedge = false;  // sent as a hedge (ai-proxy's hedge)
};

// What the terminal stage learned, for the stages that account after it and the access log.
// Views point into the snapshot the request runs on.
struct RequestOutcome {
    bool proxied = false;  // the terminal stage ran
    std::string_view upstream;
    std::string node;
    std::vector<AttemptFacts> attempts;
    std::string served_model;
    std::optional<std::uint64_t> prompt_tokens;
    std::optional<std::uint64_t> completion_tokens;
    std::optional<double> cost_usd;
    std::optional<double> time_to_first_token;  // seconds
    std::string_view stream;                    // "", "complete", "client_cancel", "upstream_cut"
    // Bytes of generated text relayed in a stream (content deltas), so that a stream cut before
    // its usage event can still be charged an estimate of what it produced.
    std::uint64_t relayed_text_bytes = 0;
    // Set by a stage that will want relayed_text_bytes (ai-rate-limiting's budgets); counting
    // costs a scan of every event, so other requests skip it.
    bool count_relayed_text = false;
};

// An LLM a stage asks itself, beside the route's upstreams (ai-request-rewrite's): its upstream
// and provider, made once per snapshot by the ai library (StageBuild::side_llm) and opaque here;
// a stage only hands it back to StageServices::askLlm.
class SideLlm {
public:
    virtual ~SideLlm() = default;
};

struct LlmQuestion {
    // An OpenAI chat completion request; the LLM's provider shaping makes it its own API's
    // request (options merged in, auth added, translated for an Anthropic provider).
    std::string chat_body;
    std::chrono::milliseconds timeout{30'000};  // the whole call: connect, send, whole answer
    std::string_view request_id;                // sent as X-Request-Id; outlives the call
};

struct LlmAnswer {
    std::optional<std::string> text;  // the assistant's text; nullopt: `error` says why
    std::string error;                // "LLM answered 503", "could not connect ...", ...
    unsigned status = 0;              // the LLM's HTTP status; 0 when none arrived
    bool client_gone = false;         // the client left meanwhile: the call was abandoned
};

// Worker-owned resources a stage may need (connection pools, balancers). The worker is the
// only place that makes a RequestContext, and it always passes its own services; a stage that
// needs more than this base knows the derived type (ai::WorkerServices).
struct StageServices {
    StageServices(net::any_io_executor executor_, std::size_t metrics_slot_)
        : executor(std::move(executor_)), metrics_slot(metrics_slot_) {}
    virtual ~StageServices() = default;

    // Asks `llm` one question through this worker's pooled upstream client, never blocking the
    // worker: bounded by question.timeout as a whole and by the answer size limits `llm` was made
    // with, and abandoned (client_gone) as soon as `client` closes its connection. Never throws;
    // every failure is an answer without text. This base has no upstream client and always
    // fails; the worker's services (ai::WorkerServices) ask for real.
    virtual awaitable<LlmAnswer> askLlm(const SideLlm& llm, LlmQuestion question,
                                        ResponseSink& client);

    net::any_io_executor executor;
    std::size_t metrics_slot = 0;  // this worker's slot in every metric cell
    // What a stage keeps for the worker's lifetime, by name (a connection to a shared counter
    // store): made by the first request that needs it, kept across snapshots, destroyed with
    // the worker; never touched by another thread.
    std::unordered_map<std::string, std::shared_ptr<void>> worker_objects;
};

struct RequestContext {
    ClientRequest& request;
    ResponseSink& sink;
    StageServices& services;
    std::chrono::steady_clock::time_point started{};
    // The path below the route's prefix (what `*` matched), or the whole path without its
    // leading '/' for an exact route: the API the client speaks.
    std::string_view api_path{};
    std::string consumer{};  // key-auth's consumer; "" when none
    std::optional<Refusal> refusal{};
    RequestOutcome outcome{};
    // Work that waits for the response to end, newest first: a concurrency slot given back, a
    // token budget booked. Runs on every path, refused or served.
    std::vector<std::function<void(RequestContext&)>> on_done{};
    RequestTrace* trace = nullptr;  // null when the request is not traced

    void finish() {
        while (!on_done.empty()) {
            auto done = std::move(on_done.back());
            on_done.pop_back();
            done(*this);
        }
    }
};

enum class StageVerdict {
    Continue,  // the next stage runs
    Refuse,    // context.refusal holds the answer; no later stage runs
    Stop,      // the stage answered (or the client left); nothing more to send
};

class Stage {
public:
    virtual ~Stage() = default;
    // A stage that decides from the head alone (an address, a key) also runs before the body
    // of an Expect: 100-continue request is read, so no client sends a body only to be refused.
    virtual bool decidesOnHead() const { return false; }
    virtual awaitable<StageVerdict> handle(RequestContext& context) = 0;

    // The plugin's name ("key-auth"), given by whoever builds the stage: trace spans carry it.
    std::string_view name() const { return name_; }
    void setName(std::string_view name) { name_ = name; }  // a literal: the view is kept

private:
    std::string_view name_ = "stage";
};

}  // namespace aiproxy::http
