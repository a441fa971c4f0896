#include "aiproxy/common/pattern.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

namespace aiproxy::common {
namespace {

// About a few milliseconds of backtracking at most; real patterns over real prompts need a tiny
// fraction of this.
constexpr std::uint32_t kMatchLimit = 1'000'000;
constexpr std::uint32_t kDepthLimit = 10'000;

struct MatchContextDeleter {
    void operator()(pcre2_match_context* context) const { pcre2_match_context_free(context); }
};
struct MatchDataDeleter {
    void operator()(pcre2_match_data* data) const { pcre2_match_data_free(data); }
};

}  // namespace

struct Pattern::Compiled {
    pcre2_code* code = nullptr;
    pcre2_match_context* context = nullptr;
    bool jit = false;
    ~Compiled() {
        if (context) pcre2_match_context_free(context);
        if (code) pcre2_code_free(code);
    }
};

std::optional<Pattern> Pattern::compile(std::string_view source, std::string& error) {
    int code_error = 0;
    PCRE2_SIZE error_offset = 0;
    // UTF with invalid sequences tolerated: a client's bytes are not trusted to be UTF-8.
    auto* code =
        pcre2_compile(reinterpret_cast<PCRE2_SPTR>(source.data()), source.size(),
                      PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &code_error, &error_offset, nullptr);
    if (!code) {
        PCRE2_UCHAR message[256];
        pcre2_get_error_message(code_error, message, sizeof message);
        error = std::string(reinterpret_cast<const char*>(message)) + " at offset " +
                std::to_string(error_offset);
        return std::nullopt;
    }
    auto compiled = std::make_shared<Compiled>();
    compiled->code = code;
    compiled->jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE | PCRE2_JIT_PARTIAL_HARD) == 0;
    compiled->context = pcre2_match_context_create(nullptr);
    pcre2_set_match_limit(compiled->context, kMatchLimit);
    pcre2_set_depth_limit(compiled->context, kDepthLimit);
    return Pattern{std::string(source), std::move(compiled)};
}

Pattern::Pattern(std::string source, std::shared_ptr<const Compiled> compiled)
    : source_(std::move(source)), compiled_(std::move(compiled)) {}
Pattern::Pattern(Pattern&&) noexcept = default;
Pattern& Pattern::operator=(Pattern&&) noexcept = default;
Pattern::~Pattern() = default;

Pattern::Result Pattern::search(std::string_view subject, std::size_t offset, bool partial) const {
    if (offset > subject.size()) return {};
    std::unique_ptr<pcre2_match_data, MatchDataDeleter> data{
        pcre2_match_data_create_from_pattern(compiled_->code, nullptr)};
    if (!data) return {.outcome = Outcome::TooCostly};
    std::uint32_t options = partial ? PCRE2_PARTIAL_HARD : 0;
    auto* text = reinterpret_cast<PCRE2_SPTR>(subject.data());
    int rc = compiled_->jit ? pcre2_jit_match(compiled_->code, text, subject.size(), offset,
                                              options, data.get(), compiled_->context)
                            : pcre2_match(compiled_->code, text, subject.size(), offset, options,
                                          data.get(), compiled_->context);
    if (rc == PCRE2_ERROR_NOMATCH) return {};
    if (rc < 0 && rc != PCRE2_ERROR_PARTIAL) return {.outcome = Outcome::TooCostly};
    const PCRE2_SIZE* vector = pcre2_get_ovector_pointer(data.get());
    Result result{.outcome = rc == PCRE2_ERROR_PARTIAL ? Outcome::Partial : Outcome::Match,
                  .begin = vector[0],
                  .end = vector[1]};
    return result;
}

}  // namespace aiproxy::common
