// ReactorAttempt: a nonblocking attempt (an accept, an epoll_wait with no timeout) that Asio's epoll
// reactor makes itself, at once and again on each edge of a descriptor. It is for descriptors that
// wait for readiness, as reactor_read.h is for connection reads: async_wait re-arms every wait with an
// epoll_ctl (Boost 1.74), while an operation that finds nothing is queued with no syscall at all. For
// the listener and the hang-up watch that is one syscall less per connection made.
//
// The descriptor is held as a ReactorSocket, whatever it is (a listening socket, an epoll set): Asio's
// descriptor type keeps its reactor registration private, its socket type does not, and the broker
// does its own I/O on it either way.
//
// The operation lives on the heap, apart from its owner: closing the owner's descriptor hands it back
// to the reactor as aborted, to complete (or be destroyed) after the owner may be gone. release()
// detaches the owner; the operation then frees itself when the reactor lets go of it.
#pragma once

#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/io_context.hpp>

#include "broker/reactor_read.h"  // ReactorSocket, start_reactor_read, and the check of the Boost version

namespace jetbus::broker {

class ReactorAttempt final : public boost::asio::detail::reactor_op {
public:
    // What an attempt found. got_all: the descriptor is drained, so the next start waits for its next
    // edge without trying first.
    enum class Result { nothing, got, got_all };
    using Attempt = Result (*)(void* owner);
    // done: after an attempt got something (or failed for good: got), or with operation_aborted when
    // the descriptor was closed.
    using Done = void (*)(void* owner, const boost::system::error_code& ec);

    static ReactorAttempt* make(void* owner, Attempt attempt, Done done) {
        return new ReactorAttempt(owner, attempt, done);
    }

    bool started() const { return started_; }

    // Attempts now; when that finds nothing, waits in the reactor for the descriptor's next edge.
    void start(boost::asio::io_context& io, ReactorSocket& descriptor) {
        started_ = true;
        ec_ = {};
        start_reactor_read(io, descriptor, this);
    }

    // The owner goes: nothing is called again, and the operation is freed now or when it completes.
    void release() {
        owner_ = nullptr;
        if (!started_) delete this;
    }

private:
    ReactorAttempt(void* owner, Attempt attempt, Done done)
        : reactor_op(boost::system::error_code(), &ReactorAttempt::do_perform, &ReactorAttempt::do_complete),
          owner_(owner),
          attempt_(attempt),
          done_(done) {}

    static status do_perform(reactor_op* base) {
        auto* self = static_cast<ReactorAttempt*>(base);
        if (!self->owner_) return done;
        switch (self->attempt_(self->owner_)) {
            case Result::nothing: return not_done;
            case Result::got: return done;
            case Result::got_all: return done_and_exhausted;
        }
        return done;
    }

    // io_owner == nullptr: the io_context is being destroyed with the operation still queued.
    static void do_complete(void* io_owner, boost::asio::detail::operation* base, const boost::system::error_code&,
                            std::size_t) {
        auto* self = static_cast<ReactorAttempt*>(base);
        self->started_ = false;
        if (!self->owner_) {
            delete self;
            return;
        }
        if (io_owner) self->done_(self->owner_, self->ec_);
    }

    void* owner_;
    Attempt attempt_;
    Done done_;
    bool started_ = false;
};

}  // namespace jetbus::broker
