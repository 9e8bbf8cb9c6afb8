// The emitter's loop for fanout and match-scaling, and their set-up. Flow control reads
// the subscribers' shared counters: Tick i goes out only once the slowest subscriber has
// seen Tick i-window, so the bus never holds more than `window` Ticks per subscriber and
// a bus that drops or disconnects shows up as losses, not as a higher figure.
#include "signal_workloads.h"

#include "child_group.h"
#include "echo_server.h"
#include "link.h"
#include "shared_progress.h"
#include "signal_peers.h"

#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>

namespace jetbus::bench {
namespace {

using Clock = std::chrono::steady_clock;

// Subscribers connect and install their rules before the emitter starts: 100 processes
// or 10,000 rules on a slow bus take seconds, so this only bounds a broken bus.
constexpr std::chrono::seconds ready_timeout{60};
// No delivery at all for this long means the bus dropped Ticks (or a subscriber): the
// run stops and the rest counts as lost.
constexpr std::chrono::seconds stall_timeout{5};
// Longest single sleep of the emitter; a wake-up it missed costs at most this.
constexpr int wait_slice_ms = 50;
// The emitter lets sd-bus push queued writes once per this many sends.
constexpr unsigned drive_every = 32;
// Share of --max-seconds the warm-up may take before it stops sending.
constexpr double warmup_time_share = 0.25;
// match-scaling --rule-placement spread: the "100 idle connections".
constexpr unsigned spread_connections = 100;
// Subscribers are started in batches of this many, each batch connected before the next:
// buses refuse or drop connections beyond max_incomplete_connections (64 by default in
// dbus-daemon(1)) that are still authenticating.
constexpr unsigned connect_batch = 32;

double seconds_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

// Waits until `count` slots of p are ready.
void wait_ready(SharedProgress& p, const char* what, unsigned count) {
    const auto deadline = Clock::now() + ready_timeout;
    while (p.count_in(SlotState::ready) < count) {
        if (p.any_down()) throw std::runtime_error(fmt::format("{} failed to start (see above)", what));
        if (Clock::now() > deadline)
            throw std::runtime_error(fmt::format("{} did not become ready within {} s", what, ready_timeout.count()));
        p.wait_for(UINT64_MAX, 100);
    }
}

struct Emitter {
    sd_bus* bus;
    SharedProgress& progress;
    unsigned window;
    std::uint64_t next = 0;  // sequence number of the next Tick, over warm-up and measured phase
    bool failed = false, capped = false, stalled = false;
};

// Tracks the slowest subscriber and flags a stall when it stops moving.
struct StallWatch {
    std::uint64_t last_total = 0;
    Clock::time_point last_move = Clock::now();
    bool stalled(const SharedProgress& p) {
        const std::uint64_t total = p.total_seen();
        if (total != last_total) {
            last_total = total;
            last_move = Clock::now();
        }
        return Clock::now() - last_move > stall_timeout;
    }
};

// Blocks until the window has room again; false when the run has to stop.
bool wait_for_room(Emitter& e, Clock::time_point cap, StallWatch& watch) {
    if (!flush_writes(e.bus, Clock::now() + stall_timeout)) return !(e.failed = true);
    if (Clock::now() > cap) return !(e.capped = true);
    if (e.progress.any_down()) return false;
    if (watch.stalled(e.progress)) return !(e.stalled = true);
    const std::uint64_t room_at = e.next - e.window + std::max(1u, e.window / 2);
    e.progress.wait_for(room_at, wait_slice_ms);
    return true;
}

// Waits until every subscriber has seen every Tick sent; false on a stall or a subscriber down.
bool wait_delivered(Emitter& e) {
    if (!flush_writes(e.bus, Clock::now() + stall_timeout)) return !(e.failed = true);
    StallWatch watch;
    while (e.progress.min_seen() < e.next) {
        if (e.progress.any_down()) return false;
        if (watch.stalled(e.progress)) return !(e.stalled = true);
        e.progress.wait_for(e.next, wait_slice_ms);
    }
    return true;
}

// Sends `count` Ticks within the window, then waits for their delivery. Returns the
// elapsed seconds from the first send to the last delivery (or the stop).
double emit(Emitter& e, std::uint64_t count, double max_seconds) {
    const auto start = Clock::now();
    const auto cap = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(max_seconds));
    const std::uint64_t end = e.next + count;
    std::uint64_t slowest = e.progress.min_seen();
    unsigned since_drive = 0;
    StallWatch watch;
    while (e.next < end) {
        if (e.next - slowest >= e.window) {
            slowest = e.progress.min_seen();
            if (e.next - slowest >= e.window && !wait_for_room(e, cap, watch)) break;
            continue;
        }
        if (send_tick(e.bus, e.next) < 0) {
            e.failed = true;
            break;
        }
        ++e.next;
        if (++since_drive == drive_every) {
            since_drive = 0;
            if (sd_bus_process(e.bus, nullptr) < 0) {
                e.failed = true;
                break;
            }
        }
    }
    if (!e.failed) wait_delivered(e);
    return seconds_between(start, Clock::now());
}

// Losses and order faults over the whole run (warm-up included), per subscriber.
void account(const Emitter& e, SignalResult& r) {
    for (unsigned i = 0; i < e.progress.size(); ++i) {
        const SubscriberSlot& s = e.progress.slot(i);
        const std::uint64_t seen = s.seen.load();
        r.lost += e.next > seen ? e.next - seen : 0;
        r.extra += seen > e.next ? seen - e.next : 0;
        r.out_of_order += s.out_of_order.load();
    }
    r.subscribers_down = e.progress.count_in(SlotState::failed) + e.progress.count_in(SlotState::gone);
    r.capped = e.capped;
    r.stalled = e.stalled;
}

SignalResult run_signal_flow(sd_bus* bus, SharedProgress& progress, const Options& opt) {
    Emitter e{bus, progress, opt.inflight};
    SignalResult r;
    // The warm-up may stop early (a quarter of the time cap) but must be delivered in full.
    emit(e, opt.warmup, opt.max_seconds * warmup_time_share);
    e.capped = false;
    if (e.failed || e.stalled || e.next == 0 || progress.min_seen() < e.next || progress.any_down()) {
        r.warmup_failed = true;
        account(e, r);
        return r;
    }
    const std::uint64_t first = e.next;
    const std::uint64_t seen_before = progress.total_seen();
    r.elapsed_s = emit(e, opt.count, opt.max_seconds);
    r.emitted = e.next - first;
    r.delivered = progress.total_seen() - seen_before;
    account(e, r);
    if (e.failed && r.lost == 0) r.lost = 1;  // the emitter's connection failed: not a clean run
    return r;
}

}  // namespace

SignalResult run_fanout(const Options& opt) {
    SharedProgress progress(opt.subscribers);
    ChildGroup children;
    const std::string rule = matching_rule(RuleKind::member);
    for (unsigned i = 0; i < opt.subscribers; ++i) {
        children.spawn([&, i] { return subscriber_main(opt.address, rule, {}, progress, i); });
        if ((i + 1) % connect_batch == 0 || i + 1 == opt.subscribers) wait_ready(progress, "a subscriber", i + 1);
    }
    BusPtr bus = connect_to_bus(opt.address);
    return run_signal_flow(bus.get(), progress, opt);
}

MatchScalingResult run_match_scaling(const Options& opt) {
    SharedProgress receiver(1);
    SharedProgress holder(1);
    ChildGroup children;
    const bool on_receiver = opt.rule_placement == RulePlacement::receiver;
    {
        // Built before forking; the children get their copies, the parent frees them.
        const auto rules = non_matching_rules(opt.rule_kind, 0, opt.rules);
        const std::vector<std::string> none;
        const std::string rule = matching_rule(opt.rule_kind);
        children.spawn([&] { return subscriber_main(opt.address, rule, on_receiver ? rules : none, receiver, 0); });
        if (!on_receiver)
            children.spawn([&] { return rule_holder_main(opt.address, spread_connections, rules, holder); });
    }
    wait_ready(receiver, "the receiver", 1);
    if (!on_receiver) wait_ready(holder, "the rule holder", 1);
    MatchScalingResult out;
    if (opt.traffic == Traffic::signal) {
        BusPtr bus = connect_to_bus(opt.address);
        out.signals = run_signal_flow(bus.get(), receiver, opt);
        return out;
    }
    const std::string name = fmt::format("org.jetbus.Bench.p{}", getpid());
    EchoServer server(ServerLink{opt.address, name});
    BusPtr client = connect_to_bus(opt.address);
    out.calls = run_pipelined(client.get(), Target{name}, opt);
    return out;
}

}  // namespace jetbus::bench
