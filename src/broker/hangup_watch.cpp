// HangupWatch: an epoll set of connection sockets that wakes the loop on hang-ups only. See hangup_watch.h.
#include "broker/hangup_watch.h"

#include <sys/epoll.h>

#include <array>
#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

namespace jetbus::broker {

namespace {
constexpr int batch = 64;  // hang-ups taken per epoll_wait
}  // namespace

HangupWatch::HangupWatch(boost::asio::io_context& io, std::function<void(std::span<const uint64_t>)> on_hangup)
    : on_hangup_(std::move(on_hangup)) {
    const int fd = epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) {
        // Peers are still closed on every hang-up the socket reads see; only the rare one that comes
        // in the same edge as the peer's last bytes waits for the next write to it.
        spdlog::warn("cannot watch for hang-ups (epoll_create1: {})", std::strerror(errno));
        return;
    }
    epoll_ = std::make_unique<boost::asio::posix::stream_descriptor>(io, fd);
    arm();
}

HangupWatch::~HangupWatch() {
    if (epoll_) epoll_->close();
}

void HangupWatch::watch(int fd, uint64_t id) {
    if (!epoll_) return;
    // Edge-triggered, and EPOLLRDHUP only (EPOLLHUP and EPOLLERR are always reported): data never wakes it.
    epoll_event ev{};
    ev.events = EPOLLRDHUP | EPOLLET;
    ev.data.u64 = id;
    if (epoll_ctl(epoll_->native_handle(), EPOLL_CTL_ADD, fd, &ev) < 0)
        spdlog::debug("connection {}: not watched for hang-ups: {}", id, std::strerror(errno));
}

void HangupWatch::arm() {
    epoll_->async_wait(boost::asio::posix::stream_descriptor::wait_read, [this](const boost::system::error_code& ec) {
        if (ec == boost::asio::error::operation_aborted) return;
        if (ec) {
            spdlog::warn("hang-up watch stopped: {}", ec.message());
            return;
        }
        collect();
        arm();
    });
}

void HangupWatch::collect() {
    std::array<epoll_event, batch> events;
    for (;;) {
        const int n = epoll_wait(epoll_->native_handle(), events.data(), batch, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        ids_.clear();
        for (int i = 0; i < n; ++i) ids_.push_back(events[i].data.u64);
        on_hangup_(ids_);
        if (n < batch) return;
    }
}

}  // namespace jetbus::broker
