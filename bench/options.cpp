// Parses the jetbus-bench command line (getopt_long; exceptions are fine at start-up).
#include "options.h"

#include <getopt.h>

#include <fmt/core.h>

#include <algorithm>
#include <stdexcept>
#include <string_view>

namespace jetbus::bench {
namespace {

// Largest payload we accept: the D-Bus array limit is 64 MiB (spec, "Valid Signatures");
// keeping it well below leaves room for the header.
constexpr std::size_t max_payload = 32u * 1024 * 1024;

constexpr std::uint64_t default_ping_pong_count = 20000;
constexpr std::uint64_t default_pipelined_count = 100000;
constexpr std::uint64_t default_signal_count = 20000;  // signals emitted (fanout, match-scaling)

// Each subscriber is a forked process with its own connection; this only bounds typos.
constexpr unsigned max_subscribers = 1000;
// Far above any bus's sensible per-connection limit (Debian's session.conf allows 50000).
constexpr std::uint64_t max_rules = 1'000'000;

constexpr const char* usage_text =
    "usage: jetbus-bench (--address ADDR | --peer-to-peer) [options]\n"
    "  --address ADDR        D-Bus address of the bus to measure (e.g. unix:path=/tmp/bus)\n"
    "  --peer-to-peer        no bus: client and server talk over a socketpair\n"
    "  --workload W          ping-pong (default), pipelined, fanout or match-scaling\n"
    "  --size BYTES          payload per call, echoed back (default 64)\n"
    "  --count N             measured calls or signals (default 20000 ping-pong,\n"
    "                        100000 pipelined and unicast traffic, 20000 signals)\n"
    "  --warmup N            unmeasured calls/signals first (default count/10, at least 100)\n"
    "  --inflight K          pipelined: calls in flight; signals: the emitter sends signal i\n"
    "                        once every subscriber has seen signal i-K (default 128)\n"
    "  --subscribers N       fanout: subscriber connections, one process each (default 1)\n"
    "  --rules K             match-scaling: non-matching match rules (default 0)\n"
    "  --rule-kind R         match-scaling: the rules differ from the signal by member\n"
    "                        (default), path_namespace or arg0\n"
    "  --rule-placement P    match-scaling: rules on the receiver (default) or spread\n"
    "                        over 100 idle connections\n"
    "  --traffic T           match-scaling: signal (emitter to receiver, default) or\n"
    "                        unicast (pipelined calls between two other connections)\n"
    "  --max-seconds S       wall-clock cap on the measured loop (default 60)\n"
    "  --json                also print one JSON object with the results\n"
    "  --probe               only check that the bus answers GetId, then exit\n";

std::uint64_t parse_number(std::string_view flag, const char* text) {
    try {
        std::size_t used = 0;
        const unsigned long long v = std::stoull(text, &used);
        if (used == std::string_view(text).size()) return v;
    } catch (const std::exception&) {
    }
    throw std::invalid_argument(fmt::format("{} wants a number, got '{}'", flag, text));
}

double parse_seconds(const char* text) {
    try {
        std::size_t used = 0;
        const double v = std::stod(text, &used);
        if (used == std::string_view(text).size()) return v;
    } catch (const std::exception&) {
    }
    throw std::invalid_argument(fmt::format("--max-seconds wants a number, got '{}'", text));
}

Workload parse_workload(const char* text) {
    const std::string_view w(text);
    if (w == "ping-pong") return Workload::ping_pong;
    if (w == "pipelined") return Workload::pipelined;
    if (w == "fanout") return Workload::fanout;
    if (w == "match-scaling") return Workload::match_scaling;
    throw std::invalid_argument(
        fmt::format("unknown workload '{}' (ping-pong, pipelined, fanout, match-scaling)", w));
}

RuleKind parse_rule_kind(const char* text) {
    const std::string_view k(text);
    if (k == "member") return RuleKind::member;
    if (k == "path_namespace") return RuleKind::path_namespace;
    if (k == "arg0") return RuleKind::arg0;
    throw std::invalid_argument(fmt::format("unknown rule kind '{}' (member, path_namespace, arg0)", k));
}

RulePlacement parse_placement(const char* text) {
    const std::string_view p(text);
    if (p == "receiver") return RulePlacement::receiver;
    if (p == "spread") return RulePlacement::spread;
    throw std::invalid_argument(fmt::format("unknown rule placement '{}' (receiver, spread)", p));
}

Traffic parse_traffic(const char* text) {
    const std::string_view t(text);
    if (t == "signal") return Traffic::signal;
    if (t == "unicast") return Traffic::unicast;
    throw std::invalid_argument(fmt::format("unknown traffic '{}' (signal, unicast)", t));
}

std::uint64_t default_count(const Options& o) {
    switch (o.workload) {
        case Workload::ping_pong: return default_ping_pong_count;
        case Workload::pipelined: return default_pipelined_count;
        case Workload::fanout: return default_signal_count;
        case Workload::match_scaling:
            return o.traffic == Traffic::unicast ? default_pipelined_count : default_signal_count;
    }
    return default_ping_pong_count;
}

void apply_defaults(Options& o) {
    if (o.count == 0) o.count = default_count(o);
    if (o.warmup == 0) o.warmup = std::max<std::uint64_t>(o.count / 10, 100);
}

void check(const Options& o) {
    if (o.peer_to_peer == !o.address.empty())
        throw std::invalid_argument("give exactly one of --address ADDR and --peer-to-peer");
    if (o.probe && o.peer_to_peer) throw std::invalid_argument("--probe needs --address");
    if (o.size > max_payload) throw std::invalid_argument(fmt::format("--size is at most {}", max_payload));
    if (o.inflight == 0) throw std::invalid_argument("--inflight must be at least 1");
    if (!(o.max_seconds > 0)) throw std::invalid_argument("--max-seconds must be positive");
    const bool signals = o.workload == Workload::fanout || o.workload == Workload::match_scaling;
    if (signals && o.peer_to_peer) throw std::invalid_argument("fanout and match-scaling need a bus (--address)");
    if (o.subscribers == 0 || o.subscribers > max_subscribers)
        throw std::invalid_argument(fmt::format("--subscribers is 1 to {}", max_subscribers));
    if (o.subscribers != 1 && o.workload != Workload::fanout)
        throw std::invalid_argument("--subscribers is for --workload fanout");
    if (o.rules > max_rules) throw std::invalid_argument(fmt::format("--rules is at most {}", max_rules));
}

}  // namespace

std::string workload_name(Workload w) {
    switch (w) {
        case Workload::ping_pong: return "ping-pong";
        case Workload::pipelined: return "pipelined";
        case Workload::fanout: return "fanout";
        case Workload::match_scaling: return "match-scaling";
    }
    return "?";
}

std::string rule_kind_name(RuleKind k) {
    return k == RuleKind::member ? "member" : k == RuleKind::path_namespace ? "path_namespace" : "arg0";
}

std::string rule_placement_name(RulePlacement p) { return p == RulePlacement::receiver ? "receiver" : "spread"; }

std::string traffic_name(Traffic t) { return t == Traffic::signal ? "signal" : "unicast"; }

bool parse_options(int argc, char** argv, Options& out) {
    static const option longopts[] = {
        {"address", required_argument, nullptr, 'a'}, {"peer-to-peer", no_argument, nullptr, 'p'},
        {"workload", required_argument, nullptr, 'w'}, {"size", required_argument, nullptr, 's'},
        {"count", required_argument, nullptr, 'n'},    {"warmup", required_argument, nullptr, 'W'},
        {"inflight", required_argument, nullptr, 'k'}, {"max-seconds", required_argument, nullptr, 't'},
        {"subscribers", required_argument, nullptr, 'S'}, {"rules", required_argument, nullptr, 'R'},
        {"rule-kind", required_argument, nullptr, 'K'}, {"rule-placement", required_argument, nullptr, 'L'},
        {"traffic", required_argument, nullptr, 'T'},
        {"json", no_argument, nullptr, 'j'},           {"probe", no_argument, nullptr, 'P'},
        {"help", no_argument, nullptr, 'h'},           {nullptr, 0, nullptr, 0}};
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "h", longopts, nullptr)) != -1;) {
        switch (c) {
            case 'a': out.address = optarg; break;
            case 'p': out.peer_to_peer = true; break;
            case 'w': out.workload = parse_workload(optarg); break;
            case 's': out.size = parse_number("--size", optarg); break;
            case 'n': out.count = parse_number("--count", optarg); break;
            case 'W': out.warmup = parse_number("--warmup", optarg); break;
            case 'k': out.inflight = static_cast<unsigned>(parse_number("--inflight", optarg)); break;
            case 't': out.max_seconds = parse_seconds(optarg); break;
            case 'S': out.subscribers = static_cast<unsigned>(std::min<std::uint64_t>(
                          parse_number("--subscribers", optarg), max_subscribers + 1)); break;
            case 'R': out.rules = parse_number("--rules", optarg); break;
            case 'K': out.rule_kind = parse_rule_kind(optarg); break;
            case 'L': out.rule_placement = parse_placement(optarg); break;
            case 'T': out.traffic = parse_traffic(optarg); break;
            case 'j': out.json = true; break;
            case 'P': out.probe = true; break;
            case 'h': fmt::print("{}", usage_text); return false;
            default: throw std::invalid_argument(std::string("bad option\n") + usage_text);
        }
    }
    if (optind < argc) throw std::invalid_argument(fmt::format("unexpected argument '{}'", argv[optind]));
    check(out);
    apply_defaults(out);
    return true;
}

}  // namespace jetbus::bench
