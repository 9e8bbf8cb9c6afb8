// Connection: socket I/O, SASL, framing and the output queue. See connection.h.
#include "broker/connection.h"

#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "broker/bus.h"
#include "logging/log_context.h"
#include "wire/header.h"
#include "wire/protocol.h"

namespace jetbus::broker {

namespace {

constexpr size_t max_iov_per_write = 64;          // messages gathered into one sendmsg
// Messages one connection may dispatch per turn of the event loop before the others get theirs: a
// peer that sends 64 KiB of small messages in one write costs the bus as much as 600 peers sending
// one each, and without a budget every other peer waits behind all of it.
constexpr size_t dispatch_budget = 32;
// How long a peer's input waits after one of its messages found its receiver without room. The refusals
// still come, each with its error, but a flood into a full queue no longer takes the bus from others.
constexpr auto refusal_backoff = std::chrono::milliseconds(10);

}  // namespace

Connection::Connection(Bus& bus, ConnectionId id, int fd, PeerCredentials creds)
    : bus_(bus),
      id_(id),
      socket_(bus.io(), fd, ReactorSocket::SoleDescriptor{}),
      timer_(bus.io()),
      backoff_(bus.io()),
      creds_(std::move(creds)),
      account_(&bus.accounts().attach(creds_.uid)),
      sasl_(bus.sasl_options(creds_)),
      charge_(new IncomingCharge) {
    charge_->owner = this;
}

// Every connection is closed before the Bus goes (its destructor closes them), and closing detaches
// the account: the destructor, which pending I/O can run after the Bus is gone, never reaches it.
Connection::~Connection() {
    charge_->owner = nullptr;
    for (int fd : in_fds_) ::close(fd);
}

void Connection::detach_account() {
    if (!account_) return;
    release_held_fds(in_fds_.size());  // the fds themselves are closed with the connection
    bus_.accounts().detach(*account_);
    account_ = nullptr;
}

void Connection::release_outgoing(const Outgoing& o) {
    if (o.actor == UserAccount::self_slot) own_out_bytes_ -= o.m->bytes().size();
    account_->release(o.actor, Resource::bytes, o.m->bytes().size());
    account_->release(o.actor, Resource::fds, o.m->fds().size());
}

void Connection::release_held_fds(size_t n) { account_->release(UserAccount::self_slot, Resource::fds, n); }

void Connection::start() {
    bus_.watch_auth_timeout(*this);
    // Clients write their authentication right after connect(), so it is usually here by now: read and
    // answer it before the rest of the set-up (the hang-up watch, the listener's next accept), which
    // the client need not wait for. Through the reactor the answer would wait for a turn of the loop.
    // (The reactor's next read then tries once more before it waits for an edge: one recvmsg that
    // finds nothing, in place of the loop turn that would have run the reactor's first read.)
    const ssize_t n = read_once();
    if (n == -EAGAIN) arm_read();
    else on_read({}, n);
    if (is_open()) bus_.hangups().watch(socket_.native_handle(), id_);
}

const std::vector<gid_t>& Connection::peer_groups() const {
    if (!groups_) {
        groups_.emplace();
        // native_handle() only reads the fd, though Asio does not declare it const.
        if (is_open()) *groups_ = read_peer_groups(const_cast<ReactorSocket&>(socket_).native_handle());
    }
    return *groups_;
}

const std::string& Connection::loginfo() const {
    if (loginfo_.empty()) {
        loginfo_ = policy::format_loginfo(anonymous() ? std::nullopt : std::optional<uid_t>(uid()),
                                          creds_.pid > 0 ? std::optional<pid_t>(creds_.pid) : std::nullopt,
                                          policy::command_for_pid(creds_.pid), creds_.security_label);
    }
    return loginfo_;
}

void Connection::set_registered(std::string unique_name) {
    unique_name_ = std::move(unique_name);
    state_ = ConnectionState::active;  // out of auth_timeout's reach, as in dbus-daemon
}

// Each read is one operation of the reactor (reactor_read.h): performed at once while the socket may
// hold more, queued without a syscall once it was drained, so reading costs only its recvmsg. Every
// read goes back through the event loop, which keeps one busy peer from starving the others.
void Connection::arm_read() {
    if (read_op_.started() || !is_open()) return;
    read_op_.start(shared_from_this(), bus_.io(), socket_);
}

void Connection::arm_write() {
    if (write_armed_ || !is_open()) return;
    write_armed_ = true;
    socket_.async_wait(boost::asio::socket_base::wait_write,
                       [self = shared_from_this()](const boost::system::error_code& ec) {
                           self->write_armed_ = false;
                           if (ec || !self->is_open()) return;
                           self->flush();
                           self->bus_.flush_dirty();
                       });
}

bool Connection::over_incoming_limits() const {
    return charge_->bytes >= bus_.limits().max_incoming_bytes || charge_->fds >= bus_.limits().max_incoming_unix_fds;
}

// Flow control as in dbus-daemon: a sender whose messages still wait in the broker past
// max_incoming_bytes (or _unix_fds) is not read from until enough of them have gone.
void Connection::on_charge_released() {
    if (!reading_paused_ || over_incoming_limits() || !is_open()) return;
    reading_paused_ = false;
    read_again();
}

// The next read: the reactor's, performed at once or at the socket's next edge. Once the peer hung up
// no edge is certain to come (hangup_watch.h), so each read is posted instead, one per turn as the
// reactor's are, until the end of the stream closes the connection.
void Connection::read_again() {
    if (!hung_up_) return arm_read();
    boost::asio::post(bus_.io(), [self = shared_from_this()] {
        // Not while a read the reactor performed waits to complete: its bytes are in the buffer already.
        if (!self->is_open() || self->reading_paused_ || (self->read_op_.started() && !self->read_op_.waiting()))
            return;
        const ssize_t n = self->read_once();
        if (n == -EAGAIN) return self->arm_read();
        self->on_read({}, n);
    });
}

// A read queued in the reactor for the next edge may wait for ever: the rest is read now. A read
// already performed (on_read), input left for a later turn (read_next), a back-off or paused reading
// (on_charge_released) all end in read_again(), which reads on once hung_up_ is set.
void Connection::on_hangup() {
    if (!is_open() || hung_up_) return;
    hung_up_ = true;
    if (read_op_.waiting()) read_again();
}

ssize_t Connection::read_once() {
    read_fds_.clear();
    if (large_) {
        read_space_ = large_->raw_size() - large_have_;
        return receive_with_fds(socket_.native_handle(), {large_->raw_data() + large_have_, read_space_}, read_fds_);
    }
    if (!in_) in_ = bus_.input_buffers().take();
    compact_input();
    read_space_ = std::min(InputBuffers::buffer_size - in_end_, incoming_allowance());
    const ssize_t n = receive_with_fds(socket_.native_handle(), {in_.get() + in_end_, read_space_}, read_fds_);
    if (n == -EAGAIN) give_back_input();  // an idle peer waits for its next edge holding no buffer
    return n;
}

// Flow control (max_incoming_bytes) stops reading a peer once its messages in the bus reach the limit;
// a read takes no more than what is left below it (and at least a little, so a read always makes
// progress), so one read cannot carry the peer far past its limit whatever the buffer's size.
size_t Connection::incoming_allowance() const {
    constexpr size_t least = 4096;
    const size_t limit = bus_.limits().max_incoming_bytes;
    return std::max(least, limit > charge_->bytes ? limit - charge_->bytes : 0);
}

void Connection::give_back_input() {
    if (!in_ || in_end_ != in_begin_) return;
    in_begin_ = in_end_ = 0;
    bus_.input_buffers().give(std::move(in_));
}

void Connection::on_read(const boost::system::error_code& ec, ssize_t n) {
    if (ec || !is_open()) {
        // A read can complete after another event closed this peer (a write to a peer that died
        // fails): the fds it received have no message to go to, and nothing else would close them.
        // Without ec the read ran, so read_fds_ are its own; an aborted read never ran and read_fds_
        // are the previous read's, already handed to in_fds_.
        if (!ec)
            for (int fd : read_fds_) ::close(fd);
        read_fds_.clear();
        return;
    }
    bool backlog = false;
    {
        // What this peer's input causes is logged as about this peer (its callers hold a reference to it).
        const logging::ScopedLogContext log_scope({id_, &unique_name_, creds_.pid});
        for (int fd : read_fds_) in_fds_.push_back(fd);
        const bool fds_over_quota =
            !read_fds_.empty() && !account_->try_charge(UserAccount::self_slot, Resource::fds, read_fds_.size());
        if (fds_over_quota) release_held_fds(in_fds_.size() - read_fds_.size());  // close() drops them all
        if (fds_over_quota) {
            spdlog::warn("connection {} ({}): disconnected: its unix fds would take uid {} over its limit of {} "
                         "held in the bus", id_, unique_name_, creds_.uid, account_->max(Resource::fds));
            for (int fd : in_fds_) ::close(fd);
            in_fds_.clear();
            close(fmt::format("unix fds over uid {}'s limit of {} held in the bus", creds_.uid,
                              account_->max(Resource::fds)));
        } else if (n == 0) {
            close(large_ ? "peer closed the connection in the middle of a message" : "peer closed the connection");
        } else if (n < 0) {
            close(fmt::format("read failed: {}", std::strerror(static_cast<int>(-n))));
        } else if (in_fds_.size() > bus_.limits().max_incoming_unix_fds) {
            close("too many unix fds received without a message to carry them");
        } else if (large_) {
            took_large(static_cast<size_t>(n));
        } else {
            in_end_ += static_cast<size_t>(n);
            backlog = consume_input();
            if (!read_fds_.empty() || fd_timer_armed_) watch_pending_fds();
        }
    }
    // What this input caused goes out before the next read is tried (a read that may find nothing).
    bus_.flush_dirty();
    if (is_open()) read_next(backlog);
}

// After a turn: what is left in the buffer is dispatched on a later turn, behind every other peer
// that is ready now; with nothing left, the next read (unless this peer's messages still held in the
// bus are over its incoming limits).
void Connection::read_next(bool backlog) {
    if (refused_for_room_) {
        refused_for_room_ = false;
        backoff_.expires_after(refusal_backoff);
        backoff_.async_wait([self = shared_from_this(), backlog](const boost::system::error_code& ec) {
            if (ec || !self->is_open()) return;
            self->read_next(backlog);
        });
    } else if (backlog) {
        boost::asio::post(bus_.io(), [self = shared_from_this()] {
            if (!self->is_open()) return;
            {
                const logging::ScopedLogContext log_scope({self->id_, &self->unique_name_, self->creds_.pid});
                const bool more = self->consume_input();
                if (self->is_open()) self->read_next(more);
            }
            self->bus_.flush_dirty();
        });
    } else if (state_ != ConnectionState::authenticating && over_incoming_limits()) {
        reading_paused_ = true;  // on_charge_released() starts reading again
    } else {
        read_again();
    }
}

// fds that arrived ahead of the rest of their message may wait pending_fd_timeout, then the peer is
// closed: holding fds in the broker without a message to carry them is how fd exhaustion starts.
void Connection::watch_pending_fds() {
    // Before Hello, auth_timeout bounds how long anything is held.
    if (in_fds_.empty() || !is_open() || before_hello()) {
        if (fd_timer_armed_ && !before_hello()) {
            fd_timer_armed_ = false;
            timer_.cancel();
        }
        return;
    }
    if (fd_timer_armed_) return;
    fd_timer_armed_ = true;
    timer_.expires_after(std::chrono::milliseconds(bus_.limits().pending_fd_timeout_ms));
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (ec || !self->is_open()) return;
        self->fd_timer_armed_ = false;
        if (self->in_fds_.empty()) return;
        self->close("unix fds pending without their message for longer than pending_fd_timeout");
        self->bus_.flush_dirty();
    });
}

// A message larger than the input buffer is received straight into its own allocation.
void Connection::took_large(size_t n) {
    large_have_ += n;
    if (!read_fds_.empty() || fd_timer_armed_) watch_pending_fds();
    if (large_have_ == large_->raw_size()) {
        MessagePtr m = std::move(large_);
        large_have_ = 0;
        account_->release(UserAccount::self_slot, Resource::bytes, m->raw_size());
        deliver(std::move(m));
    }
}

void Connection::compact_input() {
    if (in_begin_ == 0) return;
    std::memmove(in_.get(), in_.get() + in_begin_, in_end_ - in_begin_);
    in_end_ -= in_begin_;
    in_begin_ = 0;
}

bool Connection::consume_input() {
    for (size_t dispatched = 0; is_open() && in_begin_ < in_end_; ++dispatched) {
        if (dispatched == dispatch_budget) return true;
        const bool progressed =
            state_ == ConnectionState::authenticating ? consume_auth() : consume_message();
        if (!progressed) break;
    }
    give_back_input();  // when all of it was consumed
    return false;
}

bool Connection::consume_auth() {
    if (!nul_seen_) {
        // The spec's leading NUL byte (it may carry credentials on some systems).
        if (in_[in_begin_] != 0) {
            close("first byte of the connection is not NUL");
            return false;
        }
        nul_seen_ = true;
        ++in_begin_;
        return true;
    }
    const uint8_t* begin = in_.get() + in_begin_;
    const uint8_t* end = in_.get() + in_end_;
    static constexpr uint8_t crlf[] = {'\r', '\n'};
    const uint8_t* eol = std::search(begin, end, crlf, crlf + 2);
    if (eol == end) {
        if (static_cast<size_t>(end - begin) > max_sasl_line_length) close("authentication line too long");
        return false;
    }
    std::string_view line(reinterpret_cast<const char*>(begin), static_cast<size_t>(eol - begin));
    in_begin_ += line.size() + 2;
    const SaslState st = sasl_.feed(line, auth_out_);
    bus_.schedule_flush(*this);
    if (st == SaslState::failed) {
        flush();
        close("authentication failed");
        return false;
    }
    if (st == SaslState::authenticated) {
        if (!bus_.admit(*this)) return false;
        state_ = ConnectionState::awaiting_hello;
        spdlog::debug("connection {}: authenticated uid {} pid {}", id_, creds_.uid, creds_.pid);
    }
    return true;
}

bool Connection::consume_message() {
    const size_t avail = in_end_ - in_begin_;
    if (avail < wire::fixed_header_size) return false;
    const uint8_t* p = in_.get() + in_begin_;
    auto size = wire::message_size({p, wire::fixed_header_size});
    if (!size) {
        close(fmt::format("malformed message: {}", wire::to_string(size.error())));
        return false;
    }
    if (*size > bus_.limits().max_message_size) {
        close(fmt::format("message of {} bytes exceeds max_message_size {}", *size,
                          bus_.limits().max_message_size));
        return false;
    }
    MessagePtr m = Message::create_for_raw(*size);
    if (avail >= *size) {
        std::memcpy(m->raw_data(), p, *size);
        in_begin_ += *size;
        deliver(std::move(m));
        return true;
    }
    if (*size <= InputBuffers::buffer_size) {
        return false;  // the rest arrives in a later read
    }
    if (!account_->try_charge(UserAccount::self_slot, Resource::bytes, *size)) {
        spdlog::warn("connection {} ({}): disconnected: a message of {} bytes would take uid {} over its limit of {} "
                     "bytes held in the bus", id_, unique_name_, *size, creds_.uid, account_->max(Resource::bytes));
        close(fmt::format("a message of {} bytes would take uid {} over its limit of {} bytes held in the bus",
                          *size, creds_.uid, account_->max(Resource::bytes)));
        return false;
    }
    std::memcpy(m->raw_data(), p, avail);
    in_begin_ = in_end_;
    large_ = std::move(m);
    large_have_ = avail;
    return false;
}

// Cold path (Debug.Stats): walks the frames already complete in the input buffer. Messages are
// dispatched as they are cut, so these are the ones a peer sent in the same read as the current one.
Connection::Pending Connection::pending_input() const {
    Pending p;
    if (state_ == ConnectionState::authenticating) return p;
    while (in_end_ - (in_begin_ + p.bytes) >= wire::fixed_header_size) {
        const size_t at = in_begin_ + p.bytes;
        auto size = wire::message_size({in_.get() + at, wire::fixed_header_size});
        if (!size || *size > in_end_ - at) break;
        p.bytes += *size;
        ++p.messages;
    }
    return p;
}

void Connection::deliver(MessagePtr m) {
    const wire::WireError err = m->restamp(unique_name_, &recent_names_);
    if (err != wire::WireError::none) {
        return close(fmt::format("malformed message: {}", wire::to_string(err)));
    }
    const uint32_t nfds = m->header().unix_fds;
    if (nfds > bus_.limits().max_message_unix_fds) {
        return close(fmt::format("message carries {} unix fds, over max_message_unix_fds", nfds));
    }
    if (nfds > in_fds_.size()) {
        return close(fmt::format("message announces {} unix fds but {} arrived", nfds, in_fds_.size()));
    }
    if (nfds > 0) {
        auto& fds = m->fds();
        fds.assign(in_fds_.begin(), in_fds_.begin() + nfds);
        in_fds_.erase(in_fds_.begin(), in_fds_.begin() + nfds);
        release_held_fds(nfds);  // now the message's: charged again where it is queued
    }
    m->charge(charge_);
    peaks_.incoming_bytes = std::max(peaks_.incoming_bytes, charge_->bytes);
    peaks_.incoming_fds = std::max(peaks_.incoming_fds, charge_->fds);
    bus_.dispatch(*this, std::move(m));
}

// As dbus-daemon counts it: a queue takes one more message until it has passed its limit. Output is
// batched per event, so before refusing, hand the kernel what it will take now, as libdbus would have.
bool Connection::has_room_for(const Message& m, uint32_t actor) {
    const auto fits = [this] {
        return out_bytes_ <= bus_.limits().max_outgoing_bytes && out_fds_ <= bus_.limits().max_outgoing_unix_fds;
    };
    const auto in_share = [&] {
        return account_->may_charge(actor, Resource::bytes, m.bytes().size()) &&
               account_->may_charge(actor, Resource::fds, m.fds().size());
    };
    if (fits() && in_share()) return true;
    flush();
    if (!fits()) return false;
    if (in_share()) return true;
    const bool bytes_fit = account_->may_charge(actor, Resource::bytes, m.bytes().size());
    account_->note_refusal(actor, bytes_fit ? Resource::fds : Resource::bytes);
    return false;
}

void Connection::enqueue(MessagePtr m, uint32_t actor) {
    if (!is_open()) return;
    account_->charge(actor, Resource::bytes, m->bytes().size());
    account_->charge(actor, Resource::fds, m->fds().size());
    out_bytes_ += m->bytes().size();
    if (actor == UserAccount::self_slot) own_out_bytes_ += m->bytes().size();
    out_fds_ += m->fds().size();
    peaks_.outgoing_bytes = std::max(peaks_.outgoing_bytes, out_bytes_);
    peaks_.outgoing_fds = std::max(peaks_.outgoing_fds, out_fds_);
    out_.push_back({std::move(m), actor});
    // Routed messages are refused before this (has_room_for); what still piles up past twice the limit
    // (the bus's own messages to a peer that never reads) ends that peer.
    const logging::ScopedLogContext log_scope({id_, &unique_name_, creds_.pid});  // about the receiver
    if (out_bytes_ > 2 * bus_.limits().max_outgoing_bytes) {
        spdlog::warn("connection {} ({}): outgoing queue over {} bytes, disconnecting the slow reader", id_,
                     unique_name_, 2 * bus_.limits().max_outgoing_bytes);
        return close("outgoing queue full");
    }
    if (out_fds_ > 2 * bus_.limits().max_outgoing_unix_fds) {
        spdlog::warn("connection {} ({}): over {} unix fds queued for it, disconnecting the slow reader", id_,
                     unique_name_, bus_.limits().max_outgoing_unix_fds);
        return close("outgoing fd queue full");
    }
    // Only the bus's own messages are queued past the user's maximum (routed ones were checked): a
    // peer that does not read its errors and signals from the bus ends here, not in the bus's memory.
    // Only a peer with a sixteenth of that maximum of them unread, though: one that reads its errors
    // while its user's other connections fill the account (a flood into its own stopped receiver) is
    // not the one to blame.
    if (account_->used(Resource::bytes) > account_->max(Resource::bytes) &&
        own_out_bytes_ > account_->max(Resource::bytes) / 16) {
        spdlog::warn("connection {} ({}): uid {} has over {} bytes queued, the bus's own messages to this "
                     "peer among them; disconnecting the slow reader", id_, unique_name_, creds_.uid,
                     account_->max(Resource::bytes));
        return close("queued bytes over the user's limit");
    }
    bus_.schedule_flush(*this);
}

void Connection::flush() {
    if (!is_open() || write_armed_) return;
    const int fd = socket_.native_handle();
    while (!auth_out_.empty()) {
        iovec iov{auth_out_.data(), auth_out_.size()};
        const ssize_t n = send_with_fds(fd, {&iov, 1}, {});
        if (n == -EAGAIN) return arm_write();
        if (n < 0) return close(fmt::format("write failed: {}", std::strerror(static_cast<int>(-n))));
        auth_out_.erase(0, static_cast<size_t>(n));
    }
    while (!out_.empty()) {
        std::array<iovec, max_iov_per_write> iov;
        size_t count = 0;
        std::span<const int> fds;
        for (const Outgoing& o : out_) {
            const MessagePtr& m = o.m;
            const bool head = count == 0;
            // A message's fds ride on the sendmsg carrying its first byte, and no other message may
            // share that sendmsg, so every receiver sees fds with the message they belong to.
            if (!m->fds().empty()) {
                if (!head) break;
                if (head_sent_ == 0) fds = m->fds();
            }
            const auto bytes = m->bytes();
            const size_t skip = head ? head_sent_ : 0;
            iov[count++] = {const_cast<uint8_t*>(bytes.data()) + skip, bytes.size() - skip};
            if (!fds.empty() || count == iov.size()) break;
        }
        const ssize_t n = send_with_fds(fd, {iov.data(), count}, fds);
        if (n == -EAGAIN) return arm_write();
        if (n < 0) return close(fmt::format("write failed: {}", std::strerror(static_cast<int>(-n))));
        size_t left = static_cast<size_t>(n);
        while (left > 0) {
            const size_t remaining = out_.front().m->bytes().size() - head_sent_;
            if (left < remaining) {
                head_sent_ += left;
                break;
            }
            left -= remaining;
            out_bytes_ -= out_.front().m->bytes().size();
            out_fds_ -= out_.front().m->fds().size();
            release_outgoing(out_.front());
            out_.pop_front();
            head_sent_ = 0;
        }
    }
}

void Connection::close(std::string_view reason) {
    if (!is_open()) return;
    const bool was_registered = registered();
    state_ = ConnectionState::closed;
    charge_->owner = nullptr;
    spdlog::debug("connection {} ({}, uid {}, pid {}): closed: {}", id_,
                  unique_name_.empty() ? "unregistered" : unique_name_, creds_.uid, creds_.pid, reason);
    timer_.cancel();
    backoff_.cancel();
    boost::system::error_code ec;
    socket_.close(ec);
    while (!out_.empty()) {
        release_outgoing(out_.front());
        out_.pop_front();
    }
    out_bytes_ = 0;
    out_fds_ = 0;
    if (large_) account_->release(UserAccount::self_slot, Resource::bytes, large_->raw_size());
    large_.reset();
    in_begin_ = in_end_;  // what was left unread goes with the connection
    give_back_input();
    bus_.remove_connection(*this, was_registered);
}

}  // namespace jetbus::broker
