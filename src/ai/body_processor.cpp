#include "body_processor.hpp"

#include <nlohmann/json.hpp>

namespace aiproxy::ai {

void BodyProcessor::frame(std::string_view chunk) {
    events_.clear();
    framer_.feed(chunk, events_);
    for (auto& event : events_) {
        // Anthropic-compatible servers may omit "event:" lines; the name is also the data's
        // "type", which the accounting needs to tell message_start from message_delta.
        if (anthropic_body_ && (event.event.empty() || event.event == "message")) {
            auto data = nlohmann::json::parse(event.data, nullptr, false);
            if (data.is_object() && data.contains("type") && data["type"].is_string()) {
                event.event = data["type"].get<std::string>();
            }
        }
        accumulator_.add(event);
        if (translator_) translator_->onEvent(event, out_);
    }
}

}  // namespace aiproxy::ai
