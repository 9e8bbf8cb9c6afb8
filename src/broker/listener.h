// Listener: one listening unix socket (bound from an address or handed over by systemd). Accepts every
// pending connection on each wakeup and gives it to the Bus.
#pragma once

#include <memory>
#include <string>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

namespace jetbus::broker {

class Bus;

class Listener {
public:
    // Takes ownership of fd (listening, nonblocking). unlink_path: socket file removed at shutdown.
    Listener(Bus& bus, int fd, std::string unlink_path);
    ~Listener();
    void start();

private:
    void on_readable();
    void retry_later(int error);

    Bus& bus_;
    boost::asio::posix::stream_descriptor socket_;
    std::string unlink_path_;
    // Out of fds (or memory) the socket stays readable while accept fails: waiting for readiness again
    // would spin, so the next try waits for this timer instead. starved_ keeps the warning to one line.
    boost::asio::steady_timer retry_;
    bool starved_ = false;
};

}  // namespace jetbus::broker
