// Listener. See listener.h.
#include "broker/listener.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "broker/bus.h"

namespace jetbus::broker {

Listener::Listener(Bus& bus, int fd, std::string unlink_path)
    : bus_(bus), socket_(bus.io(), fd), unlink_path_(std::move(unlink_path)), retry_(bus.io()) {}

Listener::~Listener() {
    boost::system::error_code ec;
    socket_.close(ec);
    if (!unlink_path_.empty()) ::unlink(unlink_path_.c_str());
}

void Listener::start() {
    socket_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                       [this](const boost::system::error_code& ec) {
                           if (ec) return;
                           on_readable();
                           bus_.flush_dirty();
                       });
}

// A few connections per wakeup, then the others' handshakes get their turn, so a burst of new peers
// does not pile up half-open connections faster than they can authenticate.
void Listener::on_readable() {
    constexpr int max_accepts_per_wakeup = 8;
    for (int i = 0;; ++i) {
        if (i == max_accepts_per_wakeup) {
            boost::asio::post(bus_.io(), [this] {
                on_readable();
                bus_.flush_dirty();
            });
            return;
        }
        if (!bus_.accepting()) {
            bus_.pause_listener(this);  // restarted when a connection completes or leaves
            return;
        }
        const int fd = ::accept4(socket_.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            starved_ = false;
            bus_.accept(fd);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno != EAGAIN) return retry_later(errno);
        break;
    }
    start();
}

// Out of fds or memory: the pending peers wait in the backlog until something frees up.
void Listener::retry_later(int error) {
    constexpr auto retry_interval = std::chrono::milliseconds(100);
    if (!starved_) spdlog::warn("accept failed: {}; trying again every 100 ms", std::strerror(error));
    starved_ = true;
    retry_.expires_after(retry_interval);
    retry_.async_wait([this](const boost::system::error_code& ec) {
        if (ec) return;
        on_readable();
        bus_.flush_dirty();
    });
}

}  // namespace jetbus::broker
