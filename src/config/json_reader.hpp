#pragma once
// Walks a parsed config document while tracking the path of each value, so that every problem is
// reported where it is ("routes[2].plugins.ai-proxy.retry: must be >= 0") and reading goes on
// after it: users fix a file in one pass instead of one error per run.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "aiproxy/config/config_loader.hpp"

namespace aiproxy::config::detail {

// Keys keep their file order, so errors come out in the order a reader of the file meets them.
using Json = nlohmann::ordered_json;

struct DiagnosticSink {
    std::vector<Diagnostic> errors;
    std::vector<Diagnostic> warnings;

    void error(std::string path, std::string message) {
        errors.push_back({std::move(path), std::move(message)});
    }
    void warning(std::string path, std::string message) {
        warnings.push_back({std::move(path), std::move(message)});
    }
};

// "a" + "b" -> "a.b"; keys that are not plain words are quoted: a["127.0.0.1:80"].
std::string memberPath(std::string_view parent, std::string_view key);
std::string elementPath(std::string_view parent, std::size_t index);

// One value of the document and where it is. Typed getters report a wrong type or range against
// this path and return nullopt, so callers keep their default and carry on.
class Value {
public:
    Value(const Json& json, std::string path, DiagnosticSink& sink)
        : json_(&json), path_(std::move(path)), sink_(&sink) {}

    const Json& json() const { return *json_; }
    const std::string& path() const { return path_; }
    DiagnosticSink& sink() const { return *sink_; }
    void error(std::string message) const { sink_->error(path_, std::move(message)); }
    void warning(std::string message) const { sink_->warning(path_, std::move(message)); }

    std::optional<std::string> string() const;
    // Upstream and route ids: a non-empty string, or an integer written as one.
    std::optional<std::string> id() const;
    std::optional<bool> boolean() const;
    // An integer in [min, max]; floats with an integral value (5000.0) are accepted.
    std::optional<std::int64_t> integer(std::int64_t min, std::int64_t max) const;
    // A duration written in seconds, fractions allowed; must be > 0.
    std::optional<Milliseconds> seconds() const;
    // A duration written as an integer number of milliseconds; must be > 0.
    std::optional<Milliseconds> milliseconds() const;

    // Calls fn(element) for each element; reports "must be a list" when this is not one.
    bool forEachElement(const std::function<void(const Value&)>& fn) const;
    // Calls fn(key, value) for each member in file order; reports "must be an object" otherwise.
    bool forEachMember(const std::function<void(const std::string&, const Value&)>& fn) const;

private:
    const Json* json_;
    std::string path_;
    DiagnosticSink* sink_;
};

// The schema of one object: a handler per known key. read() visits the members in file order,
// skips null values (a key set to nothing counts as absent) and reports keys it does not know.
class ObjectReader {
public:
    enum class Unknown { Error, Warning };

    ObjectReader& on(std::string key, std::function<void(const Value&)> handler);
    // Keys accepted for compatibility with APISIX files and otherwise ignored.
    ObjectReader& ignore(std::string key);

    // Returns false (and reports "must be an object") when value is not an object.
    bool read(const Value& value, Unknown unknown = Unknown::Error);
    bool seen(std::string_view key) const;

private:
    struct Field {
        std::string key;
        std::function<void(const Value&)> handler;  // empty: ignored key
        bool seen = false;
    };
    std::vector<Field> fields_;
};

}  // namespace aiproxy::config::detail
