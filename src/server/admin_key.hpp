#pragma once

#include <string>

namespace aiproxy::server {

// The admin key when admin.keys is empty: read from <data_dir>/admin.key, created (mode 0600)
// with 256 random bits on first start. The key itself is never logged, only where it is.
// Throws std::runtime_error when the directory or the file cannot be written.
std::string generatedAdminKey(const std::string& data_dir);

}  // namespace aiproxy::server
