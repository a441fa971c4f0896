#include "json_reader.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace aiproxy::config::detail {
namespace {

// Durations beyond these would overflow time_point arithmetic downstream; ~31 years is plenty.
constexpr double kMaxSeconds = 1e9;
constexpr std::int64_t kMaxMilliseconds = 1'000'000'000'000;

// Keys that read unambiguously after a dot; "8000" would look like an index.
bool isPlainKey(std::string_view key) {
    return !key.empty() && !(key[0] >= '0' && key[0] <= '9') &&
           std::all_of(key.begin(), key.end(), [](char c) {
               return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '-';
           });
}

std::string belowMinimum(std::int64_t min) {
    return min == 1 ? "must be > 0" : "must be >= " + std::to_string(min);
}

}  // namespace

std::string memberPath(std::string_view parent, std::string_view key) {
    std::string path{parent};
    if (isPlainKey(key)) {
        if (!path.empty()) path += '.';
        path += key;
    } else {
        path += '[';
        // Keys come from the file as bytes; invalid UTF-8 is shown replaced rather than thrown on.
        path += Json(std::string{key}).dump(-1, ' ', false, Json::error_handler_t::replace);
        path += ']';
    }
    return path;
}

std::string elementPath(std::string_view parent, std::size_t index) {
    std::string path{parent};
    path += '[';
    path += std::to_string(index);
    path += ']';
    return path;
}

std::optional<std::string> Value::string() const {
    if (!json_->is_string()) {
        error("must be a string");
        return std::nullopt;
    }
    return json_->get<std::string>();
}

std::optional<std::string> Value::id() const {
    if (json_->is_number_unsigned()) return std::to_string(json_->get<std::uint64_t>());
    if (json_->is_number_integer()) return std::to_string(json_->get<std::int64_t>());
    if (!json_->is_string()) {
        error("must be a string or an integer");
        return std::nullopt;
    }
    auto text = json_->get<std::string>();
    if (text.empty()) {
        error("must not be empty");
        return std::nullopt;
    }
    return text;
}

std::optional<bool> Value::boolean() const {
    if (!json_->is_boolean()) {
        error("must be a boolean");
        return std::nullopt;
    }
    return json_->get<bool>();
}

std::optional<std::int64_t> Value::integer(std::int64_t min, std::int64_t max) const {
    if (json_->is_number_unsigned()) {
        auto value = json_->get<std::uint64_t>();
        if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ||
            static_cast<std::int64_t>(value) > max) {
            error("must be <= " + std::to_string(max));
            return std::nullopt;
        }
        if (static_cast<std::int64_t>(value) < min) {
            error(belowMinimum(min));
            return std::nullopt;
        }
        return static_cast<std::int64_t>(value);
    }
    if (json_->is_number_integer()) {
        auto value = json_->get<std::int64_t>();
        if (value < min) {
            error(belowMinimum(min));
            return std::nullopt;
        }
        if (value > max) {
            error("must be <= " + std::to_string(max));
            return std::nullopt;
        }
        return value;
    }
    if (json_->is_number_float()) {
        auto value = json_->get<double>();
        if (!std::isfinite(value) || std::trunc(value) != value) {
            error("must be an integer");
            return std::nullopt;
        }
        if (value < static_cast<double>(min)) {
            error(belowMinimum(min));
            return std::nullopt;
        }
        if (value > static_cast<double>(max)) {
            error("must be <= " + std::to_string(max));
            return std::nullopt;
        }
        return static_cast<std::int64_t>(value);
    }
    error("must be an integer");
    return std::nullopt;
}

std::optional<Milliseconds> Value::seconds() const {
    if (!json_->is_number()) {
        error("must be a number of seconds");
        return std::nullopt;
    }
    auto value = json_->get<double>();
    if (std::isnan(value)) {
        error("must be a number of seconds");
        return std::nullopt;
    }
    if (value <= 0) {
        error("must be > 0");
        return std::nullopt;
    }
    if (value > kMaxSeconds) {
        error("must be <= " + std::to_string(static_cast<std::int64_t>(kMaxSeconds)));
        return std::nullopt;
    }
    auto millis = std::llround(value * 1000);
    if (millis == 0) {
        error("must be >= 0.001");
        return std::nullopt;
    }
    return Milliseconds{millis};
}

std::optional<Milliseconds> Value::milliseconds() const {
    auto value = integer(1, kMaxMilliseconds);
    if (!value) return std::nullopt;
    return Milliseconds{*value};
}

bool Value::forEachElement(const std::function<void(const Value&)>& fn) const {
    if (!json_->is_array()) {
        error("must be a list");
        return false;
    }
    std::size_t index = 0;
    for (const Json& element : *json_) {
        fn(Value{element, elementPath(path_, index++), *sink_});
    }
    return true;
}

bool Value::forEachMember(const std::function<void(const std::string&, const Value&)>& fn) const {
    if (!json_->is_object()) {
        error("must be an object");
        return false;
    }
    for (const auto& [key, member] : json_->items()) {
        fn(key, Value{member, memberPath(path_, key), *sink_});
    }
    return true;
}

ObjectReader& ObjectReader::on(std::string key, std::function<void(const Value&)> handler) {
    fields_.push_back({std::move(key), std::move(handler)});
    return *this;
}

ObjectReader& ObjectReader::ignore(std::string key) {
    fields_.push_back({std::move(key), nullptr});
    return *this;
}

bool ObjectReader::read(const Value& value, Unknown unknown) {
    return value.forEachMember([&](const std::string& key, const Value& member) {
        auto field = std::find_if(fields_.begin(), fields_.end(),
                                  [&](const Field& f) { return f.key == key; });
        if (field == fields_.end()) {
            if (unknown == Unknown::Error) {
                member.error("unknown key");
            } else {
                member.warning("unknown key, ignored");
            }
            return;
        }
        if (member.json().is_null()) return;
        field->seen = true;
        if (field->handler) field->handler(member);
    });
}

bool ObjectReader::seen(std::string_view key) const {
    return std::any_of(fields_.begin(), fields_.end(),
                       [&](const Field& f) { return f.seen && f.key == key; });
}

}  // namespace aiproxy::config::detail
