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

constexpr const char* usage_text =
    "usage: jetbus-bench (--address ADDR | --peer-to-peer) [options]\n"
    "  --address ADDR        D-Bus address of the bus to measure (e.g. unix:path=/tmp/bus)\n"
    "  --peer-to-peer        no bus: client and server talk over a socketpair\n"
    "  --workload W          ping-pong (default) or pipelined\n"
    "  --size BYTES          payload per call, echoed back (default 64)\n"
    "  --count N             measured calls (default 20000 ping-pong, 100000 pipelined)\n"
    "  --warmup N            unmeasured calls first (default count/10, at least 100)\n"
    "  --inflight K          pipelined: calls in flight (default 128)\n"
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
    throw std::invalid_argument(fmt::format("unknown workload '{}' (ping-pong, pipelined)", w));
}

void apply_defaults(Options& o) {
    if (o.count == 0)
        o.count = o.workload == Workload::ping_pong ? default_ping_pong_count : default_pipelined_count;
    if (o.warmup == 0) o.warmup = std::max<std::uint64_t>(o.count / 10, 100);
}

void check(const Options& o) {
    if (o.peer_to_peer == !o.address.empty())
        throw std::invalid_argument("give exactly one of --address ADDR and --peer-to-peer");
    if (o.probe && o.peer_to_peer) throw std::invalid_argument("--probe needs --address");
    if (o.size > max_payload) throw std::invalid_argument(fmt::format("--size is at most {}", max_payload));
    if (o.inflight == 0) throw std::invalid_argument("--inflight must be at least 1");
    if (!(o.max_seconds > 0)) throw std::invalid_argument("--max-seconds must be positive");
}

}  // namespace

std::string workload_name(Workload w) { return w == Workload::ping_pong ? "ping-pong" : "pipelined"; }

bool parse_options(int argc, char** argv, Options& out) {
    static const option longopts[] = {
        {"address", required_argument, nullptr, 'a'}, {"peer-to-peer", no_argument, nullptr, 'p'},
        {"workload", required_argument, nullptr, 'w'}, {"size", required_argument, nullptr, 's'},
        {"count", required_argument, nullptr, 'n'},    {"warmup", required_argument, nullptr, 'W'},
        {"inflight", required_argument, nullptr, 'k'}, {"max-seconds", required_argument, nullptr, 't'},
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
