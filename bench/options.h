// Command line of jetbus-bench: which link to measure (a bus address or a direct
// peer-to-peer socketpair), which workload, and the loop bounds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace jetbus::bench {

enum class Workload { ping_pong, pipelined };

struct Options {
    std::string address;           // D-Bus address of the bus under test; empty with --peer-to-peer
    bool peer_to_peer = false;     // no bus: client and server share a socketpair
    Workload workload = Workload::ping_pong;
    std::size_t size = 64;         // payload bytes carried by each call (and echoed by the reply)
    std::uint64_t count = 0;       // measured calls; 0 picks the per-workload default
    std::uint64_t warmup = 0;      // unmeasured calls first; 0 picks count / 10, at least 100
    unsigned inflight = 128;       // pipelined: calls outstanding at once
    double max_seconds = 60.0;     // wall-clock cap on the measured loop
    bool json = false;
    bool probe = false;            // only check that the bus answers org.freedesktop.DBus.GetId
};

// Parses argv; throws std::invalid_argument with a user-facing message on bad input.
// Returns false when --help was printed and the program should exit successfully.
bool parse_options(int argc, char** argv, Options& out);

std::string workload_name(Workload w);

}  // namespace jetbus::bench
