// Compiling the parsed <policy> elements (config::Policy, attributes verbatim) into rule lists per
// context, as dbus-daemon's config parser builds its BusPolicy (bus/config-parser.c,
// append_rule_from_element), and taking a connection's snapshot (bus_policy_create_client_policy).
#include "policy/compiled_policy.h"

#include <algorithm>
#include <cstdlib>

namespace jetbus::policy {

struct CompiledRules {
    std::vector<PolicyRule> storage;  // reserved up front: the lists below point into it
    std::vector<const PolicyRule*> default_rules, mandatory_rules, console_true, console_false;
    std::unordered_map<std::uint32_t, std::vector<const PolicyRule*>> by_uid, by_gid;
    uid_t bus_uid = 0;
};

namespace {

using ConfigRule = config::PolicyRule;
using Scope = config::Policy::Scope;

// In the file "*" is the wildcard; in a compiled rule it is nullopt.
std::optional<std::string> unless_wildcard(const std::optional<std::string>& value) {
    if (value && *value == "*") return std::nullopt;
    return value;
}

wire::MessageType message_type(const std::optional<std::string>& value) {
    if (!value || *value == "*") return wire::MessageType::invalid;
    if (*value == "method_call") return wire::MessageType::method_call;
    if (*value == "method_return") return wire::MessageType::method_return;
    if (*value == "signal") return wire::MessageType::signal;
    return wire::MessageType::error;  // the config parser accepts no other value
}

bool is_true(const std::optional<std::string>& value) { return value && *value == "true"; }

std::uint32_t fds(const std::optional<std::string>& value, std::uint32_t absent) {
    return value ? static_cast<std::uint32_t>(std::strtoul(value->c_str(), nullptr, 10)) : absent;
}

void compile_message_common(PolicyRule& r, const ConfigRule& c) {
    r.eavesdrop = is_true(c.eavesdrop);
    r.min_fds = fds(c.min_fds, 0);
    r.max_fds = fds(c.max_fds, max_message_unix_fds);
}

void compile_send(PolicyRule& r, const ConfigRule& c) {
    compile_message_common(r, c);
    r.type = message_type(c.send_type);
    r.path = unless_wildcard(c.send_path);
    r.interface = unless_wildcard(c.send_interface);
    r.member = unless_wildcard(c.send_member);
    r.error_name = unless_wildcard(c.send_error);
    if (c.send_destination_prefix) {  // "*" is not a wildcard here, as in dbus-daemon
        r.peer_name = c.send_destination_prefix;
        r.peer_name_is_prefix = true;
    } else {
        r.peer_name = unless_wildcard(c.send_destination);
    }
    if (c.send_broadcast) r.broadcast = is_true(c.send_broadcast) ? Tristate::yes : Tristate::no;
    if (c.send_requested_reply) r.requested_reply = is_true(c.send_requested_reply);
    r.log = is_true(c.log);
}

void compile_receive(PolicyRule& r, const ConfigRule& c) {
    compile_message_common(r, c);
    r.type = message_type(c.receive_type);
    r.path = unless_wildcard(c.receive_path);
    r.interface = unless_wildcard(c.receive_interface);
    r.member = unless_wildcard(c.receive_member);
    r.error_name = unless_wildcard(c.receive_error);
    r.peer_name = unless_wildcard(c.receive_sender);
    if (c.receive_requested_reply) r.requested_reply = is_true(c.receive_requested_reply);
}

// user="name" or group="name": nullopt result means the name is unknown and the rule is dropped.
std::optional<PolicyRule> compile_subject_rule(PolicyRule r, const std::string& name, bool user) {
    if (name == "*") return r;
    r.id = user ? config::lookup_config_user(name) : config::lookup_config_group(name);
    if (!r.id) return std::nullopt;
    return r;
}

std::optional<PolicyRule> compile_rule(const ConfigRule& c) {
    PolicyRule r;
    r.allow = c.allow;
    r.origin = c.origin;
    r.requested_reply = c.allow;  // allow: only requested replies; deny: only unrequested ones
    switch (c.kind) {
    case ConfigRule::Kind::send: r.kind = PolicyRule::Kind::send; compile_send(r, c); return r;
    case ConfigRule::Kind::receive: r.kind = PolicyRule::Kind::receive; compile_receive(r, c); return r;
    case ConfigRule::Kind::own:
        r.kind = PolicyRule::Kind::own;
        r.peer_name_is_prefix = !c.own;
        r.peer_name = c.own ? unless_wildcard(c.own) : c.own_prefix;
        return r;
    case ConfigRule::Kind::user: r.kind = PolicyRule::Kind::user; return compile_subject_rule(r, *c.user, true);
    case ConfigRule::Kind::group: r.kind = PolicyRule::Kind::group; return compile_subject_rule(r, *c.group, false);
    }
    return std::nullopt;
}

// The list a policy's rules go to; nullptr for a policy dbus-daemon ignores (unknown user/group).
std::vector<const PolicyRule*>* list_for(CompiledRules& out, const config::Policy& p) {
    switch (p.scope) {
    case Scope::default_context: return &out.default_rules;
    case Scope::mandatory: return &out.mandatory_rules;
    case Scope::at_console: return p.subject == "true" ? &out.console_true : &out.console_false;
    case Scope::user: return p.subject_id ? &out.by_uid[*p.subject_id] : nullptr;
    case Scope::group: return p.subject_id ? &out.by_gid[*p.subject_id] : nullptr;
    }
    return nullptr;
}

void append_client_rules(std::vector<const PolicyRule*>& send,
                         std::vector<const PolicyRule*>& receive, std::vector<const PolicyRule*>& own,
                         const std::vector<const PolicyRule*>& list) {
    for (const PolicyRule* r : list) {
        if (r->kind == PolicyRule::Kind::send) send.push_back(r);
        else if (r->kind == PolicyRule::Kind::receive) receive.push_back(r);
        else if (r->kind == PolicyRule::Kind::own) own.push_back(r);
        // user/group rules decide who connects; they are not per-connection.
    }
}

// bus_client_policy_optimize: everything before the last rule that overrides earlier ones of its
// kind can never decide, so it goes (and no longer counts as a matched rule either).
void drop_overridden(std::vector<const PolicyRule*>& rules) {
    auto last = std::find_if(rules.rbegin(), rules.rend(), [](const PolicyRule* r) { return r->overrides_earlier(); });
    if (last == rules.rend()) return;
    rules.erase(rules.begin(), std::prev(last.base()));
}

template <class Applies>
Verdict decide(const std::vector<const PolicyRule*>& rules, Applies applies) {
    Verdict v;
    for (const PolicyRule* r : rules) {
        if (!applies(*r)) continue;
        v.allowed = r->allow;
        v.origin = r->origin;
        v.log = r->log;
        ++v.matched_rules;
    }
    return v;
}

}  // namespace

CompiledPolicy CompiledPolicy::compile(const config::BusConfig& config, uid_t bus_uid) {
    auto out = std::make_shared<CompiledRules>();
    out->bus_uid = bus_uid;
    std::size_t total = 0;
    for (const auto& p : config.policies) total += p.rules.size();
    out->storage.reserve(total);
    for (const auto& p : config.policies) {
        std::vector<const PolicyRule*>* list = list_for(*out, p);
        if (!list) continue;
        for (const auto& c : p.rules) {
            std::optional<PolicyRule> rule = compile_rule(c);
            if (!rule) continue;
            out->storage.push_back(std::move(*rule));
            list->push_back(&out->storage.back());
        }
    }
    CompiledPolicy policy;
    policy.rules_ = std::move(out);
    return policy;
}

bool CompiledPolicy::has_console_rules() const {
    return !rules_->console_true.empty() || !rules_->console_false.empty();
}

bool CompiledPolicy::has_group_policies() const { return !rules_->by_gid.empty(); }

PolicySnapshot CompiledPolicy::snapshot(const Subject& subject) const {
    PolicySnapshot s;
    s.rules_ = rules_;
    auto add = [&](const std::vector<const PolicyRule*>& list) { append_client_rules(s.send_, s.receive_, s.own_, list); };
    add(rules_->default_rules);
    for (gid_t gid : subject.groups)
        if (auto it = rules_->by_gid.find(gid); it != rules_->by_gid.end()) add(it->second);
    if (subject.uid) {
        if (auto it = rules_->by_uid.find(*subject.uid); it != rules_->by_uid.end()) add(it->second);
        add(subject.at_console ? rules_->console_true : rules_->console_false);
    }
    add(rules_->mandatory_rules);
    drop_overridden(s.send_);
    drop_overridden(s.receive_);
    drop_overridden(s.own_);
    return s;
}

Verdict CompiledPolicy::can_connect(uid_t uid, std::span<const gid_t> groups) const {
    auto applies = [&](const PolicyRule& r) { return connect_rule_applies(r, uid, groups); };
    Verdict v = decide(rules_->default_rules, applies);
    Verdict m = decide(rules_->mandatory_rules, applies);
    if (m.matched_rules > 0) {
        m.matched_rules += v.matched_rules;
        return m;
    }
    if (v.matched_rules == 0) v.allowed = uid == rules_->bus_uid;  // the bus's own user by default
    return v;
}

Verdict PolicySnapshot::can_own(std::string_view name) const {
    if (!rules_) return {};
    return decide(own_, [&](const PolicyRule& r) { return own_rule_applies(r, name); });
}

Verdict PolicySnapshot::can_send(const MessageFacts& message, std::span<const std::string_view> receiver_names) const {
    if (!rules_) return {};
    return decide(send_, [&](const PolicyRule& r) { return send_rule_applies(r, message, receiver_names); });
}

Verdict PolicySnapshot::can_receive(const MessageFacts& message, std::span<const std::string_view> sender_names,
                                    bool addressed_recipient) const {
    if (!rules_) return {};
    bool eavesdropping = !addressed_recipient && !message.destination.empty();
    Verdict v = decide(receive_, [&](const PolicyRule& r) {
        return receive_rule_applies(r, message, sender_names, eavesdropping);
    });
    v.log = false;  // dbus-daemon honours log="true" on send rules only
    return v;
}

}  // namespace jetbus::policy
