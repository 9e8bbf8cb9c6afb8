// HangupWatch: an epoll set of connection sockets that wakes the loop on hang-ups only. See hangup_watch.h.
#include "broker/hangup_watch.h"

#include <sys/epoll.h>

#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

namespace jetbus::broker {

HangupWatch::HangupWatch(boost::asio::io_context& io, std::function<void(std::span<const uint64_t>)> on_hangup)
    : io_(io), on_hangup_(std::move(on_hangup)) {
    const int fd = epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) {
        // Peers are still closed on every hang-up the socket reads see; only the rare one that comes
        // in the same edge as the peer's last bytes waits for the next write to it.
        spdlog::warn("cannot watch for hang-ups (epoll_create1: {})", std::strerror(errno));
        return;
    }
    epoll_ = std::make_unique<ReactorSocket>(io, fd);
    collect_op_ = ReactorAttempt::make(this, &HangupWatch::attempt_collect, &HangupWatch::on_attempt);
    collect_op_->start(io_, *epoll_);
}

HangupWatch::~HangupWatch() {
    if (!epoll_) return;
    collect_op_->release();
    boost::system::error_code ec;
    epoll_->close(ec);
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

// Run by the reactor: at once when started, then whenever the set has news.
ReactorAttempt::Result HangupWatch::attempt_collect(void* p) {
    auto* self = static_cast<HangupWatch*>(p);
    const int room = static_cast<int>(self->events_.size());
    for (;;) {
        const int n = epoll_wait(self->epoll_->native_handle(), self->events_.data(), room, 0);
        if (n < 0 && errno == EINTR) continue;
        self->collected_ = n;
        if (n < 0) self->error_ = errno;  // for on_attempt, which runs later
        if (n == 0) return ReactorAttempt::Result::nothing;
        // Fewer than asked for: the set is drained, and the next news comes as an edge.
        return n > 0 && n < room ? ReactorAttempt::Result::got_all : ReactorAttempt::Result::got;
    }
}

void HangupWatch::on_attempt(void* p, const boost::system::error_code& ec) {
    if (ec) return;  // closed
    auto* self = static_cast<HangupWatch*>(p);
    if (self->collected_ < 0) {
        spdlog::warn("hang-up watch stopped: {}", std::strerror(self->error_));
        return;
    }
    self->ids_.clear();
    for (int i = 0; i < self->collected_; ++i) self->ids_.push_back(self->events_[static_cast<size_t>(i)].data.u64);
    self->on_hangup_(self->ids_);
    self->collect_op_->start(self->io_, *self->epoll_);  // the rest now, or at the next news
}

}  // namespace jetbus::broker
