// The no-reply loop: a window over the server's shared counter, the same way the signal
// emitter paces itself by its subscribers.
#include "no_reply.h"

#include <algorithm>
#include <chrono>
#include <vector>

namespace jetbus::bench {
namespace {

using Clock = std::chrono::steady_clock;

// No progress on the server for this long means the bus dropped calls: the rest is lost.
constexpr std::chrono::seconds stall_timeout{5};
// Longest single sleep of the sender; a wake-up it missed costs at most this.
constexpr int wait_slice_ms = 50;

struct Sender {
    sd_bus* bus;
    const Target& target;
    SharedProgress& seen;
    std::vector<std::uint8_t> payload;
    unsigned window;
    std::uint64_t next = 0;  // sequence of the next Sink, over warm-up and measured phase
    bool failed = false, capped = false;
};

int send_sink(Sender& s) {
    sd_bus_message* raw = nullptr;
    const char* dest = s.target.destination.empty() ? nullptr : s.target.destination.c_str();
    int r = sd_bus_message_new_method_call(s.bus, &raw, dest, Target::path, Target::interface, Target::sink);
    if (r < 0) return r;
    MessagePtr m(raw);
    if ((r = sd_bus_message_set_expect_reply(raw, 0)) < 0) return r;
    if ((r = sd_bus_message_append(raw, "t", s.next)) < 0) return r;
    if ((r = sd_bus_message_append_array(raw, 'y', s.payload.data(), s.payload.size())) < 0) return r;
    return sd_bus_send(s.bus, raw, nullptr);
}

// Sleeps until the server has seen `until` calls; false on a stall or a dead connection.
bool wait_seen(Sender& s, std::uint64_t until) {
    if (!flush_writes(s.bus, Clock::now() + stall_timeout)) return !(s.failed = true);
    std::uint64_t last = s.seen.min_seen();
    auto last_move = Clock::now();
    while (s.seen.min_seen() < until) {
        if (const std::uint64_t now_seen = s.seen.min_seen(); now_seen != last) {
            last = now_seen;
            last_move = Clock::now();
        }
        if (Clock::now() - last_move > stall_timeout) return !(s.failed = true);
        s.seen.wait_for(until, wait_slice_ms);
    }
    return true;
}

// Sends `count` Sinks in the window; returns the seconds until the server saw the last one.
double send_all(Sender& s, std::uint64_t count, double max_seconds) {
    const auto start = Clock::now();
    const auto cap = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(max_seconds));
    const std::uint64_t end = s.next + count;
    while (s.next < end && !s.failed) {
        if (s.next - s.seen.min_seen() >= s.window) {
            if (Clock::now() > cap) {
                s.capped = true;
                break;
            }
            wait_seen(s, s.next - s.window + std::max(1u, s.window / 2));
            continue;
        }
        if (send_sink(s) < 0) s.failed = true;
        else ++s.next;
    }
    if (!s.failed) wait_seen(s, s.next);
    return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

Result run_no_reply(sd_bus* bus, const Target& target, const Options& opt, SharedProgress& seen) {
    Sender s{bus, target, seen, std::vector<std::uint8_t>(opt.size, 0x5a), opt.inflight};
    Result r;
    send_all(s, opt.warmup, opt.max_seconds);
    if (s.failed || seen.slot(0).out_of_order.load() > 0) {
        r.errors = std::max<std::uint64_t>(1, s.next - std::min(s.next, seen.min_seen()));
        r.warmup_failed = true;
        return r;
    }
    const std::uint64_t first = s.next;
    r.elapsed_s = send_all(s, opt.count, opt.max_seconds);
    r.capped = s.capped;
    const std::uint64_t got = seen.min_seen();
    r.completed = s.next - first;
    r.errors = (s.next > got ? s.next - got : got - s.next) + seen.slot(0).out_of_order.load();
    if (s.failed && r.errors == 0) r.errors = 1;  // the connection failed: not a clean run
    return r;
}

}  // namespace jetbus::bench
