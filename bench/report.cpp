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

// The match-scaling settings, as a human suffix and as JSON members.
std::string match_suffix(const Options& opt) {
    if (opt.workload != Workload::match_scaling) return "";
    return fmt::format(" rules={} kind={} placement={} traffic={}", opt.rules, rule_kind_name(opt.rule_kind),
                       rule_placement_name(opt.rule_placement), traffic_name(opt.traffic));
}

std::string match_json(const Options& opt) {
    return fmt::format("\"subscribers\":{},\"rules\":{},\"rule_kind\":\"{}\",\"rule_placement\":\"{}\",\"traffic\":\"{}\"",
                       opt.subscribers, opt.rules, rule_kind_name(opt.rule_kind),
                       rule_placement_name(opt.rule_placement), traffic_name(opt.traffic));
}

double per_second(std::uint64_t n, double s) { return s > 0 ? static_cast<double>(n) / s : 0; }

}  // namespace

Summary summarize(const Options& opt, Result& r) {
    Summary s;
    const std::uint64_t ok = r.completed - std::min(r.completed, r.errors);
    if (r.elapsed_s > 0) s.calls_per_s = static_cast<double>(ok) / r.elapsed_s;
    s.mb_per_s = s.calls_per_s * static_cast<double>(opt.size) / 1e6;
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
    const bool churn = opt.workload == Workload::churn;
    std::string line = fmt::format("{}{}{} size={} on {}: {} {} in {:.2f} s", workload_name(opt.workload),
                                   opt.no_reply ? " no-reply" : "", match_suffix(opt), opt.size, link_name(opt),
                                   r.completed, churn ? "connections" : "calls", r.elapsed_s);
    if (opt.workload == Workload::ping_pong || churn)
        line += fmt::format(", median {:.1f} us, p99 {:.1f} us", s.median_us, s.p99_us);
    else
        line += fmt::format(", inflight {}", opt.inflight);
    line += fmt::format(", {:.0f} {}/s", s.calls_per_s, churn ? "connections" : "calls");
    if (opt.workload == Workload::large) line += fmt::format(", {:.1f} MB/s", s.mb_per_s);
    if (r.errors > 0) line += fmt::format(", {} ERRORS{}", r.errors, r.warmup_failed ? " in warm-up" : "");
    if (r.capped) line += " (stopped by --max-seconds)";
    return line;
}

std::string json_object(const Options& opt, const Result& r, const Summary& s) {
    return fmt::format(
        "{{\"workload\":\"{}\",\"link\":{},\"size\":{},\"inflight\":{},\"count\":{},\"warmup\":{},"
        "\"completed\":{},\"errors\":{},\"capped\":{},\"elapsed_s\":{:.6f},\"calls_per_s\":{:.1f},"
        "\"median_us\":{:.3f},\"p99_us\":{:.3f},\"mean_us\":{:.3f},\"min_us\":{:.3f},\"max_us\":{:.3f},"
        "\"mb_per_s\":{:.3f},\"no_reply\":{},{}}}",
        workload_name(opt.workload), json_string(link_name(opt)), opt.size,
        opt.workload == Workload::ping_pong || opt.workload == Workload::churn ? 1u : opt.inflight, opt.count,
        opt.warmup, r.completed, r.errors, r.capped ? "true" : "false", r.elapsed_s, s.calls_per_s, s.median_us,
        s.p99_us, s.mean_us, s.min_us, s.max_us, s.mb_per_s, opt.no_reply ? "true" : "false", match_json(opt));
}

std::string human_line(const Options& opt, const SignalResult& r) {
    std::string line = fmt::format("{}{} on {}: {} subscriber(s), window {}: {} signals emitted, {} delivered in "
                                   "{:.2f} s, {:.0f} signals/s emitted, {:.0f} delivered/s",
                                   workload_name(opt.workload), match_suffix(opt), link_name(opt), opt.subscribers,
                                   opt.inflight, r.emitted, r.delivered, r.elapsed_s,
                                   per_second(r.emitted, r.elapsed_s), per_second(r.delivered, r.elapsed_s));
    if (r.lost > 0) line += fmt::format(", {} LOST", r.lost);
    if (r.extra > 0) line += fmt::format(", {} DUPLICATED", r.extra);
    if (r.out_of_order > 0) line += fmt::format(", {} OUT OF ORDER", r.out_of_order);
    if (r.subscribers_down > 0) line += fmt::format(", {} SUBSCRIBERS DOWN", r.subscribers_down);
    if (r.stalled) line += " (deliveries stalled)";
    if (r.warmup_failed) line += " (FAILED in warm-up)";
    if (r.capped) line += " (stopped by --max-seconds)";
    return line;
}

std::string json_object(const Options& opt, const SignalResult& r) {
    return fmt::format(
        "{{\"workload\":\"{}\",\"link\":{},\"window\":{},\"count\":{},\"warmup\":{},\"emitted\":{},"
        "\"delivered\":{},\"lost\":{},\"extra\":{},\"out_of_order\":{},\"subscribers_down\":{},"
        "\"stalled\":{},\"warmup_failed\":{},\"capped\":{},\"elapsed_s\":{:.6f},\"signals_per_s\":{:.1f},"
        "\"delivered_per_s\":{:.1f},{}}}",
        workload_name(opt.workload), json_string(link_name(opt)), opt.inflight, opt.count, opt.warmup, r.emitted,
        r.delivered, r.lost, r.extra, r.out_of_order, r.subscribers_down, r.stalled ? "true" : "false",
        r.warmup_failed ? "true" : "false", r.capped ? "true" : "false", r.elapsed_s,
        per_second(r.emitted, r.elapsed_s), per_second(r.delivered, r.elapsed_s), match_json(opt));
}

}  // namespace jetbus::bench

namespace jetbus::bench {

std::string human_line(const Options& opt, const DesktopResult& r) {
    std::string line = fmt::format(
        "desktop on {}: 3 services, {} widgets, {} in flight: {} calls, {} signals emitted, {} delivered in {:.2f} s, "
        "{:.0f} messages/s",
        link_name(opt), opt.subscribers, opt.inflight, r.calls, r.signals, r.delivered, r.elapsed_s,
        per_second(r.messages(), r.elapsed_s));
    if (r.bad_replies > 0) line += fmt::format(", {} BAD REPLIES", r.bad_replies);
    if (r.lost > 0) line += fmt::format(", {} LOST", r.lost);
    if (r.out_of_order > 0) line += fmt::format(", {} OUT OF ORDER", r.out_of_order);
    if (r.peers_down > 0) line += fmt::format(", {} PEERS DOWN", r.peers_down);
    if (r.stalled) line += " (stalled)";
    if (r.warmup_failed) line += " (FAILED in warm-up)";
    if (r.capped) line += " (stopped by --max-seconds)";
    return line;
}

std::string json_object(const Options& opt, const DesktopResult& r) {
    return fmt::format(
        "{{\"workload\":\"desktop\",\"link\":{},\"services\":3,\"widgets\":{},\"inflight\":{},\"count\":{},"
        "\"warmup\":{},\"calls\":{},\"bad_replies\":{},\"signals\":{},\"delivered\":{},\"messages\":{},"
        "\"lost\":{},\"out_of_order\":{},\"peers_down\":{},\"stalled\":{},\"warmup_failed\":{},"
        "\"capped\":{},\"elapsed_s\":{:.6f},\"messages_per_s\":{:.1f},\"calls_per_s\":{:.1f},"
        "\"delivered_per_s\":{:.1f}}}",
        json_string(link_name(opt)), opt.subscribers, opt.inflight, opt.count, opt.warmup, r.calls, r.bad_replies,
        r.signals, r.delivered, r.messages(), r.lost, r.out_of_order, r.peers_down, r.stalled ? "true" : "false",
        r.warmup_failed ? "true" : "false", r.capped ? "true" : "false", r.elapsed_s,
        per_second(r.messages(), r.elapsed_s), per_second(r.calls, r.elapsed_s),
        per_second(r.delivered, r.elapsed_s));
}

}  // namespace jetbus::bench
