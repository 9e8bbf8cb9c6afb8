// Match rules (spec: "Match Rules"): the parsed form of an AddMatch/RemoveMatch string.
// The parser reads the language exactly as dbus-daemon 1.14 does (bus/signals.c), quirks included,
// and its error texts are dbus-daemon's, so clients see the same replies from either daemon.
// Rules compare by value: RemoveMatch finds "the same rule" however it was spelled.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "wire/expected.h"
#include "wire/protocol.h"

namespace jetbus::match {

constexpr size_t max_match_rule_length = 1024;  // DBUS_MAXIMUM_MATCH_RULE_LENGTH (dbus-protocol.h)
constexpr unsigned max_match_rule_arg = 63;     // spec: "argument indexes from 0 to 63"
constexpr size_t max_match_rule_tokens = 16;    // dbus-daemon bus/signals.c MAX_RULE_TOKENS: later pairs are ignored

enum class PathKind : uint8_t {
    none,              // no path key: any path
    exact,             // path='/a/b'
    namespace_prefix,  // path_namespace='/a': /a itself or below it
};

enum class ArgKind : uint8_t {
    none,              // argument not constrained
    string,            // argN: a string argument equal to the value
    path,              // argNpath: string or object path, equal or '/'-terminated prefix either way
    namespace_prefix,  // arg0namespace: a string argument equal to the value or below it ('.'-separated)
};

struct ArgMatch {
    ArgKind kind = ArgKind::none;
    std::string value;
    bool operator==(const ArgMatch&) const = default;
};

// Empty strings mean "not in the rule": every key that names something must be non-empty to parse.
struct MatchRule {
    wire::MessageType type = wire::MessageType::invalid;  // invalid: any type
    std::string sender;
    std::string interface;
    std::string member;
    std::string path;
    PathKind path_kind = PathKind::none;
    std::string destination;
    bool eavesdrop = false;
    std::vector<ArgMatch> args;  // index is the argument number; the last entry is never ArgKind::none

    bool operator==(const MatchRule&) const = default;
};

enum class MatchRuleErrorKind : uint8_t {
    invalid,   // org.freedesktop.DBus.Error.MatchRuleInvalid
    too_long,  // org.freedesktop.DBus.Error.LimitsExceeded (dbus-daemon uses it for over-long rules)
};

struct MatchRuleError {
    MatchRuleErrorKind kind = MatchRuleErrorKind::invalid;
    std::string message;  // dbus-daemon's text, byte for byte (some end in '\n', as dbus-daemon's do)
};

Expected<MatchRule, MatchRuleError> parse_match_rule(std::string_view text);

// Canonical text, in dbus-daemon's key order (as Debug.Stats.GetAllMatchRules shows it);
// parse_match_rule(to_string(r)) == r.
std::string to_string(const MatchRule& rule);

// The highest argument number the rule inspects plus one (0 when it has no arg keys).
inline size_t args_inspected(const MatchRule& rule) { return rule.args.size(); }

}  // namespace jetbus::match
