// Turns a workload Result (or SignalResult, DesktopResult) into the human line and the
// --json object.
#pragma once

#include "desktop_mix.h"
#include "options.h"
#include "signal_workloads.h"
#include "workloads.h"

#include <string>

namespace jetbus::bench {

struct Summary {
    double median_us = 0, p99_us = 0, mean_us = 0, min_us = 0, max_us = 0;  // ping-pong and churn
    double calls_per_s = 0;   // successful calls (churn: connections) per second
    double mb_per_s = 0;      // calls_per_s × --size / 10^6: the large workload's figure
};

// Sorts r.rtt_us in place to take percentiles (nearest-rank).
Summary summarize(const Options& opt, Result& r);

std::string human_line(const Options& opt, const Result& r, const Summary& s);
std::string json_object(const Options& opt, const Result& r, const Summary& s);

// fanout and match-scaling with signal traffic.
std::string human_line(const Options& opt, const SignalResult& r);
std::string json_object(const Options& opt, const SignalResult& r);

std::string human_line(const Options& opt, const DesktopResult& r);
std::string json_object(const Options& opt, const DesktopResult& r);

}  // namespace jetbus::bench
