// jetbus-bench: measures method-call round trips, pipelined calls (with or without
// replies), large messages and fd passing through a D-Bus bus (any address: jetbus,
// dbus-daemon, dbus-broker) or a direct peer-to-peer link, and signal fan-out, match-rule
// scaling, connection churn and a desktop-like mix through a bus, with sd-bus as an
// independent client library. See bench/README.md.
#include "churn.h"
#include "desktop_mix.h"
#include "echo_server.h"
#include "link.h"
#include "no_reply.h"
#include "options.h"
#include "report.h"
#include "signal_workloads.h"
#include "workloads.h"

#include <fmt/core.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>
#include <stdexcept>

namespace jetbus::bench {
namespace {

// Exit codes: 0 measured cleanly, 1 some calls failed, 2 could not set up.
constexpr int exit_call_errors = 1;
constexpr int exit_setup_failed = 2;

int probe(const Options& opt) {
    BusPtr bus = connect_to_bus(opt.address);
    sd_bus_error err = SD_BUS_ERROR_NULL;
    sd_bus_message* reply = nullptr;
    const int r = sd_bus_call_method(bus.get(), "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                     "org.freedesktop.DBus", "GetId", &err, &reply, "");
    sd_bus_message_unref(reply);
    sd_bus_error_free(&err);
    return check_sd(r, "GetId") >= 0 ? 0 : exit_setup_failed;
}

Result run_workload(sd_bus* client, const Target& target, const Options& opt, SharedProgress& sink) {
    switch (opt.workload) {
        case Workload::ping_pong: return run_ping_pong(client, target, opt);
        case Workload::large: return run_large(client, target, opt);
        case Workload::fd_passing: return run_fd_passing(client, target, opt);
        default:
            return opt.no_reply ? run_no_reply(client, target, opt, sink) : run_pipelined(client, target, opt);
    }
}

// Starts the echo server process and the client connection, then runs the workload.
Result measure(const Options& opt) {
    SharedProgress sink(1);  // the server's count of Sink calls (no-reply)
    if (opt.peer_to_peer) {
        int fds[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
            throw std::runtime_error("socketpair failed");
        EchoServer server(ServerLink{{}, {}, fds[1], fds[0], &sink});
        close(fds[1]);
        BusPtr client = open_peer(fds[0], false);
        return run_workload(client.get(), Target{}, opt, sink);
    }
    const std::string name = fmt::format("org.jetbus.Bench.p{}", getpid());
    EchoServer server(ServerLink{opt.address, name, -1, -1, &sink});
    BusPtr client = connect_to_bus(opt.address);
    return run_workload(client.get(), Target{name}, opt, sink);
}

int report_signals(const Options& opt, const SignalResult& r) {
    fmt::print("{}\n", human_line(opt, r));
    if (opt.json) fmt::print("{}\n", json_object(opt, r));
    return r.ok() ? 0 : exit_call_errors;
}

int report_calls(const Options& opt, Result& r) {
    const Summary s = summarize(opt, r);
    fmt::print("{}\n", human_line(opt, r, s));
    if (opt.json) fmt::print("{}\n", json_object(opt, r, s));
    return r.errors > 0 || r.completed == 0 ? exit_call_errors : 0;
}

int report_desktop(const Options& opt, const DesktopResult& r) {
    fmt::print("{}\n", human_line(opt, r));
    if (opt.json) fmt::print("{}\n", json_object(opt, r));
    return r.ok() ? 0 : exit_call_errors;
}

int run(const Options& opt) {
    if (opt.probe) return probe(opt);
    if (opt.workload == Workload::fanout) return report_signals(opt, run_fanout(opt));
    if (opt.workload == Workload::match_scaling) {
        MatchScalingResult m = run_match_scaling(opt);
        return opt.traffic == Traffic::signal ? report_signals(opt, m.signals) : report_calls(opt, m.calls);
    }
    if (opt.workload == Workload::desktop) return report_desktop(opt, run_desktop(opt));
    Result r = opt.workload == Workload::churn ? run_churn(opt) : measure(opt);
    return report_calls(opt, r);
}

}  // namespace
}  // namespace jetbus::bench

int main(int argc, char** argv) {
    jetbus::bench::Options opt;
    try {
        if (!jetbus::bench::parse_options(argc, argv, opt)) return 0;
        return jetbus::bench::run(opt);
    } catch (const std::exception& e) {
        fmt::print(stderr, "jetbus-bench: {}\n", e.what());
        return jetbus::bench::exit_setup_failed;
    }
}
