#include "aiproxy/observe/trace_context.hpp"

#include <cmath>

namespace aiproxy::observe {
namespace {

int hexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;  // uppercase is not allowed by the spec
}

template <std::size_t N>
bool readHex(std::string_view text, std::array<std::uint8_t, N>& out) {
    if (text.size() != N * 2) return false;
    for (std::size_t i = 0; i < N; ++i) {
        int high = hexValue(text[2 * i]);
        int low = hexValue(text[2 * i + 1]);
        if (high < 0 || low < 0) return false;
        out[i] = static_cast<std::uint8_t>(high * 16 + low);
    }
    return true;
}

}  // namespace

std::string toHex(const std::uint8_t* bytes, std::size_t size) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out(size * 2, '0');
    for (std::size_t i = 0; i < size; ++i) {
        out[2 * i] = kHex[bytes[i] >> 4];
        out[2 * i + 1] = kHex[bytes[i] & 0xf];
    }
    return out;
}

bool isZero(const TraceId& id) {
    for (auto byte : id)
        if (byte != 0) return false;
    return true;
}

bool isZero(const SpanId& id) {
    for (auto byte : id)
        if (byte != 0) return false;
    return true;
}

std::optional<TraceParent> parseTraceparent(std::string_view header) {
    // version "-" trace-id "-" parent-id "-" flags: 2 + 1 + 32 + 1 + 16 + 1 + 2 = 55.
    constexpr std::size_t kLength = 55;
    if (header.size() < kLength) return std::nullopt;
    std::array<std::uint8_t, 1> version{};
    if (!readHex(header.substr(0, 2), version) || version[0] == 0xff) return std::nullopt;
    // Version 00 is exactly 55 characters; a later one may add fields after a '-'.
    bool exact = header.size() == kLength;
    if (version[0] == 0 && !exact) return std::nullopt;
    if (!exact && header[kLength] != '-') return std::nullopt;
    if (header[2] != '-' || header[35] != '-' || header[52] != '-') return std::nullopt;
    TraceParent parent;
    std::array<std::uint8_t, 1> flags{};
    if (!readHex(header.substr(3, 32), parent.trace_id) ||
        !readHex(header.substr(36, 16), parent.parent_id) ||
        !readHex(header.substr(53, 2), flags)) {
        return std::nullopt;
    }
    if (isZero(parent.trace_id) || isZero(parent.parent_id)) return std::nullopt;
    parent.sampled = (flags[0] & 0x01) != 0;
    return parent;
}

std::string formatTraceparent(const TraceId& trace_id, const SpanId& span_id, bool sampled) {
    std::string out;
    out.reserve(55);
    out += "00-";
    out += toHex(trace_id);
    out += '-';
    out += toHex(span_id);
    out += sampled ? "-01" : "-00";
    return out;
}

bool validTracestate(std::string_view header) {
    if (header.size() > 512) return false;
    std::size_t members = 0;
    while (!header.empty()) {
        auto comma = header.find(',');
        std::string_view member = header.substr(0, comma);
        header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
        while (!member.empty() && (member.front() == ' ' || member.front() == '\t'))
            member.remove_prefix(1);
        while (!member.empty() && (member.back() == ' ' || member.back() == '\t'))
            member.remove_suffix(1);
        if (member.empty()) continue;  // empty members are allowed and ignored
        auto equals = member.find('=');
        if (equals == 0 || equals == std::string_view::npos || equals + 1 == member.size()) {
            return false;
        }
        for (char c : member) {
            if (c < 0x20 || c > 0x7e) return false;
        }
        if (++members > 32) return false;
    }
    return true;
}

bool shouldSample(const std::optional<TraceParent>& parent, const TraceId& trace_id, double ratio) {
    if (parent) return parent->sampled;
    if (!(ratio > 0)) return false;
    if (ratio >= 1) return true;
    std::uint64_t low = 0;
    for (std::size_t i = 8; i < 16; ++i)
        low = (low << 8) | trace_id[i];
    // Compared in 63 bits, as the Java and Go SDKs do, so the bound never overflows.
    auto bound =
        static_cast<std::uint64_t>(std::ldexp(ratio, 63));  // ratio < 1: the bound stays below 2^63
    return (low >> 1) < bound;
}

}  // namespace aiproxy::observe
