#include "aiproxy/http/stage.hpp"

namespace aiproxy::http {

awaitable<LlmAnswer> StageServices::askLlm(const SideLlm& /*llm*/, LlmQuestion /*question*/,
                                           ResponseSink& /*client*/) {
    co_return LlmAnswer{.error = "this worker has no upstream client"};
}

}  // namespace aiproxy::http
