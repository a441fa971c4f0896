#pragma once
// What the stage unit tests share: one request through a route's stages, as the worker runs
// them, and StageRun, a route's stages built as a snapshot builds them.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "aiproxy/http/stage.hpp"
#include "aiproxy/plugins/stages.hpp"

namespace aiproxy::plugins::test {

// Runs `stages` over `request` in order until one does not continue, on `io` with `services`,
// and returns the last verdict. `inspect` sees the request's context before it is finished.
inline http::StageVerdict runStages(
    boost::asio::io_context& io, const std::vector<std::unique_ptr<http::Stage>>& stages,
    http::ClientRequest& request, http::StageServices& services,
    const std::function<void(const http::RequestContext&)>& inspect = {},
    std::string_view api_path = "chat/completions") {
    boost::beast::tcp_stream stream{io};
    http::ResponseSink sink{stream, std::chrono::seconds(1), 11, true, false};
    http::RequestContext context{.request = request,
                                 .sink = sink,
                                 .services = services,
                                 .started = {},
                                 .api_path = api_path};
    auto verdict = http::StageVerdict::Continue;
    auto done = boost::asio::co_spawn(
        io,
        [&]() -> http::awaitable<void> {
            for (const auto& stage : stages) {
                verdict = co_await stage->handle(context);
                if (verdict != http::StageVerdict::Continue) break;
            }
        },
        boost::asio::use_future);
    io.run();
    done.get();
    if (inspect) inspect(context);
    context.finish();
    return verdict;
}

}  // namespace aiproxy::plugins::test

namespace aiproxy::plugins {

// One request through a route's stages, each awaited in order until one does not continue.
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
        boost::asio::io_context io;
        http::StageServices services{io.get_executor(), 0};
        return test::runStages(
            io, stages_, request, services,
            [&](const http::RequestContext& context) {
                if (consumer) *consumer = context.consumer;
                if (refusal) *refusal = context.refusal;
            },
            api_path);
    }

private:
    std::shared_ptr<const SharedState> shared_;
    std::vector<std::unique_ptr<http::Stage>> stages_;
};

}  // namespace aiproxy::plugins
