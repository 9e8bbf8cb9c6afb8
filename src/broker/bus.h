// Bus: the broker's state and its router. It owns the connections, the name registry, the expected
// replies and the match rules, and decides where each message goes: the driver (org.freedesktop.DBus),
// one unicast receiver, the caller owed a reply, or every connection whose match rules select a broadcast.
// The driver reaches it through the narrow DriverHandler interface that main wires up.
#pragma once

#include <sys/resource.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "broker/activation.h"
#include "broker/connection.h"
#include "broker/hangup_watch.h"
#include "broker/input_buffers.h"
#include "broker/listener.h"
#include "broker/bus_limits.h"
#include "broker/message.h"
#include "broker/name_registry.h"
#include "broker/reply_registry.h"
#include "broker/sasl.h"
#include "broker/string_map.h"
#include "broker/user_accounts.h"
#include "match/match_registry.h"
#include "policy/compiled_policy.h"
#include "policy/denial_text.h"

namespace jetbus::broker {

constexpr std::string_view driver_name = "org.freedesktop.DBus";
constexpr std::string_view driver_path = "/org/freedesktop/DBus";
constexpr std::string_view driver_interface = "org.freedesktop.DBus";

// Messages addressed to org.freedesktop.DBus go here.
class Listener;

class DriverHandler {
public:
    virtual ~DriverHandler() = default;
    virtual void handle(Connection& from, const MessagePtr& m) = 0;
};

struct BusOptions {
    std::string guid;                   // 32 hex digits: GetId and the SASL OK line
    std::string type;                   // <type>: "session", "system", ...
    std::vector<std::string> auth_mechanisms;  // from <auth>; empty means every supported one
    bool allow_anonymous = false;
    BusLimits limits;
    // at_console policies: whether a user is logged in at a local seat (main decides how; unset: nobody).
    std::function<bool(uid_t)> at_console;
    // The soft fd limit the broker started with (it raises its own): activated services get it back,
    // as dbus-daemon's do, since some programs misbehave with a high one. 0: leave theirs as the broker's.
    rlim_t child_fd_limit = 0;
};

class Bus {
public:
    Bus(boost::asio::io_context& io, BusOptions options);
    ~Bus();

    void set_driver(DriverHandler* driver) { driver_ = driver; }
    boost::asio::io_context& io() { return io_; }
    const BusLimits& limits() const { return options_.limits; }
    const BusOptions& options() const { return options_; }
    // ReloadConfig: new limits apply to what happens next; nothing already admitted is undone.
    void set_limits(const BusLimits& limits);
    // Per-user charges and shares (user_accounts.h).
    UserAccounts& accounts() { return accounts_; }
    // After c's names changed (RequestName, ReleaseName, a queue moving): its account follows.
    void charge_names(Connection& c);
    // The security policy (bus_policy.cpp). Without one every message is allowed. Setting a new one
    // (ReloadConfig) takes a fresh snapshot for every connection, as dbus-daemon does.
    void set_policy(policy::CompiledPolicy p);
    // RequestName: may c own name? On refusal, text is dbus-daemon's AccessDenied message.
    bool may_own(const Connection& c, std::string_view name, std::string& text) const;
    const std::string& guid() const { return options_.guid; }
    SaslOptions sasl_options(const PeerCredentials& creds) const;

    // A new socket from a listener: the connection starts authenticating. The bus owns `fd` from here
    // on, and it must be the socket's only descriptor (ReactorSocket::SoleDescriptor).
    void accept(int fd);
    // Called once a connection has authenticated; false when the policy refuses it (it is closed).
    bool admit(Connection& c);
    // Hello: false with dbus-daemon's LimitsExceeded text when a connection limit is reached.
    bool may_register(const Connection& c, std::string& text) const;
    // Listeners stop accepting at max_incomplete_connections and are started again from here.
    bool accepting() const;
    void pause_listener(Listener* l);
    // A listener going away (before the Bus, at shutdown) is not started again.
    void forget_listener(Listener* l);
    void dispatch(Connection& from, MessagePtr m);
    // A message that waited for its destination to be activated: routed now, as if just sent.
    void deliver_activated(Connection& from, MessagePtr m);
    void remove_connection(Connection& c, bool was_registered);

    // Output batching: connections with new output are written once per event, with gather writes.
    void schedule_flush(Connection& c);
    void flush_dirty();

    // For the driver.
    std::string register_connection(Connection& c);   // Hello: assigns the unique name
    Connection* find(std::string_view name);            // unique or well-known name
    Connection* find(ConnectionId id);
    // Closes c unless it said Hello within auth_timeout (dbus-daemon's limit, from accept to Hello).
    void watch_auth_timeout(Connection& c);
    NameRegistry& names() { return names_; }
    match::MatchRegistry& matches() { return matches_; }
    ReplyRegistry& replies() { return replies_; }
    Activation& activation() { return activation_; }
    HangupWatch& hangups() { return hangups_; }
    InputBuffers& input_buffers() { return input_buffers_; }
    size_t connection_count() const { return connections_.size(); }
    // Messages taken from peers so far (the event loop's measure of a busy turn).
    const uint64_t& dispatched() const { return dispatched_; }
    // Debug.Stats: counts as dbus-daemon keeps them, and their peaks (kept as rules and names are added).
    struct Peaks {
        size_t match_rules = 0;
        size_t match_rules_per_connection = 0;
        size_t bus_names = 0;
        size_t bus_names_per_connection = 0;
    };
    const Peaks& peaks() const { return peaks_; }
    size_t active_count() const { return complete_; }         // said Hello (monitors included)
    size_t incomplete_count() const { return incomplete_; }   // accepted, no Hello yet
    // Unique names plus every claim on a well-known name, queued ones included.
    size_t bus_name_count() const { return by_unique_name_.size() + names_.total_claims(); }
    size_t bus_names_of(const Connection& c) const { return names_.claims_of(c.id()) + 1; }
    // After c took a name (Hello, RequestName): updates the peaks.
    void note_bus_names(Connection& c);
    // Registered connections (monitors excepted), oldest first.
    std::vector<Connection*> registered_connections() const;
    std::vector<std::string> unique_names() const;
    uint32_t next_serial() { return ++driver_serial_; }
    // Sends a message from the driver: unicast when it has a destination, else to matching rules.
    void send_from_driver(MessagePtr m);
    // AddMatch/RemoveMatch through the bus, which keeps count of rules that can select unicast traffic.
    void add_match(Connection& c, match::MatchRule rule);
    bool remove_match(Connection& c, const match::MatchRule& rule);
    // BecomeMonitor: c gives up its names and rules and from now on receives a copy of every message
    // one of `rules` selects (all of them when empty).
    void become_monitor(Connection& c, std::vector<match::MatchRule> rules);
    // Monitors see a Hello call with the unique name it assigned as sender (as dbus-daemon shows it).
    void tap_hello(const MessagePtr& hello, Connection& from);
    // The header of a signal from the bus (org.freedesktop.DBus on its path), with a fresh serial; the
    // caller adds destination, signature or another interface.
    wire::HeaderFields driver_signal(std::string_view member);
    // The org.freedesktop.DBus.ActivatableServicesChanged signal, after a reload changed the names.
    void announce_activatable_services_changed();
    // Reports each change of a name's primary owner: NameOwnerChanged, NameLost, NameAcquired.
    void announce(const std::vector<NameChange>& changes);
    // An error reply from the bus to a call, when the call expects one.
    void reply_error(Connection& to, const wire::Header& call, std::string_view error_name,
                     std::string_view text);
    // An error in reply to any message, wanted or not (dbus-daemon answers policy refusals this way).
    void send_error(Connection& to, const wire::Header& msg, std::string_view error_name, std::string_view text);
    const std::string& type() const { return options_.type; }

private:
    void route_unicast(Connection& from, MessagePtr m);
    void route_reply(Connection& from, MessagePtr m);
    // A unicast whose destination has no owner: it waits for an activation, or the sender hears why not.
    void route_to_unowned(Connection& from, MessagePtr m);
    void reply_to_unowned(Connection& from, const wire::Header& h);
    void on_activation_failure(Connection& from, const Message& m);
    void broadcast(const MessagePtr& m, Connection* sender);
    // Unicast traffic also reaches eavesdropping rules and rules naming the destination.
    void deliver_to_unicast_rules(const MessagePtr& m, Connection* sender, ConnectionId recipient);
    // A copy of m to every monitor whose rules select it.
    void tap(const MessagePtr& m, Connection* sender);
    struct MatchContext;
    void fill_match_input(const MessagePtr& m, Connection* sender, ConnectionId recipient, MatchContext& ctx);
    size_t unicast_rule_weight(const match::MatchRule& r) const;

    // Policy checks (bus_policy.cpp). from/to nullptr stands for the bus driver. On a refusal that
    // the sender should hear of, text gets dbus-daemon's AccessDenied wording.
    policy::Subject subject_of(const Connection& c) const;
    const std::optional<std::vector<gid_t>>& groups_of(uid_t uid);
    void take_snapshot(Connection& c);
    std::span<const std::string_view> names_for_policy(const Connection* c, std::vector<std::string_view>& out) const;
    std::string full_queue_text(const Connection& from, const Connection& to, const Message& m) const;
    bool may_deliver(Connection& from, Connection& to, const Message& m, bool requested_reply);
    // Auto-start: the send side of the policy, judged on the destination name (nobody owns it yet).
    bool may_activate(Connection& from, const Message& m, std::string& text);
    bool allowed(const Connection* from, const Connection* to, const Message& m, bool addressed,
                 bool requested_reply, std::string* text);
    std::string_view name_of(ConnectionId id) const;
    void send_name_signal(ConnectionId to, std::string_view member, std::string_view name);
    void arm_reply_timer();
    void on_reply_timeout();
    void arm_timer(boost::asio::steady_timer& timer, bool& armed, std::chrono::steady_clock::time_point at,
                   void (Bus::*on_fire)());
    void arm_auth_timer();
    void on_auth_timeout();
    void answer_no_reply(std::string_view text);
    void on_hangups(std::span<const uint64_t> ids);
    void trim_after_storm();

    boost::asio::io_context& io_;
    BusOptions options_;
    UserAccounts accounts_;
    DriverHandler* driver_ = nullptr;
    ConnectionId next_id_ = 0;
    uint64_t next_unique_ = 0;          // the first peer is :1.0, as with dbus-daemon
    uint32_t driver_serial_ = 0;
    std::unordered_map<ConnectionId, std::shared_ptr<Connection>> connections_;
    StringMap<Connection*> by_unique_name_;
    std::unordered_map<uid_t, size_t> connections_per_user_;
    size_t incomplete_ = 0;     // accepted, no Hello yet (dbus-daemon's "incomplete")
    size_t complete_ = 0;       // said Hello
    size_t connections_peak_ = 0;  // most connections since the heap was last trimmed
    bool trim_posted_ = false;
    std::vector<Listener*> paused_listeners_;
    void incomplete_done(Connection& c);
    NameRegistry names_;
    ReplyRegistry replies_;
    match::MatchRegistry matches_;
    match::MatchRegistry monitor_rules_;
    std::optional<policy::CompiledPolicy> policy_;
    std::unordered_map<uid_t, std::optional<std::vector<gid_t>>> groups_cache_;  // emptied by set_policy
    std::vector<std::string_view> sender_names_;    // reused by policy checks
    std::vector<std::string_view> receiver_names_;
    std::vector<ConnectionId> monitors_;
    size_t unicast_rules_ = 0;   // rules with eavesdrop=true or destination=: unicast must consult them
    std::vector<std::shared_ptr<Connection>> dirty_;
    std::vector<match::MatchOwner> receivers_;   // reused by broadcast: no allocation per message
    std::vector<NameChange> changes_;
    std::vector<PendingCall> unanswered_;
    boost::asio::steady_timer reply_timer_;    // reply_timeout: the bus answers NoReply itself
    // auth_timeout: connections in the order they came, under one timer for the oldest. Their deadlines
    // come in the same order, so a new connection arms nothing while the timer waits for an older one.
    struct BeforeHello {
        ConnectionId id;
        std::chrono::steady_clock::time_point since;
    };
    RingQueue<BeforeHello> before_hello_;
    boost::asio::steady_timer auth_timer_;
    bool auth_timer_armed_ = false;
    InputBuffers input_buffers_;
    HangupWatch hangups_;                      // peers whose hang-up the socket reads may not see
    bool reply_timer_armed_ = false;
    uint64_t dispatched_ = 0;
    std::vector<std::string> acquired_;        // names announced as taken, for activation
    Peaks peaks_;
    Activation activation_;                    // last: its children and timers go first
};

}  // namespace jetbus::broker
