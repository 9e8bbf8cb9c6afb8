// ReactorSocket and ReactorRead: a socket read that Asio's epoll reactor performs itself. Waiting with
// async_wait costs an epoll_ctl(MOD) every time it is armed (Boost 1.74 re-arms non-speculative waits);
// an operation the reactor performs — tried at once when the socket was not drained, queued without any
// syscall when it was, and run again on the next edge — costs only its recvmsg. That takes a round trip
// through the broker from 8 syscalls to 6.
//
// The reactor_op interface is Asio's internal one (boost/asio/detail), the same one its own socket
// operations use; it is stable across the Boost releases Debian ships but is checked at compile time
// below. The owner's read function does one recvmsg and reports -EAGAIN when there is nothing to read.
#pragma once

#include <sys/types.h>

#include <memory>

#include <boost/asio/io_context.hpp>  // first: Asio's detail headers need the scheduler it declares
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/version.hpp>

static_assert(BOOST_VERSION >= 107400 && BOOST_VERSION < 108800,
              "ReactorRead uses Asio's reactor_op interface as of Boost 1.74-1.87: check it before upgrading");

namespace jetbus::broker {

// A unix stream socket that lets a ReactorRead reach its reactor registration.
class ReactorSocket : public boost::asio::local::stream_protocol::socket {
public:
    ReactorSocket(boost::asio::io_context& io, int fd)
        : boost::asio::local::stream_protocol::socket(io, boost::asio::local::stream_protocol(), fd) {}

    // For an fd no other descriptor refers to (one accept4 just made). Asio takes any fd it is handed
    // for a possible dup and removes it from the epoll set (EPOLL_CTL_DEL) before closing it; closing
    // the only descriptor of a socket removes it anyway, so that syscall is saved per connection.
    // Never for an fd that may be shared: a listening socket from systemd, anything dup'd or
    // inherited would stay in the set after its close, with a dangling registration.
    struct SoleDescriptor {};
    ReactorSocket(boost::asio::io_context& io, int fd, SoleDescriptor) : ReactorSocket(io, fd) {
        impl_.get_implementation().state_ &= ~boost::asio::detail::socket_ops::possible_dup;
    }
    boost::asio::detail::reactor::per_descriptor_data& reactor_data() {
        return impl_.get_implementation().reactor_data_;
    }
};

// Hands op to the reactor as a read on socket: performed at once unless its last attempt drained the
// socket, and otherwise queued, with no syscall, until the socket's next edge.
inline void start_reactor_read(boost::asio::io_context& io, ReactorSocket& socket, boost::asio::detail::reactor_op* op) {
    auto& reactor = boost::asio::use_service<boost::asio::detail::reactor>(io);
    reactor.start_op(boost::asio::detail::reactor::read_op, socket.native_handle(), socket.reactor_data(), op,
                     /*is_continuation=*/true, /*allow_speculative=*/true);
}

// One reusable read operation. Owner provides:
//   ssize_t read_once();            one recvmsg: bytes, 0 at end of file, -errno; -EAGAIN to wait
//   bool read_exhausted(ssize_t n) const;  whether that read drained the socket (short, without fds)
//   void on_read(const boost::system::error_code& aborted, ssize_t result);
// While started, the operation keeps its owner alive.
template <class Owner>
class ReactorRead : public boost::asio::detail::reactor_op {
public:
    ReactorRead() : reactor_op(boost::system::error_code(), &ReactorRead::do_perform, &ReactorRead::do_complete) {}

    bool started() const { return owner_ != nullptr; }
    // Started and not yet performed: queued in the reactor until the socket's next edge (its owner may
    // read the socket itself meanwhile; nothing of this operation is under way).
    bool waiting() const { return owner_ != nullptr && !performed_; }

    void start(std::shared_ptr<Owner> owner, boost::asio::io_context& io, ReactorSocket& socket) {
        owner_ = std::move(owner);
        ec_ = {};
        result_ = 0;
        performed_ = false;
        start_reactor_read(io, socket, this);
    }

private:
    static status do_perform(reactor_op* base) {
        auto* self = static_cast<ReactorRead*>(base);
        const ssize_t n = self->owner_->read_once();
        if (n == -EAGAIN) return not_done;
        self->performed_ = true;
        self->result_ = n;
        return n > 0 && self->owner_->read_exhausted(n) ? done_and_exhausted : done;
    }

    // owner == nullptr: the io_context is being destroyed with the operation still queued.
    static void do_complete(void* io_owner, boost::asio::detail::operation* base, const boost::system::error_code&,
                            std::size_t) {
        auto* self = static_cast<ReactorRead*>(base);
        std::shared_ptr<Owner> owner = std::move(self->owner_);  // may be the last reference to *self's owner
        if (!io_owner || !owner) return;
        owner->on_read(self->ec_, self->result_);
    }

    std::shared_ptr<Owner> owner_;
    ssize_t result_ = 0;
    bool performed_ = false;
};

}  // namespace jetbus::broker
