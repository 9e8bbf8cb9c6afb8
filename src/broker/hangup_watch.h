// HangupWatch: tells the bus which peers hung up, whatever their sockets' read state.
// Connections read on edge-triggered readiness and take a short read as "drained" (reactor_read.h),
// which saves an empty recvmsg per message. But when a peer's last bytes and its hang-up arrive in
// the same edge (a client that sends one message and exits, as dbus-send does), the short read leaves
// the end of the stream unread and no further edge comes: the peer would stay connected, with its
// names, rules and fds, for ever. A second epoll set that reports nothing but hang-ups (EPOLLRDHUP)
// closes that gap without a syscall per message: one per connection made, two per batch of hang-ups.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include <sys/epoll.h>

#include <boost/asio/io_context.hpp>

#include "broker/reactor_attempt.h"

namespace jetbus::broker {

class HangupWatch {
public:
    // on_hangup gets the ids (as given to watch) of the sockets whose peers hung up since last time.
    HangupWatch(boost::asio::io_context& io, std::function<void(std::span<const uint64_t>)> on_hangup);
    ~HangupWatch();
    HangupWatch(const HangupWatch&) = delete;
    HangupWatch& operator=(const HangupWatch&) = delete;

    // Closing the socket takes it out of the set (the broker holds the only reference to it).
    void watch(int fd, uint64_t id);

private:
    static ReactorAttempt::Result attempt_collect(void* self);
    static void on_attempt(void* self, const boost::system::error_code& ec);

    boost::asio::io_context& io_;
    std::function<void(std::span<const uint64_t>)> on_hangup_;
    std::unique_ptr<ReactorSocket> epoll_;
    // epoll_wait with no timeout as the reactor's own operation (reactor_attempt.h), into events_.
    ReactorAttempt* collect_op_ = nullptr;
    std::array<epoll_event, 64> events_{};
    int collected_ = 0;
    int error_ = 0;              // errno of a failed epoll_wait
    std::vector<uint64_t> ids_;  // reused by on_attempt()
};

}  // namespace jetbus::broker
