// The broker's event loop: the io_context run as io.run() runs it, except that a turn which dispatched
// a batch of messages hands the CPU to whoever else is ready to run before the loop goes to sleep.
//
// Why: on a busy bus the broker drains its sockets faster than its peers fill them, so io.run() would
// sleep in epoll_wait after nearly every batch and be woken by the peer's next write. Each sleep and
// wake-up is a context switch for the broker and a wake-up (often a cross-CPU interrupt) paid by the
// writing peer. Yielding instead lets a peer sharing the broker's CPU run and write more while the
// broker stays runnable: its next read finds a bigger batch and nobody pays for waking it. A turn
// that dispatched fewer messages (a lone call, a ping-pong) goes to sleep exactly as io.run() would,
// with no extra syscall, so an idle or lightly used bus costs the same as before.
#pragma once

#include <boost/asio/io_context.hpp>

#include <cstdint>

namespace jetbus::broker {

struct BusyYield {
    uint64_t batch = 2;         // messages dispatched by one turn that make it a busy one
    int yields = 2;             // yields, each after a poll that found nothing, before sleeping
    int backoff = 64;           // busy turns without yields after a yield that ran nobody else
    bool (*yield)() = nullptr;  // gives up the CPU; true when another task ran meanwhile
                                // (default: sched_yield, timed); tests pass their own
};

// Runs `io` until it stops or runs out of work, as io.run() does. `dispatched` is the count of
// messages taken from peers, which the handlers advance (Bus::dispatched()).
void run_event_loop(boost::asio::io_context& io, const uint64_t& dispatched, BusyYield busy = {});

}  // namespace jetbus::broker
