// Parses the jetbus-bench command line (getopt_long; exceptions are fine at start-up).
#include "options.h"

#include <getopt.h>

#include <fmt/core.h>

#include <algorithm>
#include <stdexcept>
#include <string_view>

namespace jetbus::bench {
namespace {

// Largest payload we accept: the D-Bus array limit, 2^26 bytes (spec, "Valid Signatures").
// The whole message stays under the 128 MiB message limit; the bus must allow it
// (max_message_size: dbus-daemon's default is 32 MiB).
constexpr std::size_t max_payload = 64u * 1024 * 1024;

constexpr std::uint64_t default_ping_pong_count = 20000;
constexpr std::uint64_t default_pipelined_count = 100000;
constexpr std::uint64_t default_signal_count = 20000;  // signals emitted (fanout, match-scaling)
constexpr std::uint64_t default_churn_count = 5000;    // connections opened and closed
constexpr std::uint64_t default_large_count = 20;      // large calls (each --size bytes)
constexpr std::uint64_t default_desktop_count = 5000;  // calls made by each desktop service

constexpr unsigned default_inflight = 128;
constexpr unsigned default_fd_inflight = 32;       // the "32 in flight"
constexpr unsigned default_large_inflight = 1;     // one 64 MiB message at a time is plenty of data
constexpr unsigned default_desktop_inflight = 4;   // a desktop service rarely has more calls pending
constexpr unsigned default_desktop_widgets = 6;
constexpr std::size_t default_large_size = 16u * 1024 * 1024;

// Each subscriber is a forked process with its own connection; this only bounds typos.
constexpr unsigned max_subscribers = 1000;
// Far above any bus's sensible per-connection limit (Debian's session.conf allows 50000).
constexpr std::uint64_t max_rules = 1'000'000;

constexpr const char* usage_text =
    "usage: jetbus-bench (--address ADDR | --peer-to-peer) [options]\n"
    "  --address ADDR        D-Bus address of the bus to measure (e.g. unix:path=/tmp/bus)\n"
    "  --peer-to-peer        no bus: client and server talk over a socketpair\n"
    "  --workload W          ping-pong (default), pipelined, fanout, match-scaling, churn,\n"
    "                        large, fd-passing or desktop\n"
    "  --no-reply            pipelined: calls flagged NO_REPLY_EXPECTED; the server counts them\n"
    "  --size BYTES          payload per call, echoed back (default 64; large: 16 MiB, one way)\n"
    "  --count N             measured calls, signals or connections (default 20000 ping-pong,\n"
    "                        100000 pipelined, fd-passing and unicast traffic, 20000 signals,\n"
    "                        5000 churn, 20 large, 5000 calls per desktop service)\n"
    "  --warmup N            unmeasured calls/signals first (default count/10, at least 100;\n"
    "                        large: count/10, at least 1)\n"
    "  --inflight K          calls in flight (default 128; fd-passing 32, large 1, desktop 4);\n"
    "                        signals: the emitter sends signal i once every subscriber has\n"
    "                        seen signal i-K (default 128)\n"
    "  --subscribers N       fanout: subscriber connections, one process each (default 1);\n"
    "                        desktop: panel widgets (default 6)\n"
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
    if (w == "churn") return Workload::churn;
    if (w == "large") return Workload::large;
    if (w == "fd-passing") return Workload::fd_passing;
    if (w == "desktop") return Workload::desktop;
    throw std::invalid_argument(fmt::format(
        "unknown workload '{}' (ping-pong, pipelined, fanout, match-scaling, churn, large, fd-passing, desktop)", w));
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
        case Workload::churn: return default_churn_count;
        case Workload::large: return default_large_count;
        case Workload::fd_passing: return default_pipelined_count;
        case Workload::desktop: return default_desktop_count;
    }
    return default_ping_pong_count;
}

unsigned default_inflight_for(Workload w) {
    switch (w) {
        case Workload::fd_passing: return default_fd_inflight;
        case Workload::large: return default_large_inflight;
        case Workload::desktop: return default_desktop_inflight;
        default: return default_inflight;
    }
}

void apply_defaults(Options& o, bool size_given) {
    if (o.count == 0) o.count = default_count(o);
    const std::uint64_t min_warmup = o.workload == Workload::large ? 1 : 100;
    if (o.warmup == 0) o.warmup = std::max<std::uint64_t>(o.count / 10, min_warmup);
    if (o.inflight == 0) o.inflight = default_inflight_for(o.workload);
    if (o.subscribers == 0) o.subscribers = o.workload == Workload::desktop ? default_desktop_widgets : 1;
    if (!size_given && o.workload == Workload::large) o.size = default_large_size;
}

void check(const Options& o) {
    if (o.peer_to_peer == !o.address.empty())
        throw std::invalid_argument("give exactly one of --address ADDR and --peer-to-peer");
    if (o.probe && o.peer_to_peer) throw std::invalid_argument("--probe needs --address");
    if (o.size > max_payload) throw std::invalid_argument(fmt::format("--size is at most {}", max_payload));
    if (!(o.max_seconds > 0)) throw std::invalid_argument("--max-seconds must be positive");
    const bool needs_bus = o.workload == Workload::fanout || o.workload == Workload::match_scaling ||
                           o.workload == Workload::churn || o.workload == Workload::desktop;
    if (needs_bus && o.peer_to_peer)
        throw std::invalid_argument("fanout, match-scaling, churn and desktop need a bus (--address)");
    if (o.subscribers > max_subscribers)
        throw std::invalid_argument(fmt::format("--subscribers is 1 to {}", max_subscribers));
    if (o.subscribers != 0 && o.workload != Workload::fanout && o.workload != Workload::desktop)
        throw std::invalid_argument("--subscribers is for --workload fanout and desktop");
    if (o.no_reply && o.workload != Workload::pipelined)
        throw std::invalid_argument("--no-reply is for --workload pipelined");
    if (o.rules > max_rules) throw std::invalid_argument(fmt::format("--rules is at most {}", max_rules));
}

}  // namespace

std::string workload_name(Workload w) {
    switch (w) {
        case Workload::ping_pong: return "ping-pong";
        case Workload::pipelined: return "pipelined";
        case Workload::fanout: return "fanout";
        case Workload::match_scaling: return "match-scaling";
        case Workload::churn: return "churn";
        case Workload::large: return "large";
        case Workload::fd_passing: return "fd-passing";
        case Workload::desktop: return "desktop";
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
        {"traffic", required_argument, nullptr, 'T'}, {"no-reply", no_argument, nullptr, 'N'},
        {"json", no_argument, nullptr, 'j'},           {"probe", no_argument, nullptr, 'P'},
        {"help", no_argument, nullptr, 'h'},           {nullptr, 0, nullptr, 0}};
    optind = 1;
    bool size_given = false;
    for (int c; (c = getopt_long(argc, argv, "h", longopts, nullptr)) != -1;) {
        switch (c) {
            case 'a': out.address = optarg; break;
            case 'p': out.peer_to_peer = true; break;
            case 'w': out.workload = parse_workload(optarg); break;
            case 's':
                out.size = parse_number("--size", optarg);
                size_given = true;
                break;
            case 'n': out.count = parse_number("--count", optarg); break;
            case 'W': out.warmup = parse_number("--warmup", optarg); break;
            case 'k':
                out.inflight = static_cast<unsigned>(parse_number("--inflight", optarg));
                if (out.inflight == 0) throw std::invalid_argument("--inflight must be at least 1");
                break;
            case 't': out.max_seconds = parse_seconds(optarg); break;
            case 'S':
                out.subscribers = static_cast<unsigned>(
                    std::min<std::uint64_t>(parse_number("--subscribers", optarg), max_subscribers + 1));
                if (out.subscribers == 0) throw std::invalid_argument("--subscribers must be at least 1");
                break;
            case 'R': out.rules = parse_number("--rules", optarg); break;
            case 'K': out.rule_kind = parse_rule_kind(optarg); break;
            case 'L': out.rule_placement = parse_placement(optarg); break;
            case 'T': out.traffic = parse_traffic(optarg); break;
            case 'N': out.no_reply = true; break;
            case 'j': out.json = true; break;
            case 'P': out.probe = true; break;
            case 'h': fmt::print("{}", usage_text); return false;
            default: throw std::invalid_argument(std::string("bad option\n") + usage_text);
        }
    }
    if (optind < argc) throw std::invalid_argument(fmt::format("unexpected argument '{}'", argv[optind]));
    check(out);
    apply_defaults(out, size_given);
    return true;
}

}  // namespace jetbus::bench
