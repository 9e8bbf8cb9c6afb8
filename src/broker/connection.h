// Connection: one client of the bus. It owns the socket, runs the SASL handshake, cuts frames from its
// input buffer into Messages (large ones are read straight into their own allocation), hands each to the
// Bus for routing, and writes its output queue with gather writes. A peer that breaks the protocol or
// overflows a limit is closed with a log line naming why; nobody else is affected.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "broker/input_buffers.h"
#include "broker/message.h"
#include "broker/name_registry.h"
#include "broker/reactor_read.h"
#include "broker/ring_queue.h"
#include "broker/sasl.h"
#include "broker/transport.h"
#include "broker/user_accounts.h"
#include "policy/compiled_policy.h"

namespace jetbus::broker {

class Bus;

// monitor: became a monitor (BecomeMonitor): receives copies, may not send, owns no names.
enum class ConnectionState { authenticating, awaiting_hello, active, monitor, closed };

class Connection : public std::enable_shared_from_this<Connection>, private IncomingCharge::Listener {
public:
    Connection(Bus& bus, ConnectionId id, int fd, PeerCredentials creds);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    void start();
    // The peer hung up (HangupWatch): read what it sent up to the end of the stream, then close.
    void on_hangup();
    // Queues a message for this peer, charged to this peer's user on behalf of actor (a slot of
    // account(): the sender's user; self_slot for the bus's own messages). The Bus flushes dirty
    // connections at the end of each event.
    void enqueue(MessagePtr m, uint32_t actor = UserAccount::self_slot);
    void flush();
    void close(std::string_view reason);

    ConnectionId id() const { return id_; }
    ConnectionState state() const { return state_; }
    // Authenticating or authenticated without Hello yet: auth_timeout's reach.
    bool before_hello() const {
        return state_ == ConnectionState::authenticating || state_ == ConnectionState::awaiting_hello;
    }
    bool is_open() const { return state_ != ConnectionState::closed; }
    bool registered() const { return state_ == ConnectionState::active; }
    void set_registered(std::string unique_name);
    void set_monitor() { state_ = ConnectionState::monitor; }
    bool is_monitor() const { return state_ == ConnectionState::monitor; }
    const std::string& unique_name() const { return unique_name_; }
    const PeerCredentials& credentials() const { return creds_; }
    // A new pidfd for the peer's process (the caller closes it), or -1: see open_peer_pidfd.
    int open_pidfd() { return is_open() ? open_peer_pidfd(socket_.native_handle()) : -1; }
    // The peer's supplementary groups (read_peer_groups), asked once, on first use; empty once closed.
    const std::vector<gid_t>& peer_groups() const;
    uid_t uid() const { return creds_.uid; }
    bool unix_fd_negotiated() const { return sasl_.unix_fd_negotiated(); }
    bool anonymous() const { return sasl_.anonymous(); }
    size_t queued_bytes() const { return out_bytes_; }
    size_t queued_fds() const { return out_fds_; }
    size_t queued_messages() const { return out_.size(); }
    // This peer's messages still held in the broker, counted as received (max_incoming_bytes).
    size_t incoming_bytes() const { return charge_->bytes; }
    size_t incoming_fds() const { return charge_->fds; }
    // Complete messages read from the socket and not yet dispatched, and their size (Debug.Stats).
    struct Pending {
        size_t messages = 0;
        size_t bytes = 0;
    };
    Pending pending_input() const;

    // High-water marks for Debug.Stats: the queues' are kept on the data path (a max each, no branch),
    // match rules and names by the Bus as they are added.
    struct Peaks {
        size_t incoming_bytes = 0;
        size_t incoming_fds = 0;
        size_t outgoing_bytes = 0;
        size_t outgoing_fds = 0;
        size_t match_rules = 0;
        size_t bus_names = 0;
    };
    const Peaks& peaks() const { return peaks_; }
    void note_match_rules(size_t n) { peaks_.match_rules = std::max(peaks_.match_rules, n); }
    void note_bus_names(size_t n) { peaks_.bus_names = std::max(peaks_.bus_names, n); }
    // Whether m fits this peer's outgoing queue (max_outgoing_bytes, max_outgoing_unix_fds) and the
    // actor's share of this peer's user's bytes and fds (user_accounts.h).
    bool has_room_for(const Message& m, uint32_t actor);
    // A message of this peer's was refused because its receiver had no room: its input waits a moment
    // before more of it is read (a flood then costs the bus little while the receiver stays full).
    void note_refused_for_room() { refused_for_room_ = true; }
    // The account of this peer's user, where its queue, rules, names and pending calls are charged.
    UserAccount& account() { return *account_; }
    // Called by the Bus once a closed connection's charges are all released: the account may go, and
    // the connection (which pending I/O can keep alive past the Bus) no longer touches it.
    void detach_account();
    // Other users' actor slot on this peer's account.
    uint32_t actor_slot_for(const Connection& sender) {
        return sender.uid() == uid() ? UserAccount::self_slot : account_->actor_slot(sender.uid());
    }
    // Names and pending replies charged to account() (the Bus keeps them in step).
    size_t charged_names = 0;
    bool holds_incomplete_slot = false;  // counted in the bus pool of incomplete connections

    bool flush_scheduled = false;  // owned by Bus: already in its dirty list
    bool admitted = false;         // owned by Bus: authenticated and counted against its user
    policy::PolicySnapshot policy; // owned by Bus: the rules that apply to this peer (taken at admission)
    // `uid=... pid=... comm="..."` as dbus-daemon words a peer in denial texts; read from /proc the
    // first time a text needs it, so a connection that is never refused costs no /proc read.
    const std::string& loginfo() const;

private:
    // The reactor's read operation (reactor_read.h) calls these.
    friend class ReactorRead<Connection>;
    ssize_t read_once();
    bool read_exhausted(ssize_t n) const { return static_cast<size_t>(n) < read_space_ && read_fds_.empty(); }
    void on_read(const boost::system::error_code& ec, ssize_t n);

    void on_charge_released() override;
    bool over_incoming_limits() const;
    size_t incoming_allowance() const;
    void read_again();
    void arm_read();
    void arm_write();
    void took_large(size_t n);
    // Dispatches up to dispatch_budget messages; true when complete input is left for a later turn.
    bool consume_input();
    void read_next(bool backlog);
    bool consume_auth();
    bool consume_message();
    void deliver(MessagePtr m);
    void compact_input();
    void watch_pending_fds();

    Bus& bus_;
    ConnectionId id_;
    ReactorSocket socket_;
    ReactorRead<Connection> read_op_;
    boost::asio::steady_timer timer_;  // pending_fd_timeout (auth_timeout is the bus's: watch_auth_timeout)
    boost::asio::steady_timer backoff_;  // input held back after a refusal for room (note_refused_for_room)
    bool refused_for_room_ = false;
    PeerCredentials creds_;
    mutable std::optional<std::vector<gid_t>> groups_;  // peer_groups(), once asked
    UserAccount* account_;
    SaslServer sasl_;
    ConnectionState state_ = ConnectionState::authenticating;
    std::string unique_name_;
    bool nul_seen_ = false;

    // The input buffer, lent by the bus for a read (input_buffers.h) and held only while it has
    // bytes not yet consumed: [in_begin_, in_end_) unparsed; empty, it goes back.
    InputBuffers::Buffer in_;
    size_t in_begin_ = 0;
    size_t in_end_ = 0;
    void give_back_input();
    std::deque<int> in_fds_;         // fds received, not yet claimed by a message (charged to account_)
    MessagePtr large_;               // a message too big for in_, read into its own buffer (charged to account_)
    size_t large_have_ = 0;

    std::string auth_out_;           // SASL replies, sent before any message
    struct Outgoing {
        MessagePtr m;
        uint32_t actor;  // whose share of account_ it is charged to
    };
    RingQueue<Outgoing> out_;
    void release_outgoing(const Outgoing& o);
    void release_held_fds(size_t n);
    size_t out_bytes_ = 0;
    size_t own_out_bytes_ = 0;       // of out_bytes_, the bus's own messages (errors, signals from the bus)
    size_t out_fds_ = 0;
    size_t head_sent_ = 0;           // bytes of out_.front() already written
    std::vector<int> read_fds_;      // fds of the last read (reused: no allocation per read)
    size_t read_space_ = 0;          // the room the last read had
    bool write_armed_ = false;
    bool fd_timer_armed_ = false;
    IncomingChargePtr charge_;           // this peer's messages still in the broker
    bool reading_paused_ = false;        // stopped reading until charge_ falls under the limits
    bool hung_up_ = false;               // the peer hung up: read on to the end without waiting for an edge
    mutable std::string loginfo_;        // empty until loginfo() first asked
    wire::RecentNames recent_names_;     // this peer's header names already validated
    Peaks peaks_;
};

}  // namespace jetbus::broker
