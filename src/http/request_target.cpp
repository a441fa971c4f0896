#include "aiproxy/http/request_target.hpp"

#include <vector>

#include "aiproxy/common/ascii.hpp"

namespace aiproxy::http {
namespace {

bool isDot(std::string_view segment) {
    return segment == "." || common::equalsIgnoreCase(segment, "%2e");
}

bool isDotDot(std::string_view segment) {
    if (segment.size() == 2) return segment == "..";
    if (segment.size() == 4) {
        return common::equalsIgnoreCase(segment, ".%2e") ||
               common::equalsIgnoreCase(segment, "%2e.");
    }
    return segment.size() == 6 && common::equalsIgnoreCase(segment, "%2e%2e");
}

// Whether the path may hold a dot segment at all: most never do, and pay one scan.
bool mayHoldDotSegment(std::string_view path) {
    for (std::size_t i = 0; i + 1 < path.size(); ++i) {
        if (path[i] != '/') continue;
        char next = path[i + 1];
        if (next == '.' || next == '%') return true;
    }
    return false;
}

}  // namespace

RequestTarget parseRequestTarget(std::string_view target) {
    RequestTarget result;
    if (auto hash = target.find('#'); hash != std::string_view::npos)
        target = target.substr(0, hash);
    if (target == "*") {
        result.path = target;
        return result;
    }
    std::string_view rest = target;
    for (std::string_view scheme : {"http://", "https://"}) {
        if (rest.size() >= scheme.size() &&
            common::equalsIgnoreCase(rest.substr(0, scheme.size()), scheme)) {
            rest.remove_prefix(scheme.size());
            auto end = rest.find_first_of("/?");
            result.authority = rest.substr(0, end);
            rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
            if (result.authority.empty() || result.authority.find('@') != std::string_view::npos) {
                result.problem = "the request target's authority is empty or has user info";
                return result;
            }
            if (rest.empty() || rest.front() == '?') {
                // "http://host?q": the path is "/" (RFC 9112 section 3.2.2).
                result.normalized_path = "/";
                result.path = "/";
                if (!rest.empty()) result.query = rest.substr(1);
                return result;
            }
            break;
        }
    }
    if (rest.empty() || rest.front() != '/') {
        result.problem = "the request target must be an absolute path or an absolute URI";
        return result;
    }
    auto question = rest.find('?');
    result.path = rest.substr(0, question);
    if (question != std::string_view::npos) result.query = rest.substr(question + 1);
    if (!mayHoldDotSegment(result.path)) return result;

    // RFC 3986 section 5.2.4, on segments: "." goes, ".." takes the previous segment with it.
    std::vector<std::string_view> kept;
    std::string_view path = result.path.substr(1);
    bool changed = false;
    bool trailing_slash = false;
    for (;;) {
        auto slash = path.find('/');
        std::string_view segment = path.substr(0, slash);
        bool last = slash == std::string_view::npos;
        if (isDot(segment)) {
            changed = true;
            trailing_slash = last;
        } else if (isDotDot(segment)) {
            if (kept.empty()) {
                result.problem = "the request path climbs above the root (\"..\")";
                return result;
            }
            kept.pop_back();
            changed = true;
            trailing_slash = last;
        } else {
            kept.push_back(segment);
            trailing_slash = false;
        }
        if (last) break;
        path.remove_prefix(slash + 1);
    }
    if (!changed) return result;
    std::string normalized;
    normalized.reserve(result.path.size());
    for (auto segment : kept) {
        normalized += '/';
        normalized += segment;
    }
    if (trailing_slash || normalized.empty()) normalized += '/';
    result.normalized_path = std::move(normalized);
    return result;
}

}  // namespace aiproxy::http
