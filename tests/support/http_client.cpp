#include "support/http_client.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace aiproxy::test {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using boost::system::error_code;

constexpr uint64_t kMaxBody = 64ULL << 20;

// One connection driven synchronously: each operation starts an async op with the stream's
// deadline armed and runs the private io_context until it completes or the deadline closes it.
struct Channel {
    explicit Channel(uint16_t port_number) : port(port_number) {}

    template <class Start>
    error_code run(std::chrono::milliseconds timeout, Start start) {
        error_code result = net::error::would_block;
        last_bytes = 0;
        stream.expires_after(timeout);
        start([this, &result](error_code ec, std::size_t n) {
            result = ec;
            last_bytes = n;
        });
        ioc.restart();
        ioc.run();
        return result;
    }

    error_code connect(std::chrono::milliseconds timeout) {
        tcp::endpoint endpoint{net::ip::make_address(address), port};
        error_code result = net::error::would_block;
        stream.expires_after(timeout);
        stream.async_connect(endpoint, [&result](error_code ec) { result = ec; });
        ioc.restart();
        ioc.run();
        return result;
    }

    error_code write(const Request& request) {
        http::request<http::string_body> message{http::string_to_verb(request.method),
                                                 request.target, 11, request.body};
        if (message.method() == http::verb::unknown) message.method_string(request.method);
        if (!request.headers.has("Host")) {
            message.set(http::field::host, "127.0.0.1:" + std::to_string(port));
        }
        for (const auto& [name, value] : request.headers.fields())
            message.insert(name, value);
        if (!request.body.empty() || request.method == "POST") message.prepare_payload();
        return run(request.timeout,
                   [&](auto handler) { http::async_write(stream, message, std::move(handler)); });
    }

    net::io_context ioc;
    beast::tcp_stream stream{ioc};
    beast::flat_buffer buffer;
    uint16_t port;
    std::string address = "127.0.0.1";
    std::size_t last_bytes = 0;  // transferred by the last run()
};

Headers copyHeaders(const http::fields& fields) {
    Headers headers;
    for (const auto& field : fields) {
        headers.add(std::string(field.name_string()), std::string(field.value()));
    }
    return headers;
}

std::string describe(std::string_view what, error_code ec) {
    return std::string(what) + ": " + ec.message();
}

// Splits one SSE event block into its joined data lines.
std::string eventData(std::string_view block) {
    std::string data;
    bool first = true;
    while (!block.empty()) {
        auto end = block.find('\n');
        std::string_view line = block.substr(0, end);
        block = end == std::string_view::npos ? std::string_view{} : block.substr(end + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.substr(0, 5) != "data:") continue;
        line.remove_prefix(5);
        if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
        if (!first) data += '\n';
        data += line;
        first = false;
    }
    return data;
}

}  // namespace

Response sendRequest(uint16_t port, const Request& request) {
    Response response;
    Channel channel{port};
    channel.address = request.address;
    if (auto ec = channel.connect(request.timeout)) {
        response.error = describe("connect", ec);
        return response;
    }
    if (auto ec = channel.write(request)) {
        response.error = describe("write", ec);
        return response;
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxBody);
    auto ec = channel.run(request.timeout, [&](auto handler) {
        http::async_read(channel.stream, channel.buffer, parser, std::move(handler));
    });
    if (parser.is_header_done()) {
        response.status = static_cast<int>(parser.get().result_int());
        response.headers = copyHeaders(parser.get().base());
        response.body = parser.get().body();
    }
    if (ec) response.error = describe("read", ec);
    return response;
}

Response adminCall(uint16_t port, std::string_view key, const std::string& method,
                   const std::string& path, const std::string& body) {
    Request request{.method = method, .target = "/apisix/admin/" + path, .body = body};
    request.headers.add("X-API-KEY", std::string(key));
    if (!body.empty()) request.headers.add("Content-Type", "application/json");
    return sendRequest(port, request);
}

double metricSample(uint16_t status_port, const std::string& series) {
    Response response = sendRequest(status_port, Request{.target = "/metrics"});
    auto at = response.body.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::stod(response.body.substr(at + series.size() + 2));
}

Request chatRequest(std::string target, bool stream) {
    std::string body = R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}])";
    body += stream ? R"(,"stream":true})" : "}";
    return {.method = "POST",
            .target = std::move(target),
            .headers = {{"Content-Type", "application/json"}},
            .body = std::move(body)};
}

struct StreamingClient::Impl {
    explicit Impl(uint16_t port) : channel(port) { parser.body_limit(kMaxBody); }

    // Reads once more into the parser; updates the state on failure or completion.
    void readSome(std::chrono::milliseconds timeout) {
        auto ec = channel.run(timeout, [&](auto handler) {
            http::async_read_some(channel.stream, channel.buffer, parser, std::move(handler));
        });
        if (ec == beast::error::timeout) {
            state = State::TimedOut;
            error = describe("read", ec);
        } else if (ec) {
            state = State::Broken;
            error = describe("read", ec);
        } else if (parser.is_done()) {
            state = State::Complete;
        }
    }

    Channel channel;
    http::response_parser<http::string_body> parser;
    Headers headers;
    std::size_t consumed = 0;  // body bytes already returned as events
    State state = State::Open;
    std::string error;
};

StreamingClient::StreamingClient(uint16_t port) : impl_(std::make_unique<Impl>(port)) {}

StreamingClient::~StreamingClient() = default;

bool StreamingClient::send(const Request& request) {
    error_code ec = impl_->channel.connect(request.timeout);
    if (!ec) ec = impl_->channel.write(request);
    if (ec) {
        impl_->state = State::Broken;
        impl_->error = describe("send", ec);
    }
    return !ec;
}

bool StreamingClient::readHeader(std::chrono::milliseconds timeout) {
    if (impl_->state != State::Open) return impl_->parser.is_header_done();
    auto ec = impl_->channel.run(timeout, [&](auto handler) {
        http::async_read_header(impl_->channel.stream, impl_->channel.buffer, impl_->parser,
                                std::move(handler));
    });
    if (ec) {
        impl_->state = ec == beast::error::timeout ? State::TimedOut : State::Broken;
        impl_->error = describe("read header", ec);
        return false;
    }
    impl_->headers = copyHeaders(impl_->parser.get().base());
    if (impl_->parser.is_done()) impl_->state = State::Complete;
    return true;
}

int StreamingClient::status() const {
    return impl_->parser.is_header_done() ? static_cast<int>(impl_->parser.get().result_int()) : 0;
}

const Headers& StreamingClient::headers() const {
    return impl_->headers;
}

std::optional<SseEvent> StreamingClient::nextEvent(std::chrono::milliseconds timeout) {
    if (!impl_->parser.is_header_done() && !readHeader(timeout)) return std::nullopt;
    for (;;) {
        const std::string& body = impl_->parser.get().body();
        auto end = body.find("\n\n", impl_->consumed);
        if (end != std::string::npos) {
            SseEvent event{.data = eventData(std::string_view(body).substr(impl_->consumed,
                                                                           end - impl_->consumed)),
                           .arrived = std::chrono::steady_clock::now()};
            impl_->consumed = end + 2;
            return event;
        }
        if (impl_->state != State::Open) return std::nullopt;
        impl_->readSome(timeout);
    }
}

StreamingClient::State StreamingClient::readToEnd(std::chrono::milliseconds timeout) {
    if (!impl_->parser.is_header_done() && !readHeader(timeout)) return impl_->state;
    while (impl_->state == State::Open)
        impl_->readSome(timeout);
    return impl_->state;
}

StreamingClient::State StreamingClient::state() const {
    return impl_->state;
}

std::string StreamingClient::body() const {
    return impl_->parser.get().body();
}

std::string StreamingClient::error() const {
    return impl_->error;
}

void StreamingClient::close() {
    error_code ignored;
    impl_->channel.stream.socket().close(ignored);
    if (impl_->state == State::Open) impl_->state = State::Broken;
}

struct RawConnection::Impl {
    explicit Impl(uint16_t port) : channel(port) {}

    // Appends what arrives; false on timeout or close.
    bool readMore(std::chrono::milliseconds timeout) {
        char scratch[4096];
        auto ec = channel.run(timeout, [&](auto handler) {
            channel.stream.async_read_some(net::buffer(scratch), std::move(handler));
        });
        received.append(scratch, channel.last_bytes);
        if (ec && ec != beast::error::timeout) closed = true;
        return !ec;
    }

    Channel channel;
    bool connected = false;
    bool closed = false;
    std::string received;
};

RawConnection::RawConnection(uint16_t port) : impl_(std::make_unique<Impl>(port)) {
    impl_->connected = !impl_->channel.connect(kWaitTimeout);
}

RawConnection::~RawConnection() = default;

bool RawConnection::connected() const {
    return impl_->connected;
}

bool RawConnection::send(std::string_view bytes) {
    return !impl_->channel.run(kWaitTimeout, [&](auto handler) {
        net::async_write(impl_->channel.stream, net::buffer(bytes), std::move(handler));
    });
}

bool RawConnection::readUntil(std::string_view needle, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (impl_->received.find(needle) == std::string::npos) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0 || impl_->closed || !impl_->readMore(left)) {
            return impl_->received.find(needle) != std::string::npos;
        }
    }
    return true;
}

bool RawConnection::waitClosed(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!impl_->closed) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0 || (!impl_->readMore(left) && !impl_->closed)) return false;
    }
    return true;
}

const std::string& RawConnection::received() const {
    return impl_->received;
}

bool connectionRefused(uint16_t port) {
    Channel channel{port};
    return channel.connect(kWaitTimeout) == net::error::connection_refused;
}

}  // namespace aiproxy::test
