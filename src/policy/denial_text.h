// The texts dbus-daemon 1.14 puts in AccessDenied errors and its security log when the policy
// refuses something (bus/bus.c complain_about_message, bus/services.c, bus/connection.c loginfo),
// byte for byte, so clients and log readers see the same words from jetbus.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "policy/compiled_policy.h"
#include "policy/message_facts.h"

namespace jetbus::policy {

constexpr std::size_t max_log_command_length = 50;  // MAX_LOG_COMMAND_LEN, dbus bus/connection.c

// A connection as it appears in a complaint: its unique name and its loginfo text.
struct PeerDescription {
    std::string_view unique_name;
    std::string_view loginfo;  // from format_loginfo(), cached by the broker per connection
};

// `uid=1000 pid=123 comm="..."`, with the parts that are unknown left out (as dbus-daemon does);
// `label` is the LSM label, empty when there is none.
std::string format_loginfo(std::optional<uid_t> uid, std::optional<pid_t> pid, std::string_view comm,
                           std::string_view label = {});

// The command line of `pid` as dbus-daemon logs it: /proc/PID/cmdline, at most
// max_log_command_length bytes, arguments separated by spaces, unprintable bytes as '?'.
// Empty when it cannot be read. Blocking I/O: once per connection.
std::string command_for_pid(pid_t pid);

// full_queue: not the policy but max_outgoing_bytes/max_outgoing_unix_fds refused it (dbus-daemon words
// it the same way, with 0 matched rules).
enum class Complaint { rejected_send, rejected_receive, would_reject, full_queue };

// "Rejected send message, 2 matched rules; type=\"method_call\", sender=\":1.5\" (uid=...) interface=..."
// `sender` nullptr: the message comes from the bus driver. `recipient` nullptr: it goes to the bus
// driver (or to a service not yet activated).
std::string format_message_complaint(Complaint complaint, const Verdict& verdict, const MessageFacts& message,
                                     const PeerDescription* sender, const PeerDescription* recipient);

// RequestName refused by own rules. `connection_name` is the unique name, or "(inactive)".
std::string format_own_denied(std::string_view connection_name, std::string_view name);

}  // namespace jetbus::policy
