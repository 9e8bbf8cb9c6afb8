// The broker's event loop. See event_loop.h.
#include "broker/event_loop.h"

#include <sched.h>

#include <chrono>

namespace jetbus::broker {

namespace {

// A yield that came back this fast ran nobody else: a context switch there and back takes longer.
constexpr auto ran_nobody = std::chrono::microseconds(3);

bool timed_sched_yield() {
    const auto start = std::chrono::steady_clock::now();  // vDSO: no syscall
    sched_yield();
    return std::chrono::steady_clock::now() - start >= ran_nobody;
}

}  // namespace

void run_event_loop(boost::asio::io_context& io, const uint64_t& dispatched, BusyYield busy) {
    if (!busy.yield) busy.yield = timed_sched_yield;
    int skip = 0;  // busy turns left without yielding
    for (;;) {
        const uint64_t before = dispatched;
        if (io.run_one() == 0) return;  // sleeps in epoll_wait while nothing is ready
        if (dispatched - before < busy.batch) continue;
        if (skip > 0) {
            --skip;
            continue;
        }
        for (int i = 0; i < busy.yields; ++i) {
            if (io.poll() > 0 || io.stopped()) break;
            if (!busy.yield()) {
                // Nobody else wanted this CPU (or the scheduler keeps it for us: a peer in another
                // scheduling group, autogroup or cgroup, does not get it from a yield). Yielding costs
                // syscalls and buys nothing then; look again after a while.
                skip = busy.backoff;
                break;
            }
        }
    }
}

}  // namespace jetbus::broker
