// The measured loops. Both are bounded by a call count and by a wall-clock cap, run a
// warm-up first, and check every reply (an error or a wrong echo is counted, not hidden).
#pragma once

#include "link.h"
#include "options.h"

#include <cstdint>
#include <vector>

namespace jetbus::bench {

struct Result {
    std::uint64_t completed = 0;     // measured calls answered (successfully or not)
    std::uint64_t errors = 0;        // error replies, timeouts or wrong echoes among them
    double elapsed_s = 0;            // measured loop only, warm-up excluded
    bool capped = false;             // the wall-clock cap stopped the loop before --count
    bool warmup_failed = false;      // errors during warm-up: nothing was measured
    std::vector<double> rtt_us;      // ping-pong: one round trip per successful call
};

// One call at a time: build the message, then time sd_bus_call until the reply is in.
Result run_ping_pong(sd_bus* bus, const Target& target, const Options& opt);

// opt.inflight calls outstanding; each reply sends the next call until the count is done.
Result run_pipelined(sd_bus* bus, const Target& target, const Options& opt);

}  // namespace jetbus::bench
