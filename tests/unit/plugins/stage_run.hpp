#pragma once
// StageRun: a route's plugin stages built as a snapshot builds them, and one request run
// through them in order on a private io_context, as the worker does.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "aiproxy/plugins/stages.hpp"

namespace aiproxy::plugins {

namespace net = boost::asio;

// One request through the stages, each awaited in order until one does not continue.
class StageRun {
public:
    explicit StageRun(const config::Config& config, metrics::CellSource* cells = nullptr)
        : shared_(buildSharedState(config, std::make_shared<LimitStore>(), nullptr)),
          stages_(
              buildStages({.route = config.routes.front(), .shared = *shared_, .cells = cells})) {}

    const std::vector<std::unique_ptr<http::Stage>>& stages() const { return stages_; }

    // The verdict of the first stage that does not continue, or Continue.
    http::StageVerdict run(http::ClientRequest& request, std::string* consumer = nullptr,
                           std::optional<http::Refusal>* refusal = nullptr,
                           std::string_view api_path = "chat/completions") {
        net::io_context io;
        boost::beast::tcp_stream stream{io};
        http::ResponseSink sink{stream, std::chrono::seconds(1), 11, true, false};
        http::StageServices services{io.get_executor(), 0};
        http::RequestContext context{.request = request,
                                     .sink = sink,
                                     .services = services,
                                     .started = {},
                                     .api_path = api_path};
        auto verdict = http::StageVerdict::Continue;
        auto done = net::co_spawn(
            io,
            [&]() -> http::awaitable<void> {
                for (const auto& stage : stages_) {
                    verdict = co_await stage->handle(context);
                    if (verdict != http::StageVerdict::Continue) break;
                }
            },
            net::use_future);
        io.run();
        done.get();
        if (consumer) *consumer = context.consumer;
        if (refusal) *refusal = context.refusal;
        context.finish();
        return verdict;
    }

private:
    std::shared_ptr<const SharedState> shared_;
    std::vector<std::unique_ptr<http::Stage>> stages_;
};

}  // namespace aiproxy::plugins
