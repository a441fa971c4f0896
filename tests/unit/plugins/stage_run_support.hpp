#pragma once
// What the stage unit tests share: one request through a route's stages, as the worker runs
// them.

#include <functional>
#include <memory>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "aiproxy/http/stage.hpp"

namespace aiproxy::plugins::test {

// Runs `stages` over `request` in order until one does not continue, on `io` with `services`,
// and returns the last verdict. `inspect` sees the request's context before it is finished.
inline http::StageVerdict runStages(
    boost::asio::io_context& io, const std::vector<std::unique_ptr<http::Stage>>& stages,
    http::ClientRequest& request, http::StageServices& services,
    const std::function<void(const http::RequestContext&)>& inspect = {}) {
    boost::beast::tcp_stream stream{io};
    http::ResponseSink sink{stream, std::chrono::seconds(1), 11, true, false};
    http::RequestContext context{
        .request = request, .sink = sink, .services = services, .started = {}};
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
