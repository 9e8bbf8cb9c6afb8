// Command line of jetbus-bench: which link to measure (a bus address or a direct
// peer-to-peer socketpair), which workload, and the loop bounds. The signal workloads
// (fanout, match-scaling, desktop) add their subscriber and match-rule settings.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace jetbus::bench {

enum class Workload { ping_pong, pipelined, fanout, match_scaling, churn, large, fd_passing, desktop };

// match-scaling: what the K non-matching rules differ in from the emitted signal.
enum class RuleKind { member, path_namespace, arg0 };
// match-scaling: which connections hold the K non-matching rules.
enum class RulePlacement { receiver, spread };
// match-scaling: what is measured while the rules exist.
enum class Traffic { signal, unicast };

struct Options {
    std::string address;           // D-Bus address of the bus under test; empty with --peer-to-peer
    bool peer_to_peer = false;     // no bus: client and server share a socketpair
    Workload workload = Workload::ping_pong;
    std::size_t size = 64;         // payload bytes carried by each call (and echoed by the reply)
    std::uint64_t count = 0;       // measured calls; 0 picks the per-workload default
    std::uint64_t warmup = 0;      // unmeasured calls first; 0 picks count / 10, at least 100
    unsigned inflight = 0;         // calls outstanding / the emitter's window; 0 picks the
                                   // per-workload default (128; fd-passing 32, large 1, desktop 4)
    bool no_reply = false;         // pipelined: calls flagged NO_REPLY_EXPECTED, counted by the server
    double max_seconds = 60.0;     // wall-clock cap on the measured loop
    unsigned subscribers = 0;      // fanout: subscribers (default 1); desktop: panel widgets (default 6)
    std::uint64_t rules = 0;       // match-scaling: non-matching rules (K)
    RuleKind rule_kind = RuleKind::member;
    RulePlacement rule_placement = RulePlacement::receiver;
    Traffic traffic = Traffic::signal;
    bool json = false;
    bool probe = false;            // only check that the bus answers org.freedesktop.DBus.GetId
};

// Parses argv; throws std::invalid_argument with a user-facing message on bad input.
// Returns false when --help was printed and the program should exit successfully.
bool parse_options(int argc, char** argv, Options& out);

std::string workload_name(Workload w);
std::string rule_kind_name(RuleKind k);
std::string rule_placement_name(RulePlacement p);
std::string traffic_name(Traffic t);

}  // namespace jetbus::bench
