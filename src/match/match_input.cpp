// Matching one rule against one message, following dbus-daemon 1.14 bus/signals.c
// (match_rule_matches) key by key. No allocation: only views and comparisons.
#include "match/match_input.h"

namespace jetbus::match {

namespace {

bool sender_matches(const MatchRule& rule, const MatchInput& m) {
    if (rule.sender.empty() || rule.sender == m.sender) return true;
    // A unique name is owned by its connection alone, so only equality could match it.
    if (rule.sender[0] == ':' || m.sender_owns == nullptr) return false;
    return m.sender_owns(m.ctx, rule.sender);
}

bool destination_matches(const MatchRule& rule, const MatchInput& m, bool allow_eavesdrop) {
    if (rule.destination.empty()) return m.destination.empty() || (rule.eavesdrop && allow_eavesdrop);
    if (m.destination.empty()) return false;
    if (rule.destination == m.destination) return true;
    return m.recipient_owns != nullptr && m.recipient_owns(m.ctx, rule.destination);
}

bool path_matches(const MatchRule& rule, std::string_view path) {
    switch (rule.path_kind) {
    case PathKind::none: return true;
    case PathKind::exact: return path == rule.path;
    case PathKind::namespace_prefix: break;
    }
    const std::string& ns = rule.path;
    if (path.empty() || !path.starts_with(ns)) return false;
    // "/" is the only valid path ending in '/', and it holds every path.
    return ns.size() == 1 || path.size() == ns.size() || path[ns.size()] == '/';
}

// argNpath: equal, or one is a prefix of the other and that prefix ends with '/'.
bool arg_path_matches(std::string_view expected, std::string_view actual) {
    if (actual.size() < expected.size()) return actual.ends_with('/') && expected.starts_with(actual);
    if (expected.size() < actual.size()) return expected.ends_with('/') && actual.starts_with(expected);
    return actual == expected;
}

// arg0namespace: the name itself, or a name below it ("a.b" holds "a.b.c", not "a.bc").
bool arg_namespace_matches(std::string_view ns, std::string_view actual) {
    if (!actual.starts_with(ns)) return false;
    return actual.size() == ns.size() || actual[ns.size()] == '.';
}

bool arg_matches(const ArgMatch& rule_arg, const MatchArg& arg) {
    bool type_ok = arg.type == 's' || (arg.type == 'o' && rule_arg.kind == ArgKind::path);
    if (!type_ok) return false;
    switch (rule_arg.kind) {
    case ArgKind::none: return true;
    case ArgKind::string: return arg.value == rule_arg.value;
    case ArgKind::path: return arg_path_matches(rule_arg.value, arg.value);
    case ArgKind::namespace_prefix: return arg_namespace_matches(rule_arg.value, arg.value);
    }
    return false;
}

bool args_match(const MatchRule& rule, const MatchInput& m) {
    for (size_t i = 0; i < rule.args.size(); ++i) {
        if (rule.args[i].kind == ArgKind::none) continue;
        if (i >= m.args.size() || !arg_matches(rule.args[i], m.args[i])) return false;
    }
    return true;
}

}  // namespace

bool matches(const MatchRule& rule, const MatchInput& m, bool allow_eavesdrop) {
    if (rule.type != wire::MessageType::invalid && rule.type != m.type) return false;
    if (!rule.interface.empty() && rule.interface != m.interface) return false;
    if (!rule.member.empty() && rule.member != m.member) return false;
    if (!sender_matches(rule, m)) return false;
    if (!destination_matches(rule, m, allow_eavesdrop)) return false;
    if (!path_matches(rule, m.path)) return false;
    return args_match(rule, m);
}

bool matches(const MatchRule& rule, const MatchInput& m) { return matches(rule, m, true); }

}  // namespace jetbus::match
