#pragma once
// Pattern: a regular expression in PCRE syntax (what APISIX's ngx.re takes, so pasted patterns
// mean the same here), compiled once with JIT and matched with bounded work. PCRE backtracks,
// so each match runs under a match and depth limit: a hostile 100 KB message ends in
// Outcome::TooCostly, never in a stalled worker. Compiled patterns are immutable and shared by
// every worker; each call has its own match data.

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace aiproxy::common {

class Pattern {
public:
    enum class Outcome {
        NoMatch,
        Match,      // [begin, end) matched
        Partial,    // the subject's end cuts a possible match that starts at begin
        TooCostly,  // the work limit was hit: the answer is unknown
    };
    struct Result {
        Outcome outcome = Outcome::NoMatch;
        std::size_t begin = 0;
        std::size_t end = 0;
    };

    // nullopt and `error` set ("missing ) at offset 3") when the pattern does not compile.
    static std::optional<Pattern> compile(std::string_view source, std::string& error);

    Pattern(Pattern&&) noexcept;
    Pattern& operator=(Pattern&&) noexcept;
    ~Pattern();

    // The first match at or after `offset`. With `partial`, a match that the subject's end may
    // cut short is reported as Partial (PCRE2's hard partial matching) so a stream can wait for
    // more text before deciding.
    Result search(std::string_view subject, std::size_t offset = 0, bool partial = false) const;

    const std::string& source() const { return source_; }

private:
    struct Compiled;
    Pattern(std::string source, std::shared_ptr<const Compiled> compiled);

    std::string source_;
    std::shared_ptr<const Compiled> compiled_;
};

}  // namespace aiproxy::common
