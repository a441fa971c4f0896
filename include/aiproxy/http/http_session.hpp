#pragma once
// HttpSession: one coroutine per client connection. Reads each request with a fresh parser and
// explicit limits (header bytes, body bytes, idle, header and body time), answers protocol
// errors itself (400, 413, 431) and hands well-formed requests to the RequestHandler.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "aiproxy/http/connection_tracker.hpp"
#include "aiproxy/http/json_body.hpp"
#include "aiproxy/http/response_sink.hpp"
#include "aiproxy/http/tls_context.hpp"
#include "aiproxy/http/types.hpp"

namespace aiproxy::http {

struct SessionLimits {
    std::size_t max_header_bytes = 64 * 1024;
    std::size_t max_body_bytes = 16 * 1024 * 1024;
    std::chrono::milliseconds header_timeout{10'000};
    std::chrono::milliseconds body_timeout{60'000};
    std::chrono::milliseconds keepalive_timeout{60'000};
    std::chrono::milliseconds send_timeout{60'000};
};

struct ClientRequest {
    Request message;
    std::string_view path;       // target without the query, dot segments removed
    std::string path_storage;    // holds `path` when normalisation changed it
    std::string_view query;      // after '?', without it; empty when none
    std::string peer_address;    // the TCP peer
    std::string client_address;  // server.real_ip's answer; empty: the peer is the client
    std::string request_id;      // propagated X-Request-Id or a generated one
    JsonBody json_body;          // read through jsonBody()
    bool tls = false;            // arrived over server.tls: X-Forwarded-Proto is https

    // Who the client is for routing, ip-restriction, limits, hashing and the access log.
    std::string_view clientAddress() const {
        return client_address.empty() ? peer_address : client_address;
    }

    // The body parsed as JSON on the first call (route vars, the ai stage); nullptr when it is
    // not JSON. Later calls cost nothing.
    const nlohmann::json* jsonBody() {
        return json_body.get(message[bhttp::field::content_type], message.body());
    }

    // A stage's new body (a prompt plugin's): every later stage, and every attempt, sees it.
    void replaceBody(std::string body) {
        message.body() = std::move(body);
        message.content_length(message.body().size());
        json_body.reset();
    }
};

class RequestHandler {
public:
    virtual ~RequestHandler() = default;
    // Must answer through the sink (whole or relayed). Runs on the connection's worker.
    virtual awaitable<void> handle(ClientRequest& request, ResponseSink& sink) = 0;
    // A request waiting for 100 Continue before it sends its body (RFC 9110 10.1.1): the handler
    // may refuse it from its head alone (no route, an address or key refused), answering through
    // `sink`, so a client is never asked for a body only to be turned away. `request` holds the
    // head and no body. True: send 100 Continue, read the body, then handle() it.
    virtual awaitable<bool> admitHead(ClientRequest& request, ResponseSink& sink) = 0;
    virtual std::string newRequestId() = 0;
};

struct SessionContext {
    const SessionLimits& limits;
    RequestHandler& handler;
    ConnectionTracker& tracker;
    std::atomic<std::size_t>& open_connections;  // process-wide, decremented on close
    TlsContextHolder* tls = nullptr;  // server.tls; null: plain HTTP. Shared by all workers
};

awaitable<void> runHttpSession(tcp::socket socket, SessionContext context);

}  // namespace aiproxy::http
