// Listener. See listener.h.
#include "broker/listener.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "broker/bus.h"

namespace jetbus::broker {

Listener::Listener(Bus& bus, int fd, std::string unlink_path)
    : bus_(bus),
      socket_(bus.io(), fd),
      accept_op_(ReactorAttempt::make(this, &Listener::attempt_accept, &Listener::on_attempt)),
      unlink_path_(std::move(unlink_path)),
      retry_(bus.io()) {}

Listener::~Listener() {
    bus_.forget_listener(this);
    accept_op_->release();
    boost::system::error_code ec;
    socket_.close(ec);
    if (accepted_ >= 0) ::close(accepted_);
    if (!unlink_path_.empty()) ::unlink(unlink_path_.c_str());
}

void Listener::start() {
    if (!accept_op_->started()) accept_op_->start(bus_.io(), socket_);
}

// Run by the reactor: at once when started, then on each edge of the listening socket.
ReactorAttempt::Result Listener::attempt_accept(void* p) {
    auto* self = static_cast<Listener*>(p);
    if (!self->bus_.accepting()) {
        self->full_ = true;
        return ReactorAttempt::Result::got;
    }
    for (;;) {
        const int fd = ::accept4(self->socket_.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            self->accepted_ = fd;
            return ReactorAttempt::Result::got;
        }
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            self->burst_ = 0;  // the backlog is empty: the next connection starts a new burst
            return ReactorAttempt::Result::nothing;
        }
        self->accept_error_ = errno;
        return ReactorAttempt::Result::got;
    }
}

void Listener::on_attempt(void* p, const boost::system::error_code& ec) {
    if (ec) return;  // closed
    auto* self = static_cast<Listener*>(p);
    self->take_accepted();
    self->bus_.flush_dirty();
}

// A few connections per turn of the loop, then the others' handshakes get theirs, so a burst of new
// peers does not pile up half-open connections faster than they can authenticate.
void Listener::take_accepted() {
    constexpr int max_accepts_per_turn = 8;
    if (full_) {
        full_ = false;
        burst_ = 0;
        return bus_.pause_listener(this);  // restarted when a connection completes or leaves
    }
    if (accept_error_) {
        const int error = accept_error_;
        accept_error_ = 0;
        burst_ = 0;
        return retry_later(error);
    }
    const int fd = std::exchange(accepted_, -1);
    starved_ = false;
    bus_.accept(fd);
    if (++burst_ < max_accepts_per_turn) return start();
    burst_ = 0;
    boost::asio::post(bus_.io(), [this] { start(); });
}

// Out of fds or memory: the pending peers wait in the backlog until something frees up.
void Listener::retry_later(int error) {
    constexpr auto retry_interval = std::chrono::milliseconds(100);
    if (!starved_) spdlog::warn("accept failed: {}; trying again every 100 ms", std::strerror(error));
    starved_ = true;
    retry_.expires_after(retry_interval);
    retry_.async_wait([this](const boost::system::error_code& ec) {
        if (!ec) start();
    });
}

}  // namespace jetbus::broker
