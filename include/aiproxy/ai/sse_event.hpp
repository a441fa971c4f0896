#pragma once
// One server-sent event as the SSE framer yields it and the stream translators consume it.

#include <string>

namespace aiproxy::ai {

struct SseEvent {
    std::string event;  // "event:" field; empty = the default "message"
    std::string data;   // "data:" lines joined with '\n'
    std::string id;
    bool operator==(const SseEvent&) const = default;
};

}  // namespace aiproxy::ai
