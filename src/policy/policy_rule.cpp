// Whether one compiled rule applies: the per-attribute tests of dbus-daemon 1.14's
// bus_client_policy_check_can_send/_receive, bus_rules_check_can_own and list_allows_user.
#include "policy/policy_rule.h"

#include <algorithm>

namespace jetbus::policy {
namespace {

// path, member and error name: a message without the field matches whatever the rule names.
bool field_matches(const std::optional<std::string>& wanted, std::string_view actual) {
    return !wanted || actual.empty() || actual == *wanted;
}

// Interfaces are optional in messages: an allow rule naming one does not apply to a message without
// one (so it does not allow it), a deny rule does (so it denies it).
bool interface_matches(const PolicyRule& rule, std::string_view actual) {
    if (!rule.interface) return true;
    if (actual.empty()) return !rule.allow;
    return actual == *rule.interface;
}

// The requested_reply/eavesdrop interplay for messages carrying a REPLY_SERIAL. An allow rule with
// requested_reply="true" (the default for allow) covers only replies that were asked for, unless it
// also says eavesdrop="true"; a deny rule with requested_reply="false" (the default for deny)
// covers only replies that were not asked for.
bool reply_flags_match(const PolicyRule& rule, const MessageFacts& m) {
    if (m.reply_serial == 0) return true;
    if (!m.requested_reply && rule.allow && rule.requested_reply && !rule.eavesdrop) return false;
    if (m.requested_reply && !rule.allow && !rule.requested_reply) return false;
    return true;
}

bool fds_match(const PolicyRule& rule, std::uint32_t n) { return n >= rule.min_fds && n <= rule.max_fds; }

bool broadcast_matches(Tristate wanted, const MessageFacts& m) {
    if (wanted == Tristate::any) return true;
    return m.is_broadcast() == (wanted == Tristate::yes);
}

// send_destination / receive_sender: the peer owns the name (primary owner or queued), or for the
// bus driver and activation, the message names it. The broker passes all of these as `peer_names`.
bool peer_matches(const PolicyRule& rule, std::span<const std::string_view> peer_names) {
    if (!rule.peer_name) return true;
    const std::string& wanted = *rule.peer_name;
    return std::any_of(peer_names.begin(), peer_names.end(), [&](std::string_view name) {
        return rule.peer_name_is_prefix ? starts_with_words(name, wanted) : name == wanted;
    });
}

bool common_message_match(const PolicyRule& rule, const MessageFacts& m) {
    return (rule.type == wire::MessageType::invalid || rule.type == m.type) && field_matches(rule.path, m.path) &&
           interface_matches(rule, m.interface) && field_matches(rule.member, m.member) &&
           field_matches(rule.error_name, m.error_name) && fds_match(rule, m.unix_fds);
}

}  // namespace

bool PolicyRule::overrides_earlier() const {
    switch (kind) {
    case Kind::send:
    case Kind::receive:
        return type == wire::MessageType::invalid && !path && !interface && !member && !error_name && !peer_name;
    case Kind::own:
        return !peer_name && !peer_name_is_prefix;
    default:
        return false;
    }
}

bool starts_with_words(std::string_view a, std::string_view prefix) {
    if (!a.starts_with(prefix)) return false;
    return a.size() == prefix.size() || a[prefix.size()] == '.';
}

bool send_rule_applies(const PolicyRule& rule, const MessageFacts& m,
                       std::span<const std::string_view> receiver_names) {
    return rule.kind == PolicyRule::Kind::send && reply_flags_match(rule, m) && common_message_match(rule, m) &&
           broadcast_matches(rule.broadcast, m) && peer_matches(rule, receiver_names);
}

bool receive_rule_applies(const PolicyRule& rule, const MessageFacts& m,
                          std::span<const std::string_view> sender_names, bool eavesdropping) {
    if (rule.kind != PolicyRule::Kind::receive) return false;
    // An allow rule covers eavesdropped copies only with eavesdrop="true"; a deny rule with
    // eavesdrop="true" covers only eavesdropped copies.
    if (eavesdropping && rule.allow && !rule.eavesdrop) return false;
    if (!eavesdropping && !rule.allow && rule.eavesdrop) return false;
    return reply_flags_match(rule, m) && common_message_match(rule, m) && peer_matches(rule, sender_names);
}

bool own_rule_applies(const PolicyRule& rule, std::string_view name) {
    if (rule.kind != PolicyRule::Kind::own) return false;
    if (!rule.peer_name) return true;
    return rule.peer_name_is_prefix ? starts_with_words(name, *rule.peer_name) : name == *rule.peer_name;
}

bool connect_rule_applies(const PolicyRule& rule, uid_t uid, std::span<const gid_t> groups) {
    if (rule.kind == PolicyRule::Kind::user) return !rule.id || *rule.id == uid;
    if (rule.kind != PolicyRule::Kind::group) return false;
    return !rule.id || std::find(groups.begin(), groups.end(), static_cast<gid_t>(*rule.id)) != groups.end();
}

}  // namespace jetbus::policy
