// Turns a workload Result (or SignalResult) into the human line and the --json object.
#pragma once

#include "options.h"
#include "signal_workloads.h"
#include "workloads.h"

#include <string>

namespace jetbus::bench {

struct Summary {
    double median_us = 0, p99_us = 0, mean_us = 0, min_us = 0, max_us = 0;  // ping-pong only
    double calls_per_s = 0;
};

// Sorts r.rtt_us in place to take percentiles (nearest-rank).
Summary summarize(Result& r);

std::string human_line(const Options& opt, const Result& r, const Summary& s);
std::string json_object(const Options& opt, const Result& r, const Summary& s);

// fanout and match-scaling with signal traffic.
std::string human_line(const Options& opt, const SignalResult& r);
std::string json_object(const Options& opt, const SignalResult& r);

}  // namespace jetbus::bench
