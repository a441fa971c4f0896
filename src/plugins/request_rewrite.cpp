#include "aiproxy/plugins/request_rewrite.hpp"

#include <nlohmann/json.hpp>

namespace aiproxy::plugins {

std::string rewriteQuestion(std::string_view prompt, std::string_view client_body) {
    using Json = nlohmann::json;
    Json question = {{"messages", Json::array({{{"role", "system"}, {"content", prompt}},
                                               {{"role", "user"}, {"content", client_body}}})},
                     {"stream", false}};
    return question.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace aiproxy::plugins
