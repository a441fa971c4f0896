#pragma once
// ai-request-rewrite (APISIX): the client's body goes to an LLM as the user message, with the
// route's prompt as the system message, and the answer's text replaces the body before the
// proxy stage (request_rewrite_stage.cpp). This is the pure part: the question.

#include <string>
#include <string_view>

namespace aiproxy::plugins {

// The chat request for the rewrite LLM, in APISIX's shape:
// {"messages":[{"role":"system","content":prompt},{"role":"user","content":client_body}],
//  "stream":false}. The client's body goes as raw text, whatever it is (invalid UTF-8 is
// replaced); the LLM's `options` (model, temperature ...) are merged in by its provider shaping.
std::string rewriteQuestion(std::string_view prompt, std::string_view client_body);

}  // namespace aiproxy::plugins
