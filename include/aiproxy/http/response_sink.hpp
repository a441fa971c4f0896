#pragma once
// ResponseSink: writes one response to the client, either whole (send) or as a relay
// (begin, write..., finish) where each write goes out before the caller reads more upstream
// data: that is the backpressure, and no body is ever held whole. Every write has a deadline.
// The status line and header are serialized into one contiguous buffer and go out with the
// first body bytes in a single gathered write: Beast's serializer hands the kernel one iovec
// per header token, which cost a third of the proxy's user time in the benchmark.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "aiproxy/http/types.hpp"

namespace aiproxy::http {

class ResponseSink {
public:
    ResponseSink(beast::tcp_stream& stream, std::chrono::milliseconds send_timeout,
                 unsigned client_version, bool client_keep_alive, bool head_request);
    // The same over TLS: writes are encrypted; deadlines and the close watch use its TCP layer.
    ResponseSink(TlsStream& stream, std::chrono::milliseconds send_timeout, unsigned client_version,
                 bool client_keep_alive, bool head_request);
    ~ResponseSink();
    ResponseSink(const ResponseSink&) = delete;
    ResponseSink& operator=(const ResponseSink&) = delete;

    // Watches the client connection while the handler waits on an upstream: when the client
    // closes it, on_close runs once on this worker, so the caller can cancel the upstream work
    // (an abandoned LLM call should stop costing tokens). Active until stopWatching().
    void watchForClose(std::function<void()> on_close);
    void stopWatching();

    // A complete response (errors, small answers).
    awaitable<error_code> send(Response&& response);

    // Relay: header first (sent together with the first write), then body pieces.
    // content_length: the exact body size when known; otherwise chunked (HTTP/1.1) or
    // close-delimited (HTTP/1.0).
    void begin(bhttp::response_header<>&& header, std::optional<std::uint64_t> content_length);
    // body_ends: the upstream's body is complete, finish() comes next (after at most a tail
    // write). A chunked piece is then kept (copied) and leaves with the terminating chunk in
    // one write instead of two; nothing waits on the network meanwhile.
    awaitable<error_code> write(const void* data, std::size_t size, bool body_ends = false);
    awaitable<error_code> finish();
    // Ends the response abruptly (upstream failed after the commit point): the connection is
    // closed without a terminating chunk, so the client sees an incomplete body.
    void abort();

    // A header the gateway adds to whatever response goes out (quota headers of the limits),
    // replacing a field of that name from the upstream. Call before send() or begin().
    void addHeader(std::string name, std::string value);

    // Keeps a copy of the first max_bytes of the body sent (a route's log.payloads); a HEAD
    // answer captures nothing.
    void capturePayload(std::size_t max_bytes);
    const std::string& payload() const { return payload_; }
    bool payloadTruncated() const { return payload_truncated_; }

    bool committed() const { return committed_; }
    bool keepAlive() const { return keep_alive_ && !aborted_; }
    unsigned status() const { return status_; }
    std::uint64_t bodyBytes() const { return body_bytes_; }

private:
    struct CloseWatch {
        bool active = true;
        std::function<void()> on_close;
        int fin_checks = 0;  // TLS: looks for a FIN behind readable bytes (watchForTlsFin)
    };
    static void fire(CloseWatch& watch);
    static void watchForTlsFin(const std::shared_ptr<CloseWatch>& watch, tcp::socket& socket);
    void serializeHead(const bhttp::response_header<>& header,
                       std::optional<std::uint64_t> content_length);
    awaitable<error_code> writeBuffers(const net::const_buffer* buffers, std::size_t count);
    void capture(const void* data, std::size_t size);

    beast::tcp_stream& stream_;  // the TCP layer (of tls_ when set)
    TlsStream* tls_ = nullptr;
    std::chrono::milliseconds send_timeout_;
    unsigned version_;
    bool keep_alive_;
    bool head_;
    bool committed_ = false;
    bool aborted_ = false;
    unsigned status_ = 0;
    std::uint64_t body_bytes_ = 0;
    bool chunked_ = false;
    bool head_sent_ = false;   // false while head_buffer_ holds bytes not yet written
    std::string head_buffer_;  // the serialized head, then a piece kept for finish()
    std::shared_ptr<CloseWatch> watch_;
    std::vector<std::pair<std::string, std::string>> extra_headers_;
    std::optional<std::size_t> payload_limit_;
    std::string payload_;
    bool payload_truncated_ = false;
};

}  // namespace aiproxy::http
