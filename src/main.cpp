// aiproxyd: command line only; everything else lives in the server library.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "aiproxy/config/config_loader.hpp"
#include "aiproxy/server/server.hpp"

namespace {

constexpr const char* kDefaultConfig = "/etc/aiproxy/aiproxy.yaml";

void printHelp() {
    std::printf(
        "Usage: aiproxyd [-c FILE] [--check] [--version] [--help]\n"
        "\n"
        "An asynchronous reverse proxy for LLM backends: one base URL with load balancing,\n"
        "retries, fallback and streaming relay.\n"
        "\n"
        "Options:\n"
        "  -c, --config FILE  configuration file, YAML (.yaml/.yml) or JSON (.json)\n"
        "                     (default %s); ${NAME} and ${NAME:-default} expand\n"
        "                     from the environment\n"
        "      --check        validate the configuration, print every error with its path,\n"
        "                     exit 0 when valid and 1 otherwise\n"
        "      --version      print the version and exit\n"
        "  -h, --help         print this help and exit\n"
        "\n"
        "Signals: SIGHUP reloads the configuration file (a bad file is rejected and the running\n"
        "configuration stays); SIGTERM and SIGINT stop accepting, let in-flight requests and\n"
        "streams finish (up to server.drain_timeout), then exit 0.\n",
        kDefaultConfig);
}

}  // namespace

int main(int argc, char** argv) {
    std::string config_path = kDefaultConfig;
    bool check = false;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if ((arg == "-c" || arg == "--config") && i + 1 < argc) {
            config_path = argv[++i];
        } else if (arg.starts_with("--config=")) {
            config_path = arg.substr(std::strlen("--config="));
        } else if (arg == "--check") {
            check = true;
        } else if (arg == "--version") {
            std::printf("aiproxyd %s\n", AIPROXY_VERSION);
            return 0;
        } else if (arg == "-h" || arg == "--help") {
            printHelp();
            return 0;
        } else {
            std::fprintf(stderr, "aiproxyd: unknown argument '%s' (see --help)\n", arg.c_str());
            return 2;
        }
    }

    // Synchronous, so that what the control thread logs (the listening lines before READY=1)
    // is out when it happens; the workers log through an asynchronous logger on the same sink.
    auto logger = spdlog::stderr_color_mt("aiproxyd");
    spdlog::set_default_logger(logger);
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
    spdlog::flush_on(spdlog::level::trace);

    auto result = aiproxy::config::loadConfigFile(config_path);
    for (const auto& warning : result.warnings) {
        std::fprintf(stderr, "%s: warning: %s\n", config_path.c_str(), warning.toString().c_str());
    }
    for (const auto& error : result.errors) {
        std::fprintf(stderr, "%s: error: %s\n", config_path.c_str(), error.toString().c_str());
    }
    if (!result.config) {
        std::fprintf(stderr, "%s: %zu error(s)\n", config_path.c_str(), result.errors.size());
        return 1;
    }
    if (check) {
        std::printf("%s: ok\n", config_path.c_str());
        return 0;
    }
    spdlog::set_level(spdlog::level::from_str(result.config->log.level));
    int code = 0;
    try {
        code = aiproxy::server::runServer({.config_path = config_path}, std::move(result));
    } catch (const std::exception& error) {
        spdlog::critical("cannot start: {}", error.what());
        code = 1;
    }
    return code;
}
