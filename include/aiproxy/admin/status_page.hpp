#pragma once
// The status page: one self-contained HTML document (its CSS and JavaScript inline, no external
// resource, so it works on a host without internet access) embedded in the binary at build time
// from src/admin/status_page.html. It polls "status.json" beside its own URL, passing its own
// query string along (the Admin API's ?api_key=), and draws everything in the browser, so
// serving it costs the gateway one string copy.

#include <string_view>

namespace aiproxy::admin {

std::string_view statusPageHtml();

inline constexpr std::string_view kStatusPageContentType = "text/html; charset=utf-8";
// Only the page's own inline code and its own origin: a page that cannot load anything from
// elsewhere cannot be made to leak what it shows.
inline constexpr std::string_view kStatusPageSecurityPolicy =
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'";

}  // namespace aiproxy::admin
