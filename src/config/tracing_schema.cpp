// tracing.*: the OTLP/HTTP collector, sampling and batching (TracingConfig).
#include <string>

#include "schema.hpp"

namespace aiproxy::config::detail {
namespace {

constexpr std::string_view kSignalPath = "/v1/traces";

// "http://host[:port][/path]": host, port (80 when absent) and the export target. As OTLP's
// exporters read a base endpoint, /v1/traces is appended unless the path already ends in it.
bool splitEndpoint(std::string_view url, TracingConfig& tracing, std::string& problem) {
    constexpr std::string_view kScheme = "http://";
    if (url.substr(0, 8) == "https://") {
        problem =
            "https is not supported; send to a collector over http (an otel-collector beside the "
            "gateway can forward over TLS)";
        return false;
    }
    if (url.substr(0, kScheme.size()) != kScheme) {
        problem = "must be an http:// URL such as http://127.0.0.1:4318";
        return false;
    }
    url.remove_prefix(kScheme.size());
    auto slash = url.find('/');
    std::string_view authority = url.substr(0, slash);
    std::string_view path = slash == std::string_view::npos ? "" : url.substr(slash);
    std::string_view host = authority;
    std::string_view port;
    if (!authority.empty() && authority.front() == '[') {  // [::1]:4318
        auto close = authority.find(']');
        if (close == std::string_view::npos) {
            problem = "has an IPv6 address without its closing ']'";
            return false;
        }
        host = authority.substr(1, close - 1);
        auto rest = authority.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') {
                problem = "must have ':' and a port after the IPv6 address";
                return false;
            }
            port = rest.substr(1);
        }
    } else if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
        host = authority.substr(0, colon);
        port = authority.substr(colon + 1);
    }
    if (host.empty() || hasSpace(host) || host.find('@') != std::string_view::npos) {
        problem = "must name a host, as in http://otel-collector:4318";
        return false;
    }
    tracing.port = 80;
    if (!port.empty() || authority.back() == ':') {
        int number = !port.empty() && port.size() <= 5 && isAllDigits(port)
                         ? std::stoi(std::string(port))
                         : 0;
        if (number < 1 || number > 65535) {
            problem = "must have a port between 1 and 65535";
            return false;
        }
        tracing.port = static_cast<std::uint16_t>(number);
    }
    if (hasSpace(path) || path.find('#') != std::string_view::npos) {
        problem = "must have a path without spaces or fragment";
        return false;
    }
    std::string target(path);
    if (target.size() < kSignalPath.size() ||
        target.compare(target.size() - kSignalPath.size(), kSignalPath.size(), kSignalPath) != 0) {
        while (!target.empty() && target.back() == '/')
            target.pop_back();
        target += kSignalPath;
    }
    tracing.host = std::string(host);
    tracing.target = std::move(target);
    return true;
}

void readBatch(const Value& value, TracingBatchConfig& batch) {
    ObjectReader{}
        .on("max_spans", [&](const Value& v) { readSize(v, batch.max_spans); })
        .on("max_delay_ms",
            [&](const Value& v) {
                if (auto delay = v.milliseconds()) batch.max_delay = *delay;
            })
        .on("max_queue", [&](const Value& v) { readSize(v, batch.max_queue); })
        .read(value);
    if (batch.max_spans > batch.max_queue) {
        Value{value.json(), memberPath(value.path(), "max_spans"), value.sink()}.error(
            "must not exceed max_queue (" + std::to_string(batch.max_queue) +
            "): a batch is taken from the queue");
    }
}

}  // namespace

void readTracing(const Value& value, TracingConfig& tracing) {
    ObjectReader{}
        .on("endpoint",
            [&](const Value& v) {
                auto url = v.string();
                if (!url) return;
                std::string problem;
                if (!splitEndpoint(*url, tracing, problem)) {
                    v.error(problem);
                    return;
                }
                tracing.endpoint = *url;
            })
        .on("headers",
            [&](const Value& v) {
                v.forEachMember([&](const std::string& name, const Value& header) {
                    if (!isHeaderName(name)) {
                        header.error("must be a header name (letters, digits, '-', '_', '.')");
                        return;
                    }
                    auto text = header.string();
                    if (!text) return;
                    if (text->find_first_of("\r\n") != std::string::npos) {
                        header.error("must not contain a line break");
                        return;
                    }
                    tracing.headers.emplace_back(name, *text);
                });
            })
        .on("sample_ratio",
            [&](const Value& v) {
                const auto& json = v.json();
                if (!json.is_number() || json.get<double>() < 0 || json.get<double>() > 1) {
                    v.error("must be a number from 0 to 1");
                    return;
                }
                tracing.sample_ratio = json.get<double>();
            })
        .on("batch", [&](const Value& v) { readBatch(v, tracing.batch); })
        .read(value);
}

}  // namespace aiproxy::config::detail
