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

    Bus& bus_;
    boost::asio::posix::stream_descriptor socket_;
    std::string unlink_path_;
    boost::asio::steady_timer backoff_;   // out of fds: accepting again after a pause, not in a spin
    bool out_of_resources_ = false;       // logged once per episode
};

}  // namespace jetbus::broker
