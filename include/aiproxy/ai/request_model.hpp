#pragma once
// The "model" a request asks for, read without parsing the JSON body: routing, mapping, headers,
// limits and the log want it for every request, and a full parse of a large prompt would cost
// more than the proxying.

#include <initializer_list>
#include <optional>
#include <string_view>

namespace aiproxy::ai {

struct ModelScan {
    // The top-level "model" string as it stands in the body (the last one when the key repeats,
    // as JSON parsers read it); nullopt when there is none or it is not a plain string.
    std::optional<std::string_view> model;
    // The top-level model is a string with escapes or over 256 bytes: only a parse can say what
    // it is, and it may not be usable as a header value.
    bool unreadable = false;
};

// Walks the members of the body's top-level object only: a "model" key inside nested objects
// (metadata, tools) or inside strings is never taken. A body that is not a JSON object, or is
// cut short, has no model.
ModelScan scanRequestModel(std::string_view body);
std::optional<std::string_view> findRequestModel(std::string_view body);

// The raw JSON text of the values of the top-level members named in `keys`, into values[i] for
// keys[i] (the last one when a key repeats). False, with values unspecified, when the body is not
// one JSON object with nothing after it, or is cut short. Values are skipped, not validated.
bool scanTopLevelMembers(std::string_view body, std::initializer_list<std::string_view> keys,
                         std::optional<std::string_view>* values);

// A model name that may travel in headers and logs: at most 256 bytes, no control characters
// (CR and LF would split a header; RFC 9110 section 5.5).
bool isAcceptableModelName(std::string_view model);

}  // namespace aiproxy::ai
