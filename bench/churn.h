// Connection churn: connect, authenticate (SASL EXTERNAL), Hello, disconnect, one
// connection at a time, as short-lived clients (busctl, notify-send) do.
#pragma once

#include "options.h"
#include "workloads.h"

namespace jetbus::bench {

// opt.count connections after opt.warmup unmeasured ones. Result::rtt_us holds the time
// from connect() to the Hello reply of each; elapsed_s includes the disconnects.
Result run_churn(const Options& opt);

}  // namespace jetbus::bench
