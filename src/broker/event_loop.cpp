// The broker's event loop. See event_loop.h.
#include "broker/event_loop.h"

#include <sched.h>

namespace jetbus::broker {

void run_event_loop(boost::asio::io_context& io, const uint64_t& dispatched, BusyYield busy) {
    if (!busy.yield) busy.yield = sched_yield;
    for (;;) {
        const uint64_t before = dispatched;
        if (io.run_one() == 0) return;  // sleeps in epoll_wait while nothing is ready
        if (dispatched - before < busy.batch) continue;
        // Measured (docs/performance.md, "Yielding before sleeping"): polling once more and yielding
        // twice at most is enough; the peers that share this CPU get it, and the loop sleeps only once
        // nothing came in meanwhile.
        for (int i = 0; i < busy.yields; ++i) {
            if (io.poll() > 0 || io.stopped()) break;
            busy.yield();
        }
    }
}

}  // namespace jetbus::broker
