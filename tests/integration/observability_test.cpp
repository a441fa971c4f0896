// Observability as an operator sees it: the Prometheus text on the status port (counters that move
// by exactly what happened, consistent histograms, label sets that clients cannot grow), the JSON
// access log (its fields, its targets, the reopen on SIGUSR1) and the health endpoints in a drain.

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/files.hpp"
#include "support/gateway_test.hpp"

namespace aiproxy::test {
namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using State = StreamingClient::State;
using LabelSet = std::map<std::string, std::string>;

// ---- The Prometheus text format 0.0.4, read strictly --------------------------------------------

struct Sample {
    std::string name;
    LabelSet labels;
    double value = 0;
};

// name{a="1",b="2"} with the labels sorted: one key per series.
std::string seriesKey(const std::string& name, const LabelSet& labels) {
    std::string key = name;
    if (labels.empty()) return key;
    key += '{';
    bool first = true;
    for (const auto& [label, value] : labels) {
        if (!first) key += ',';
        first = false;
        key += label + "=\"" + value + "\"";
    }
    return key + "}";
}

// A scrape: every sample, each family's TYPE, and every way the text breaks the format.
struct Exposition {
    std::vector<Sample> samples;
    std::map<std::string, std::string> types;
    std::vector<std::string> errors;

    std::map<std::string, double> series() const {
        std::map<std::string, double> out;
        for (const auto& sample : samples)
            out[seriesKey(sample.name, sample.labels)] = sample.value;
        return out;
    }

    std::optional<double> value(const std::string& name, const LabelSet& labels = {}) const {
        for (const auto& sample : samples) {
            if (sample.name == name && sample.labels == labels) return sample.value;
        }
        return std::nullopt;
    }

    // The family a sample belongs to: histograms add _bucket, _sum and _count to their name.
    std::string familyOf(const std::string& name) const {
        if (types.count(name) != 0) return name;
        for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
            if (name.size() > suffix.size() && name.ends_with(suffix)) {
                std::string base = name.substr(0, name.size() - suffix.size());
                auto type = types.find(base);
                if (type != types.end() && (type->second == "histogram" ||
                                            (type->second == "summary" && suffix != "_bucket"))) {
                    return base;
                }
            }
        }
        return {};
    }
};

bool isNameChar(char c, bool first) {
    bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    return letter || (!first && c >= '0' && c <= '9');
}

bool isLabelChar(char c, bool first) {
    return c != ':' && isNameChar(c, first);
}

// A sample value: a float as Prometheus writes it, or +Inf, -Inf, NaN.
std::optional<double> parseValue(std::string_view text) {
    if (text == "+Inf") return HUGE_VAL;
    if (text == "-Inf") return -HUGE_VAL;
    if (text == "NaN") return std::nan("");
    if (text.empty()) return std::nullopt;
    std::string copy(text);
    char* end = nullptr;
    errno = 0;
    double value = std::strtod(copy.c_str(), &end);
    if (end != copy.c_str() + copy.size() || errno == ERANGE || std::isinf(value) ||
        std::isnan(value)) {
        return std::nullopt;  // trailing junk, or inf/nan spelled other than the format says
    }
    return value;
}

// One sample line; on failure returns nullopt with `error` set.
std::optional<Sample> parseSampleLine(std::string_view line, std::string& error) {
    Sample sample;
    std::size_t at = 0;
    while (at < line.size() && isNameChar(line[at], at == 0))
        ++at;
    if (at == 0) {
        error = "no metric name";
        return std::nullopt;
    }
    sample.name = std::string(line.substr(0, at));
    if (at < line.size() && line[at] == '{') {
        ++at;
        while (at < line.size() && line[at] != '}') {
            std::size_t start = at;
            while (at < line.size() && isLabelChar(line[at], at == start))
                ++at;
            std::string label(line.substr(start, at - start));
            if (label.empty() || line.substr(at, 2) != "=\"") {
                error = "bad label name or missing =\"";
                return std::nullopt;
            }
            at += 2;
            std::string value;
            for (;; ++at) {
                if (at >= line.size()) {
                    error = "unterminated label value";
                    return std::nullopt;
                }
                char c = line[at];
                if (c == '"') break;
                if (c == '\\') {
                    char next = at + 1 < line.size() ? line[at + 1] : '\0';
                    if (next != '\\' && next != '"' && next != 'n') {
                        error = "bad escape in label value";
                        return std::nullopt;
                    }
                    value += next == 'n' ? '\n' : next;
                    ++at;
                } else {
                    value += c;
                }
            }
            ++at;  // the closing quote
            if (!sample.labels.emplace(label, value).second) {
                error = "label " + label + " given twice";
                return std::nullopt;
            }
            if (at < line.size() && line[at] == ',') {
                ++at;
            } else if (at >= line.size() || line[at] != '}') {
                error = "expected , or } after a label";
                return std::nullopt;
            }
        }
        if (at >= line.size()) {
            error = "unterminated label set";
            return std::nullopt;
        }
        ++at;  // '}'
    }
    if (at >= line.size() || line[at] != ' ') {
        error = "no space before the value";
        return std::nullopt;
    }
    std::string_view rest = line.substr(at + 1);
    std::string_view value_text = rest.substr(0, rest.find(' '));
    auto value = parseValue(value_text);
    if (!value) {
        error = "bad value '" + std::string(value_text) + "'";
        return std::nullopt;
    }
    sample.value = *value;
    if (value_text.size() < rest.size()) {  // an optional timestamp: an integer in ms
        std::string_view timestamp = rest.substr(value_text.size() + 1);
        bool digits = !timestamp.empty() &&
                      timestamp.find_first_not_of("-0123456789") == std::string_view::npos;
        if (!digits) {
            error = "bad timestamp '" + std::string(timestamp) + "'";
            return std::nullopt;
        }
    }
    return sample;
}

Exposition parseExposition(const std::string& text) {
    static const std::set<std::string> kTypes{"counter", "gauge", "histogram", "summary",
                                              "untyped"};
    Exposition out;
    std::set<std::string> helps;
    std::set<std::string> series;
    std::set<std::string> finished_families;  // a family's lines must be contiguous
    std::string current_family;
    auto enterFamily = [&](const std::string& family, std::size_t number) {
        if (family == current_family) return;
        if (!current_family.empty()) finished_families.insert(current_family);
        if (finished_families.count(family) != 0) {
            out.errors.push_back("line " + std::to_string(number) + ": family " + family +
                                 " continues after another family");
        }
        current_family = family;
    };
    if (!text.empty() && text.back() != '\n') out.errors.push_back("no newline at the end");
    std::istringstream lines(text);
    std::string line;
    for (std::size_t number = 1; std::getline(lines, line); ++number) {
        auto fail = [&](const std::string& why) {
            out.errors.push_back("line " + std::to_string(number) + ": " + why + ": " + line);
        };
        if (line.empty()) continue;
        if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
            std::string_view rest = std::string_view(line).substr(7);
            std::string name(rest.substr(0, rest.find(' ')));
            if (name.empty() || name.size() == rest.size()) {
                fail("metadata without a name and a text");
                continue;
            }
            enterFamily(name, number);
            std::string argument(rest.substr(name.size() + 1));
            if (line[2] == 'H') {
                if (!helps.insert(name).second) fail("second HELP for " + name);
                continue;
            }
            if (kTypes.count(argument) == 0) fail("unknown type " + argument);
            if (out.types.count(name) != 0) fail("second TYPE for " + name);
            bool seen = false;
            for (const auto& sample : out.samples)
                seen = seen || out.familyOf(sample.name) == name;
            if (seen) fail("TYPE after samples of " + name);
            out.types[name] = argument;
            continue;
        }
        if (line.starts_with("#")) continue;  // a comment
        std::string error;
        auto sample = parseSampleLine(line, error);
        if (!sample) {
            fail(error);
            continue;
        }
        std::string family = out.familyOf(sample->name);
        if (family.empty()) {
            fail("sample without a TYPE line");
            continue;
        }
        enterFamily(family, number);
        const std::string& type = out.types[family];
        if (!series.insert(seriesKey(sample->name, sample->labels)).second) {
            fail("duplicate series");
        }
        if (sample->labels.count("le") != 0 && !sample->name.ends_with("_bucket")) {
            fail("le label outside a histogram bucket");
        }
        if (type == "counter" && !(sample->value >= 0)) fail("counter below zero or NaN");
        out.samples.push_back(std::move(*sample));
    }
    return out;
}

// Checks every histogram series: le values parse as floats and increase, the last is +Inf,
// bucket counts never decrease, +Inf equals _count and _sum exists. Returns the problems;
// `checked` counts the series seen.
std::vector<std::string> histogramProblems(const Exposition& exposition, int& checked) {
    struct Series {
        std::vector<std::pair<double, double>> buckets;  // (le, cumulative count) in text order
        std::optional<double> sum;
        std::optional<double> count;
    };
    std::vector<std::string> problems;
    std::map<std::string, Series> all;
    for (const auto& sample : exposition.samples) {
        std::string family = exposition.familyOf(sample.name);
        if (exposition.types.at(family) != "histogram") continue;
        LabelSet labels = sample.labels;
        labels.erase("le");
        auto& series = all[seriesKey(family, labels)];
        if (sample.name == family + "_bucket") {
            auto le = sample.labels.find("le");
            std::optional<double> bound =
                le == sample.labels.end() ? std::nullopt : parseValue(le->second);
            if (!bound || std::isnan(*bound)) {
                problems.push_back(seriesKey(sample.name, sample.labels) + ": le is not a float");
                continue;
            }
            series.buckets.emplace_back(*bound, sample.value);
        } else if (sample.name == family + "_sum") {
            series.sum = sample.value;
        } else if (sample.name == family + "_count") {
            series.count = sample.value;
        } else {
            problems.push_back(sample.name + ": not a histogram sample name");
        }
    }
    for (const auto& [key, series] : all) {
        ++checked;
        if (series.buckets.empty()) {
            problems.push_back(key + ": no buckets");
            continue;
        }
        for (std::size_t i = 1; i < series.buckets.size(); ++i) {
            if (!(series.buckets[i].first > series.buckets[i - 1].first)) {
                problems.push_back(key + ": le values do not increase at bucket " +
                                   std::to_string(i));
            }
            if (series.buckets[i].second < series.buckets[i - 1].second) {
                problems.push_back(key + ": bucket counts decrease at bucket " + std::to_string(i));
            }
        }
        for (const auto& [le, count] : series.buckets) {
            if (count != std::floor(count) || count < 0) {
                problems.push_back(key + ": bucket count is not a whole number");
            }
        }
        const auto& [last_le, last_count] = series.buckets.back();
        if (!std::isinf(last_le) || last_le < 0) problems.push_back(key + ": no +Inf bucket");
        if (!series.count) {
            problems.push_back(key + ": no _count");
        } else if (*series.count != last_count) {
            problems.push_back(key + ": +Inf bucket " + std::to_string(last_count) + " != _count " +
                               std::to_string(*series.count));
        }
        if (!series.sum || !std::isfinite(*series.sum)) problems.push_back(key + ": no _sum");
    }
    return problems;
}

// How much each counter (and each histogram's _count) moved between two scrapes; only the
// series that moved. The process_* metrics are the process's own business and left out.
std::map<std::string, double> counterDeltas(const Exposition& before, const Exposition& after) {
    auto earlier = before.series();
    std::map<std::string, double> deltas;
    for (const auto& sample : after.samples) {
        if (sample.name.starts_with("process_")) continue;
        std::string family = after.familyOf(sample.name);
        const std::string& type = after.types.at(family);
        bool counted =
            type == "counter" || (type == "histogram" && sample.name.ends_with("_count"));
        if (!counted) continue;
        std::string key = seriesKey(sample.name, sample.labels);
        auto old = earlier.find(key);
        double delta = sample.value - (old == earlier.end() ? 0 : old->second);
        if (delta != 0) deltas[key] = delta;
    }
    return deltas;
}

// ---- A keep-alive client for the load loop ------------------------------------------------------

// One loopback connection reused for every request. The support clients open a connection per
// request, and 10,000 of those would park as many sockets in TIME_WAIT on a shared machine.
class KeepAliveClient {
public:
    explicit KeepAliveClient(uint16_t port) : port_(port) {}
    ~KeepAliveClient() { disconnect(); }
    KeepAliveClient(const KeepAliveClient&) = delete;
    KeepAliveClient& operator=(const KeepAliveClient&) = delete;

    // Sends one complete request and reads its response (which must carry Content-Length).
    // Returns the status, or 0 with error() set.
    int roundTrip(const std::string& request) {
        auto deadline = Clock::now() + kWaitTimeout;
        if (fd_ < 0 && !connectNow()) return 0;
        for (std::size_t sent = 0; sent < request.size();) {
            ssize_t n = ::send(fd_, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return fail("send: " + std::string(std::strerror(errno)));
            sent += static_cast<std::size_t>(n);
        }
        std::size_t head_end;
        while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
            if (!readMore(deadline)) return 0;
        }
        std::string head = buffer_.substr(0, head_end + 2);
        for (char& c : head)
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        int status = head.starts_with("http/1.1 ") ? std::atoi(head.c_str() + 9) : 0;
        auto length_at = head.find("\r\ncontent-length:");
        if (status == 0 || length_at == std::string::npos) {
            return fail("no status or no Content-Length in: " + buffer_.substr(0, head_end));
        }
        std::size_t length = std::strtoul(head.c_str() + length_at + 17, nullptr, 10);
        std::size_t total = head_end + 4 + length;
        while (buffer_.size() < total) {
            if (!readMore(deadline)) return 0;
        }
        buffer_.erase(0, total);
        if (head.find("\r\nconnection: close\r\n") != std::string::npos) disconnect();
        return status;
    }

    const std::string& error() const { return error_; }

private:
    bool connectNow() {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(port_);
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd_ < 0 ||
            ::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
            fail("connect: " + std::string(std::strerror(errno)));
            return false;
        }
        return true;
    }

    bool readMore(Clock::time_point deadline) {
        for (;;) {
            auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            pollfd entry{.fd = fd_, .events = POLLIN, .revents = 0};
            int ready = ::poll(&entry, 1, static_cast<int>(std::max<long>(0, left.count())));
            if (ready < 0 && errno == EINTR) continue;
            if (ready <= 0) {
                fail(ready == 0 ? "no response in time" : std::strerror(errno));
                return false;
            }
            char chunk[16384];
            ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                fail("connection closed mid-response");
                return false;
            }
            buffer_.append(chunk, static_cast<std::size_t>(n));
            return true;
        }
    }

    // Records why and drops the connection; returns 0, the "no status" of roundTrip().
    int fail(std::string why) {
        error_ = std::move(why);
        disconnect();
        return 0;
    }

    void disconnect() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
        buffer_.clear();
    }

    uint16_t port_;
    int fd_ = -1;
    std::string buffer_;
    std::string error_;
};

std::string rawChatRequest(const std::string& target, const std::string& model,
                           const std::string& request_id) {
    std::string body =
        R"({"model":")" + model + R"(","messages":[{"role":"user","content":"hi"}]})";
    return "POST " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
           "X-Request-Id: " + request_id + "\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n\r\n" + body;
}

std::string rawGet(const std::string& target, const std::string& request_id) {
    return "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: " + request_id +
           "\r\n\r\n";
}

// ---- Access log lines ---------------------------------------------------------------------------

// Every line of `text` that starts with '{' is an access-log line and must be one JSON object;
// the ones that are not land in `invalid`.
std::vector<Json> jsonLines(const std::string& text, std::vector<std::string>& invalid) {
    std::vector<Json> out;
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
        if (!line.starts_with("{")) continue;
        auto parsed = Json::parse(line, nullptr, false);
        if (parsed.is_discarded() || !parsed.is_object()) {
            invalid.push_back(line);
        } else {
            out.push_back(std::move(parsed));
        }
    }
    return out;
}

std::optional<Json> lineFor(const std::vector<Json>& lines, const std::string& request_id) {
    for (const auto& line : lines) {
        if (line.value("request_id", "") == request_id) return line;
    }
    return std::nullopt;
}

// Polls `condition` every 10 ms for up to 5 s, for changes nothing announces (file contents).
template <class Condition>
bool eventually(Condition condition) {
    for (auto until = Clock::now() + kWaitTimeout; Clock::now() < until;) {
        if (condition()) return true;
        std::this_thread::sleep_for(10ms);
    }
    return condition();
}

bool isNullOr(const Json& line, const char* key, Json::value_t type) {
    if (!line.contains(key)) return false;
    const Json& value = line[key];
    if (value.is_null()) return true;
    if (type == Json::value_t::number_float) return value.is_number();
    if (type == Json::value_t::number_integer) return value.is_number_integer();
    return value.type() == type;
}

// Every field of the access-log contract is there with its type (null where nothing applies).
void expectAccessLogFields(const Json& line) {
    using T = Json::value_t;
    SCOPED_TRACE(line.dump());
    ASSERT_TRUE(line.contains("time") && line["time"].is_string());
    // ISO 8601 UTC: 2024-05-01T12:00:00.123Z
    EXPECT_EQ(line["time"].get<std::string>().size(), 24U);
    EXPECT_TRUE(line["time"].get<std::string>().ends_with("Z"));
    for (const char* key : {"request_id", "client", "peer", "method", "path"}) {
        EXPECT_TRUE(line.contains(key) && line[key].is_string()) << key;
    }
    for (const char* key : {"status", "bytes"}) {
        EXPECT_TRUE(line.contains(key) && line[key].is_number_unsigned()) << key;
    }
    EXPECT_TRUE(line.contains("duration_ms") && line["duration_ms"].is_number() &&
                line["duration_ms"].get<double>() >= 0);
    for (const char* key :
         {"route", "upstream", "node", "request_model", "served_model", "stream", "consumer"}) {
        EXPECT_TRUE(isNullOr(line, key, T::string)) << key;
    }
    for (const char* key : {"prompt_tokens", "completion_tokens"}) {
        EXPECT_TRUE(isNullOr(line, key, T::number_integer)) << key;
    }
    for (const char* key : {"cost_usd", "ttft_ms"}) {
        EXPECT_TRUE(isNullOr(line, key, T::number_float)) << key;
    }
    if (line["stream"].is_string()) {
        static const std::set<std::string> kOutcomes{"complete", "client_cancel", "upstream_cut"};
        EXPECT_EQ(kOutcomes.count(line["stream"].get<std::string>()), 1U);
    }
    ASSERT_TRUE(line.contains("attempts") && line["attempts"].is_array());
    for (const auto& attempt : line["attempts"]) {
        EXPECT_TRUE(attempt.contains("upstream") && attempt["upstream"].is_string());
        EXPECT_TRUE(attempt.contains("node") && attempt["node"].is_string());
        EXPECT_TRUE(attempt.contains("outcome") && attempt["outcome"].is_string());
        EXPECT_TRUE(attempt.contains("ms") && attempt["ms"].is_number() &&
                    attempt["ms"].get<double>() >= 0);
        EXPECT_TRUE(!attempt.contains("status") || attempt["status"].is_number_unsigned());
    }
}

Json attempt(const std::string& upstream, const std::string& node, const std::string& outcome,
             std::optional<int> status) {
    Json out{{"upstream", upstream}, {"node", node}, {"outcome", outcome}};
    if (status) out["status"] = *status;
    return out;
}

// The attempts without their timings, which no test can predict.
Json withoutTimings(Json attempts) {
    for (auto& entry : attempts)
        entry.erase("ms");
    return attempts;
}

// ---- The checkers, checked ----------------------------------------------------------------------

// The metric tests pass only if these checkers can say no: each broken text must be caught.
constexpr std::string_view kGoodText =
    "# HELP t_seconds Latency.\n"
    "# TYPE t_seconds histogram\n"
    "t_seconds_bucket{route=\"a\",le=\"0.1\"} 1\n"
    "t_seconds_bucket{route=\"a\",le=\"1\"} 3\n"
    "t_seconds_bucket{route=\"a\",le=\"+Inf\"} 4\n"
    "t_seconds_sum{route=\"a\"} 2.5\n"
    "t_seconds_count{route=\"a\"} 4\n"
    "# HELP c_total Things.\n"
    "# TYPE c_total counter\n"
    "c_total{x=\"q\\\"uote\"} 7\n";

std::string replaced(std::string_view text, std::string_view from, std::string_view to) {
    std::string out(text);
    auto at = out.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return at == std::string::npos ? out : out.replace(at, from.size(), to);
}

TEST(MetricsTextCheckerTest, AcceptsAWellFormedText) {
    Exposition exposition = parseExposition(std::string(kGoodText));
    int checked = 0;

    EXPECT_EQ(exposition.errors, std::vector<std::string>{});
    EXPECT_EQ(histogramProblems(exposition, checked), std::vector<std::string>{});
    EXPECT_EQ(checked, 1);
    EXPECT_EQ(exposition.value("c_total", {{"x", "q\"uote"}}), 7);
}

TEST(MetricsTextCheckerTest, RejectsBrokenSyntax) {
    for (const std::string& text : {
             replaced(kGoodText, "c_total{x", "c_total{x "),       // space in the label set
             replaced(kGoodText, "\"} 7", "} 7"),                  // unterminated value
             replaced(kGoodText, "} 7", "} seven"),                // not a number
             replaced(kGoodText, "q\\\"uote", "q\\tuote"),         // unknown escape
             replaced(kGoodText, "# TYPE c_total counter\n", ""),  // no TYPE
             replaced(kGoodText, "c_total{x=\"q\\\"uote\"} 7", "c_total -1"),  // negative counter
             std::string(kGoodText) + "c_total{x=\"q\\\"uote\"} 8\n",          // duplicate
             std::string(kGoodText) + "t_seconds_count{route=\"b\"} 1\n",      // interleaved
         }) {
        EXPECT_FALSE(parseExposition(text).errors.empty()) << text;
    }
}

TEST(MetricsTextCheckerTest, RejectsInconsistentHistograms) {
    for (const std::string& text : {
             replaced(kGoodText, "le=\"1\"} 3", "le=\"1\"} 0"),  // not cumulative
             replaced(kGoodText, "le=\"1\"}", "le=\"0.05\"}"),   // le decreases
             replaced(kGoodText, "le=\"1\"}", "le=\"one\"}"),    // le not a float
             replaced(kGoodText, "t_seconds_count{route=\"a\"} 4",
                      "t_seconds_count{route=\"a\"} 5"),
             replaced(kGoodText, "le=\"+Inf\"", "le=\"10\""),              // no +Inf
             replaced(kGoodText, "t_seconds_sum{route=\"a\"} 2.5\n", ""),  // no _sum
         }) {
        Exposition exposition = parseExposition(text);
        int checked = 0;
        EXPECT_TRUE(!exposition.errors.empty() || !histogramProblems(exposition, checked).empty())
            << text;
    }
}

// ---- The fixture --------------------------------------------------------------------------------

class ObservabilityTest : public GatewayTest {
protected:
    // Starts the gateway on `config` (with log.access_log set when `access_log` is given) and
    // reads the status port from the log.
    ::testing::AssertionResult start(const GatewayConfig& config,
                                     const std::string& access_log = {}) {
        std::string yaml = config.yaml();
        if (!access_log.empty()) {
            const std::string log = "log:\n  level: info\n";
            auto at = yaml.find(log);
            if (at == std::string::npos) return ::testing::AssertionFailure() << "no log: section";
            yaml.insert(at + log.size(), "  access_log: " + access_log + "\n");
        }
        if (!daemon_.start(yaml)) {
            return ::testing::AssertionFailure() << "aiproxyd did not start:\n"
                                                 << daemon_.stderrText();
        }
        const std::string marker = "status endpoint on ";
        if (!daemon_.waitForStderr("(/metrics /healthz /readyz)")) {
            return ::testing::AssertionFailure() << "no status endpoint line";
        }
        std::string log = daemon_.stderrText();
        auto at = log.find(marker) + marker.size();
        auto address = log.substr(at, log.find(' ', at) - at);
        status_port_ = static_cast<uint16_t>(std::atoi(address.c_str() + address.rfind(':') + 1));
        if (status_port_ == 0) return ::testing::AssertionFailure() << "no port in " << address;
        return ::testing::AssertionSuccess();
    }

    Response status(const std::string& target) {
        return sendRequest(status_port_, Request{.method = "GET", .target = target});
    }

    Exposition scrape() {
        Response response = status("/metrics");
        EXPECT_EQ(response.status, 200) << response.error;
        EXPECT_EQ(response.headers.get("Content-Type").value_or("").rfind("text/plain", 0), 0U);
        EXPECT_NE(response.headers.get("Content-Type").value_or("").find("version=0.0.4"),
                  std::string::npos);
        Exposition exposition = parseExposition(response.body);
        EXPECT_EQ(exposition.errors, std::vector<std::string>{}) << response.body;
        return exposition;
    }

    // A scrape once aiproxy_http_requests_total sums to `requests`: an answer is out a moment
    // before its request is counted, and nothing announces the count.
    Exposition scrapeWhenCounted(double requests) {
        Exposition exposition;
        double total = 0;
        bool counted = eventually([&] {
            exposition = scrape();
            total = 0;
            for (const auto& sample : exposition.samples) {
                if (sample.name == "aiproxy_http_requests_total") total += sample.value;
            }
            return total == requests;
        });
        EXPECT_TRUE(counted) << total << " requests counted, not " << requests;
        return exposition;
    }

    // A chat completion POST carrying `request_id`.
    Response postWithId(const std::string& request_id, const std::string& target = kChat) {
        Request request = chatRequest(target);
        request.headers.add("X-Request-Id", request_id);
        return sendRequest(daemon_.port(), request);
    }

    // Waits until the access-log line of `request_id` is complete in the daemon's output.
    ::testing::AssertionResult waitForLogLine(const std::string& request_id) {
        std::string needle = "\"request_id\":\"" + request_id + "\"";
        if (!daemon_.waitForStderr(needle)) {
            return ::testing::AssertionFailure() << "no access-log line for " << request_id;
        }
        if (!daemon_.waitForStderr("\n", kWaitTimeout, daemon_.stderrText().find(needle))) {
            return ::testing::AssertionFailure() << "the line of " << request_id << " never ended";
        }
        return ::testing::AssertionSuccess();
    }

    // The access-log line of `request_id`, once written, checked for every contract field;
    // every JSON line so far must parse.
    std::optional<Json> logLine(const std::string& request_id) {
        if (!waitForLogLine(request_id)) return std::nullopt;
        std::vector<std::string> invalid;
        auto lines = jsonLines(daemon_.stderrText(), invalid);
        EXPECT_EQ(invalid, std::vector<std::string>{});
        auto line = lineFor(lines, request_id);
        if (line) expectAccessLogFields(*line);
        return line;
    }

    static constexpr const char* kChat = "/llm/chat/completions";
    uint16_t status_port_ = 0;
};

// ---- Metrics ------------------------------------------------------------------------------------

TEST_F(ObservabilityTest, CountersMoveByExactlyTheScriptedAmounts) {
    RefusingPort refusing;
    GatewayConfig config = baseConfig();
    config.primary = {{refusing.address()}};
    ASSERT_TRUE(start(config));
    Exposition before = scrape();

    // 1. The primary refuses, the fallback answers.
    EXPECT_EQ(postWithId("seq-1").status, 200);
    ASSERT_TRUE(waitForLogLine("seq-1"));
    // 2. No route.
    Response missing =
        sendRequest(daemon_.port(), {.target = "/nowhere", .headers = {{"X-Request-Id", "seq-2"}}});
    EXPECT_EQ(missing.status, 404) << missing.error;
    ASSERT_TRUE(waitForLogLine("seq-2"));
    // 3. A stream, from the fallback too.
    fallback_.enqueue(Reply::sse({"one", "two"}));
    StreamingClient stream{daemon_.port()};
    Request stream_request = chatRequest(kChat, true);
    stream_request.headers.add("X-Request-Id", "seq-3");
    ASSERT_TRUE(stream.send(stream_request));
    EXPECT_EQ(stream.readToEnd(), State::Complete) << stream.error();
    ASSERT_TRUE(waitForLogLine("seq-3"));
    // 4. A client error from the fallback, passed through.
    fallback_.enqueue(Reply::json(400, R"({"error":{"message":"bad request"}})"));
    EXPECT_EQ(postWithId("seq-4").status, 400);
    ASSERT_TRUE(waitForLogLine("seq-4"));  // written after the metrics of its request

    Exposition after = scrape();

    const std::string route = "llm_route";
    auto requests = [&](const std::string& r, const std::string& upstream, const char* status) {
        return seriesKey("aiproxy_http_requests_total",
                         {{"route", r}, {"upstream", upstream}, {"status_class", status}});
    };
    auto attempts = [](const std::string& upstream, const std::string& node, const char* outcome) {
        return seriesKey("aiproxy_upstream_attempts_total",
                         {{"upstream", upstream}, {"node", node}, {"outcome", outcome}});
    };
    std::map<std::string, double> expected{
        {requests(route, "fallback", "2xx"), 2},
        {requests(route, "fallback", "4xx"), 1},
        {requests("", "", "4xx"), 1},
        // Two refused connects eject the primary (tcp_failures: 2): the third routed request
        // goes to the fallback at once, without a retry.
        {attempts("primary", refusing.address(), "connect_error"), 2},
        {seriesKey("aiproxy_upstream_node_ejections_total",
                   {{"upstream", "primary"}, {"node", refusing.address()}}),
         1},
        {attempts("fallback", fallback_.address(), "success"), 2},
        {attempts("fallback", fallback_.address(), "status_4xx"), 1},
        {seriesKey("aiproxy_fallbacks_total",
                   {{"route", route}, {"from", "primary"}, {"to", "fallback"}}),
         3},
        {seriesKey("aiproxy_retries_total", {{"route", route}, {"upstream", "fallback"}}), 2},
        {seriesKey("aiproxy_llm_stream_outcomes_total", {{"outcome", "complete"}}), 1},
        // Routed requests only; every one of them got a first body byte from an upstream.
        {seriesKey("aiproxy_http_request_duration_seconds_count", {{"route", route}}), 3},
        {seriesKey("aiproxy_llm_time_to_first_token_seconds_count", {{"route", route}}), 3},
        {seriesKey("aiproxy_gateway_overhead_seconds_count", {}), 3},
        // The second refused connect of the same node within 5 s is not logged again.
        {seriesKey("aiproxy_log_lines_suppressed_total", {}), 1},
    };
    EXPECT_EQ(counterDeltas(before, after), expected);
    EXPECT_EQ(after.value("aiproxy_llm_active_streams", {{"route", route}}), 0);
    EXPECT_EQ(after.value("aiproxy_upstream_connections", {{"state", "active"}}), 0);
}

TEST_F(ObservabilityTest, EveryDocumentedFamilyIsExposedWithItsType) {
    ASSERT_TRUE(start(baseConfig()));
    EXPECT_EQ(postWithId("families").status, 200);
    ASSERT_TRUE(waitForLogLine("families"));

    Exposition exposition = scrape();

    std::map<std::string, std::string> expected{
        {"aiproxy_http_requests_total", "counter"},
        {"aiproxy_http_request_duration_seconds", "histogram"},
        {"aiproxy_upstream_attempts_total", "counter"},
        {"aiproxy_fallbacks_total", "counter"},
        {"aiproxy_retries_total", "counter"},
        {"aiproxy_llm_time_to_first_token_seconds", "histogram"},
        {"aiproxy_llm_active_streams", "gauge"},
        {"aiproxy_llm_stream_outcomes_total", "counter"},
        {"aiproxy_gateway_overhead_seconds", "histogram"},
        {"aiproxy_upstream_connections", "gauge"},
        {"aiproxy_config_reloads_total", "counter"},
        {"aiproxy_build_info", "gauge"},
        {"process_cpu_seconds_total", "counter"},
        {"process_resident_memory_bytes", "gauge"},
        {"process_open_fds", "gauge"},
        {"process_start_time_seconds", "gauge"},
    };
    for (const auto& [name, type] : expected) {
        auto found = exposition.types.find(name);
        EXPECT_TRUE(found != exposition.types.end() && found->second == type)
            << name << " is missing or not a " << type;
    }
    bool build_info = false;
    for (const auto& sample : exposition.samples) {
        if (sample.name != "aiproxy_build_info") continue;
        build_info = true;
        EXPECT_EQ(sample.value, 1);
        EXPECT_FALSE(sample.labels.at("version").empty());
    }
    EXPECT_TRUE(build_info);
    EXPECT_GT(exposition.value("process_resident_memory_bytes").value_or(0), 0);
    EXPECT_GT(exposition.value("process_open_fds").value_or(0), 0);
    EXPECT_GT(exposition.value("process_start_time_seconds").value_or(0), 1.6e9);
    EXPECT_EQ(exposition.value(
                  "aiproxy_upstream_attempts_total",
                  {{"upstream", "primary"}, {"node", primary_.address()}, {"outcome", "success"}}),
              1);
}

TEST_F(ObservabilityTest, HistogramBucketsAreCumulativeAndEndInInfEqualToCount) {
    ASSERT_TRUE(start(baseConfig()));
    EXPECT_EQ(postWithId("fast").status, 200);
    Reply slow = Reply::json(200, R"({"slow":true})");
    slow.delay = 300ms;
    primary_.enqueue(slow);
    EXPECT_EQ(postWithId("slow").status, 200);
    primary_.enqueue(Reply::sse({"a", "b", "c"}));
    StreamingClient stream{daemon_.port()};
    Request stream_request = chatRequest(kChat, true);
    stream_request.headers.add("X-Request-Id", "stream");
    ASSERT_TRUE(stream.send(stream_request));
    EXPECT_EQ(stream.readToEnd(), State::Complete) << stream.error();
    for (const char* id : {"fast", "slow", "stream"})
        ASSERT_TRUE(waitForLogLine(id));  // each written after the metrics of its request

    Exposition exposition = scrape();

    int checked = 0;
    EXPECT_EQ(histogramProblems(exposition, checked), std::vector<std::string>{});
    for (const char* family :
         {"aiproxy_http_request_duration_seconds", "aiproxy_llm_time_to_first_token_seconds",
          "aiproxy_gateway_overhead_seconds"}) {
        EXPECT_EQ(exposition.types[family], "histogram") << family;
    }
    EXPECT_GE(checked, 3);
    const LabelSet route{{"route", "llm_route"}};
    EXPECT_EQ(exposition.value("aiproxy_http_request_duration_seconds_count", route), 3);
    EXPECT_EQ(exposition.value("aiproxy_llm_time_to_first_token_seconds_count", route), 3);
    EXPECT_EQ(exposition.value("aiproxy_gateway_overhead_seconds_count"), 3);
    // Seconds, not milliseconds: the slow answer alone took 0.3 s, and the test's own bounded
    // waits keep all three far below 30 s.
    for (const char* family :
         {"aiproxy_http_request_duration_seconds", "aiproxy_llm_time_to_first_token_seconds"}) {
        double sum = exposition.value(std::string(family) + "_sum", route).value_or(-1);
        EXPECT_GE(sum, 0.3) << family;
        EXPECT_LT(sum, 30) << family;
        LabelSet le = route;
        le["le"] = "0.25";
        EXPECT_LE(exposition.value(std::string(family) + "_bucket", le).value_or(99), 2)
            << family << ": the slow answer cannot be in the 0.25 s bucket";
    }
}

TEST_F(ObservabilityTest, DistinctPathsAndModelsDoNotAddSeries) {
    ASSERT_TRUE(start(baseConfig(), "off"));  // 10,000 log lines would only slow the test down
    KeepAliveClient client{daemon_.port()};
    // One of each kind first, so series created on first use exist before the baseline.
    ASSERT_EQ(client.roundTrip(rawGet("/warm-up", "warm-1")), 404) << client.error();
    ASSERT_EQ(client.roundTrip(rawChatRequest("/llm/warm-up", "warm-model", "warm-2")), 200)
        << client.error();
    Exposition before = scrapeWhenCounted(2);

    constexpr int kRequests = 10'000;
    std::string failure;
    for (int i = 0; i < kRequests && failure.empty(); ++i) {
        std::string unique = std::to_string(i) + "-" + std::to_string(i * 7919 % 10007);
        bool routed = i % 2 == 0;
        std::string request =
            routed ? rawChatRequest("/llm/p-" + unique, "model-" + unique, "id-" + unique)
                   : rawGet("/unknown/" + unique, "id-" + unique);
        int status = client.roundTrip(request);
        if (status != (routed ? 200 : 404)) {
            failure = "request " + std::to_string(i) + ": status " + std::to_string(status) + " " +
                      client.error();
        }
    }
    ASSERT_EQ(failure, "");
    Exposition after = scrapeWhenCounted(2 + kRequests);

    std::set<std::string> series_before;
    std::set<std::string> series_after;
    for (const auto& [key, value] : before.series())
        series_before.insert(key);
    for (const auto& [key, value] : after.series())
        series_after.insert(key);
    EXPECT_EQ(series_after, series_before);
    for (const auto& sample : after.samples) {
        for (const auto& [label, value] : sample.labels) {
            EXPECT_EQ(value.find("model-"), std::string::npos)
                << seriesKey(sample.name, sample.labels);
            EXPECT_EQ(value.find("/"), std::string::npos) << seriesKey(sample.name, sample.labels);
        }
    }
}

// ---- The access log -----------------------------------------------------------------------------

TEST_F(ObservabilityTest, AccessLogLineForASuccess) {
    ASSERT_TRUE(start(baseConfig()));
    Request request = chatRequest();
    request.headers.add("X-Request-Id", "log-success");
    request.headers.add("Authorization", "Bearer sk-never-logged");
    Response response = sendRequest(daemon_.port(), request);
    ASSERT_EQ(response.status, 200) << response.error;

    auto line = logLine("log-success");

    ASSERT_TRUE(line) << daemon_.stderrText();
    EXPECT_EQ((*line)["client"], Json("127.0.0.1"));
    EXPECT_EQ((*line)["method"], Json("POST"));
    EXPECT_EQ((*line)["path"], Json(kChat));
    EXPECT_EQ((*line)["route"], Json("llm_route"));
    EXPECT_EQ((*line)["status"], 200);
    EXPECT_EQ((*line)["bytes"], response.body.size());
    EXPECT_EQ((*line)["upstream"], Json("primary"));
    EXPECT_EQ((*line)["node"], Json(primary_.address()));
    EXPECT_EQ(withoutTimings((*line)["attempts"]),
              Json::array({attempt("primary", primary_.address(), "success", 200)}));
    EXPECT_EQ((*line)["request_model"], Json("gpt-4o-mini"));
    EXPECT_TRUE((*line)["ttft_ms"].is_number());
    EXPECT_TRUE((*line)["stream"].is_null());
    // Never secrets, never bodies.
    EXPECT_EQ(line->dump().find("sk-never-logged"), std::string::npos);
    EXPECT_EQ(line->dump().find("Hello"), std::string::npos);
}

TEST_F(ObservabilityTest, AccessLogLineForAFallbackListsBothAttempts) {
    RefusingPort refusing;
    GatewayConfig config = baseConfig();
    config.primary = {{refusing.address()}};
    ASSERT_TRUE(start(config));
    Response response = postWithId("log-fallback");
    ASSERT_EQ(response.status, 200) << response.error;

    auto line = logLine("log-fallback");

    ASSERT_TRUE(line) << daemon_.stderrText();
    EXPECT_EQ((*line)["status"], 200);
    EXPECT_EQ((*line)["upstream"], Json("fallback"));
    EXPECT_EQ((*line)["node"], Json(fallback_.address()));
    EXPECT_EQ(withoutTimings((*line)["attempts"]),
              Json::array({attempt("primary", refusing.address(), "connect_error", std::nullopt),
                           attempt("fallback", fallback_.address(), "success", 200)}));
}

TEST_F(ObservabilityTest, AccessLogLineForACompleteStream) {
    ASSERT_TRUE(start(baseConfig()));
    primary_.enqueue(Reply::sse({"one", "two", "[DONE]"}));
    StreamingClient client{daemon_.port()};
    Request request = chatRequest(kChat, true);
    request.headers.add("X-Request-Id", "log-stream");
    ASSERT_TRUE(client.send(request));
    ASSERT_EQ(client.readToEnd(), State::Complete) << client.error();

    auto line = logLine("log-stream");

    ASSERT_TRUE(line) << daemon_.stderrText();
    EXPECT_EQ((*line)["stream"], Json("complete"));
    EXPECT_EQ((*line)["status"], 200);
    EXPECT_EQ((*line)["bytes"], client.body().size());
    EXPECT_TRUE((*line)["ttft_ms"].is_number());
    EXPECT_EQ(withoutTimings((*line)["attempts"]),
              Json::array({attempt("primary", primary_.address(), "success", 200)}));
}

TEST_F(ObservabilityTest, AccessLogLineForAClientThatLeavesMidStream) {
    ASSERT_TRUE(start(baseConfig()));
    // A slow, long stream: 5 s if nobody cancels it.
    primary_.enqueue(Reply{.kind = Reply::Kind::Stream,
                           .events = std::vector<std::string>(250, "tick"),
                           .interval = 20ms});
    {
        StreamingClient client{daemon_.port()};
        Request request = chatRequest(kChat, true);
        request.headers.add("X-Request-Id", "log-cancel");
        ASSERT_TRUE(client.send(request));
        ASSERT_TRUE(client.nextEvent()) << client.error();
        client.close();
    }

    auto line = logLine("log-cancel");

    ASSERT_TRUE(line) << daemon_.stderrText();
    EXPECT_EQ((*line)["stream"], Json("client_cancel"));
    EXPECT_EQ((*line)["status"], 200);
    EXPECT_GT((*line)["bytes"].get<std::uint64_t>(), 0U);
}

TEST_F(ObservabilityTest, AccessLogLineForANotFound) {
    ASSERT_TRUE(start(baseConfig()));
    Response response = sendRequest(
        daemon_.port(), {.target = "/nowhere/else", .headers = {{"X-Request-Id", "log-404"}}});
    ASSERT_EQ(response.status, 404) << response.error;

    auto line = logLine("log-404");

    ASSERT_TRUE(line) << daemon_.stderrText();
    EXPECT_EQ((*line)["method"], Json("GET"));
    EXPECT_EQ((*line)["path"], Json("/nowhere/else"));
    EXPECT_EQ((*line)["status"], 404);
    EXPECT_EQ((*line)["bytes"], response.body.size());
    EXPECT_TRUE((*line)["route"].is_null());
    EXPECT_TRUE((*line)["upstream"].is_null());
    EXPECT_TRUE((*line)["node"].is_null());
    EXPECT_EQ((*line)["attempts"], Json::array());
    EXPECT_TRUE((*line)["stream"].is_null());
    EXPECT_TRUE((*line)["ttft_ms"].is_null());
}

TEST_F(ObservabilityTest, AccessLogCarriesBodiesOnlyForARouteWithLogPayloads) {
    GatewayConfig config = baseConfig();
    config.route_settings = {{"log", "{payloads: true}"}};
    ASSERT_TRUE(start(config));
    Request request = chatRequest();
    request.headers.add("X-Request-Id", "payload-json");
    request.headers.add("Authorization", "Bearer sk-never-logged");
    Response response = sendRequest(daemon_.port(), request);
    ASSERT_EQ(response.status, 200) << response.error;
    primary_.enqueue(Reply::sse({"one", "two", "[DONE]"}));
    StreamingClient client{daemon_.port()};
    Request stream_request = chatRequest(kChat, true);
    stream_request.headers.add("X-Request-Id", "payload-stream");
    ASSERT_TRUE(client.send(stream_request));
    ASSERT_EQ(client.readToEnd(), State::Complete) << client.error();

    auto line = logLine("payload-json");
    auto stream_line = logLine("payload-stream");

    ASSERT_TRUE(line && stream_line) << daemon_.stderrText();
    EXPECT_EQ((*line)["request_body"], Json(request.body));
    EXPECT_EQ((*line)["request_body_truncated"], Json(false));
    EXPECT_EQ((*line)["response_body"], Json(response.body));
    EXPECT_EQ((*line)["response_body_truncated"], Json(false));
    // The SSE text as the client received it, events and all.
    EXPECT_EQ((*stream_line)["request_body"], Json(stream_request.body));
    EXPECT_EQ((*stream_line)["response_body"], Json(client.body()));
    EXPECT_NE(client.body().find("data: two"), std::string::npos) << client.body();
    // Bodies, never headers: the client's key stays out.
    EXPECT_EQ(line->dump().find("sk-never-logged"), std::string::npos);
}

TEST_F(ObservabilityTest, LoggedBodiesAreCutAtMaxPayloadBytesAndStayValidJson) {
    GatewayConfig config = baseConfig();
    config.route_settings = {{"log", "{payloads: true, max_payload_bytes: 29}"}};
    ASSERT_TRUE(start(config));
    // The cut falls inside the two-byte character.
    Request request = chatRequest();
    request.body = "{\"model\":\"gpt-4o-mini\",\"x\":\"\xC3\xA9\"}";
    ASSERT_EQ(request.body.substr(27, 3), "\"\xC3\xA9");
    request.headers.add("X-Request-Id", "payload-cut");
    primary_.enqueue(Reply::json(200, R"({"answer":"caf\u00e9 au lait, with a long tail"})"));
    Response response = sendRequest(daemon_.port(), request);
    ASSERT_EQ(response.status, 200) << response.error;

    auto line = logLine("payload-cut");  // every line so far must parse as JSON

    ASSERT_TRUE(line) << daemon_.stderrText();
    EXPECT_EQ((*line)["request_body"], Json("{\"model\":\"gpt-4o-mini\",\"x\":\"\xEF\xBF\xBD"));
    EXPECT_EQ((*line)["request_body_truncated"], Json(true));
    EXPECT_EQ((*line)["response_body"], Json(response.body.substr(0, 29)));
    EXPECT_EQ((*line)["response_body_truncated"], Json(true));
    // The client still got the whole answer.
    EXPECT_EQ(response.body, R"({"answer":"caf\u00e9 au lait, with a long tail"})");
}

TEST_F(ObservabilityTest, AGatewayErrorIsLoggedWithItsBody) {
    RefusingPort refusing;
    GatewayConfig config = baseConfig();
    config.primary = {{refusing.address()}};
    config.fallback = {};
    config.route_settings = {{"log", "{payloads: true}"}};
    ASSERT_TRUE(start(config));
    Response response = postWithId("payload-502");
    ASSERT_EQ(response.status, 502) << response.error;

    auto line = logLine("payload-502");

    ASSERT_TRUE(line) << daemon_.stderrText();
    EXPECT_EQ((*line)["response_body"], Json(response.body));
    EXPECT_NE(response.body.find("\"error\""), std::string::npos);
}

// The exit is the barrier: the daemon flushes its access log before it stops, so a line that
// was going to be written is in the output by then.
TEST_F(ObservabilityTest, AccessLogOffWritesNoLines) {
    ASSERT_TRUE(start(baseConfig(), "off"));
    EXPECT_EQ(postWithId("off-1").status, 200);
    EXPECT_EQ(sendRequest(daemon_.port(), {.target = "/nowhere"}).status, 404);

    ASSERT_TRUE(daemon_.signal(SIGTERM));
    ASSERT_EQ(daemon_.waitExit(), 0);

    std::vector<std::string> invalid;
    EXPECT_EQ(jsonLines(daemon_.stderrText(), invalid), std::vector<Json>{});
    EXPECT_EQ(invalid, std::vector<std::string>{});
    EXPECT_EQ(daemon_.stderrText().find("off-1"), std::string::npos);
}

TEST_F(ObservabilityTest, AccessLogFileIsReopenedOnSigusr1AfterARename) {
    TempDir logs;
    const auto path = logs.path() / "access.log";
    const auto rotated = logs.path() / "access.log.1";
    ASSERT_TRUE(start(baseConfig(), path.string()));
    auto fileHas = [](const std::filesystem::path& file, const std::string& id) {
        return readFile(file).find("\"request_id\":\"" + id + "\"") != std::string::npos;
    };
    EXPECT_EQ(postWithId("before-rename").status, 200);
    ASSERT_TRUE(eventually([&] { return fileHas(path, "before-rename"); }));
    EXPECT_EQ(daemon_.stderrText().find("before-rename\""), std::string::npos)
        << "a file target also wrote to stdout";

    std::filesystem::rename(path, rotated);
    EXPECT_EQ(postWithId("after-rename").status, 200);
    // Until the signal, lines follow the open file to its new name.
    ASSERT_TRUE(eventually([&] { return fileHas(rotated, "after-rename"); }));
    std::size_t logged = daemon_.stderrText().size();
    ASSERT_TRUE(daemon_.signal(SIGUSR1));
    ASSERT_TRUE(daemon_.waitForStderr("SIGUSR1", kWaitTimeout, logged));
    // The reopen creates the file; once it exists, later lines can only go there.
    ASSERT_TRUE(eventually([&] { return std::filesystem::exists(path); }));
    EXPECT_EQ(postWithId("after-reopen").status, 200);
    ASSERT_TRUE(eventually([&] { return fileHas(path, "after-reopen"); }));

    std::string fresh = readFile(path);
    std::string old = readFile(rotated);
    EXPECT_FALSE(fileHas(path, "before-rename") || fileHas(path, "after-rename")) << fresh;
    EXPECT_FALSE(fileHas(rotated, "after-reopen")) << old;
    std::vector<std::string> invalid;
    EXPECT_EQ(jsonLines(fresh, invalid).size(), 1U);
    EXPECT_EQ(jsonLines(old, invalid).size(), 2U);
    EXPECT_EQ(invalid, std::vector<std::string>{});
    EXPECT_FALSE(daemon_.waitExit(0ms)) << "SIGUSR1 ended the daemon";
}

// ---- Health endpoints ---------------------------------------------------------------------------

TEST_F(ObservabilityTest, ReadyzTurns503OnSigtermBeforeTheListenersCloseAndHealthzStays200) {
    ASSERT_TRUE(start(baseConfig()));
    ASSERT_TRUE(daemon_.waitForStderr(" ready: "));  // logged once readiness is set
    Response ready = status("/readyz");
    EXPECT_EQ(ready.status, 200) << ready.error;
    EXPECT_EQ(ready.body.substr(0, 5), "ready");
    Response healthy = status("/healthz");
    EXPECT_EQ(healthy.status, 200) << healthy.error;
    EXPECT_EQ(healthy.body.substr(0, 2), "ok");

    auto gate = std::make_shared<Gate>();
    primary_.enqueue(Reply::gatedSse({"one", "two"}, gate));
    StreamingClient stream{daemon_.port()};
    ASSERT_TRUE(stream.send(chatRequest(kChat, true)));
    gate->release();
    ASSERT_TRUE(stream.nextEvent()) << stream.error();

    std::size_t logged = daemon_.stderrText().size();
    ASSERT_TRUE(daemon_.signal(SIGTERM));

    // Until the data port refuses, every probe pairs a connect with a /readyz asked after it:
    // once a connect was refused, /readyz must already say 503. The held stream keeps the drain
    // (and the status endpoint) alive meanwhile.
    bool refused = false;
    for (auto until = Clock::now() + kWaitTimeout; !refused && Clock::now() < until;) {
        refused = connectionRefused(daemon_.port());
        Response readiness = status("/readyz");
        if (refused) {
            EXPECT_EQ(readiness.status, 503) << "the listeners closed while /readyz said "
                                             << readiness.status << " " << readiness.body;
        }
    }
    EXPECT_TRUE(refused) << "still accepting connections after SIGTERM";
    // The drain announcement comes after readiness turned.
    ASSERT_TRUE(daemon_.waitForStderr("draining", kWaitTimeout, logged));
    Response during = status("/readyz");
    EXPECT_EQ(during.status, 503) << during.error;
    EXPECT_EQ(during.body.substr(0, 8), "draining");
    EXPECT_EQ(status("/healthz").status, 200);
    EXPECT_FALSE(daemon_.waitExit(0ms)) << "exited before its stream finished";

    gate->releaseAll();
    EXPECT_EQ(stream.readToEnd(), State::Complete) << stream.error();
    EXPECT_EQ(daemon_.waitExit(), 0);
}

}  // namespace
}  // namespace aiproxy::test
