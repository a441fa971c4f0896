#pragma once
// The preamble of an event stream: the events a client is sent before the first one that carries
// content. OpenAI streams open with a role-only chunk, Anthropic ones with message_start and
// ping, Responses API ones with response.created and response.in_progress. Until content comes,
// an upstream that fails has told the client nothing it needs, so the relay holds the preamble
// back and may still retry the request elsewhere (ARCHITECTURE.md section 4.6); once content
// arrives, preamble and content go out in one write, so time to first token is unchanged.

#include <cstddef>
#include <string_view>

namespace aiproxy::ai {

// Held preamble beyond this goes out anyway: a stream that sends this much without content is
// not waiting to fail.
inline constexpr std::size_t kMaxPreambleBytes = 16 * 1024;

// True when every complete event in `stream` (client-side SSE text, possibly ending inside an
// event) carries no content: comments, a role-only or empty chunk, message_start, ping, an empty
// text block start, response.created / response.in_progress. Anything else, [DONE] and error
// events included, is content (it ends the hold).
bool onlyStreamPreamble(std::string_view stream);
// The same, resuming after the first `verified` bytes (complete events already found to be
// preamble, from an earlier call on the same growing text), and advancing it: a relay that
// holds a preamble checks each event once, not once per read.
bool onlyStreamPreamble(std::string_view stream, std::size_t& verified);

}  // namespace aiproxy::ai
