// The server side of the call workloads: a connection that owns a name (or sits on the
// far end of a socketpair) and answers the Target methods (Echo, Sink, Consume, TakeFd).
// It runs in its own forked process so client and server never share an sd_bus.
#pragma once

#include "link.h"
#include "shared_progress.h"

#include <sys/types.h>

#include <string>

namespace jetbus::bench {

// How the forked server reaches the client: a bus address and a name to own, or a socket fd.
struct ServerLink {
    std::string address;      // empty for peer-to-peer
    std::string name;         // well-known name to request on the bus
    int peer_fd = -1;         // server end of the socketpair, peer-to-peer only
    int client_fd = -1;       // client end, closed in the server process
    SharedProgress* sink = nullptr;  // Sink calls are recorded in slot 0 (the no-reply workload)
};

// A running server process; the destructor terminates and reaps it.
class EchoServer {
public:
    // Forks; returns once the server is connected and owns its name, or throws.
    explicit EchoServer(const ServerLink& link);
    ~EchoServer();
    EchoServer(const EchoServer&) = delete;
    EchoServer& operator=(const EchoServer&) = delete;

private:
    void wait_ready(int ready_fd);
    void terminate();
    pid_t pid_ = -1;
};

}  // namespace jetbus::bench
