#pragma once

// Blocking loopback clients for the integration tests. Every operation has a deadline, so a
// daemon that never answers fails a test instead of hanging the suite.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "support/headers.hpp"
#include "support/mock_backend.hpp"

namespace aiproxy::test {

struct Request {
    std::string method = "GET";
    std::string target = "/";
    Headers headers;  // Host defaults to 127.0.0.1:<port>; Content-Length is set from the body
    std::string body;
    std::chrono::milliseconds timeout = kWaitTimeout;
    std::string address = "127.0.0.1";  // where to connect: "::1" for IPv6 listeners
};

struct Response {
    int status = 0;
    Headers headers;
    std::string body;
    std::string error;  // set when no complete response arrived

    bool ok() const { return error.empty(); }
};

/// One request on a fresh connection, closed afterwards.
Response sendRequest(uint16_t port, const Request& request);

/// One Admin API call on `port`: `path` is under /apisix/admin/; a body goes as JSON.
Response adminCall(uint16_t port, std::string_view key, const std::string& method,
                   const std::string& path, const std::string& body = "");

/// The value of one sample line ("name{labels}") of the status port's /metrics, -1 when absent.
double metricSample(uint16_t status_port, const std::string& series);

/// A POST of a chat completion request (`"stream": true` when `stream`) to `target`.
Request chatRequest(std::string target = "/llm/chat/completions", bool stream = false);

struct SseEvent {
    std::string data;  // the event's data lines, joined by '\n'
    std::chrono::steady_clock::time_point arrived;
};

/// Reads a response body event by event as it arrives, for streaming tests.
class StreamingClient {
public:
    enum class State {
        Open,      // more may come
        Complete,  // the message ended properly (terminating chunk or full length)
        Broken,    // the connection ended before the message did
        TimedOut,  // nothing arrived in time; the connection is closed
    };

    explicit StreamingClient(uint16_t port);
    ~StreamingClient();
    StreamingClient(const StreamingClient&) = delete;
    StreamingClient& operator=(const StreamingClient&) = delete;

    /// Connects and writes the request without waiting for the answer.
    bool send(const Request& request);
    bool readHeader(std::chrono::milliseconds timeout = kWaitTimeout);
    int status() const;
    const Headers& headers() const;
    /// The next complete SSE event; nullopt once state() is no longer Open.
    std::optional<SseEvent> nextEvent(std::chrono::milliseconds timeout = kWaitTimeout);
    /// Reads until the message ends or breaks; returns the final state.
    State readToEnd(std::chrono::milliseconds timeout = kWaitTimeout);
    State state() const;
    /// The body bytes received so far.
    std::string body() const;
    std::string error() const;
    /// Closes the socket, e.g. to walk away mid-stream.
    void close();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// Raw bytes both ways, for malformed requests and connection-level behaviour.
class RawConnection {
public:
    explicit RawConnection(uint16_t port);
    ~RawConnection();
    RawConnection(const RawConnection&) = delete;
    RawConnection& operator=(const RawConnection&) = delete;

    bool connected() const;
    bool send(std::string_view bytes);
    /// Reads until `needle` has been received; false on timeout or close before it.
    bool readUntil(std::string_view needle, std::chrono::milliseconds timeout = kWaitTimeout);
    /// Reads until the peer closes the connection; false if it is still open at the timeout.
    bool waitClosed(std::chrono::milliseconds timeout = kWaitTimeout);
    const std::string& received() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// True when a TCP connect to 127.0.0.1:port is refused (nothing listening).
bool connectionRefused(uint16_t port);

}  // namespace aiproxy::test
