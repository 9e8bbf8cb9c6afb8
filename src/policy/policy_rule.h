// One compiled <allow>/<deny> rule and the test whether it applies to a message, a name or a user.
// The matching follows dbus-daemon 1.14 (bus/policy.c) exactly, including its asymmetries: an absent
// path/member/error field in the message matches any rule value, an absent interface matches deny
// rules only, and the requested_reply/eavesdrop flags default by rule polarity.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "policy/message_facts.h"
#include "wire/protocol.h"

namespace jetbus::policy {

// DBUS_MAXIMUM_MESSAGE_UNIX_FDS (dbus-protocol.h): the max_fds a rule has when it sets none.
constexpr std::uint32_t max_message_unix_fds = 33554432;

enum class Tristate : std::uint8_t { any, yes, no };

struct PolicyRule {
    enum class Kind : std::uint8_t { send, receive, own, user, group };
    Kind kind = Kind::send;
    bool allow = false;

    // send/receive. nullopt is the wildcard ("*" in the file, or the attribute left out).
    wire::MessageType type = wire::MessageType::invalid;  // invalid: any type
    std::optional<std::string> path, interface, member, error_name;
    std::optional<std::string> peer_name;  // send_destination(_prefix) or receive_sender
    bool peer_name_is_prefix = false;      // send_destination_prefix
    Tristate broadcast = Tristate::any;    // send_broadcast
    bool eavesdrop = false;
    bool requested_reply = false;  // allow rules default to true, deny rules to false
    bool log = false;              // send rules only, as in dbus-daemon
    std::uint32_t min_fds = 0;
    std::uint32_t max_fds = max_message_unix_fds;

    // own/own_prefix: `peer_name` holds the name (nullopt for own="*"), `peer_name_is_prefix` says which.
    // user/group: the uid or gid, nullopt for "*".
    std::optional<std::uint32_t> id;

    std::string origin;  // "FILE:LINE" of the element

    // dbus-daemon drops every earlier rule of the same kind from a connection's list when a rule
    // without type, path, interface, member, error or peer name follows (bus_client_policy_optimize).
    bool overrides_earlier() const;
};

// "a" is `prefix` itself or lies below it in '.'-separated words (_dbus_string_starts_with_words_c_str).
bool starts_with_words(std::string_view a, std::string_view prefix);

bool send_rule_applies(const PolicyRule& rule, const MessageFacts& message,
                       std::span<const std::string_view> receiver_names);
bool receive_rule_applies(const PolicyRule& rule, const MessageFacts& message,
                          std::span<const std::string_view> sender_names, bool eavesdropping);
bool own_rule_applies(const PolicyRule& rule, std::string_view name);
bool connect_rule_applies(const PolicyRule& rule, uid_t uid, std::span<const gid_t> groups);

}  // namespace jetbus::policy
