// aiproxy-mock-llm: an OpenAI-compatible mock backend for tests, the demo and benchmarks.

#include <cstdio>
#include <exception>
#include <string_view>
#include <vector>

#include "mock_options.hpp"
#include "mock_server.hpp"

int main(int argc, char** argv) {
    using namespace aiproxy::mock;
    std::vector<std::string_view> args(argv + 1, argv + argc);
    ParsedCommandLine parsed = parseCommandLine(args);
    if (parsed.help) {
        std::fputs(usageText().c_str(), stdout);
        return 0;
    }
    if (!parsed.options) {
        std::fprintf(stderr, "aiproxy-mock-llm: %s (see --help)\n", parsed.error.c_str());
        return 2;
    }
    try {
        return runServer(*parsed.options);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "aiproxy-mock-llm: %s\n", e.what());
        return 1;
    }
}
