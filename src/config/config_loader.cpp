#include "aiproxy/config/config_loader.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "document_parser.hpp"
#include "schema.hpp"

namespace aiproxy::config {
namespace {

// A config file is a few kilobytes; this only stops /dev/zero and the like.
constexpr std::size_t kMaxFileBytes = std::size_t{16} * 1024 * 1024;

bool endsWith(std::string_view text, std::string_view suffix) {
    if (text.size() < suffix.size()) return false;
    auto tail = text.substr(text.size() - suffix.size());
    for (std::size_t i = 0; i < suffix.size(); ++i) {
        char c = tail[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != suffix[i]) return false;
    }
    return true;
}

std::optional<Format> formatOf(std::string_view path) {
    if (endsWith(path, ".yaml") || endsWith(path, ".yml")) return Format::Yaml;
    if (endsWith(path, ".json")) return Format::Json;
    return std::nullopt;
}

LoadResult fileError(std::string message) {
    LoadResult result;
    result.errors.push_back({"", std::move(message)});
    return result;
}

}  // namespace

LoadResult parseConfig(std::string_view text, Format format, const EnvLookup& env) {
    detail::DiagnosticSink sink;
    LoadResult result;
    try {
        std::string expanded = expandEnvironment(text, env, sink.errors);
        std::optional<detail::Json> document = format == Format::Yaml
                                                   ? detail::parseYaml(expanded, sink)
                                                   : detail::parseJson(expanded, sink);
        if (document) {
            result.config = detail::readConfig(*document, sink);
            if (result.config && format == Format::Yaml) {
                // yaml-cpp does not check the encoding of values; JSON output (the admin
                // export, upstream options) needs valid UTF-8.
                try {
                    (void)document->dump();
                } catch (const nlohmann::json::type_error&) {
                    sink.error("", "the file is not valid UTF-8");
                }
            }
            if (result.config) {
                result.document = std::make_shared<const detail::Json>(std::move(*document));
            }
        }
    } catch (const std::exception& e) {
        // Only allocation failures are expected here; callers get a diagnostic, not an exception.
        sink.error("", std::string{"cannot load the configuration: "} + e.what());
    }
    if (!sink.errors.empty()) {
        result.config.reset();
        result.document.reset();
    }
    result.errors = std::move(sink.errors);
    result.warnings = std::move(sink.warnings);
    return result;
}

namespace {

// The price table file: only a pricing: section, read with the same rules as the config's.
void loadPricingFile(const std::string& config_path, Config& config, LoadResult& result) {
    std::filesystem::path file{config.pricing_file};
    if (file.is_relative()) file = std::filesystem::path{config_path}.parent_path() / file;
    LoadResult prices = loadConfigFile(file.string(), processEnvironment());
    auto fail = [&](const std::string& message) {
        result.errors.push_back({"pricing_file", message});
    };
    if (!prices.config) {
        for (const auto& error : prices.errors)
            fail(file.string() + ": " + error.toString());
        return;
    }
    if (!prices.document || !prices.document->is_object() ||
        prices.document->size() != prices.document->count("pricing")) {
        fail(file.string() + ": must hold only a pricing: section");
        return;
    }
    auto merged = prices.config->pricing;
    for (auto& entry : config.pricing) {
        auto same = std::find_if(merged.begin(), merged.end(),
                                 [&](const auto& item) { return item.first == entry.first; });
        if (same != merged.end()) {
            same->second = entry.second;
        } else {
            merged.push_back(entry);
        }
    }
    config.pricing = std::move(merged);
}

// server.tls: relative paths become relative to the config file's folder (like pricing_file), so
// the daemon finds them whatever its working directory. Each file must be readable and hold a
// PEM block; whether the PEM is a usable certificate or key is checked when the TLS context is
// built (start-up, SIGHUP).
void resolveServerTls(const std::string& config_path, ServerTlsConfig& tls, LoadResult& result) {
    auto resolve = [&](const char* field, std::string& path) {
        if (path.empty()) return;
        std::filesystem::path file{path};
        if (file.is_relative()) file = std::filesystem::path{config_path}.parent_path() / file;
        path = file.lexically_normal().string();
        auto fail = [&](const std::string& message) {
            result.errors.push_back({std::string{"server.tls."} + field, message});
        };
        std::unique_ptr<std::FILE, int (*)(std::FILE*)> in{std::fopen(path.c_str(), "rb"),
                                                           &std::fclose};
        if (!in) return fail("cannot read " + path + ": " + std::strerror(errno));
        // A PEM file's first block starts within its first few kilobytes (comments before it).
        std::array<char, 16384> head{};
        std::size_t n = std::fread(head.data(), 1, head.size(), in.get());
        if (std::string_view{head.data(), n}.find("-----BEGIN ") == std::string_view::npos) {
            fail(path + " is not a PEM file (no -----BEGIN line)");
        }
    };
    resolve("cert", tls.cert);
    resolve("key", tls.key);
    resolve("client_ca", tls.client_ca);
}

}  // namespace

LoadResult loadConfigFile(const std::string& path, const EnvLookup& env) {
    std::optional<Format> format = formatOf(path);
    if (!format) {
        return fileError(path + ": unknown file extension (expected .yaml, .yml or .json)");
    }
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> file{std::fopen(path.c_str(), "rb"),
                                                         &std::fclose};
    if (!file) return fileError("cannot read " + path + ": " + std::strerror(errno));
    std::string text;
    std::array<char, 8192> buffer{};
    while (true) {
        std::size_t n = std::fread(buffer.data(), 1, buffer.size(), file.get());
        text.append(buffer.data(), n);
        if (text.size() > kMaxFileBytes) {
            return fileError("cannot read " + path + ": larger than 16 MiB");
        }
        if (n < buffer.size()) break;
    }
    if (std::ferror(file.get()) != 0) {
        return fileError("cannot read " + path + ": " + std::strerror(errno));
    }
    LoadResult result = parseConfig(text, *format, env);
    if (result.config && !result.config->pricing_file.empty()) {
        loadPricingFile(path, *result.config, result);
    }
    if (result.config && result.config->server.tls) {
        resolveServerTls(path, *result.config->server.tls, result);
    }
    if (!result.errors.empty()) {
        result.config.reset();
        result.document.reset();
    }
    return result;
}

}  // namespace aiproxy::config
