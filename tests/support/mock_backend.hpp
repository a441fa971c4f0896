#pragma once

// In-process HTTP/1.1 backends (plain or TLS) for the integration tests: each MockBackend runs
// its own io_context on its own thread, so a test drives it from the test thread (queue replies,
// release stream steps) and awaits what it saw (requests, connections, cancelled streams) with
// bounded waits. Asio and Beast stay in the .cpp so test files compile quickly.

#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "support/headers.hpp"

namespace aiproxy::test {

using namespace std::chrono_literals;

/// Default bound for every wait in the support library: long enough for a loaded 2-core machine,
/// short enough that a bug fails the test instead of hanging the suite.
inline constexpr std::chrono::milliseconds kWaitTimeout = 5s;

/// Lets a test release the steps of gated streams one at a time. Step k (1-based) of a stream is
/// its k-th event; the step after the last event is the stream's end (terminating chunk, close
/// or reset). Thread-safe; one gate may control several streams.
class Gate {
public:
    void release(int steps = 1);
    void releaseAll();

    /// Mock side: true when `step` may run; otherwise `wake` is called (once, from the releasing
    /// thread) when more steps are released, and the caller checks again.
    bool passedOrSubscribe(int step, std::function<void()> wake);

private:
    std::mutex mutex_;
    int released_ = 0;
    std::vector<std::function<void()>> wakers_;
};

enum class StreamEnd {
    Complete,  // terminating chunk; the connection stays usable
    Close,     // FIN without the terminating chunk
    Reset,     // RST (SO_LINGER 0) without the terminating chunk
};

/// What the backend does with one request.
struct Reply {
    enum class Kind {
        Respond,  // status + headers + body (Content-Length)
        Hang,     // never answer; the connection stays open until the peer or the test ends it
        Close,    // FIN right after reading the request
        Reset,    // RST right after reading the request
        Garbage,  // `body` as raw bytes instead of HTTP, then FIN
        Stream,   // 200 text/event-stream, chunked, one chunk per event
    };

    Kind kind = Kind::Respond;
    int status = 200;
    Headers headers;  // extra response header fields
    std::string body;
    std::chrono::milliseconds delay{0};  // before the status line

    // Stream only: each event is sent as "data: <event>\n\n" in a chunk of its own.
    std::vector<std::string> events;
    std::chrono::milliseconds interval{0};  // before each event, when not gated
    std::shared_ptr<Gate> gate;             // when set, every step waits for its release
    StreamEnd end = StreamEnd::Complete;

    static Reply json(int status, std::string body);
    static Reply hang() { return {.kind = Kind::Hang}; }
    static Reply close() { return {.kind = Kind::Close}; }
    static Reply reset() { return {.kind = Kind::Reset}; }
    static Reply garbage(std::string bytes) {
        return {.kind = Kind::Garbage, .body = std::move(bytes)};
    }
    static Reply sse(std::vector<std::string> events, StreamEnd end = StreamEnd::Complete);
    static Reply gatedSse(std::vector<std::string> events, std::shared_ptr<Gate> gate,
                          StreamEnd end = StreamEnd::Complete);
    /// 200 with a stream header, then FIN before the first body byte.
    static Reply headerThenClose() { return sse({}, StreamEnd::Close); }
};

// Readable test names and failure messages for parameterized tests.
void PrintTo(StreamEnd end, std::ostream* out);
void PrintTo(Reply::Kind kind, std::ostream* out);

/// How a MockBackend talks on the connections it accepts.
enum class Transport {
    Plain,       // HTTP/1.1 over TCP
    Tls,         // HTTP/1.1 over TLS 1.2+ with the self-signed certificate for localhost and
                 // 127.0.0.1 (support/self_signed_certificate.hpp)
    StalledTls,  // accepts TCP and reads the ClientHello, but never answers it
};

struct RecordedRequest {
    std::string method;
    std::string target;
    Headers headers;
    std::string body;
};

class MockBackend {
public:
    /// Listens on 127.0.0.1:0. Until told otherwise it answers every request with
    /// 200 `{"served_by":"<name>"}`.
    explicit MockBackend(std::string name = "mock", Transport transport = Transport::Plain);
    ~MockBackend();
    MockBackend(const MockBackend&) = delete;
    MockBackend& operator=(const MockBackend&) = delete;

    uint16_t port() const;
    std::string address() const;  // "127.0.0.1:<port>"
    const std::string& name() const;
    /// The default body: `{"served_by":"<name>"}`.
    std::string defaultBody() const;

    void setDefault(Reply reply);
    /// Queued replies serve the next requests in order; then the default serves again.
    void enqueue(Reply reply);

    std::vector<RecordedRequest> requests() const;
    size_t requestCount() const;
    int acceptedConnections() const;
    /// Streams that ended early because the peer closed or a write failed.
    int cancelledStreams() const;
    /// Hanging replies, and StalledTls handshakes, whose connection the peer closed.
    int abandonedHangs() const;
    /// Tls: one entry per completed handshake, in order: the SNI host name the client sent, or
    /// nullopt when it sent none.
    std::vector<std::optional<std::string>> serverNames() const;
    /// Tls: handshakes that failed, e.g. because the client rejected the certificate.
    int failedHandshakes() const;

    bool waitForRequests(size_t count, std::chrono::milliseconds timeout = kWaitTimeout) const;
    bool waitForStreamCancelled(std::chrono::milliseconds timeout = kWaitTimeout) const;
    bool waitForAbandonedHang(std::chrono::milliseconds timeout = kWaitTimeout) const;
    bool waitForFailedHandshake(std::chrono::milliseconds timeout = kWaitTimeout) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// A loopback port that refuses connections: bound, so no one else can take it, but not
/// listening, so every connect gets RST.
class RefusingPort {
public:
    RefusingPort();
    ~RefusingPort();
    RefusingPort(const RefusingPort&) = delete;
    RefusingPort& operator=(const RefusingPort&) = delete;

    uint16_t port() const { return port_; }
    std::string address() const;

private:
    int fd_ = -1;
    uint16_t port_ = 0;
};

}  // namespace aiproxy::test
