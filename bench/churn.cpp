// The churn loop. A connection that fails to open or to get its unique name is an error;
// the loop stops early when the bus stops accepting connections altogether.
#include "churn.h"

#include "link.h"

#include <chrono>
#include <stdexcept>

namespace jetbus::bench {
namespace {

using Clock = std::chrono::steady_clock;

// This many failures in a row mean the bus is down or refusing us: stop counting.
constexpr unsigned max_failures_in_row = 10;

// Opens one connection and waits for its unique name; returns µs, or -1 on failure.
double one_connection(const Options& opt) {
    const auto t0 = Clock::now();
    try {
        BusPtr bus = connect_to_bus(opt.address);
        const char* unique = nullptr;
        if (sd_bus_get_unique_name(bus.get(), &unique) < 0) return -1;
        const auto t1 = Clock::now();
        bus.reset();  // flush, close, free: the disconnect is part of the churn
        return std::chrono::duration<double, std::micro>(t1 - t0).count();
    } catch (const std::exception&) {
        return -1;
    }
}

Result churn_loop(const Options& opt, std::uint64_t count) {
    Result res;
    res.rtt_us.reserve(count);
    unsigned failures_in_row = 0;
    const auto start = Clock::now();
    for (std::uint64_t i = 0; i < count && failures_in_row < max_failures_in_row; ++i) {
        if (std::chrono::duration<double>(Clock::now() - start).count() > opt.max_seconds) {
            res.capped = true;
            break;
        }
        const double us = one_connection(opt);
        ++res.completed;
        if (us >= 0) {
            res.rtt_us.push_back(us);
            failures_in_row = 0;
        } else {
            ++res.errors;
            ++failures_in_row;
        }
    }
    res.elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
    return res;
}

}  // namespace

Result run_churn(const Options& opt) {
    const Result warm = churn_loop(opt, opt.warmup);
    if (warm.errors > 0) {
        Result r;
        r.errors = warm.errors;
        r.warmup_failed = true;
        return r;
    }
    return churn_loop(opt, opt.count);
}

}  // namespace jetbus::bench
