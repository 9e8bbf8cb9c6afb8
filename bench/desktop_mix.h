// The desktop-like mix: three services (an instant-messaging client, an address book and
// a notification daemon) call each other in a ring while panel widgets receive the small
// Changed signals each service emits. Every participant is a forked process with its own
// connection; progress goes through shared memory, never through the bus under test.
// bench/README.md defines the mix.
#pragma once

#include "options.h"

#include <cstdint>

namespace jetbus::bench {

struct DesktopResult {
    std::uint64_t calls = 0;            // measured Query calls answered, all services
    std::uint64_t bad_replies = 0;      // error replies, timeouts or wrong answers among them
    std::uint64_t signals = 0;          // measured Changed signals emitted, all services
    std::uint64_t delivered = 0;        // measured Changed signals received, summed over widgets
    std::uint64_t lost = 0;             // signals a widget never got (whole run)
    std::uint64_t out_of_order = 0;     // signals a widget got out of its service's order
    unsigned peers_down = 0;            // services or widgets that failed or lost their connection
    double elapsed_s = 0;               // from the start signal until the last reply and delivery
    bool capped = false, stalled = false, warmup_failed = false;
    // Every message the bus delivered: each call, its reply, and each signal copy.
    std::uint64_t messages() const { return 2 * calls + delivered; }
    bool ok() const {
        return bad_replies == 0 && lost == 0 && out_of_order == 0 && peers_down == 0 && calls > 0 &&
               !warmup_failed;
    }
};

// opt.count calls per service (after opt.warmup), opt.inflight in flight per service,
// opt.subscribers widgets.
DesktopResult run_desktop(const Options& opt);

}  // namespace jetbus::bench
