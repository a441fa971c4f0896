#include "aiproxy/upstream/upstream.hpp"

#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>
#include <stdexcept>

namespace aiproxy::upstream {
namespace {

Node makeNode(const config::NodeConfig& node, config::Scheme scheme) {
    bool v6 = node.host.find(':') != std::string::npos;
    std::string host = v6 ? "[" + node.host + "]" : node.host;
    std::uint16_t default_port = scheme == config::Scheme::Https ? 443 : 80;
    std::string address = host + ":" + std::to_string(node.port);
    return Node{.host = node.host,
                .port = node.port,
                .weight = node.weight,
                .address = address,
                .host_header = node.port == default_port ? host : address};
}

std::unique_ptr<boost::asio::ssl::context> makeTlsContext(const config::TlsConfig& tls) {
    namespace ssl = boost::asio::ssl;
    auto context = std::make_unique<ssl::context>(ssl::context::tls_client);
    context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                         ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                         ssl::context::no_tlsv1_1);
    boost::system::error_code ec;
    context->set_default_verify_paths(ec);
    if (ec) throw std::runtime_error("cannot load the system trust store: " + ec.message());
    context->set_verify_mode(tls.verify ? ssl::verify_peer : ssl::verify_none);
    // Keep TLS sessions for resumption: reconnects to the same node skip a full handshake.
    SSL_CTX_set_session_cache_mode(context->native_handle(), SSL_SESS_CACHE_CLIENT);
    return context;
}

}  // namespace

Upstream::Upstream(config::UpstreamConfig config, std::shared_ptr<UpstreamRuntime> runtime)
    : config_(std::move(config)) {
    nodes_.reserve(config_.nodes.size());
    for (const auto& node : config_.nodes)
        nodes_.push_back(makeNode(node, config_.scheme));
    set_.key = config_.id;
    set_.balancing = config_;
    set_.runtime = UpstreamRuntime::reuseOrCreate(config_, runtime);
    for (std::size_t i = 0; i < nodes_.size(); ++i)
        set_.members.push_back(Member{.upstream = this, .node = i});
    if (config_.scheme == config::Scheme::Https) tls_context_ = makeTlsContext(config_.tls);
}

Upstream::~Upstream() = default;

}  // namespace aiproxy::upstream
