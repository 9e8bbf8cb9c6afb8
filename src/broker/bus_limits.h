// BusLimits: the resource limits of dbus-daemon(1) ("<limit name=...>") that the broker enforces, with
// dbus-daemon's built-in defaults (bus/config-parser.c) unless the configuration overrides them.
#pragma once

#include <cstddef>
#include <cstdint>

namespace jetbus::broker {

struct BusLimits {
    size_t max_incoming_bytes = 127 * 1024 * 1024;       // dbus-daemon default: 127 MiB
    size_t max_incoming_unix_fds = 1024 * 4;             // dbus-daemon default: 4 x max_message_unix_fds
    size_t max_outgoing_bytes = 127 * 1024 * 1024;       // dbus-daemon default: 127 MiB
    size_t max_outgoing_unix_fds = 1024 * 4;
    size_t max_message_size = 32 * 1024 * 1024;          // dbus-daemon default: 32 MiB
    size_t max_message_unix_fds = 1024;                  // dbus-daemon default on Linux
    uint32_t auth_timeout_ms = 30000;                    // dbus-daemon default: 30 s
    uint32_t pending_fd_timeout_ms = 150000;             // dbus-daemon default: 150 s
    size_t max_completed_connections = 2048;             // dbus-daemon default
    size_t max_incomplete_connections = 64;              // dbus-daemon default
    size_t max_connections_per_user = 256;               // dbus-daemon default
    uint32_t service_start_timeout_ms = 25000;            // dbus-daemon default: 25 s
    size_t max_pending_service_starts = 512;             // dbus-daemon default
    size_t max_names_per_connection = 256;               // max_services_per_connection default
    size_t max_match_rules_per_connection = 512;         // dbus-daemon default
    size_t max_replies_per_connection = 128;             // dbus-daemon default
    uint32_t reply_timeout_ms = 0;                       // 0: never (dbus-daemon default is -1, never)
    // jetbus's own: what all of one user's connections may make the broker hold (user_accounts.h);
    // other users get a share of it. Defaults sized so a busy desktop user never meets them.
    size_t max_bytes_per_user = 256 * 1024 * 1024;
    size_t max_fds_per_user = 4096;
    size_t max_match_rules_per_user = 16384;
    size_t max_names_per_user = 4096;
    size_t max_replies_per_user = 8192;
};

}  // namespace jetbus::broker
