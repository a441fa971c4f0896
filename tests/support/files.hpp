#pragma once

// Reading whole files in tests: golden data in the source tree, and what the daemon wrote (state,
// rotated logs, /proc). Header-only, so every unit test binary can use it without linking more.

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

namespace aiproxy::test {

/// The whole file, byte for byte; empty when it cannot be opened.
inline std::string readFile(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

#ifdef AIPROXY_SOURCE_DIR
/// A path in the source tree, e.g. sourcePath("config/pricing.yaml"): tests find their data
/// wherever ctest runs them.
inline std::filesystem::path sourcePath(std::string_view relative) {
    return std::filesystem::path(AIPROXY_SOURCE_DIR) / relative;
}
#endif

}  // namespace aiproxy::test
