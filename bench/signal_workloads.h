// fanout and match-scaling: one emitter sends Tick signals through the bus to subscriber
// processes (N for fanout, one receiver for match-scaling, with K non-matching rules
// installed), under a bounded window; or, for match-scaling with unicast traffic,
// pipelined calls run between two other connections while the rules exist.
#pragma once

#include "options.h"
#include "workloads.h"

#include <cstdint>

namespace jetbus::bench {

struct SignalResult {
    std::uint64_t emitted = 0;        // measured Ticks sent
    std::uint64_t delivered = 0;      // measured Ticks received, summed over subscribers
    std::uint64_t lost = 0;           // Ticks some subscriber never got (whole run, warm-up included)
    std::uint64_t extra = 0;          // Ticks received more often than sent
    std::uint64_t out_of_order = 0;   // Ticks not in the emitted order
    unsigned subscribers_down = 0;    // subscribers that failed or lost their connection
    double elapsed_s = 0;             // first measured send to the last delivery (or the stop)
    bool capped = false;              // --max-seconds stopped the emitter
    bool stalled = false;             // deliveries stopped for stall_timeout: the rest is lost
    bool warmup_failed = false;
    bool ok() const { return lost == 0 && extra == 0 && out_of_order == 0 && subscribers_down == 0 && emitted > 0; }
};

SignalResult run_fanout(const Options& opt);

// Signal traffic fills SignalResult; unicast traffic fills `calls` (a pipelined Result).
struct MatchScalingResult {
    SignalResult signals;
    Result calls;
};
MatchScalingResult run_match_scaling(const Options& opt);

}  // namespace jetbus::bench
