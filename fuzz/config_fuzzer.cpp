// config_fuzzer: the config loader (env expansion, the YAML event parser or the JSON parser,
// schema readers, cross-section checks) on arbitrary text.
//
// Input: byte 0 chooses the format (even: JSON, so 'J'; odd: YAML, so 'Y'); the rest is the file.
// Broken invariants abort(): a config without a document or with errors, errors without
// diagnostics text, a loaded document that cannot be serialized (invalid UTF-8), a loaded config
// whose routes name upstreams it does not declare or whose ids repeat, and a second parse of the
// same text that disagrees with the first.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "aiproxy/config/config_loader.hpp"

namespace aiproxy::fuzz {
namespace {

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "config_fuzzer: %s\n", what);
    std::abort();
}

// Fixed values, so a run never depends on the machine's environment.
std::optional<std::string> lookup(const std::string& name) {
    if (name == "API_KEY") return "sk-fuzz-0123456789abcdef";
    if (name == "PORT") return "8001";
    if (name == "HOST") return "127.0.0.1";
    if (name == "EMPTY") return "";
    return std::nullopt;
}

template <typename Objects>
std::set<std::string> uniqueIds(const Objects& objects) {
    std::set<std::string> ids;
    for (const auto& object : objects) {
        if (!ids.insert(object.id).second) fail("a loaded config repeats an id");
    }
    return ids;
}

void checkLoaded(const config::LoadResult& result) {
    if (result.config.has_value() != result.errors.empty()) {
        fail("the config must be set exactly when there are no errors");
    }
    for (const auto& error : result.errors) {
        if (error.message.empty()) fail("an error without a message");
    }
    if (!result.config) {
        if (result.document) fail("a document without a config");
        return;
    }
    if (!result.document) fail("a config without its document");
    try {
        (void)result.document->dump();
    } catch (const nlohmann::json::type_error&) {
        // The admin export (GET /apisix/admin/configs) serializes this document.
        fail("the loaded document is not valid UTF-8");
    }
    const config::Config& config = *result.config;
    std::set<std::string> upstreams = uniqueIds(config.upstreams);
    uniqueIds(config.routes);
    for (const auto& route : config.routes) {
        if (!route.ai_proxy) continue;
        if (upstreams.count(route.ai_proxy->upstream_id) == 0) {
            fail("a loaded route names a missing upstream");
        }
        const std::string& fallback = route.ai_proxy->upstream_fallback_id;
        if (!fallback.empty() && upstreams.count(fallback) == 0) {
            fail("a loaded route names a missing fallback upstream");
        }
    }
}

bool sameDiagnostics(const std::vector<config::Diagnostic>& a,
                     const std::vector<config::Diagnostic>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i].path != b[i].path || a[i].message != b[i].message) return false;
    }
    return true;
}

}  // namespace
}  // namespace aiproxy::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace aiproxy;
    if (size == 0) return 0;
    config::Format format = (data[0] & 1) == 0 ? config::Format::Json : config::Format::Yaml;
    std::string_view text{reinterpret_cast<const char*>(data) + 1, size - 1};

    config::LoadResult first = config::parseConfig(text, format, fuzz::lookup);
    // CONFIG_FUZZ_TRACE=1 prints what loaded: for writing seeds and reading crashes.
    static const bool kTrace = std::getenv("CONFIG_FUZZ_TRACE") != nullptr;
    if (kTrace) {
        std::fprintf(stderr, "%s: %s, %zu errors, %zu warnings\n",
                     format == config::Format::Json ? "json" : "yaml",
                     first.config ? "loaded" : "refused", first.errors.size(),
                     first.warnings.size());
        for (const auto& error : first.errors)
            std::fprintf(stderr, "  error %s\n", error.toString().c_str());
    }
    fuzz::checkLoaded(first);
    config::LoadResult second = config::parseConfig(text, format, fuzz::lookup);
    if (first.config != second.config || !fuzz::sameDiagnostics(first.errors, second.errors) ||
        !fuzz::sameDiagnostics(first.warnings, second.warnings)) {
        fuzz::fail("two parses of the same text disagree");
    }
    return 0;
}
