#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aiproxy::test {

/// HTTP header fields in wire order. Names compare case-insensitively, as HTTP says.
class Headers {
public:
    using Field = std::pair<std::string, std::string>;

    Headers() = default;
    Headers(std::initializer_list<Field> fields) : fields_(fields) {}

    void add(std::string name, std::string value);
    /// The first field with this name.
    std::optional<std::string> get(std::string_view name) const;
    bool has(std::string_view name) const { return get(name).has_value(); }
    const std::vector<Field>& fields() const { return fields_; }

private:
    std::vector<Field> fields_;
};

bool equalsIgnoreCase(std::string_view a, std::string_view b);

}  // namespace aiproxy::test
