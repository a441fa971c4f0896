#include "aiproxy/ai/pricing.hpp"

#include <algorithm>
#include <cstdint>

namespace aiproxy::ai {
namespace {

constexpr std::string_view kVersionSeparators = "-_:@";
constexpr double kTokensPerPriceUnit = 1'000'000.0;

}  // namespace

PriceTable::PriceTable(const std::vector<std::pair<std::string, config::ModelPrice>>& prices) {
    for (const auto& [model, price] : prices)
        prices_.insert_or_assign(model, price);
}

const config::ModelPrice* PriceTable::find(std::string_view model) const {
    const Entry* entry = findEntry(model);
    return entry ? &entry->second : nullptr;
}

const std::string* PriceTable::findKey(std::string_view model) const {
    const Entry* entry = findEntry(model);
    return entry ? &entry->first : nullptr;
}

const PriceTable::Entry* PriceTable::findEntry(std::string_view model) const {
    if (const Entry* entry = findName(model)) return entry;
    const std::size_t slash = model.rfind('/');
    if (slash == std::string_view::npos) return nullptr;
    return findName(model.substr(slash + 1));
}

const PriceTable::Entry* PriceTable::findName(std::string_view model) const {
    if (model.empty()) return nullptr;
    if (const auto it = prices_.find(model); it != prices_.end()) return &*it;
    // Cut the name at each separator, longest prefix first: a few map lookups per request.
    std::size_t cut = model.size();
    while (cut > 0 && (cut = model.find_last_of(kVersionSeparators, cut - 1)) != model.npos) {
        if (const auto it = prices_.find(model.substr(0, cut)); it != prices_.end()) return &*it;
    }
    return nullptr;
}

std::optional<double> costUsd(const PriceTable& table, std::string_view model, const Usage& usage) {
    const config::ModelPrice* price = table.find(model);
    if (price == nullptr || !usage.prompt_tokens || !usage.completion_tokens) return std::nullopt;
    // Parts are clamped so that inconsistent reports never bill a token twice.
    const std::uint64_t prompt = *usage.prompt_tokens;
    const std::uint64_t cached = std::min(usage.cached_prompt_tokens, prompt);
    const std::uint64_t written = std::min(usage.cache_creation_tokens, prompt - cached);
    const std::uint64_t uncached = prompt - cached - written;
    const double cached_price = price->cached_input_per_mtok.value_or(price->input_per_mtok);
    const double micro_usd =
        static_cast<double>(uncached) * price->input_per_mtok +
        static_cast<double>(cached) * cached_price +
        static_cast<double>(written) * price->input_per_mtok * kCacheWriteMultiplier +
        static_cast<double>(*usage.completion_tokens) * price->output_per_mtok;
    return micro_usd / kTokensPerPriceUnit;
}

std::vector<std::string> PriceTable::models() const {
    std::vector<std::string> names;
    names.reserve(prices_.size());
    for (const auto& [name, entry] : prices_)
        names.push_back(name);
    return names;
}

}  // namespace aiproxy::ai
