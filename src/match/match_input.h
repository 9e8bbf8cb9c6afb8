// What the matcher sees of one message: views into the message the broker already parsed, so
// matching allocates nothing. The broker fills it once per message and tests it against many rules.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "match/match_rule.h"
#include "wire/protocol.h"

namespace jetbus::match {

// One leading body argument. Only STRING ('s') and OBJECT_PATH ('o') arguments can match; give any
// other argument type 0 (it then fails every argN key at its position).
struct MatchArg {
    std::string_view value;
    char type = 0;
};

struct MatchInput {
    wire::MessageType type = wire::MessageType::invalid;
    std::string_view sender;  // the sender's unique name; "org.freedesktop.DBus" for the bus itself
    std::string_view interface, member, path;  // empty when the header lacks the field
    std::string_view destination;              // the DESTINATION field as sent; empty for broadcasts
    std::span<const MatchArg> args;            // leading body arguments in order, up to 64
    // dbus-daemon matches names by ownership, not spelling. Both callbacks are optional; without
    // them only equal names match. sender_owns: the sender is the primary owner of the well-known
    // name. recipient_owns: the connection the message is addressed to is the primary owner of the
    // name (unique or well-known), so destination=':1.5' matches a call sent to a name :1.5 owns.
    const void* ctx = nullptr;
    bool (*sender_owns)(const void* ctx, std::string_view well_known_name) = nullptr;
    bool (*recipient_owns)(const void* ctx, std::string_view name) = nullptr;
    // Optional, for speed: the well-known names the sender may be primary owner of (a superset is
    // fine, e.g. the names it has claimed). With sender_names_known set, rules keyed by a
    // well-known sender are found by looking these names up, instead of asking sender_owns about
    // every such name the rules mention; sender_owns must still be given, as matches() uses it.
    std::span<const std::string> sender_names;
    bool sender_names_known = false;
};

// True when the message satisfies every key of the rule (dbus-daemon bus/signals.c
// match_rule_matches). A rule without destination= matches a message that has a DESTINATION only
// when it says eavesdrop='true'.
bool matches(const MatchRule& rule, const MatchInput& message);

// As matches(), but with eavesdrop='true' read as 'false' when allow_eavesdrop is false: the rule
// then still matches broadcasts and messages sent to the destination it names, like any rule.
bool matches(const MatchRule& rule, const MatchInput& message, bool allow_eavesdrop);

}  // namespace jetbus::match
