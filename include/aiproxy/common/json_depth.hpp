#pragma once
// How deep a JSON text nests, found before parsing it. Parsed values are copied, compared,
// validated and serialised by code that recurses once per level, so a document of a few hundred
// kilobytes of '[' would exhaust a thread's stack; every JSON input is checked with this first.

#include <cstddef>
#include <string_view>

namespace aiproxy::common {

// True when arrays/objects in `text` nest deeper than `limit` (brackets inside strings do not
// count; stray closers do not buy depth). A linear scan, cheaper than the parse it guards.
bool nestsDeeperThan(std::string_view text, std::size_t limit);

// The limit for documents an operator writes (Admin API bodies, the state file): far deeper than
// any real route, upstream or consumer.
inline constexpr std::size_t kMaxDocumentDepth = 100;

}  // namespace aiproxy::common
