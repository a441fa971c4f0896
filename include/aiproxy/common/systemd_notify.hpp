#pragma once
// The service manager's readiness protocol (sd_notify), without linking libsystemd: one datagram
// of "KEY=VALUE" lines to the AF_UNIX socket named by $NOTIFY_SOCKET. Lets `Type=notify` units
// (config/aiproxyd.service) start dependants only once the listeners accept connections.

#include <string_view>

namespace aiproxy::common {

/// Sends `state` ("READY=1", "STOPPING=1", "STATUS=...", or several lines separated by '\n') to
/// $NOTIFY_SOCKET: a path, or "@name" for an abstract socket. Does nothing when the variable is
/// unset or empty. Never throws and never blocks (a full receive queue drops the message);
/// failures are ignored, as the service manager handles a missing message itself (timeouts).
/// Safe from any thread as long as nothing modifies the environment concurrently.
void notifySystemd(std::string_view state) noexcept;

/// "RELOADING=1" with the MONOTONIC_USEC stamp that systemd 253+ asks for; follow it with
/// notifySystemd("READY=1") once the reload is done (applied or rejected).
void notifySystemdReloading() noexcept;

}  // namespace aiproxy::common
