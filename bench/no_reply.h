// Pipelined no-reply messages: Sink calls flagged NO_REPLY_EXPECTED, counted by the server
// in shared memory, so flow control and the end of the run add nothing to the bus.
#pragma once

#include "link.h"
#include "options.h"
#include "shared_progress.h"
#include "workloads.h"

namespace jetbus::bench {

// Sends opt.count Sink(t sequence, ay payload) calls, at most opt.inflight ahead of what
// the server has seen; the clock stops when the server has seen them all. `seen` is the
// server's counter (slot 0). Lost or reordered calls are errors.
Result run_no_reply(sd_bus* bus, const Target& target, const Options& opt, SharedProgress& seen);

}  // namespace jetbus::bench
