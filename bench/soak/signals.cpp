// Signal roles: emitters broadcast Ticks; subscribers hold rules and count what they are owed.
//
// What a subscriber is owed, and why it is sound: the subscriber reads every emitter's
// `started` after the bus answered its AddMatch. An emitter stores `started` = n before it
// queues Tick n. So a Tick numbered above what the subscriber read was queued after the rule
// was in place, and the bus read it later still: the bus must deliver it, if its emitter wrote
// it (`flushed`: sd_bus_flush returned after it) and the subscriber lives. Emitters allocated
// after the read owe it everything they flushed. Earlier Ticks may or may not arrive (extra).
#include "client.h"
#include "roles.h"

#include <fmt/core.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <unordered_map>
#include <vector>

namespace jetbus::soak {
namespace {

// Ticks per batch: one sd_bus_flush per batch keeps the emitter's syscalls down while the
// loss accounting stays exact (`flushed` moves only after the flush).
constexpr unsigned tick_batch = 10;

// The subscribers' rules, by slot: all Ticks by member, only the even ones by arg0, and all
// of them by path namespace.
enum class RuleKind { member, arg0_even, path_namespace };

RuleKind rule_kind(unsigned slot) { return static_cast<RuleKind>(slot % 3); }

std::string rule_text(RuleKind k) {
    switch (k) {
        case RuleKind::member:
            return fmt::format("type='signal',interface='{}',member='{}'", soak_interface, tick_member);
        case RuleKind::arg0_even:
            return fmt::format("type='signal',interface='{}',member='{}',arg0='even'", soak_interface, tick_member);
        case RuleKind::path_namespace: return "type='signal',path_namespace='/org/jetbus/Soak'";
    }
    return {};
}

const char* topic_of(std::uint64_t seq) { return seq % 2 == 0 ? "even" : "odd"; }

int send_tick(sd_bus* bus, unsigned instance, std::uint64_t seq) {
    sd_bus_message* raw = nullptr;
    int r = sd_bus_message_new_signal(bus, &raw, emitter_path, soak_interface, tick_member);
    if (r < 0) return r;
    MessagePtr m(raw);
    r = sd_bus_message_append(raw, "sut", topic_of(seq), instance, seq);
    return r < 0 ? r : sd_bus_send(bus, raw, nullptr);
}

void add_match(sd_bus* bus, const std::string& rule) {
    sd_bus_error err = SD_BUS_ERROR_NULL;
    sd_bus_message* reply = nullptr;
    const int r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                     "AddMatch", &err, &reply, "s", rule.c_str());
    const std::string why = err.message ? err.message : "";
    sd_bus_message_unref(reply);
    sd_bus_error_free(&err);
    if (r < 0) throw std::runtime_error(fmt::format("AddMatch(\"{}\"): {}", rule, why.empty() ? std::strerror(-r) : why));
}

// One subscriber's view of one emitter instance.
struct Stream {
    std::uint64_t baseline = 0;        // Ticks up to this one were not owed
    std::vector<std::uint64_t> seqs;   // what arrived, in arrival order
};

class Subscriber {
public:
    Subscriber(Board& board, Instance& self, RuleKind kind) : board_(board), self_(self), kind_(kind) {}

    // Called once the rule is in place: what every emitter has begun so far is not owed.
    void take_baseline() {
        snapshot_count_ = board_.count();
        for (unsigned id = 0; id < snapshot_count_; ++id) {
            const Instance& in = board_.at(id);
            if (static_cast<Role>(in.role.load()) == Role::emitter) streams_[id].baseline = in.started.load();
        }
        ready_ = true;
    }

    static int filter(sd_bus_message* m, void* userdata, sd_bus_error*) {
        auto& sub = *static_cast<Subscriber*>(userdata);
        if (sd_bus_message_is_signal(m, soak_interface, tick_member)) return sub.on_tick(m);
        if (sd_bus_message_is_signal(m, "org.freedesktop.DBus", "NameOwnerChanged"))
            sub.self_.name_signals.fetch_add(1, std::memory_order_relaxed);
        return 0;
    }

    // Recomputes what is owed from the emitters' final counts; true when nothing is missing.
    bool tally() {
        std::uint64_t expected = 0, delivered = 0, extra = 0;
        for (unsigned id = 0; id < board_.count(); ++id) {
            const Instance& in = board_.at(id);
            if (static_cast<Role>(in.role.load()) != Role::emitter) continue;
            const Stream& st = streams_[id];
            const std::uint64_t base = id < snapshot_count_ ? st.baseline : 0;
            const std::uint64_t flushed = in.flushed.load();
            const std::uint64_t owed = flushed <= base ? 0 : owed_between(base, flushed);
            const auto in_range = static_cast<std::uint64_t>(std::count_if(
                st.seqs.begin(), st.seqs.end(), [&](std::uint64_t q) { return q > base && q <= flushed; }));
            expected += owed;
            delivered += std::min(in_range, owed);
            extra += st.seqs.size() - std::min(in_range, owed);
        }
        self_.expected.store(expected);
        self_.delivered.store(delivered);
        self_.missing.store(expected - delivered);
        self_.extra.store(extra);
        return expected == delivered;
    }

    bool ready() const { return ready_; }

private:
    std::uint64_t owed_between(std::uint64_t base, std::uint64_t flushed) const {
        return kind_ == RuleKind::arg0_even ? flushed / 2 - base / 2 : flushed - base;
    }

    int on_tick(sd_bus_message* m) {
        const char* topic = nullptr;
        std::uint32_t instance = 0;
        std::uint64_t seq = 0;
        self_.received.fetch_add(1, std::memory_order_relaxed);
        if (sd_bus_message_read(m, "sut", &topic, &instance, &seq) < 0 || instance >= board_.capacity() ||
            (kind_ == RuleKind::arg0_even && seq % 2 != 0)) {
            self_.misrouted.fetch_add(1, std::memory_order_relaxed);
            note_once(self_, "a Tick its rule does not match, or an unreadable one");
            return 1;
        }
        Stream& st = streams_[instance];
        if (!st.seqs.empty() && seq <= st.seqs.back()) {
            self_.out_of_order.fetch_add(1, std::memory_order_relaxed);
            note_once(self_, fmt::format("Tick {} of emitter {} after Tick {}", seq, instance, st.seqs.back()));
        }
        st.seqs.push_back(seq);
        return 1;
    }

    Board& board_;
    Instance& self_;
    RuleKind kind_;
    unsigned snapshot_count_ = 0;
    bool ready_ = false;
    std::unordered_map<unsigned, Stream> streams_;
};

}  // namespace

int run_emitter(const Settings& s, Board& board, unsigned id) {
    Instance& self = board.at(id);
    BusPtr bus = connect_client(s.address);
    set_state(self, State::running);
    Pacer pacer(s.signal_rate / tick_batch);
    std::uint64_t seq = 0;
    while (board.phase() == Phase::run) {
        if (pacer.may_send()) {
            for (unsigned i = 0; i < tick_batch; ++i) {
                self.started.store(++seq);  // before the Tick is queued: see the file comment
                const int r = send_tick(bus.get(), id, seq);
                if (r < 0) {
                    note_once(self, fmt::format("sending a Tick failed: {}", std::strerror(-r)));
                    set_state(self, State::failed);
                    return 1;
                }
            }
            const int r = sd_bus_flush(bus.get());
            if (r < 0) {
                note_once(self, fmt::format("sd_bus_flush failed: {}", std::strerror(-r)));
                set_state(self, State::failed);
                return 1;
            }
            self.flushed.store(seq);
            pacer.sent();
        }
        if (!pump(bus.get(), self, std::clamp<std::uint64_t>(pacer.wait_us(), 1, 20'000))) return 1;
    }
    set_state(self, State::drained);  // every Tick it began is flushed
    return serve_until_exit(bus.get(), board, self);
}

int run_subscriber(const Settings& s, Board& board, unsigned id) {
    Instance& self = board.at(id);
    BusPtr bus = connect_client(s.address);
    Subscriber sub(board, self, rule_kind(self.slot.load()));
    bench::check_sd(sd_bus_add_filter(bus.get(), nullptr, Subscriber::filter, &sub), "sd_bus_add_filter");
    // Rules that never match, as clients watching for names and other objects hold, and one
    // that sees the name churn.
    for (unsigned i = 0; i < s.noise_rules; ++i)
        add_match(bus.get(), i % 2 == 0 ? fmt::format("type='signal',interface='{}',member='Tock{}'", soak_interface, i)
                                        : fmt::format("type='signal',sender='org.freedesktop.DBus',"
                                                      "member='NameOwnerChanged',arg0='org.jetbus.Soak.Nobody{}'", i));
    add_match(bus.get(), "type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged',"
                         "arg0namespace='org.jetbus.Soak.Churn'");
    add_match(bus.get(), rule_text(rule_kind(self.slot.load())));
    sub.take_baseline();
    set_state(self, State::running);
    while (board.phase() != Phase::exit) {
        if (board.header().emitters_done.load() != 0 && get_state(self) == State::running && sub.tally())
            set_state(self, State::drained);
        if (!pump(bus.get(), self, 20'000)) return 1;
    }
    sub.tally();
    set_state(self, State::exited);
    return 0;
}

}  // namespace jetbus::soak
