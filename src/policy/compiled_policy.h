// The bus security policy of dbus-daemon(1) ("<policy>"), compiled once per config load, and the
// per-connection snapshot the router asks on every delivery.
//
// Semantics are dbus-daemon 1.14's (bus/policy.c): a connection's rules are, in order, the default
// context, the group policies (in the order of the connection's groups), the user policy, the
// at_console="true" or at_console="false" policies, then the mandatory context. The last rule that
// applies decides; with none, the answer is "deny". As in dbus-daemon, a rule with no type, path,
// interface, member, error or peer name drops the earlier rules of its kind from the snapshot.
// Who may connect at all is decided by the user="..."/group="..." rules of the default and
// mandatory contexts, starting from "only the bus's own user".
//
// Checks on a snapshot do not allocate and do not throw.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/bus_config.h"
#include "policy/message_facts.h"
#include "policy/policy_rule.h"

namespace jetbus::policy {

// Who a connection is, as known once it authenticated.
struct Subject {
    std::optional<uid_t> uid;   // nullopt for an anonymous connection: no user or console rules apply
    std::vector<gid_t> groups;  // SO_PEERGROUPS, or the user's groups from the user database
    bool at_console = false;    // chooses between the at_console="true" and at_console="false" policies
};

struct Verdict {
    bool allowed = false;
    std::uint32_t matched_rules = 0;  // how many rules applied ("N matched rules" in dbus-daemon's texts)
    std::string_view origin;          // "FILE:LINE" of the deciding rule; empty when no rule applied
    // The deciding send rule says log="true". dbus-daemon logs every refusal of a message to its
    // addressed recipient anyway; this flag adds a "Would reject message" line for allowed sends.
    bool log = false;
};

struct CompiledRules;

class PolicySnapshot {
public:
    PolicySnapshot() = default;

    // RequestName: may this connection own `name`? (own, own_prefix)
    Verdict can_own(std::string_view name) const;
    // The sender's snapshot: may it send `message` to the peer that has `receiver_names`?
    // `receiver_names`: the receiver's unique name and every well-known name it owns or is queued
    // for; for the bus driver, "org.freedesktop.DBus"; for a name being activated, that name.
    Verdict can_send(const MessageFacts& message, std::span<const std::string_view> receiver_names) const;
    // The receiver's snapshot: may it receive `message` from the peer that has `sender_names` (as
    // above; for messages from the bus driver, "org.freedesktop.DBus")? `addressed_recipient` is
    // false for a copy delivered to someone other than the addressed recipient (eavesdropping when
    // the message has a destination; broadcasts are never eavesdropping).
    Verdict can_receive(const MessageFacts& message, std::span<const std::string_view> sender_names,
                        bool addressed_recipient) const;

    std::size_t rule_count() const { return send_.size() + receive_.size() + own_.size(); }

private:
    friend class CompiledPolicy;
    std::shared_ptr<const CompiledRules> rules_;  // keeps the rules alive across a reload
    std::vector<const PolicyRule*> send_, receive_, own_;
};

class CompiledPolicy {
public:
    // Resolves every user and group name once; rules naming unknown users or groups, and policies
    // for unknown users or groups, never apply. `bus_uid` is the user the bus runs as: that user
    // may connect unless a rule says otherwise, everyone else only if a rule allows them.
    static CompiledPolicy compile(const config::BusConfig& config, uid_t bus_uid);

    // Taken when a connection completes authentication, and again for every connection on reload.
    PolicySnapshot snapshot(const Subject& subject) const;

    // May this user connect? `groups` are the user's groups from the user database (dbus-daemon
    // looks them up by uid and refuses a uid it cannot look up: see unix_groups_of()).
    Verdict can_connect(uid_t uid, std::span<const gid_t> groups) const;

    // Whether any at_console policy exists: only then is a user's console state worth asking.
    bool has_console_rules() const;
    // Whether any group="..." policy exists: only then do a connection's groups change its snapshot.
    bool has_group_policies() const;

private:
    std::shared_ptr<const CompiledRules> rules_;
};

// The groups of `uid` from the user database (getpwuid + getgrouplist), nullopt when the uid has
// no account. Blocking I/O (NSS): call it at connect time, not per message.
std::optional<std::vector<gid_t>> unix_groups_of(uid_t uid);

}  // namespace jetbus::policy
