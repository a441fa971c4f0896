// The proxy stage's log phase: usage, served model and cost of the committed attempt, and the
// request's metrics (ARCHITECTURE.md section 4.8).

#include <cmath>

#include "proxy_call.hpp"

namespace aiproxy::ai {
namespace {

constexpr std::string_view kStreamOutcomes[] = {"", "complete", "client_cancel", "upstream_cut"};

}  // namespace

void ProxyCall::account(const PreparedRequest& prepared) {
    Usage usage;
    if (whole_usage_) {
        usage = *whole_usage_;
    } else if (processor_) {
        usage = processor_->usage();
        redactions_ += processor_->redactions();
        context_.outcome.relayed_text_bytes = processor_->relayedTextBytes();
    }
    auto& outcome = context_.outcome;
    outcome.served_model = !usage.model.empty() ? usage.model : prepared.plan.upstream_model;
    outcome.prompt_tokens = usage.prompt_tokens;
    outcome.completion_tokens = usage.completion_tokens;
    if (route_.prices && (usage.prompt_tokens || usage.completion_tokens)) {
        // One price lookup: the metrics label and the cost both use the matched name.
        priced_model_ = route_.prices->findKey(outcome.served_model);
        if (priced_model_) outcome.cost_usd = costUsd(*route_.prices, *priced_model_, usage);
    }
}

void ProxyCall::record() {
    auto& outcome = context_.outcome;
    outcome.proxied = true;
    outcome.stream = kStreamOutcomes[static_cast<std::size_t>(stream_)];
    std::size_t slot = services_.metrics_slot;
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - context_.started).count();
    const auto& cells = route_.metrics;
    std::size_t upstream = upstream_slot_ < cells.requests.size() ? upstream_slot_ : 0;
    if (upstream < cells.requests.size()) {
        if (auto* cell = cells.requests[upstream][statusClassIndex(sink_.status())]) {
            cell->add(slot);
        }
    }
    if (cells.duration) cells.duration->observe(slot, seconds);
    if (cells.redactions && redactions_) cells.redactions->add(slot, redactions_);
    if (outcome.time_to_first_token && cells.time_to_first_token) {
        cells.time_to_first_token->observe(slot, *outcome.time_to_first_token);
    }
    if (outcome.prompt_tokens || outcome.completion_tokens || outcome.cost_usd) {
        const ModelMetrics* model = &cells.other_model;
        if (priced_model_) {
            auto found = cells.models.find(*priced_model_);
            if (found != cells.models.end()) model = &found->second;
        }
        if (upstream < model->tokens.size()) {
            if (auto* cell = model->tokens[upstream][0]; cell && outcome.prompt_tokens) {
                cell->add(slot, *outcome.prompt_tokens);
            }
            if (auto* cell = model->tokens[upstream][1]; cell && outcome.completion_tokens) {
                cell->add(slot, *outcome.completion_tokens);
            }
        }
        if (model->cost && outcome.cost_usd && *outcome.cost_usd > 0) {
            model->cost->add(slot,
                             static_cast<std::uint64_t>(std::llround(*outcome.cost_usd * 1e9)));
        }
    }
    const auto& data_path = metricsOf();
    if (stream_ != StreamOutcome::None) {
        if (auto* cell = data_path.stream_outcomes[static_cast<std::size_t>(stream_) - 1]) {
            cell->add(slot);
        }
    }
    if (data_path.overhead) {
        data_path.overhead->observe(slot, std::max(0.0, seconds - upstream_seconds_));
    }
}

http::awaitable<http::StageVerdict> ProxyStage::handle(http::RequestContext& context) {
    // The worker is the only maker of contexts, and it passes its WorkerServices.
    auto& services = static_cast<WorkerServices&>(context.services);
    ProxyCall call{route_, context, services};
    co_await call.run();
    call.record();
    co_return http::StageVerdict::Stop;
}

}  // namespace aiproxy::ai
