#include "aiproxy/server/process_metrics.hpp"

#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

namespace aiproxy::server {
namespace {

std::size_t openFileDescriptors() {
    std::size_t count = 0;
    if (DIR* dir = ::opendir("/proc/self/fd")) {
        while (dirent* entry = ::readdir(dir)) {
            if (entry->d_name[0] != '.') ++count;
        }
        ::closedir(dir);
        if (count > 0) --count;  // the directory stream itself
    }
    return count;
}

// utime + stime in seconds, from /proc/self/stat fields 14 and 15.
double cpuSeconds() {
    std::ifstream stat("/proc/self/stat");
    std::string line;
    std::getline(stat, line);
    auto close = line.rfind(')');
    if (close == std::string::npos) return 0;
    std::istringstream fields(line.substr(close + 2));
    std::string field;
    unsigned long long utime = 0;
    unsigned long long stime = 0;
    for (int index = 3; fields >> field; ++index) {
        if (index == 14) utime = std::stoull(field);
        if (index == 15) {
            stime = std::stoull(field);
            break;
        }
    }
    return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

std::size_t residentBytes() {
    std::ifstream statm("/proc/self/statm");
    std::size_t pages = 0;
    std::size_t resident = 0;
    statm >> pages >> resident;
    return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

std::string number(double value) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.6f", value);
    return buffer;
}

}  // namespace

void addProcessMetrics(observe::MetricsRegistry& registry, std::string_view version) {
    double start =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    std::string build =
        "# HELP aiproxy_build_info The running aiproxyd build.\n"
        "# TYPE aiproxy_build_info gauge\n"
        "aiproxy_build_info{version=\"" +
        observe::escapeLabelValue(version) + "\"} 1\n";
    registry.addCollector([start, build](std::string& out) {
        out += build;
        out +=
            "# HELP process_cpu_seconds_total User and system CPU time spent in seconds.\n"
            "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total ";
        out += number(cpuSeconds());
        out +=
            "\n# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
            "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes ";
        out += std::to_string(residentBytes());
        out +=
            "\n# HELP process_open_fds Number of open file descriptors.\n"
            "# TYPE process_open_fds gauge\nprocess_open_fds ";
        out += std::to_string(openFileDescriptors());
        out +=
            "\n# HELP process_start_time_seconds Start time of the process since the epoch.\n"
            "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds ";
        out += number(start);
        out += "\n";
    });
}

}  // namespace aiproxy::server
