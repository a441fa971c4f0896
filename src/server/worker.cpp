#include "aiproxy/server/worker.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <boost/beast/core/string.hpp>
#include <cstdio>
#include <ctime>
#include <unordered_set>
#include <variant>

#include "aiproxy/ai/request_model.hpp"
#include "aiproxy/common/ascii.hpp"
#include "aiproxy/common/digest.hpp"
#include "aiproxy/http/header_rules.hpp"
#include "aiproxy/http/json_error.hpp"
#include "aiproxy/http/listener.hpp"

namespace aiproxy::server {

namespace net = boost::asio;

Worker::Worker(unsigned index, const http::SessionLimits& limits, std::size_t max_connections,
               std::atomic<std::size_t>& open_connections, const ServerMetrics* metrics,
               http::TlsContextHolder* tls)
    : index_(index),
      work_(io_.get_executor()),
      limits_(limits),
      max_connections_(max_connections),
      open_connections_(open_connections),
      tls_(tls),
      dns_(io_.get_executor()),
      metrics_(metrics),
      services_{.pool = pool_,
                .dns = dns_,
                .balancers = balancers_,
                .metrics_slot = index,
                .metrics = metrics ? &metrics->data_path : nullptr,
                .log = metrics ? metrics->data_path_log : nullptr},
      random_(std::random_device{}() ^ (static_cast<std::uint64_t>(index) << 32)) {
    if (metrics_) pool_.setIdleGauge(metrics_->data_path.connections_idle, index_);
}

Worker::~Worker() {
    stop();
}

void Worker::addAcceptor(http::tcp::acceptor acceptor) {
    acceptors_.push_back(std::make_unique<http::tcp::acceptor>(std::move(acceptor)));
}

void Worker::start(std::shared_ptr<const Snapshot> snapshot) {
    applySnapshot(std::move(snapshot));
    http::SessionContext context{.limits = limits_,
                                 .handler = *this,
                                 .tracker = tracker_,
                                 .open_connections = open_connections_,
                                 .tls = tls_};
    for (auto& acceptor : acceptors_) {
        net::co_spawn(io_,
                      http::acceptLoop(*acceptor, context, {.max_connections = max_connections_}),
                      net::detached);
    }
    thread_ = std::thread([this] {
        io_.run();
        spdlog::debug("worker {} stopped", index_);
    });
}

void Worker::post(std::shared_ptr<const Snapshot> snapshot, std::function<void()> applied) {
    net::post(io_, [this, snapshot = std::move(snapshot), applied = std::move(applied)]() mutable {
        applySnapshot(std::move(snapshot));
        if (applied) applied();
    });
}

void Worker::applySnapshot(std::shared_ptr<const Snapshot> snapshot) {
    balancers_.rebuild(snapshot->balanced_sets);
    // Idle connections and DNS answers of nodes that left the configuration go now.
    std::unordered_set<std::string> pool_keys;
    std::unordered_set<std::string> addresses;
    for (const auto* set : snapshot->balanced_sets) {
        for (const auto& member : set->members) {
            const auto& node = member.upstream->nodes()[member.node];
            pool_keys.insert(upstream::poolKey(*member.upstream, node));
            addresses.insert(node.host + ":" + std::to_string(node.port));
        }
    }
    pool_.retain(pool_keys);
    dns_.retain(addresses);
    snapshot_ = std::move(snapshot);
}

void Worker::drain(std::function<void()> on_drained) {
    net::post(io_, [this, on_drained = std::move(on_drained)]() mutable {
        for (auto& acceptor : acceptors_) {
            http::error_code ignored;
            acceptor->close(ignored);
        }
        tracker_.on_drained = std::move(on_drained);
        tracker_.startDrain();
    });
}

void Worker::stop() {
    if (!thread_.joinable()) return;
    work_.reset();
    io_.stop();
    thread_.join();
    // Requests and streams still open after the drain end here, on this thread, while
    // everything their coroutines refer to is alive.
    io_.abandonPendingWork();
    flushAccessLog();  // the thread is gone: nothing else touches the batch
}

std::string Worker::newRequestId() {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string id(32, '0');
    std::uint64_t high = random_();
    std::uint64_t low = random_();
    for (int i = 0; i < 16; ++i) {
        id[i] = kHex[(high >> (i * 4)) & 0xf];
        id[16 + i] = kHex[(low >> (i * 4)) & 0xf];
    }
    return id;
}

namespace {

constexpr std::size_t kAccessLogBatchBytes = 16 * 1024;
constexpr std::chrono::milliseconds kAccessLogDelay{20};

std::size_t statusClassIndex(unsigned status) {
    return status >= 100 && status < 600 ? status / 100 - 1 : 4;
}

// key-auth: the key from the configured header, else "Authorization: Bearer <key>" (what OpenAI
// SDKs send). Returns the consumer's name, or the 401 to answer.
std::variant<std::string, http::Response> authenticate(
    const config::KeyAuthConfig& key_auth,
    const std::unordered_map<std::string, std::string>& consumers, http::Request& message) {
    std::string_view key;
    if (auto field = message.find(key_auth.header); field != message.end()) {
        key = field->value();
    }
    if (key.empty()) {
        std::string_view authorization = message[http::bhttp::field::authorization];
        if (authorization.size() > 7 &&
            common::equalsIgnoreCase(authorization.substr(0, 7), "Bearer ")) {
            key = authorization.substr(7);
        }
    }
    if (key.empty()) {
        return http::jsonErrorResponse(401,
                                       "Missing API key: send it in the " + key_auth.header +
                                           " header or as Authorization: Bearer <key>",
                                       "invalid_request_error", "missing_api_key");
    }
    // The digest is looked up, so the time taken does not depend on how much of a key matched.
    auto found = consumers.find(common::sha256Hex(key));
    if (found == consumers.end()) {
        return http::jsonErrorResponse(401, "Invalid API key", "invalid_request_error",
                                       "invalid_api_key");
    }
    if (key_auth.hide_credentials) {
        // Every place a key may be read from, whichever one held it: a client that sends its
        // gateway key twice must not have the second copy forwarded with the upstream request.
        message.erase(key_auth.header);
        std::string_view authorization = message[http::bhttp::field::authorization];
        if (authorization.size() >= 7 &&
            common::equalsIgnoreCase(authorization.substr(0, 7), "Bearer ")) {
            message.erase(http::bhttp::field::authorization);
        }
    }
    return found->second;
}

// server.real_ip: the client named by the header (every field of it, in order), when the peer
// is a trusted proxy.
std::string realClientAddress(const common::RealIp& real_ip, const http::ClientRequest& request) {
    return real_ip.resolve(request.peer_address,
                           http::combinedFieldValue(request.message.base(), real_ip.header()));
}

}  // namespace

// GCC 12 inlines Asio's frame allocation (aligned_alloc) and its sized operator delete into this
// coroutine and reports them as mismatched, although they are Asio's matching pair.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
std::optional<router::RouteMatch> Worker::matchRoute(
    const Snapshot& snapshot, http::ClientRequest& request,
    const std::function<const nlohmann::json*()>& json_body) const {
    if (snapshot.real_ip) request.client_address = realClientAddress(*snapshot.real_ip, request);
    return snapshot.routes.match(router::RequestVars{
        .method = request.message.method_string(),
        .host = request.message[http::bhttp::field::host],
        .uri = request.path,
        .request_uri = request.message.target(),
        .query = request.query,
        .remote_addr = request.clientAddress(),
        .body = request.message.body(),
        .header = [&request](std::string_view name) -> std::optional<std::string_view> {
            auto field = request.message.find(name);
            if (field == request.message.end()) return std::nullopt;
            return std::string_view{field->value()};
        },
        .json_body = json_body,
    });
}

http::awaitable<void> Worker::answerUnrouted(http::ClientRequest& request, http::ResponseSink& sink,
                                             std::chrono::steady_clock::time_point started) {
    auto message = "no route matches " + std::string(request.message.method_string()) + " " +
                   std::string(request.path);
    auto response =
        http::jsonErrorResponse(404, message, "invalid_request_error", "route_not_found");
    response.set("X-Request-Id", request.request_id);
    co_await sink.send(std::move(response));
    if (metrics_ && metrics_->unrouted) metrics_->unrouted->add(index_);
    writeAccessLog(request, nullptr, nullptr, sink, started);
}

http::awaitable<bool> Worker::admitHead(http::ClientRequest& request, http::ResponseSink& sink) {
    auto started = std::chrono::steady_clock::now();
    std::shared_ptr<const Snapshot> snapshot = snapshot_;
    // A route that looks into the body (post_arg) cannot be chosen from the head: then the
    // body is read and the whole request decides, as without Expect.
    bool needs_body = false;
    auto match = matchRoute(*snapshot, request, [&needs_body]() -> const nlohmann::json* {
        needs_body = true;
        return nullptr;
    });
    if (needs_body) co_return true;
    if (!match) {
        co_await answerUnrouted(request, sink, started);
        co_return false;
    }
    const auto& route = snapshot->ai_routes[match->route_index];
    if (auto refusal = admissionRefusal(*snapshot, match->route_index, route, request)) {
        co_await sendRefusal(request, sink, route, std::move(*refusal), started);
        co_return false;
    }
    co_return true;
}

std::optional<http::Response> Worker::admissionRefusal(const Snapshot& snapshot,
                                                       std::size_t route_index,
                                                       const ai::AiProxyRoute& route,
                                                       http::ClientRequest& request,
                                                       std::string* consumer) const {
    if (const auto& restriction = snapshot.ip_restrictions[route_index];
        restriction && !restriction->allows(request.clientAddress())) {
        if (restriction->rejected) restriction->rejected->add(index_);
        return http::jsonErrorResponse(static_cast<unsigned>(restriction->status()),
                                       restriction->message(), "invalid_request_error",
                                       "ip_not_allowed");
    }
    if (route.key_auth) {
        auto verdict = authenticate(*route.key_auth, snapshot.consumers_by_key, request.message);
        if (auto* refusal = std::get_if<http::Response>(&verdict)) {
            refusal->set(http::bhttp::field::www_authenticate, "Bearer");
            if (auto* cell = route.metrics.key_auth_rejected) cell->add(index_);
            return std::move(*refusal);
        }
        if (consumer) *consumer = std::move(std::get<std::string>(verdict));
    }
    return std::nullopt;
}

http::awaitable<void> Worker::handle(http::ClientRequest& request, http::ResponseSink& sink) {
    auto started = std::chrono::steady_clock::now();
    // The request finishes on the snapshot it started with, whatever is posted meanwhile.
    std::shared_ptr<const Snapshot> snapshot = snapshot_;
    auto match = matchRoute(*snapshot, request, [&request] { return request.jsonBody(); });
    if (!match) {
        co_await answerUnrouted(request, sink, started);
        co_return;
    }
    const auto& route = snapshot->ai_routes[match->route_index];
    if (route.upstreams.empty()) {  // validation requires a terminal stage; never crash if not
        co_await sink.send(
            http::jsonErrorResponse(500, "route " + route.route_id + " has no terminal stage",
                                    "server_error", "route_misconfigured"));
        co_return;
    }
    if (route.log.payloads) sink.capturePayload(route.log.max_payload_bytes);
    std::string consumer;
    if (auto refusal = admissionRefusal(*snapshot, match->route_index, route, request, &consumer)) {
        co_await sendRefusal(request, sink, route, std::move(*refusal), started);
        co_return;
    }
    const auto& limits = snapshot->route_limits[match->route_index];
    const plugins::RouteLimits* group = snapshot->groupLimits(consumer);
    plugins::Admission admission;
    plugins::Admission group_admission;
    plugins::GateSlot slot;
    if (!limits.empty() || group) {
        bool admitted = co_await applyLimits(request, sink, route, limits, group, consumer,
                                             admission, group_admission, slot, started);
        if (!admitted) co_return;
    }
    // The quota left goes out with the answer, as with APISIX (refusals carry it already); the
    // group's after the route's.
    for (auto* quota : {&admission.headers, &group_admission.headers}) {
        for (auto& [name, value] : *quota)
            sink.addHeader(std::move(name), std::move(value));
    }
    ai::ForwardPath forward{.prefix = match->prefix, .rest = match->rest};
    auto result = co_await ai::proxyRequest(route, forward, request, sink, services_, consumer);
    slot.release();
    plugins::Usage usage{.prompt_tokens = result.prompt_tokens,
                        .completion_tokens = result.completion_tokens,
                        .cost_usd = result.cost_usd};
    if (!admission.budget_key.empty()) limits.deduct(admission, usage, plugins::wallClock());
    if (group && !group_admission.budget_key.empty()) {
        group->deduct(group_admission, usage, plugins::wallClock());
    }
    recordRequest(route, result, sink, started);
    writeAccessLog(request, &route, &result, sink, started);
}
#pragma GCC diagnostic pop

namespace {

// A request waiting for a max_concurrent slot. The grant comes from whichever worker frees the
// slot and only posts here; the timer bounds the wait and is what a grant (or the client
// leaving) cuts short.
struct SlotWait {
    explicit SlotWait(net::io_context& io) : timer(io) {}
    net::steady_timer timer;
    bool granted = false;
    bool client_left = false;
};

// Leaves the queue if the waiting coroutine is destroyed while still in it (shutdown), and
// gives back a slot granted to it too late, so no grant is ever posted to a dead worker.
struct QueuedTicket {
    std::shared_ptr<plugins::ConcurrencyGate> gate;
    std::uint64_t ticket = 0;
    bool pending = true;
    ~QueuedTicket() {
        if (pending && !gate->withdraw(ticket)) gate->leave();
    }
};

}  // namespace

http::awaitable<bool> Worker::applyLimits(
    http::ClientRequest& request, http::ResponseSink& sink, const ai::AiProxyRoute& route,
    const plugins::RouteLimits& limits, const plugins::RouteLimits* group, std::string_view consumer,
    plugins::Admission& admission, plugins::Admission& group_admission, plugins::GateSlot& slot,
    std::chrono::steady_clock::time_point started) {
    plugins::RequestKeys keys{
        .remote_addr = request.clientAddress(),
        .consumer = consumer,
        .header = [&request](std::string_view name) -> std::optional<std::string_view> {
            auto field = request.message.find(name);
            if (field == request.message.end()) return std::nullopt;
            return std::string_view{field->value()};
        }};
    auto now = plugins::wallClock();
    admission = limits.admit(keys, now);
    if (admission.rejection) {
        co_await refuse(request, sink, route, limits, std::move(*admission.rejection), started);
        co_return false;
    }
    auto delay = admission.delay;
    if (group) {
        group_admission = group->admit(keys, now);
        if (auto& rejection = group_admission.rejection) {
            // The route's quota headers go out too, before the group's.
            rejection->headers.insert(rejection->headers.begin(), admission.headers.begin(),
                                      admission.headers.end());
            co_await refuse(request, sink, route, *group, std::move(*rejection), started);
            co_return false;
        }
        // Both leaky buckets counted the request as leaving after their delay: the longer one
        // fits both rates.
        delay = std::max(delay, group_admission.delay);
    }
    if (delay > std::chrono::milliseconds::zero()) {
        // limit-req: the request fits the rate once this much time has passed.
        net::steady_timer timer{io_};
        timer.expires_after(delay);
        co_await timer.async_wait(http::use_nothrow);
    }
    const auto& gate = limits.gate();
    if (!gate) co_return true;
    const auto& max = *limits.maxConcurrent();
    auto wait = std::make_shared<SlotWait>(io_);
    QueuedTicket queued{.gate = gate, .pending = false};
    auto grant = [wait, executor = io_.get_executor()] {
        net::post(executor, [wait] {
            wait->granted = true;
            wait->timer.cancel();
        });
    };
    auto entry = gate->enter(max.limit, max.queue, grant, queued.ticket);
    if (entry == plugins::ConcurrencyGate::Entry::Queued) {
        queued.pending = true;
        wait->timer.expires_after(max.queue_timeout);
        sink.watchForClose([wait] {
            wait->client_left = true;
            wait->timer.cancel();
        });
        co_await wait->timer.async_wait(http::use_nothrow);
        sink.stopWatching();
        queued.pending = false;
        // Withdrawing fails when the grant raced the timeout: the slot is this request's.
        bool got_slot = wait->granted || !gate->withdraw(queued.ticket);
        if (wait->client_left) {
            if (got_slot) gate->leave();
            sink.abort();  // nobody to answer: close instead of sending the session's 500
            writeAccessLog(request, &route, nullptr, sink, started);
            co_return false;
        }
        if (!got_slot) entry = plugins::ConcurrencyGate::Entry::Full;
    }
    if (entry == plugins::ConcurrencyGate::Entry::Full) {
        plugins::Rejection rejection{.plugin = plugins::LimitPlugin::MaxConcurrent,
                                    .status = 503,
                                    .message = "Route " + route.route_id + " is at its limit of " +
                                               std::to_string(max.limit) +
                                               " concurrent requests; retry shortly",
                                    .type = "server_error",
                                    .code = "too_many_concurrent_requests",
                                    .headers = admission.headers};
        rejection.headers.insert(rejection.headers.end(), group_admission.headers.begin(),
                                 group_admission.headers.end());
        rejection.headers.emplace_back("Retry-After", "1");
        co_await refuse(request, sink, route, limits, std::move(rejection), started);
        co_return false;
    }
    slot = plugins::GateSlot{gate};
    co_return true;
}

http::awaitable<void> Worker::refuse(http::ClientRequest& request, http::ResponseSink& sink,
                                     const ai::AiProxyRoute& route,
                                     const plugins::RouteLimits& limits,
                                     plugins::Rejection&& rejection,
                                     std::chrono::steady_clock::time_point started) {
    auto response = http::jsonErrorResponse(static_cast<unsigned>(rejection.status),
                                            rejection.message, rejection.type, rejection.code);
    // insert, not set: a consumer group's quota headers follow the route's of the same name.
    for (const auto& [name, value] : rejection.headers)
        response.insert(name, value);
    if (auto* cell = limits.rejected[static_cast<std::size_t>(rejection.plugin)]) cell->add(index_);
    co_await sendRefusal(request, sink, route, std::move(response), started);
}

http::awaitable<void> Worker::sendRefusal(http::ClientRequest& request, http::ResponseSink& sink,
                                          const ai::AiProxyRoute& route, http::Response response,
                                          std::chrono::steady_clock::time_point started) {
    response.set("X-Request-Id", request.request_id);
    // Counted before the answer goes out, so a client that saw it finds it in /metrics.
    if (auto* cell = route.metrics.refused[statusClassIndex(response.result_int())]) {
        cell->add(index_);
    }
    co_await sink.send(std::move(response));
    writeAccessLog(request, &route, nullptr, sink, started);
}

void Worker::writeAccessLog(const http::ClientRequest& request, const ai::AiProxyRoute* route,
                            const ai::ProxyResult* result, const http::ResponseSink& sink,
                            std::chrono::steady_clock::time_point started) {
    if (!metrics_ || !metrics_->access_log) return;
    using observe::appendJsonString;
    auto now = std::chrono::system_clock::now();
    auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch());
    std::time_t seconds = millis.count() / 1000;
    std::tm utc{};
    ::gmtime_r(&seconds, &utc);
    char time[96];
    std::snprintf(time, sizeof time, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                  utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                  static_cast<int>(millis.count() % 1000));
    auto number = [](double value) {
        char buffer[32];
        std::snprintf(buffer, sizeof buffer, "%.3f", value);
        return std::string(buffer);
    };
    double duration_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
            .count();

    std::string line;
    line.reserve(512);
    line += "{\"time\":\"";
    line += time;
    line += "\",\"request_id\":";
    appendJsonString(line, request.request_id);
    line += ",\"client\":";
    appendJsonString(line, request.clientAddress());
    line += ",\"peer\":";
    appendJsonString(line, request.peer_address);
    line += ",\"method\":";
    appendJsonString(line, request.message.method_string());
    line += ",\"path\":";
    appendJsonString(line, request.path);
    line += ",\"route\":";
    if (route) {
        appendJsonString(line, route->route_id);
    } else {
        line += "null";
    }
    line += ",\"status\":" + std::to_string(sink.status());
    line += ",\"bytes\":" + std::to_string(sink.bodyBytes());
    line += ",\"duration_ms\":" + number(duration_ms);
    line += ",\"upstream\":";
    if (result && result->upstream_id) {
        appendJsonString(line, *result->upstream_id);
    } else {
        line += "null";
    }
    line += ",\"node\":";
    if (result && !result->node.empty()) {
        appendJsonString(line, result->node);
    } else {
        line += "null";
    }
    line += ",\"attempts\":[";
    if (result) {
        bool first = true;
        for (const auto& attempt : result->trace) {
            if (!first) line += ',';
            first = false;
            line += "{\"upstream\":";
            appendJsonString(line, attempt.upstream_id);
            line += ",\"node\":";
            appendJsonString(line, attempt.node);
            line += ",\"outcome\":";
            appendJsonString(line, ai::attemptLabelName(attempt.label));
            if (attempt.status != 0) line += ",\"status\":" + std::to_string(attempt.status);
            line += ",\"ms\":" + number(attempt.ms) + "}";
        }
    }
    line += "],\"request_model\":";
    if (auto model = ai::findRequestModel(request.message.body())) {
        appendJsonString(line, *model);
    } else {
        line += "null";
    }
    line += ",\"served_model\":";
    if (result && !result->served_model.empty()) {
        appendJsonString(line, result->served_model);
    } else {
        line += "null";
    }
    auto optionalCount = [&](const char* name, const std::optional<std::uint64_t>& value) {
        line += ",\"";
        line += name;
        line += "\":";
        line += value ? std::to_string(*value) : "null";
    };
    optionalCount("prompt_tokens", result ? result->prompt_tokens : std::nullopt);
    optionalCount("completion_tokens", result ? result->completion_tokens : std::nullopt);
    line += ",\"cost_usd\":";
    if (result && result->cost_usd) {
        char cost[32];
        std::snprintf(cost, sizeof cost, "%.8f", *result->cost_usd);
        line += cost;
    } else {
        line += "null";
    }
    line += ",\"ttft_ms\":";
    if (result && result->time_to_first_token) {
        line += number(*result->time_to_first_token * 1000);
    } else {
        line += "null";
    }
    line += ",\"stream\":";
    static constexpr std::string_view kStreamOutcomes[] = {"", "complete", "client_cancel",
                                                           "upstream_cut"};
    if (result && result->stream != ai::StreamOutcome::None) {
        appendJsonString(line, kStreamOutcomes[static_cast<std::size_t>(result->stream)]);
    } else {
        line += "null";
    }
    line += ",\"consumer\":";
    if (result && !result->consumer.empty()) {
        appendJsonString(line, result->consumer);
    } else {
        line += "null";
    }
    if (route && route->log.payloads) {
        // Only routes that opt in: prompts and answers are often confidential.
        auto payload = [&](const char* name, std::string_view body, bool truncated) {
            line += ",\"";
            line += name;
            line += "\":";
            appendJsonString(line, body);
            line += ",\"";
            line += name;
            line += "_truncated\":";
            line += truncated ? "true" : "false";
        };
        std::string_view request_body = request.message.body();
        std::size_t limit = route->log.max_payload_bytes;
        payload("request_body", request_body.substr(0, limit), request_body.size() > limit);
        payload("response_body", sink.payload(), sink.payloadTruncated());
    }
    line += "}";
    if (!access_log_batch_.empty()) access_log_batch_ += '\n';
    access_log_batch_ += line;
    if (access_log_batch_.size() >= kAccessLogBatchBytes) {
        flushAccessLog();
    } else if (!access_log_timer_armed_) {
        access_log_timer_armed_ = true;
        access_log_timer_.expires_after(kAccessLogDelay);
        access_log_timer_.async_wait([this](const http::error_code&) {
            access_log_timer_armed_ = false;
            flushAccessLog();
        });
    }
}

void Worker::flushAccessLog() {
    if (access_log_batch_.empty() || !metrics_ || !metrics_->access_log) return;
    // One message of several lines: the sink ends it with the last newline.
    metrics_->access_log->write(access_log_batch_);
    access_log_batch_.clear();
}

void Worker::recordRequest(const ai::AiProxyRoute& route, const ai::ProxyResult& result,
                           const http::ResponseSink& sink,
                           std::chrono::steady_clock::time_point started) {
    if (!metrics_) return;
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const auto& cells = route.metrics;
    std::size_t upstream = result.upstream_slot < cells.requests.size() ? result.upstream_slot : 0;
    if (upstream < cells.requests.size()) {
        if (auto* cell = cells.requests[upstream][statusClassIndex(sink.status())]) {
            cell->add(index_);
        }
    }
    if (cells.duration) cells.duration->observe(index_, seconds);
    if (result.time_to_first_token && cells.time_to_first_token) {
        cells.time_to_first_token->observe(index_, *result.time_to_first_token);
    }
    if (result.prompt_tokens || result.completion_tokens || result.cost_usd) {
        const ai::ModelMetrics* model = &cells.other_model;
        if (result.priced_model) {
            auto found = cells.models.find(*result.priced_model);
            if (found != cells.models.end()) model = &found->second;
        }
        if (upstream < model->tokens.size()) {
            if (auto* cell = model->tokens[upstream][0]; cell && result.prompt_tokens) {
                cell->add(index_, *result.prompt_tokens);
            }
            if (auto* cell = model->tokens[upstream][1]; cell && result.completion_tokens) {
                cell->add(index_, *result.completion_tokens);
            }
        }
        if (model->cost && result.cost_usd && *result.cost_usd > 0) {
            model->cost->add(index_,
                             static_cast<std::uint64_t>(std::llround(*result.cost_usd * 1e9)));
        }
    }
    const auto& data_path = metrics_->data_path;
    if (result.stream != ai::StreamOutcome::None) {
        auto* cell = data_path.stream_outcomes[static_cast<std::size_t>(result.stream) - 1];
        if (cell) cell->add(index_);
    }
    if (data_path.overhead) {
        data_path.overhead->observe(index_, std::max(0.0, seconds - result.upstream_seconds));
    }
}

}  // namespace aiproxy::server
