// The security policy at the bus's doors: who may connect, own a name, send a message and receive it.
// Decisions come from src/policy (dbus-daemon's semantics); this file gathers the facts it needs —
// the peers' names, whether a reply was requested — and words refusals as dbus-daemon does.
#include <spdlog/spdlog.h>

#include "broker/bus.h"

namespace jetbus::broker {

namespace {

policy::MessageFacts facts_of(const wire::Header& h) {
    policy::MessageFacts facts;
    facts.type = h.type;
    facts.path = h.path;
    facts.interface = h.interface;
    facts.member = h.member;
    facts.error_name = h.error_name;
    facts.destination = h.destination;
    facts.reply_serial = h.reply_serial.value_or(0);
    facts.unix_fds = h.unix_fds;
    return facts;
}

}  // namespace

void Bus::set_policy(policy::CompiledPolicy p) {
    policy_ = std::move(p);
    groups_cache_.clear();  // a reload is also when changed group memberships take effect
    for (auto& [id, c] : connections_) {
        if (c->admitted) take_snapshot(*c);
    }
}

policy::Subject Bus::subject_of(const Connection& c) const {
    policy::Subject s;
    if (!c.anonymous()) s.uid = c.uid();
    // Decided once per snapshot (at connect and reload), as dbus-daemon does.
    s.at_console = s.uid && options_.at_console && policy_ && policy_->has_console_rules() &&
                   options_.at_console(*s.uid);
    // Groups pick the group="..." policies, so they are asked only where such policies exist.
    if (policy_ && policy_->has_group_policies()) s.groups = c.peer_groups();
    s.groups.push_back(c.credentials().gid);  // SO_PEERGROUPS lists the supplementary groups only
    return s;
}

void Bus::take_snapshot(Connection& c) {
    if (policy_) c.policy = policy_->snapshot(subject_of(c));
}

std::span<const std::string_view> Bus::names_for_policy(const Connection* c,
                                                         std::vector<std::string_view>& out) const {
    out.clear();
    if (!c) {
        out.push_back(driver_name);
        return out;
    }
    if (!c->unique_name().empty()) out.push_back(c->unique_name());
    for (const std::string& n : names_.claimed_names(c->id())) out.push_back(n);
    return out;
}

bool Bus::may_own(const Connection& c, std::string_view name, std::string& text) const {
    if (!policy_) return true;
    const policy::Verdict v = c.policy.can_own(name);
    if (v.allowed) return true;
    text = policy::format_own_denied(c.unique_name(), name);
    spdlog::warn("{}", text);
    return false;
}

bool Bus::allowed(const Connection* from, const Connection* to, const Message& m, bool addressed,
                  bool requested_reply, std::string* text) {
    if (!policy_) return true;
    const wire::Header& h = m.header();
    policy::MessageFacts facts = facts_of(h);
    facts.requested_reply = addressed && requested_reply;

    policy::Verdict v;
    policy::Complaint complaint = policy::Complaint::rejected_send;
    if (from) {
        v = from->policy.can_send(facts, names_for_policy(to, receiver_names_));
        if (v.log && v.allowed && addressed) {
            const policy::PeerDescription s{from->unique_name(), from->loginfo()};
            const policy::PeerDescription r{to ? std::string_view(to->unique_name()) : std::string_view{},
                                            to ? std::string_view(to->loginfo()) : std::string_view{}};
            spdlog::info("{}", policy::format_message_complaint(policy::Complaint::would_reject, v, facts, &s,
                                                                to ? &r : nullptr));
        }
    } else {
        v.allowed = true;  // the driver's own messages pass the send side
    }
    if (v.allowed && to) {
        v = to->policy.can_receive(facts, names_for_policy(from, sender_names_), addressed);
        complaint = policy::Complaint::rejected_receive;
    }
    if (v.allowed) return true;
    if (addressed) {
        const policy::PeerDescription s{from ? std::string_view(from->unique_name()) : driver_name,
                                        from ? std::string_view(from->loginfo()) : std::string_view{}};
        const policy::PeerDescription r{to ? std::string_view(to->unique_name()) : driver_name,
                                        to ? std::string_view(to->loginfo()) : std::string_view{}};
        std::string words = policy::format_message_complaint(complaint, v, facts, from ? &s : nullptr,
                                                             to ? &r : nullptr);
        spdlog::warn("{}", words);
        if (text) *text = std::move(words);
    }
    return false;
}

// As dbus-daemon: before a service is started for a message, the sender must be allowed to send it to
// the name it addressed (no receiver exists yet, so rules about receiving cannot be asked).
bool Bus::may_activate(Connection& from, const Message& m, std::string& text) {
    if (!policy_) return true;
    policy::MessageFacts facts = facts_of(m.header());
    const std::string_view destination[] = {m.header().destination};
    const policy::Verdict v = from.policy.can_send(facts, destination);
    if (v.allowed) return true;
    const policy::PeerDescription s{from.unique_name(), from.loginfo()};
    text = policy::format_message_complaint(policy::Complaint::rejected_send, v, facts, &s, nullptr);
    spdlog::warn("{}", text);
    return false;
}

std::string Bus::full_queue_text(const Connection& from, const Connection& to, const Message& m) const {
    const wire::Header& h = m.header();
    policy::MessageFacts facts = facts_of(h);
    const policy::PeerDescription s{from.unique_name(), from.loginfo()};
    const policy::PeerDescription r{to.unique_name(), to.loginfo()};
    return policy::format_message_complaint(policy::Complaint::full_queue, policy::Verdict{}, facts, &s, &r);
}

}  // namespace jetbus::broker
