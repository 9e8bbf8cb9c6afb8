// Opening sd-bus connections for the benchmark: to a bus by address, or one end of a
// direct peer-to-peer socketpair. Every connection is owned by a BusPtr.
#pragma once

#include <systemd/sd-bus.h>

#include <chrono>
#include <memory>
#include <string>

namespace jetbus::bench {

struct BusCloser {
    void operator()(sd_bus* b) const { sd_bus_flush_close_unref(b); }
};
using BusPtr = std::unique_ptr<sd_bus, BusCloser>;

struct MessageUnref {
    void operator()(sd_bus_message* m) const { sd_bus_message_unref(m); }
};
using MessagePtr = std::unique_ptr<sd_bus_message, MessageUnref>;

// Where the echo server lives; the client addresses its calls here. Its methods:
// Echo(ay) -> ay; Sink(t sequence, ay), sent NO_REPLY_EXPECTED and counted by the server;
// Consume(ay) -> t (the size it got); TakeFd(h) -> t (the inode of the fd it got).
struct Target {
    std::string destination;  // well-known name on a bus; empty peer-to-peer
    static constexpr const char* path = "/org/jetbus/Bench";
    static constexpr const char* interface = "org.jetbus.Bench";
    static constexpr const char* method = "Echo";
    static constexpr const char* sink = "Sink";
    static constexpr const char* consume = "Consume";
    static constexpr const char* take_fd = "TakeFd";
};

// Throws std::runtime_error naming `what` and the errno text when r < 0 (set-up only).
int check_sd(int r, const char* what);

// Connects as a bus client (SASL EXTERNAL, Hello) to `address`.
BusPtr connect_to_bus(const std::string& address);

// Starts sd-bus on one end of a socketpair. The server end authenticates the client
// and needs a random server id, as a listening D-Bus peer would.
BusPtr open_peer(int fd, bool as_server);

// Writes everything sd-bus has queued on the socket; false if the connection failed or
// the socket did not drain before `until`.
bool flush_writes(sd_bus* bus, std::chrono::steady_clock::time_point until);

}  // namespace jetbus::bench
