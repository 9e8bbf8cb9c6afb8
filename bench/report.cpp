// Percentiles and output formats for jetbus-bench. The JSON keys are what bench/compare reads.
#include "report.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace jetbus::bench {
namespace {

// Nearest-rank percentile of a sorted, non-empty vector.
double percentile(const std::vector<double>& sorted, double pct) {
    const auto rank = static_cast<std::size_t>(std::ceil(pct / 100.0 * sorted.size()));
    return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (const char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        if (static_cast<unsigned char>(c) < 0x20) out += fmt::format("\\u{:04x}", c);
        else out += c;
    }
    return out + '"';
}

std::string link_name(const Options& opt) { return opt.peer_to_peer ? "peer-to-peer" : opt.address; }

}  // namespace

Summary summarize(Result& r) {
    Summary s;
    const std::uint64_t ok = r.completed - std::min(r.completed, r.errors);
    if (r.elapsed_s > 0) s.calls_per_s = static_cast<double>(ok) / r.elapsed_s;
    if (r.rtt_us.empty()) return s;
    std::sort(r.rtt_us.begin(), r.rtt_us.end());
    s.median_us = percentile(r.rtt_us, 50);
    s.p99_us = percentile(r.rtt_us, 99);
    s.min_us = r.rtt_us.front();
    s.max_us = r.rtt_us.back();
    s.mean_us = std::accumulate(r.rtt_us.begin(), r.rtt_us.end(), 0.0) / r.rtt_us.size();
    return s;
}

std::string human_line(const Options& opt, const Result& r, const Summary& s) {
    std::string line = fmt::format("{} size={} on {}: {} calls in {:.2f} s", workload_name(opt.workload),
                                   opt.size, link_name(opt), r.completed, r.elapsed_s);
    if (opt.workload == Workload::ping_pong)
        line += fmt::format(", median {:.1f} us, p99 {:.1f} us", s.median_us, s.p99_us);
    else
        line += fmt::format(", inflight {}", opt.inflight);
    line += fmt::format(", {:.0f} calls/s", s.calls_per_s);
    if (r.errors > 0) line += fmt::format(", {} ERRORS{}", r.errors, r.warmup_failed ? " in warm-up" : "");
    if (r.capped) line += " (stopped by --max-seconds)";
    return line;
}

std::string json_object(const Options& opt, const Result& r, const Summary& s) {
    return fmt::format(
        "{{\"workload\":\"{}\",\"link\":{},\"size\":{},\"inflight\":{},\"count\":{},\"warmup\":{},"
        "\"completed\":{},\"errors\":{},\"capped\":{},\"elapsed_s\":{:.6f},\"calls_per_s\":{:.1f},"
        "\"median_us\":{:.3f},\"p99_us\":{:.3f},\"mean_us\":{:.3f},\"min_us\":{:.3f},\"max_us\":{:.3f}}}",
        workload_name(opt.workload), json_string(link_name(opt)), opt.size,
        opt.workload == Workload::pipelined ? opt.inflight : 1u, opt.count, opt.warmup, r.completed, r.errors,
        r.capped ? "true" : "false", r.elapsed_s, s.calls_per_s, s.median_us, s.p99_us, s.mean_us, s.min_us,
        s.max_us);
}

}  // namespace jetbus::bench
