// Listener: one listening unix socket (bound from an address or handed over by systemd). Accepts each
// pending connection, a few per turn of the loop, and gives it to the Bus.
#pragma once

#include <memory>
#include <string>

#include <boost/asio/steady_timer.hpp>

#include "broker/reactor_attempt.h"

namespace jetbus::broker {

class Bus;

class Listener {
public:
    // Takes ownership of fd (listening, nonblocking). unlink_path: socket file removed at shutdown.
    Listener(Bus& bus, int fd, std::string unlink_path);
    ~Listener();
    void start();

private:
    static ReactorAttempt::Result attempt_accept(void* self);
    static void on_attempt(void* self, const boost::system::error_code& ec);
    void take_accepted();
    void retry_later(int error);

    Bus& bus_;
    ReactorSocket socket_;
    // accept4 as the reactor's own operation (reactor_attempt.h); what it got waits here for on_attempt.
    ReactorAttempt* accept_op_;
    int accepted_ = -1;
    int accept_error_ = 0;
    bool full_ = false;        // the bus took no more connections when the reactor tried
    int burst_ = 0;            // connections accepted since the loop last had a turn for others
    std::string unlink_path_;
    // Out of fds (or memory) the socket stays readable while accept fails: waiting for readiness again
    // would spin, so the next try waits for this timer instead. starved_ keeps the warning to one line.
    boost::asio::steady_timer retry_;
    bool starved_ = false;
};

}  // namespace jetbus::broker
