// The measured loops of the call workloads. Every loop is bounded by a count and by a
// wall-clock cap, runs a warm-up first, and checks every reply (an error or a wrong
// answer is counted, not hidden).
#pragma once

#include "link.h"
#include "options.h"

#include <cstdint>
#include <vector>

namespace jetbus::bench {

struct Result {
    std::uint64_t completed = 0;     // measured calls answered (successfully or not)
    std::uint64_t errors = 0;        // error replies, timeouts or wrong answers among them
    double elapsed_s = 0;            // measured loop only, warm-up excluded
    bool capped = false;             // the wall-clock cap stopped the loop before --count
    bool warmup_failed = false;      // errors during warm-up: nothing was measured
    std::vector<double> rtt_us;      // ping-pong and churn: one time per successful call/connection
};

// One call at a time: build the message, then time sd_bus_call until the reply is in.
Result run_ping_pong(sd_bus* bus, const Target& target, const Options& opt);

// opt.inflight Echo calls outstanding; each reply sends the next until the count is done.
Result run_pipelined(sd_bus* bus, const Target& target, const Options& opt);

// Consume(ay) calls of opt.size bytes, opt.inflight outstanding; the reply is the size received.
Result run_large(sd_bus* bus, const Target& target, const Options& opt);

// TakeFd(h) calls carrying one fd each, opt.inflight outstanding.
Result run_fd_passing(sd_bus* bus, const Target& target, const Options& opt);

}  // namespace jetbus::bench
