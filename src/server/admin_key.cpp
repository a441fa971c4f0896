#include "admin_key.hpp"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <spdlog/spdlog.h>

namespace aiproxy::server {

std::string generatedAdminKey(const std::string& data_dir) {
    std::error_code absolute_error;
    std::filesystem::path path =
        (std::filesystem::absolute(data_dir, absolute_error) / "admin.key").lexically_normal();
    {
        std::ifstream in{path};
        std::string key;
        if (in && std::getline(in, key) && key.size() >= 16) {
            spdlog::info("admin: admin.keys is empty; using the key stored in {}", path.string());
            return key;
        }
    }
    std::error_code ec;
    std::filesystem::create_directories(data_dir, ec);
    if (ec) throw std::runtime_error("cannot create " + data_dir + ": " + ec.message());
    ::chmod(data_dir.c_str(), 0700);
    unsigned char random[32];
    if (RAND_bytes(random, sizeof random) != 1) {
        throw std::runtime_error("cannot generate an admin key: no randomness");
    }
    static constexpr char kHex[] = "0123456789abcdef";
    std::string key;
    for (unsigned char byte : random) {
        key.push_back(kHex[byte >> 4]);
        key.push_back(kHex[byte & 15]);
    }
    std::string temp = path.string() + ".tmp";
    int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    std::string line = key + "\n";
    bool written = fd >= 0 &&
                   ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
                   ::fsync(fd) == 0;
    if (fd >= 0) ::close(fd);
    if (!written || ::rename(temp.c_str(), path.c_str()) != 0) {
        throw std::runtime_error("cannot write the admin key to " + path.string() + ": " +
                                 std::strerror(errno));
    }
    spdlog::warn("admin: admin.keys is empty; generated a key and stored it in {} (mode 0600)",
                 path.string());
    return key;
}

}  // namespace aiproxy::server
