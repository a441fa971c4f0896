#pragma once
// Request cost from token usage and a price table (USD per million tokens, from the config's
// `pricing:` section over the shipped config/pricing.yaml).
//
// Lookup: the exact model name first; then the longest table key that is a prefix of the name
// and ends where the name continues with a version separator ('-', '_', ':', '@'), so that
// "gpt-4o-2024-08-06" is priced as "gpt-4o" while "gpt-4o" is never priced as "gpt-4";
// then, for names a router prefixes with a vendor ("openai/gpt-4o", "models/gemini-2.5-pro"),
// the same two steps on the part after the last '/'. Unknown models have no cost rather than
// a guessed one.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "aiproxy/ai/usage.hpp"
#include "aiproxy/config/config.hpp"

namespace aiproxy::ai {

class PriceTable {
public:
    PriceTable() = default;
    // Later entries for the same model replace earlier ones (the config's own pricing is
    // appended after the shipped defaults).
    explicit PriceTable(const std::vector<std::pair<std::string, config::ModelPrice>>& prices);

    // The price for a served or requested model name, or nullptr.
    const config::ModelPrice* find(std::string_view model) const;

    bool empty() const { return prices_.empty(); }

    // The table's name for what find() matched (the metric label of a model), or nullptr.
    const std::string* findKey(std::string_view model) const;

    // Every priced model name, for registering metric labels.
    std::vector<std::string> models() const;

private:
    using Entry = std::pair<const std::string, config::ModelPrice>;
    const Entry* findEntry(std::string_view model) const;
    const Entry* findName(std::string_view model) const;

    std::map<std::string, config::ModelPrice, std::less<>> prices_;
};

// Anthropic bills a 5-minute cache write at 1.25 times the base input price (its pricing page
// lists these multipliers; 1-hour writes cost 2x but usage does not split them out here).
inline constexpr double kCacheWriteMultiplier = 1.25;

// The cost of one request in USD, or nullopt when the model has no price or the prompt or
// completion count is unknown (a cut stream without a usage event: no half-made figure).
// Prompt tokens read from a cache are billed at cached_input_per_mtok (input_per_mtok when the
// table has none), cache writes at input_per_mtok * kCacheWriteMultiplier, the rest of the
// prompt at input_per_mtok, and completion tokens (reasoning included) at output_per_mtok.
std::optional<double> costUsd(const PriceTable& table, std::string_view model, const Usage& usage);

}  // namespace aiproxy::ai
