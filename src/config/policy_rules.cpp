// <policy>, <allow>/<deny> and <limit> validation. The accepted attribute combinations and the
// error texts are dbus-daemon 1.14's (bus/config-parser.c and dbus-daemon(1)); values are kept verbatim
// for the policy compiler.
#include "config/parse_support.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdlib>

namespace jetbus::config::detail {
namespace {

using Member = std::optional<std::string> PolicyRule::*;

struct RuleAttribute {
    std::string_view name;
    Member member;
};

constexpr std::array<RuleAttribute, 24> kRuleAttributes{{
    {"send_interface", &PolicyRule::send_interface},
    {"send_member", &PolicyRule::send_member},
    {"send_error", &PolicyRule::send_error},
    {"send_broadcast", &PolicyRule::send_broadcast},
    {"send_destination", &PolicyRule::send_destination},
    {"send_destination_prefix", &PolicyRule::send_destination_prefix},
    {"send_path", &PolicyRule::send_path},
    {"send_type", &PolicyRule::send_type},
    {"send_requested_reply", &PolicyRule::send_requested_reply},
    {"receive_interface", &PolicyRule::receive_interface},
    {"receive_member", &PolicyRule::receive_member},
    {"receive_error", &PolicyRule::receive_error},
    {"receive_sender", &PolicyRule::receive_sender},
    {"receive_path", &PolicyRule::receive_path},
    {"receive_type", &PolicyRule::receive_type},
    {"receive_requested_reply", &PolicyRule::receive_requested_reply},
    {"eavesdrop", &PolicyRule::eavesdrop},
    {"min_fds", &PolicyRule::min_fds},
    {"max_fds", &PolicyRule::max_fds},
    {"log", &PolicyRule::log},
    {"own", &PolicyRule::own},
    {"own_prefix", &PolicyRule::own_prefix},
    {"user", &PolicyRule::user},
    {"group", &PolicyRule::group},
}};

// min_fds/max_fds range: DBUS_MAXIMUM_MESSAGE_UNIX_FDS, the maximum message length (128 MiB) / 4.
constexpr long kMaxFdsAttribute = 33554432;

[[noreturn]] void invalid_attribute(std::string_view attribute, std::string_view element) {
    throw Reason(fmt::format("Attribute \"{}\" is invalid on <{}> element in this context", attribute, element));
}

void assign_attributes(PolicyRule& rule, std::string_view element, const Attributes& attributes) {
    for (const auto& [name, value] : attributes) {
        auto it = std::find_if(kRuleAttributes.begin(), kRuleAttributes.end(),
                               [&name = name](const RuleAttribute& a) { return a.name == name; });
        if (it == kRuleAttributes.end()) invalid_attribute(name, element);
        rule.*(it->member) = value;
    }
}

bool any_send(const PolicyRule& r) {
    return r.send_interface || r.send_member || r.send_error || r.send_broadcast || r.send_destination ||
           r.send_destination_prefix || r.send_path || r.send_type || r.send_requested_reply;
}

bool any_receive(const PolicyRule& r) {
    return r.receive_interface || r.receive_member || r.receive_error || r.receive_sender || r.receive_path ||
           r.receive_type || r.receive_requested_reply;
}

[[noreturn]] void bad_combination(std::string_view element, std::string_view why) {
    throw Reason(fmt::format("Invalid combination of attributes on element <{}>: {}", element, why));
}

void check_combinations(const PolicyRule& r, std::string_view element) {
    bool message = any_send(r) || any_receive(r) || r.eavesdrop || r.min_fds || r.max_fds;
    if (!(any_send(r) || any_receive(r) || r.eavesdrop || r.own || r.own_prefix || r.user || r.group))
        throw Reason(fmt::format("Element <{}> must have one or more attributes", element));
    if ((r.send_member && !r.send_interface && !r.send_path) ||
        (r.receive_member && !r.receive_interface && !r.receive_path))
        throw Reason(fmt::format("On element <{}>, if you specify a member you must specify an interface or a "
                                 "path. Keep in mind that not all messages have an interface field.",
                                 element));
    if (int(message) + int(bool(r.own)) + int(bool(r.own_prefix)) + int(bool(r.user)) + int(bool(r.group)) > 1)
        bad_combination(element, "own, own_prefix, user, group and the message-related attributes cannot be combined");
    if (any_send(r) && any_receive(r)) bad_combination(element, "send and receive attributes cannot be combined");
    if (r.send_error && (r.send_member || r.send_interface))
        bad_combination(element, "send_error cannot be combined with send_member or send_interface");
    if (r.receive_error && (r.receive_member || r.receive_interface))
        bad_combination(element, "receive_error cannot be combined with receive_member or receive_interface");
    if (r.send_destination && r.send_destination_prefix)
        bad_combination(element, "send_destination cannot be combined with send_destination_prefix");
}

void check_boolean(const std::optional<std::string>& value, std::string_view attribute) {
    if (value && *value != "true" && *value != "false")
        throw Reason(fmt::format("Bad value \"{}\" for {} attribute, must be true or false", *value, attribute));
}

void check_message_type(const std::optional<std::string>& value) {
    static constexpr std::array<std::string_view, 5> types{"*", "method_call", "method_return", "signal", "error"};
    if (value && std::find(types.begin(), types.end(), *value) == types.end())
        throw Reason(fmt::format("Bad message type \"{}\"", *value));
}

void check_fds(const std::optional<std::string>& value, std::string_view attribute) {
    if (!value) return;
    char* end = nullptr;
    errno = 0;
    long n = std::strtol(value->c_str(), &end, 10);
    if (value->empty() || *end != '\0' || errno != 0 || n < 0 || n > kMaxFdsAttribute)
        throw Reason(fmt::format("Bad value \"{}\" for {} attribute, must be an integer in range 0 to {} inclusive",
                                 *value, attribute, kMaxFdsAttribute));
}

void check_values(const PolicyRule& r) {
    check_message_type(r.send_type);
    check_message_type(r.receive_type);
    check_boolean(r.eavesdrop, "eavesdrop");
    check_boolean(r.send_requested_reply, "send_requested_reply");
    check_boolean(r.receive_requested_reply, "receive_requested_reply");
    check_boolean(r.send_broadcast, "send_broadcast");
    check_fds(r.min_fds, "min_fds");
    check_fds(r.max_fds, "max_fds");
}

PolicyRule::Kind rule_kind(const PolicyRule& r) {
    if (any_send(r)) return PolicyRule::Kind::send;
    if (any_receive(r) || r.eavesdrop) return PolicyRule::Kind::receive;
    if (r.own || r.own_prefix) return PolicyRule::Kind::own;
    return r.user ? PolicyRule::Kind::user : PolicyRule::Kind::group;
}

// user="..." and group="..." rules decide who may connect at all: bus-global, so they make no sense
// inside a per-user or per-group policy (dbus-daemon refuses them there).
void check_scope(const PolicyRule& r, std::string_view element, const Policy& policy) {
    bool global = r.kind == PolicyRule::Kind::user || r.kind == PolicyRule::Kind::group;
    if (!global || !policy.subject_id) return;
    if (policy.scope == Policy::Scope::user)
        throw Reason(fmt::format("<{}> rule cannot be per-user because it has bus-global semantics", element));
    if (policy.scope == Policy::Scope::group)
        throw Reason(fmt::format("<{}> rule cannot be per-group because it has bus-global semantics", element));
}

void warn_unknown_subject(const PolicyRule& r, std::string_view element, std::vector<std::string>& warnings) {
    if (r.user && *r.user != "*" && !lookup_config_user(*r.user))
        warnings.push_back(fmt::format("Unknown username \"{}\" on element <{}>", *r.user, element));
    if (r.group && *r.group != "*" && !lookup_config_group(*r.group))
        warnings.push_back(fmt::format("Unknown group \"{}\" on element <{}>", *r.group, element));
}

void set_policy_subject(Policy& policy, const std::string& name, const std::string& value,
                        std::vector<std::string>& warnings) {
    if (name == "context") {
        if (value != "default" && value != "mandatory")
            throw Reason(fmt::format(
                "context attribute on <policy> must have the value \"default\" or \"mandatory\", not \"{}\"", value));
        policy.scope = value == "default" ? Policy::Scope::default_context : Policy::Scope::mandatory;
    } else if (name == "user") {
        policy.scope = Policy::Scope::user;
        policy.subject_id = lookup_config_user(value);
        if (!policy.subject_id)
            warnings.push_back(fmt::format("Unknown username \"{}\" in message bus configuration file", value));
    } else if (name == "group") {
        policy.scope = Policy::Scope::group;
        policy.subject_id = lookup_config_group(value);
        if (!policy.subject_id)
            warnings.push_back(fmt::format("Unknown group \"{}\" in message bus configuration file", value));
    } else {
        if (value != "true" && value != "false")
            throw Reason(fmt::format("Unknown value \"{}\" for at_console in message bus configuration file", value));
        policy.scope = Policy::Scope::at_console;
    }
    policy.subject = name == "context" ? std::string() : value;
}

}  // namespace

Policy parse_policy(const Attributes& attributes, std::vector<std::string>& warnings) {
    for (const auto& [name, value] : attributes)
        if (name != "context" && name != "user" && name != "group" && name != "at_console")
            invalid_attribute(name, "policy");
    if (attributes.size() != 1)
        throw Reason("<policy> element must have exactly one of (context|user|group|at_console) attributes");
    Policy policy;
    set_policy_subject(policy, attributes[0].first, attributes[0].second, warnings);
    return policy;
}

PolicyRule parse_rule(std::string_view element, const Attributes& attributes, const Policy& policy,
                      std::vector<std::string>& warnings) {
    PolicyRule rule;
    rule.allow = element == "allow";
    assign_attributes(rule, element, attributes);
    check_combinations(rule, element);
    check_values(rule);
    rule.kind = rule_kind(rule);
    check_scope(rule, element, policy);
    warn_unknown_subject(rule, element, warnings);
    return rule;
}

std::int64_t parse_limit(const std::string& name, const std::string& text) {
    const auto& limits = known_limits();
    auto it = std::find_if(limits.begin(), limits.end(), [&](const LimitInfo& l) { return l.name == name; });
    if (it == limits.end()) throw Reason(fmt::format("There is no limit called \"{}\"", name));
    // Like dbus-daemon (strtol): leading blanks are skipped and trailing text is ignored.
    char* end = nullptr;
    errno = 0;
    long long value = std::strtoll(text.c_str(), &end, 10);
    if (end == text.c_str() || errno != 0)
        throw Reason(fmt::format("<limit name=\"{}\"> element has invalid value (could not parse as integer)", name));
    if (value < 0) throw Reason(fmt::format("<limit name=\"{}\"> must be a positive number", name));
    if (it->int_range && value > INT_MAX) throw Reason(fmt::format("<limit name=\"{}\"> value is too large", name));
    return value;
}

}  // namespace jetbus::config::detail
