#pragma once
// JsonBody: a request body parsed as JSON at most once, and only when a stage asks for it (route
// vars on post_arg.*, the ai stage). A request that no one asks about never pays for a parse.
// Parsing never throws: a body that is not JSON, or nests deeper than kMaxDepth, reads as "not
// JSON" (nullptr), which callers treat like an absent field.

#include <cstddef>
#include <memory>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "aiproxy/common/json_depth.hpp"

namespace aiproxy::http {

class JsonBody {
public:
    // Deeper documents are refused before parsing: copying, comparing and serialising a parsed
    // value recurse once per level, so 16 MB of '[' would exhaust a worker's stack. The ai
    // stage's limit (src/ai/json_access.hpp); no real request nests this deep.
    static constexpr std::size_t kMaxDepth = 512;

    JsonBody();
    ~JsonBody();
    JsonBody(JsonBody&&) noexcept;
    JsonBody& operator=(JsonBody&&) noexcept;

    // The first call parses when the content type is JSON (application/json, */*+json) or the
    // body starts with '{' or '[' (clients often send JSON as form data); later calls return the
    // first result whatever they pass.
    const nlohmann::json* get(std::string_view content_type, std::string_view body);
    // Whether get() has been called: the parse is paid for.
    bool attempted() const { return attempted_; }
    // The body was replaced (a prompt plugin): the next get() parses the new one.
    void reset();

private:
    std::unique_ptr<nlohmann::json> value_;  // null: not JSON
    bool attempted_ = false;
};

using common::nestsDeeperThan;

// "application/json", "application/json; charset=utf-8", "application/vnd.x+json" (any case).
bool isJsonContentType(std::string_view content_type);

}  // namespace aiproxy::http
