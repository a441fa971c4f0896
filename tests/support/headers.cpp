#include "support/headers.hpp"

#include <algorithm>
#include <cctype>

namespace aiproxy::test {

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

void Headers::add(std::string name, std::string value) {
    fields_.emplace_back(std::move(name), std::move(value));
}

std::optional<std::string> Headers::get(std::string_view name) const {
    for (const auto& [field_name, value] : fields_) {
        if (equalsIgnoreCase(field_name, name)) return value;
    }
    return std::nullopt;
}

}  // namespace aiproxy::test
