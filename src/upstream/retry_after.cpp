#include "aiproxy/upstream/retry_after.hpp"

#include <algorithm>
#include <array>
#include <cstdint>

#include "aiproxy/common/text.hpp"

namespace aiproxy::upstream {
namespace {

using common::trimWhitespace;
using std::chrono::system_clock;

// Far beyond any cooldown cap, small enough that milliseconds never overflow.
constexpr std::int64_t kMaxDelaySeconds = 1'000'000'000;

constexpr std::array<std::string_view, 12> kMonths{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::array<std::string_view, 7> kShortDays{"Mon", "Tue", "Wed", "Thu",
                                                     "Fri", "Sat", "Sun"};
constexpr std::array<std::string_view, 7> kLongDays{"Monday", "Tuesday",  "Wednesday", "Thursday",
                                                    "Friday", "Saturday", "Sunday"};

bool isDigit(char c) {
    return c >= '0' && c <= '9';
}
bool isAlpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

template <std::size_t N>
bool isOneOf(std::string_view word, const std::array<std::string_view, N>& names) {
    for (auto name : names) {
        if (word == name) return true;
    }
    return false;
}

// A forward-only reader over the date text; every step says whether it matched.
class Cursor {
public:
    explicit Cursor(std::string_view text) : text_(text) {}

    bool atEnd() const { return pos_ == text_.size(); }
    char peek(std::size_t ahead = 0) const {
        return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
    }
    bool literal(std::string_view expected) {
        if (text_.substr(pos_, expected.size()) != expected) return false;
        pos_ += expected.size();
        return true;
    }
    bool number(int digits, int& out) {
        out = 0;
        for (int i = 0; i < digits; ++i) {
            if (!isDigit(peek())) return false;
            out = out * 10 + (text_[pos_++] - '0');
        }
        return true;
    }
    std::string_view word() {
        std::size_t start = pos_;
        while (isAlpha(peek()))
            ++pos_;
        return text_.substr(start, pos_ - start);
    }
    int month() {
        auto name = word();
        for (std::size_t i = 0; i < kMonths.size(); ++i) {
            if (name == kMonths[i]) return static_cast<int>(i) + 1;
        }
        return 0;
    }

private:
    std::string_view text_;
    std::size_t pos_ = 0;
};

struct DateParts {
    int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
};

bool timeOfDay(Cursor& in, DateParts& parts) {
    return in.number(2, parts.hour) && in.literal(":") && in.number(2, parts.minute) &&
           in.literal(":") && in.number(2, parts.second);
}

std::optional<system_clock::time_point> toTimePoint(const DateParts& parts) {
    using namespace std::chrono;
    year_month_day date{year{parts.year}, month{static_cast<unsigned>(parts.month)},
                        day{static_cast<unsigned>(parts.day)}};
    // 60 is a leap second: the instant is the same as :59 plus one second.
    if (!date.ok() || parts.hour > 23 || parts.minute > 59 || parts.second > 60) {
        return std::nullopt;
    }
    return sys_days{date} + hours{parts.hour} + minutes{parts.minute} + seconds{parts.second};
}

}  // namespace

std::optional<system_clock::time_point> parseHttpDate(std::string_view value) {
    Cursor in{trimWhitespace(value)};
    DateParts parts;
    auto day_name = in.word();
    if (in.literal(", ")) {
        if (isOneOf(day_name, kShortDays) && in.peek(2) == ' ') {
            // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
            bool ok = in.number(2, parts.day) && in.literal(" ") &&
                      (parts.month = in.month()) != 0 && in.literal(" ") &&
                      in.number(4, parts.year) && in.literal(" ") && timeOfDay(in, parts) &&
                      in.literal(" GMT") && in.atEnd();
            return ok ? toTimePoint(parts) : std::nullopt;
        }
        if (isOneOf(day_name, kLongDays)) {
            // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT. Two-digit years: 70-99 are 19xx.
            bool ok = in.number(2, parts.day) && in.literal("-") &&
                      (parts.month = in.month()) != 0 && in.literal("-") &&
                      in.number(2, parts.year) && in.literal(" ") && timeOfDay(in, parts) &&
                      in.literal(" GMT") && in.atEnd();
            parts.year += parts.year < 70 ? 2000 : 1900;
            return ok ? toTimePoint(parts) : std::nullopt;
        }
        return std::nullopt;
    }
    // asctime: Sun Nov  6 08:49:37 1994
    if (!isOneOf(day_name, kShortDays) || !in.literal(" ")) return std::nullopt;
    parts.month = in.month();
    if (parts.month == 0 || !in.literal(" ")) return std::nullopt;
    bool day_ok = in.literal(" ") ? in.number(1, parts.day) : in.number(2, parts.day);
    bool ok = day_ok && in.literal(" ") && timeOfDay(in, parts) && in.literal(" ") &&
              in.number(4, parts.year) && in.atEnd();
    return ok ? toTimePoint(parts) : std::nullopt;
}

std::optional<std::chrono::milliseconds> parseRetryAfter(std::string_view value,
                                                         system_clock::time_point wall_now) {
    value = trimWhitespace(value);
    if (value.empty()) return std::nullopt;
    if (isDigit(value.front())) {
        std::int64_t seconds = 0;
        for (char c : value) {
            if (!isDigit(c)) return std::nullopt;
            seconds = std::min(seconds * 10 + (c - '0'), kMaxDelaySeconds);
        }
        return std::chrono::seconds{seconds};
    }
    auto date = parseHttpDate(value);
    if (!date) return std::nullopt;
    if (*date <= wall_now) return std::chrono::milliseconds{0};
    auto delay = std::chrono::ceil<std::chrono::milliseconds>(*date - wall_now);
    return std::min<std::chrono::milliseconds>(delay, std::chrono::seconds{kMaxDelaySeconds});
}

}  // namespace aiproxy::upstream
