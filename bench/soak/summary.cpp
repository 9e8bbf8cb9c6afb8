// Totals, verdict and output of a soak run.
#include "summary.h"

#include <fmt/core.h>

#include <algorithm>

namespace jetbus::soak {
namespace {

// Notes kept for the report: enough to see every distinct kind of failure.
constexpr std::size_t max_notes = 20;

std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') out += fmt::format("\\{}", ch);
        else if (c < 0x20) out += fmt::format("\\u{:04x}", c);
        else out += ch;
    }
    return out + "\"";
}

bool is_caller(Role r) { return r == Role::caller || r == Role::name_churner; }

void add_calls(Totals& t, const Instance& in, Role role) {
    const std::uint64_t sent = in.sent.load(), replied = in.replied.load(), errored = in.errored.load();
    t.calls_sent += sent;
    t.replies += replied;
    t.errors += errored;
    t.bad_replies += in.bad_replies.load();
    if (role == Role::name_churner) t.name_calls += sent;
    for (std::size_t k = 0; k < error_kind_count; ++k) t.errors_by_kind[k] += in.errors[k].load();
    const std::uint64_t open = sent - std::min(sent, replied + errored);
    if (in.killed.load() != 0 || in.died.load() != 0) {
        t.unjudged_calls += open;  // a dead caller cannot be owed anything; a death is its own failure
    } else {
        t.lost_calls += open;
        ++t.judged_callers;
    }
}

void add_ticks(Totals& t, const Instance& in) {
    t.ticks_received += in.received.load();
    t.name_signals += in.name_signals.load();
    t.ticks_out_of_order += in.out_of_order.load();
    t.ticks_misrouted += in.misrouted.load();
    if (in.killed.load() != 0 || in.died.load() != 0) return;
    ++t.judged_subscribers;
    t.ticks_owed += in.expected.load();
    t.ticks_delivered += in.delivered.load();
    t.ticks_missing += in.missing.load();
    t.ticks_extra += in.extra.load();
}

void add_instance(Totals& t, const Instance& in) {
    const auto role = static_cast<Role>(in.role.load());
    if (is_caller(role)) add_calls(t, in, role);
    if (role == Role::subscriber) add_ticks(t, in);
    if (role == Role::emitter) t.ticks_emitted += in.flushed.load();
    t.handled += in.handled.load();
    t.connections += in.connections.load();
    t.connect_failures += in.connect_failures.load();
}

std::string counts_by_role(const std::array<std::uint64_t, role_count>& counts) {
    std::string out;
    for (std::size_t r = 0; r < role_count; ++r)
        out += fmt::format("{}\"{}\": {}", out.empty() ? "" : ", ", role_name(static_cast<Role>(r)), counts[r]);
    return "{" + out + "}";
}

std::uint64_t sum(const std::array<std::uint64_t, role_count>& a) {
    std::uint64_t n = 0;
    for (auto v : a) n += v;
    return n;
}

}  // namespace

std::uint64_t Totals::unexpected_errors() const {
    return errors - errors_by_kind[static_cast<std::size_t>(ErrorKind::service_unknown)] -
           errors_by_kind[static_cast<std::size_t>(ErrorKind::no_reply)];
}

Totals live_totals(const Board& board) {
    Totals t;
    for (unsigned id = 0; id < board.count(); ++id) add_instance(t, board.at(id));
    return t;
}

Totals final_totals(const Board& board, const std::array<std::uint64_t, role_count>& kills,
                    const std::array<std::uint64_t, role_count>& deaths) {
    Totals t = live_totals(board);
    t.instances = board.count();
    t.kills = kills;
    t.deaths = deaths;
    for (unsigned id = 0; id < board.count() && t.notes.size() < max_notes; ++id) {
        const Instance& in = board.at(id);
        const bool troubled = in.died.load() != 0 || get_state(in) == State::failed || in.bad_replies.load() != 0 ||
                              in.out_of_order.load() != 0 || in.misrouted.load() != 0 ||
                              in.connect_failures.load() != 0 ||
                              (in.errored.load() != 0 && in.note[0] != '\0');
        if (!troubled || in.note[0] == '\0') continue;
        t.notes.push_back(fmt::format("{} {} (instance {}, pid {}{}): {}", role_name(static_cast<Role>(in.role.load())),
                                      in.slot.load(), id, in.pid.load(), in.killed.load() ? ", later killed" : "",
                                      in.note));
    }
    return t;
}

std::vector<std::string> problems(const Totals& t) {
    std::vector<std::string> p;
    if (t.lost_calls) p.push_back(fmt::format("{} calls lost (neither reply nor error)", t.lost_calls));
    if (t.ticks_missing) p.push_back(fmt::format("{} Ticks owed to subscribers never arrived", t.ticks_missing));
    if (t.bad_replies) p.push_back(fmt::format("{} replies did not match their call", t.bad_replies));
    if (t.unexpected_errors())
        p.push_back(fmt::format("{} errors other than ServiceUnknown/NoReply", t.unexpected_errors()));
    if (t.ticks_out_of_order) p.push_back(fmt::format("{} Ticks out of order or duplicated", t.ticks_out_of_order));
    if (t.ticks_misrouted) p.push_back(fmt::format("{} Ticks delivered to a rule that does not match", t.ticks_misrouted));
    if (t.connect_failures) p.push_back(fmt::format("{} connection churn failures", t.connect_failures));
    if (const auto d = sum(t.deaths)) p.push_back(fmt::format("{} clients died without being killed", d));
    if (t.judged_callers == 0) p.push_back("no caller survived to the end: calls could not be judged");
    if (t.judged_subscribers == 0) p.push_back("no subscriber survived to the end: signals could not be judged");
    return p;
}

std::string progress_json(const Totals& t, double elapsed_s) {
    return fmt::format(
        "{{\"type\": \"progress\", \"t\": {:.2f}, \"calls_sent\": {}, \"replies\": {}, \"errors\": {}, "
        "\"ticks_emitted\": {}, \"ticks_received\": {}, \"connections\": {}, \"messages_sent\": {}, "
        "\"messages_delivered\": {}}}",
        elapsed_s, t.calls_sent, t.replies, t.errors, t.ticks_emitted, t.ticks_received, t.connections,
        t.messages_sent(), t.messages_delivered());
}

std::string summary_json(const Totals& t, const Settings& s, double load_s, double drain_s,
                         const std::vector<std::string>& problems) {
    std::string errors;
    for (std::size_t k = 0; k < error_kind_count; ++k)
        errors += fmt::format("{}\"{}\": {}", errors.empty() ? "" : ", ", error_kind_name(static_cast<ErrorKind>(k)),
                              t.errors_by_kind[k]);
    std::string notes, probs;
    for (const auto& n : t.notes) notes += (notes.empty() ? "" : ", ") + json_string(n);
    for (const auto& n : problems) probs += (probs.empty() ? "" : ", ") + json_string(n);
    return fmt::format(
        "{{\"type\": \"summary\", \"ok\": {}, \"seed\": {}, \"load_s\": {:.2f}, \"drain_s\": {:.3f}, "
        "\"settings\": {{\"services\": {}, \"callers\": {}, \"inflight\": {}, \"call_rate\": {}, \"emitters\": {}, "
        "\"signal_rate\": {}, \"subscribers\": {}, \"noise_rules\": {}, \"name_churners\": {}, \"name_rate\": {}, "
        "\"conn_churners\": {}, \"conn_rate\": {}, \"kill_every_s\": {}, \"kills_per_round\": {}, \"drain_s\": {}}}, "
        "\"messages\": {{\"sent\": {}, \"delivered\": {}, \"errored\": {}, \"lost\": {}}}, "
        "\"calls\": {{\"sent\": {}, \"replied\": {}, \"errored\": {}, \"lost\": {}, \"unjudged\": {}, "
        "\"bad_replies\": {}, \"name_calls\": {}, \"judged_callers\": {}, \"errors\": {{{}}}}}, "
        "\"signals\": {{\"emitted\": {}, \"received\": {}, \"owed\": {}, \"delivered\": {}, \"lost\": {}, "
        "\"extra\": {}, \"out_of_order\": {}, \"misrouted\": {}, \"judged_subscribers\": {}, "
        "\"name_owner_changed\": {}}}, "
        "\"services_answered\": {}, \"connections\": {{\"churned\": {}, \"failed\": {}, \"instances\": {}}}, "
        "\"kills\": {}, \"deaths\": {}, \"notes\": [{}], \"problems\": [{}]}}",
        problems.empty() ? "true" : "false", s.seed, load_s, drain_s, s.services, s.callers, s.inflight, s.call_rate,
        s.emitters, s.signal_rate, s.subscribers, s.noise_rules, s.name_churners, s.name_rate, s.conn_churners,
        s.conn_rate, s.kill_every, s.kills, s.drain, t.messages_sent(), t.messages_delivered(), t.errors,
        t.messages_lost(), t.calls_sent, t.replies, t.errors, t.lost_calls, t.unjudged_calls, t.bad_replies,
        t.name_calls, t.judged_callers, errors, t.ticks_emitted, t.ticks_received, t.ticks_owed, t.ticks_delivered,
        t.ticks_missing, t.ticks_extra, t.ticks_out_of_order, t.ticks_misrouted, t.judged_subscribers,
        t.name_signals, t.handled, t.connections, t.connect_failures, t.instances, counts_by_role(t.kills),
        counts_by_role(t.deaths), notes, probs);
}

std::string summary_text(const Totals& t, double load_s, double drain_s, const std::vector<std::string>& problems) {
    std::string out = fmt::format(
        "soak: {:.0f} s of load, drained in {:.2f} s; {} clients killed, {} instances in all\n"
        "  messages: {} sent, {} delivered, {} errored, {} lost\n"
        "  calls:    {} sent, {} replied, {} errored ({} ServiceUnknown, {} NoReply, {} other), {} lost, "
        "{} unjudged (their caller was killed)\n"
        "  signals:  {} emitted, {} received; owed to {} surviving subscribers {}, delivered {}, lost {}, extra {}\n"
        "  churn:    {} connections ({} failed), {} name calls\n",
        load_s, drain_s, sum(t.kills), t.instances, t.messages_sent(), t.messages_delivered(), t.errors,
        t.messages_lost(), t.calls_sent, t.replies, t.errors,
        t.errors_by_kind[static_cast<std::size_t>(ErrorKind::service_unknown)],
        t.errors_by_kind[static_cast<std::size_t>(ErrorKind::no_reply)], t.unexpected_errors(), t.lost_calls,
        t.unjudged_calls, t.ticks_emitted, t.ticks_received, t.judged_subscribers, t.ticks_owed, t.ticks_delivered,
        t.ticks_missing, t.ticks_extra, t.connections, t.connect_failures, t.name_calls);
    for (const auto& n : t.notes) out += fmt::format("  note: {}\n", n);
    for (const auto& p : problems) out += fmt::format("  PROBLEM: {}\n", p);
    return out;
}

}  // namespace jetbus::soak
