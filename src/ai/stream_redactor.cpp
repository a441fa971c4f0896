#include "aiproxy/ai/stream_redactor.hpp"

#include <limits>

namespace aiproxy::ai {
namespace {

using Outcome = common::Pattern::Outcome;

bool continuationByte(char c) {
    return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

// Where the last `chars` code points of `text` begin (0 when it has no more than that).
std::size_t tailOfChars(std::string_view text, std::size_t chars) {
    if (chars == 0) return text.size();
    std::size_t seen = 0;
    for (std::size_t i = text.size(); i > 0; --i) {
        if (!continuationByte(text[i - 1]) && ++seen == chars) return i - 1;
    }
    return 0;
}

bool found(const common::Pattern::Result& result) {
    return result.outcome == Outcome::Match || result.outcome == Outcome::Partial;
}

}  // namespace

StreamRedactor::StreamRedactor(const std::vector<RedactionRule>& rules,
                               std::size_t max_holdback_chars)
    : rules_(&rules), max_chars_(max_holdback_chars), next_(rules.size()) {}

std::string_view StreamRedactor::feed(std::string_view text) {
    out_.clear();
    if (rules_->empty()) return text;
    text_.append(text);
    scan(false);
    return out_;
}

std::string_view StreamRedactor::flush(std::string_view text) {
    out_.clear();
    if (rules_->empty()) return text;
    text_.append(text);
    scan(true);
    return out_;
}

// The rule's first non-empty match (or, unless final, possible match cut by the text's end) at
// or after `from`; an empty match is skipped by trying again one code point later.
common::Pattern::Result StreamRedactor::find(std::size_t rule, std::size_t from, bool final) const {
    const auto& pattern = (*rules_)[rule].pattern;
    for (;;) {
        auto result = pattern.search(text_, from, !final);
        if (!found(result)) return {};
        if (result.outcome == Outcome::Partial || result.end > result.begin) return result;
        if (result.begin >= text_.size()) return {};
        from = result.begin + 1;
        while (from < text_.size() && continuationByte(text_[from]))
            ++from;
    }
}

void StreamRedactor::scan(bool final) {
    std::size_t pos = start_;
    for (std::size_t i = 0; i < next_.size(); ++i)
        next_[i] = find(i, pos, final);
    for (;;) {
        std::size_t best = next_.size();
        for (std::size_t i = 0; i < next_.size(); ++i) {
            if (found(next_[i]) && (best == next_.size() || next_[i].begin < next_[best].begin)) {
                best = i;
            }
        }
        if (best == next_.size()) {
            out_.append(text_, pos);
            pos = text_.size();
            break;
        }
        const auto hit = next_[best];
        out_.append(text_, pos, hit.begin - pos);
        pos = hit.begin;
        if (hit.outcome == Outcome::Partial) break;  // wait for more text from here
        out_.append((*rules_)[best].replace);
        ++redactions_;
        pos = hit.end;
        // Results starting at or after pos stay valid: every start before them was tried.
        for (std::size_t i = 0; i < next_.size(); ++i) {
            if (found(next_[i]) && next_[i].begin < pos) next_[i] = find(i, pos, final);
        }
    }
    // Held text beyond the bound goes out as it is.
    std::string_view held = std::string_view(text_).substr(pos);
    std::size_t keep = tailOfChars(held, max_chars_);
    out_.append(held.substr(0, keep));
    pos += keep;
    // Drop emitted text but the context before pos.
    std::size_t context_from = pos > kContextBytes ? pos - kContextBytes : 0;
    while (context_from < pos && continuationByte(text_[context_from]))
        ++context_from;
    text_.erase(0, context_from);
    start_ = pos - context_from;
}

std::string redactText(const std::vector<RedactionRule>& rules, std::string_view text,
                       std::size_t& count) {
    if (rules.empty()) return std::string(text);
    StreamRedactor redactor{rules, std::numeric_limits<std::size_t>::max()};
    std::string out{redactor.flush(text)};
    count += redactor.redactions();
    return out;
}

}  // namespace aiproxy::ai
