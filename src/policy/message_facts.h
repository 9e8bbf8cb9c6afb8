// What the policy needs to know about one message: views into its header, filled by the broker
// per delivery. Nothing here owns memory, so a check costs no allocation.
#pragma once

#include <cstdint>
#include <string_view>

#include "wire/protocol.h"

namespace jetbus::policy {

// An empty view means "the header field is absent" (a present name or path is never empty).
struct MessageFacts {
    wire::MessageType type = wire::MessageType::invalid;
    std::string_view path, interface, member, error_name;
    std::string_view destination;     // DESTINATION as written by the sender; empty for a broadcast
    std::uint32_t reply_serial = 0;   // 0: no REPLY_SERIAL field, so the requested_reply flags play no part
    std::uint32_t unix_fds = 0;
    // The broker's answer to "is this a reply the receiver is waiting for?" (bus_connections_check_reply).
    // dbus-daemon only asks when the receiver is the addressed recipient; false when eavesdropping.
    // Replies from the bus driver itself count as requested.
    bool requested_reply = false;

    // dbus-daemon's notion of a broadcast: a signal without a destination.
    bool is_broadcast() const { return destination.empty() && type == wire::MessageType::signal; }
};

}  // namespace jetbus::policy
