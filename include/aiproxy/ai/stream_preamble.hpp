#pragma once
// The preamble of an event stream: the events a client is sent before the first one that carries
// content. OpenAI streams open with a role-only chunk, Anthropic ones with message_start and
// ping, Responses API ones with response.created, response.in_progress and the empty
// output_item.added / content_part.added of the answer's message. Until content comes,
// an upstream that fails has told the client nothing it needs, so the relay holds the preamble
// back and may still retry the request elsewhere (ARCHITECTURE.md section 4.6); once content
// arrives, preamble and content go out in one write, so time to first token is unchanged.

#include <cstddef>
#include <string>
#include <string_view>

namespace aiproxy::ai {

// Held preamble beyond this goes out anyway: a stream that sends this much without content is
// not waiting to fail.
inline constexpr std::size_t kMaxPreambleBytes = 16 * 1024;

// What a stream's held text amounts to, event by event.
enum class StreamStart {
    Preamble,       // every complete event so far carries no content: keep holding
    Content,        // an event with content (or one that ends the stream) came
    UpstreamError,  // an error event came before any content: the upstream failed this attempt
};

// Classifies `stream` (client-side SSE text, possibly ending inside an event), resuming after
// the first `verified` bytes (complete events already found to be preamble) and advancing it.
// An error event (`event: error`, `{"error": ...}`, `{"type":"error"}` of Anthropic and the
// Responses API, Responses' `response.failed`) before
// content is UpstreamError unless it blames the request (invalid_request_error,
// authentication_error, permission_error, not_found_error, invalid_prompt, context or
// content-policy codes):
// another node would refuse the same request, so that one is relayed as content. `error`, when
// given, gets the upstream's error message.
StreamStart classifyStreamStart(std::string_view stream, std::size_t& verified,
                                std::string* error = nullptr);

// True when every complete event in `stream` (client-side SSE text, possibly ending inside an
// event) carries no content: comments, a role-only or empty chunk, message_start, ping, an empty
// text block start, response.created / response.in_progress / response.queued, a Responses
// message or reasoning item or output_text part added empty. Anything else, [DONE] and error
// events included, ends the hold.
bool onlyStreamPreamble(std::string_view stream);
// The same, resuming after the first `verified` bytes (complete events already found to be
// preamble, from an earlier call on the same growing text), and advancing it: a relay that
// holds a preamble checks each event once, not once per read.
bool onlyStreamPreamble(std::string_view stream, std::size_t& verified);

}  // namespace aiproxy::ai
