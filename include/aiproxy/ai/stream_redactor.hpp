#pragma once
// StreamRedactor: replaces the matches of a list of patterns in text that arrives in pieces (the
// content deltas of a streamed answer), so that a match split across two pieces is replaced too.
//
// What is replaced: one left-to-right pass over the text; at each point the leftmost match of
// any pattern is replaced (on a tie, the pattern listed first wins), and the scan goes on after
// it. Replacement text is never scanned again, and empty matches replace nothing. Text fed in
// any pieces comes out as the same text fed whole, as long as no match is longer than the
// holdback bound.
//
// How: every pattern is searched with PCRE2's hard partial matching. Text before the earliest
// point where a match may still be starting is final and is returned at once; from that point
// on the text is held until more arrives (or flush() ends it). The held text never exceeds
// `max_holdback_chars` code points: beyond that the oldest held text goes out unchanged, even
// if a match was pending in it, since an answer must keep flowing and memory stays bounded
// (a client that needs longer matches raises the bound). Emitted text remains visible to
// lookbehinds and \b as context (its last kContextBytes), so where the stream happens to be
// cut never changes what `\bword\b` matches. A pattern that hits its work limit counts as not
// matching at that point. Text is UTF-8; cuts are made between code points.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "aiproxy/common/pattern.hpp"

namespace aiproxy::ai {

struct RedactionRule {
    common::Pattern pattern;
    std::string replace;
};

class StreamRedactor {
public:
    // Emitted text kept as context for lookbehinds and word boundaries.
    static constexpr std::size_t kContextBytes = 32;

    // `rules` must outlive the redactor (a route's compiled settings do).
    StreamRedactor(const std::vector<RedactionRule>& rules, std::size_t max_holdback_chars);

    // Takes the next piece; returns the text that is final now (may be empty). The view is
    // valid until the next call.
    std::string_view feed(std::string_view text);
    // Takes the last piece, if any, and returns everything held, matches replaced: the text
    // ended, or paused too long. Feeding may go on afterwards.
    std::string_view flush(std::string_view text = {});

    bool holding() const { return text_.size() > start_; }
    std::size_t heldBytes() const { return text_.size() - start_; }
    std::size_t redactions() const { return redactions_; }  // matches replaced so far

private:
    common::Pattern::Result find(std::size_t rule, std::size_t from, bool final) const;
    void scan(bool final);

    const std::vector<RedactionRule>* rules_;
    std::size_t max_chars_;
    std::string text_;  // [0, start_): emitted context; [start_, end): held
    std::size_t start_ = 0;
    std::string out_;
    std::vector<common::Pattern::Result> next_;  // per rule: its next match or partial match
    std::size_t redactions_ = 0;
};

// `text` with every match replaced (the same pass, all at once); adds the matches to `count`.
std::string redactText(const std::vector<RedactionRule>& rules, std::string_view text,
                       std::size_t& count);

}  // namespace aiproxy::ai
