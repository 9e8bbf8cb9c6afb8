// Bus: connections, routing and the signals of name ownership. See bus.h.
#include "broker/bus.h"

#include <malloc.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "wire/reader.h"
#include "wire/signature.h"
#include "wire/writer.h"

namespace jetbus::broker {

namespace {

constexpr size_t max_match_args = 64;  // arg0 .. arg63 (spec: "Match Rules")

// Reads the leading string-like arguments of a body for argN matching. Non-string arguments get type 0
// (they never match argN); reading stops at the first malformed value.
size_t read_match_args(const Message& m, std::array<match::MatchArg, max_match_args>& args, size_t wanted) {
    std::string_view sig = m.header().signature;
    wire::Reader r(m.body(), m.header().endian);
    size_t n = 0;
    while (!sig.empty() && n < std::min(wanted, args.size())) {
        const size_t len = wire::complete_type_length(sig);
        if (len == 0) break;
        const std::string_view type = sig.substr(0, len);
        match::MatchArg& a = args[n];
        a = {};
        if (type == "s") {
            if (!r.string(a.value)) break;
            a.type = 's';
        } else if (type == "o") {
            if (!r.object_path(a.value)) break;
            a.type = 'o';
        } else if (!r.skip(type)) {
            break;
        }
        ++n;
        sig.remove_prefix(len);
    }
    return n;
}

}  // namespace

namespace {

UserQuota quota_of(const BusLimits& l) {
    UserQuota q;
    q[Resource::bytes] = l.max_bytes_per_user;
    q[Resource::fds] = l.max_fds_per_user;
    q[Resource::match_rules] = l.max_match_rules_per_user;
    q[Resource::names] = l.max_names_per_user;
    q[Resource::replies] = l.max_replies_per_user;
    q[Resource::incomplete_connections] = l.max_incomplete_connections;
    q[Resource::service_starts] = l.max_pending_service_starts;
    return q;
}

}  // namespace

Bus::Bus(boost::asio::io_context& io, BusOptions options)
    : io_(io),
      options_(std::move(options)),
      accounts_(quota_of(options_.limits)),
      reply_timer_(io),
      auth_timer_(io),
      hangups_(io, [this](std::span<const uint64_t> ids) { on_hangups(ids); }),
      activation_(*this) {}

void Bus::set_limits(const BusLimits& limits) {
    options_.limits = limits;
    accounts_.set_quota(quota_of(limits));
}

void Bus::charge_names(Connection& c) {
    const size_t now = names_.claims_of(c.id());
    if (now > c.charged_names) c.account().charge(UserAccount::self_slot, Resource::names, now - c.charged_names);
    if (now < c.charged_names) c.account().release(UserAccount::self_slot, Resource::names, c.charged_names - now);
    c.charged_names = now;
}

Bus::~Bus() {
    reply_timer_.cancel();
    auth_timer_.cancel();
    // Connections' handlers hold references; closing them here drops their sockets with the bus.
    auto conns = connections_;
    for (auto& [id, c] : conns) c->close("bus shutting down");
}

SaslOptions Bus::sasl_options(const PeerCredentials& creds) const {
    SaslOptions o;
    o.peer_uid = creds.uid;
    const auto& mechs = options_.auth_mechanisms;
    const auto listed = [&](std::string_view m) {
        return mechs.empty() || std::find(mechs.begin(), mechs.end(), m) != mechs.end();
    };
    o.allow_external = listed("EXTERNAL");
    o.allow_anonymous = options_.allow_anonymous && listed("ANONYMOUS");
    o.unix_fd_capable = true;
    o.guid = options_.guid;
    return o;
}

bool Bus::accepting() const { return incomplete_ < options_.limits.max_incomplete_connections; }

void Bus::pause_listener(Listener* l) { paused_listeners_.push_back(l); }

void Bus::forget_listener(Listener* l) {
    paused_listeners_.erase(std::remove(paused_listeners_.begin(), paused_listeners_.end(), l), paused_listeners_.end());
}

// Like dbus-daemon 1.14: at max_incomplete_connections the listeners stop accepting (new peers wait in
// the kernel's backlog) until a connection completes its Hello or goes away.
void Bus::incomplete_done(Connection& c) {
    --incomplete_;
    if (c.holds_incomplete_slot) {
        c.holds_incomplete_slot = false;
        accounts_.bus_account().release(accounts_.bus_account().actor_slot(c.uid()), Resource::incomplete_connections, 1);
    }
    if (paused_listeners_.empty() || !accepting()) return;
    auto paused = std::move(paused_listeners_);
    paused_listeners_.clear();
    for (Listener* l : paused) l->start();
}

void Bus::accept(int fd) {
    PeerCredentials creds = read_peer_credentials(fd);
    const ConnectionId id = ++next_id_;
    // One user may hold only a share of the incomplete-connection pool, so a user opening sockets and
    // never authenticating cannot keep everyone else out.
    UserAccount& pool = accounts_.bus_account();
    const uint32_t actor = pool.actor_slot(creds.uid);
    if (!pool.try_charge(actor, Resource::incomplete_connections, 1)) {
        spdlog::warn("refusing a connection from uid {} (pid {}): it holds its share of the {} incomplete connections",
                     creds.uid, creds.pid, options_.limits.max_incomplete_connections);
        ::close(fd);
        return;
    }
    auto c = std::make_shared<Connection>(*this, id, fd, std::move(creds));
    c->holds_incomplete_slot = true;
    connections_.emplace(id, c);
    connections_peak_ = std::max(connections_peak_, connections_.size());
    ++incomplete_;
    spdlog::debug("connection {}: accepted (uid {}, pid {})", id, c->uid(), c->credentials().pid);
    c->start();
}

// The user database is read once per user, like dbus-daemon's user cache; a reload reads it again.
const std::optional<std::vector<gid_t>>& Bus::groups_of(uid_t uid) {
    auto it = groups_cache_.find(uid);
    if (it == groups_cache_.end()) it = groups_cache_.emplace(uid, policy::unix_groups_of(uid)).first;
    return it->second;
}

bool Bus::admit(Connection& c) {
    if (policy_ && !c.anonymous()) {
        const auto& groups = groups_of(c.uid());
        const policy::Verdict v = groups ? policy_->can_connect(c.uid(), *groups) : policy::Verdict{};
        if (!v.allowed) {
            spdlog::warn("refusing uid {}: {}", c.uid(),
                         groups ? "the policy does not allow this user to connect" : "the uid has no account");
            c.close("refused by the connection policy");
            return false;
        }
    }
    c.admitted = true;
    take_snapshot(c);
    return true;
}

// The connection limits apply at Hello, as in dbus-daemon: a refused peer gets LimitsExceeded and keeps
// its connection (a later Hello may succeed once others leave; auth_timeout still ends it).
bool Bus::may_register(const Connection& c, std::string& text) const {
    if (complete_ >= options_.limits.max_completed_connections) {
        text = "The maximum number of active connections has been reached";
        return false;
    }
    auto per_user = connections_per_user_.find(c.uid());
    if (per_user != connections_per_user_.end() && per_user->second >= options_.limits.max_connections_per_user) {
        text = fmt::format("The maximum number of active connections for UID {} has been reached", c.uid());
        return false;
    }
    return true;
}

std::string Bus::register_connection(Connection& c) {
    std::string name = fmt::format(":1.{}", next_unique_++);
    c.set_registered(name);
    by_unique_name_.emplace(name, &c);
    ++complete_;
    ++connections_per_user_[c.uid()];
    incomplete_done(c);
    note_bus_names(c);
    return name;
}

void Bus::remove_connection(Connection& c, bool was_registered) {
    auto self = connections_.find(c.id());
    if (self == connections_.end()) return c.detach_account();
    std::shared_ptr<Connection> keep = self->second;  // alive until the cleanup below is done
    if (!c.unique_name().empty()) {
        --complete_;
        auto pu = connections_per_user_.find(c.uid());
        if (pu != connections_per_user_.end() && --pu->second == 0) connections_per_user_.erase(pu);
    } else {
        incomplete_done(c);
    }
    for (const auto& r : matches_.rules(c.id())) unicast_rules_ -= unicast_rule_weight(r);
    c.account().release(UserAccount::self_slot, Resource::match_rules, matches_.count(c.id()));
    matches_.remove_all(c.id());
    if (std::find(monitors_.begin(), monitors_.end(), c.id()) != monitors_.end()) {
        monitor_rules_.remove_all(c.id());
        monitors_.erase(std::remove(monitors_.begin(), monitors_.end(), c.id()), monitors_.end());
    }

    unanswered_.clear();
    c.account().release(UserAccount::self_slot, Resource::replies, replies_.pending_for(c.id()));
    replies_.remove_connection(c.id(), unanswered_);
    answer_no_reply("Message recipient disconnected from message bus without replying");

    if (was_registered) {
        // Announced while the connection is still findable, so its unique name can be given as the old
        // owner; being closed, it receives none of the signals itself.
        changes_.clear();
        names_.remove_connection(c.id(), changes_);
        charge_names(c);  // an heir's claim was charged while it queued
        auto changes = std::move(changes_);
        changes.push_back({c.unique_name(), c.id(), 0});
        announce(changes);
        changes.clear();
        changes_ = std::move(changes);
    }
    if (!c.unique_name().empty()) by_unique_name_.erase(c.unique_name());
    c.detach_account();
    connections_.erase(c.id());
    trim_after_storm();
}

// glibc keeps the heap freed by thousands of departed peers (their buffers lie between live blocks, so
// the heap's top cannot shrink): once the connections have halved since a peak of many, hand the free
// pages back. Logarithmically few trims per storm; none in a steady state.
void Bus::trim_after_storm() {
    constexpr size_t storm = 512;
    if (connections_peak_ < storm || connections_.size() > connections_peak_ / 2) return;
    connections_peak_ = connections_.size();
    if (trim_posted_) return;
    trim_posted_ = true;
    boost::asio::post(io_, [this] {
        trim_posted_ = false;
        ::malloc_trim(0);
    });
}

void Bus::schedule_flush(Connection& c) {
    if (c.flush_scheduled) return;
    c.flush_scheduled = true;
    dirty_.push_back(c.shared_from_this());
}

void Bus::flush_dirty() {
    // Flushing never adds to dirty_ (it only writes), but a failed write closes a connection, which can
    // queue NameOwnerChanged for others: loop until nothing is left.
    while (!dirty_.empty()) {
        auto batch = std::move(dirty_);
        dirty_.clear();
        for (auto& c : batch) {
            c->flush_scheduled = false;
            c->flush();
        }
        if (dirty_.empty()) {
            batch.clear();
            dirty_ = std::move(batch);  // keep the capacity
            break;
        }
    }
}

Connection* Bus::find(std::string_view name) {
    if (name.empty()) return nullptr;
    if (name[0] == ':') {
        auto it = by_unique_name_.find(name);
        return it == by_unique_name_.end() ? nullptr : it->second;
    }
    return find(names_.owner(name));
}

void Bus::on_hangups(std::span<const uint64_t> ids) {
    for (const uint64_t id : ids) {
        auto it = connections_.find(id);
        if (it == connections_.end()) continue;  // already gone: its own read saw the end
        const std::shared_ptr<Connection> keep = it->second;  // closing removes it from connections_
        keep->on_hangup();
    }
    flush_dirty();
}

Connection* Bus::find(ConnectionId id) {
    if (id == 0) return nullptr;
    auto it = connections_.find(id);
    return it == connections_.end() ? nullptr : it->second.get();
}

std::vector<std::string> Bus::unique_names() const {
    std::vector<std::string> out;
    out.reserve(by_unique_name_.size());
    for (const auto& [name, c] : by_unique_name_) out.push_back(name);
    return out;
}

std::vector<Connection*> Bus::registered_connections() const {
    std::vector<Connection*> out;
    out.reserve(by_unique_name_.size());
    for (const auto& [name, c] : by_unique_name_) out.push_back(c);
    std::sort(out.begin(), out.end(), [](const Connection* a, const Connection* b) { return a->id() < b->id(); });
    return out;
}

void Bus::note_bus_names(Connection& c) {
    const size_t mine = bus_names_of(c);
    c.note_bus_names(mine);
    peaks_.bus_names_per_connection = std::max(peaks_.bus_names_per_connection, mine);
    peaks_.bus_names = std::max(peaks_.bus_names, bus_name_count());
}

std::string_view Bus::name_of(ConnectionId id) const {
    auto it = connections_.find(id);
    return it == connections_.end() ? std::string_view{} : std::string_view(it->second->unique_name());
}

void Bus::dispatch(Connection& from, MessagePtr m) {
    ++dispatched_;
    const wire::Header& h = m->header();
    if (from.is_monitor()) return from.close("monitors may not send messages");
    if (!from.registered()) {
        const bool is_hello = h.type == wire::MessageType::method_call && h.destination == driver_name &&
                              h.member == "Hello" &&
                              (h.interface.empty() || h.interface == driver_interface);
        if (!is_hello) {
            return from.close("sent a message other than Hello before registering");
        }
    }
    // A Hello is shown to monitors by the driver, once it carries the unique name it is given.
    if (!monitors_.empty() && from.registered()) tap(m, &from);
    if (h.destination == driver_name) {
        if (unicast_rules_ > 0 && from.registered()) deliver_to_unicast_rules(m, &from, 0);
        std::string denied;
        if (!allowed(&from, nullptr, *m, true, false, &denied)) {
            return send_error(from, h, "org.freedesktop.DBus.Error.AccessDenied", denied);
        }
        if (driver_ && h.type == wire::MessageType::method_call) return driver_->handle(from, m);
        if (h.type == wire::MessageType::signal && h.interface == systemd_activator_interface &&
            h.member == "ActivationFailure") {
            on_activation_failure(from, *m);
        }
        return;  // other replies and signals to the bus itself go nowhere
    }
    switch (h.type) {
    case wire::MessageType::method_return:
    case wire::MessageType::error:
        return route_reply(from, std::move(m));
    default:
        if (!h.destination.empty()) return route_unicast(from, std::move(m));
        // Only signals are broadcast; dbus-daemon shows a call without a destination to no rule.
        if (h.type == wire::MessageType::signal) broadcast(m, &from);
        return;
    }
}

void Bus::route_unicast(Connection& from, MessagePtr m) {
    const wire::Header& h = m->header();
    Connection* to = find(h.destination);
    if (!to || !to->registered()) return route_to_unowned(from, std::move(m));
    if (!m->fds().empty() && !to->unix_fd_negotiated()) {
        reply_error(from, h, "org.freedesktop.DBus.Error.NotSupported",
                    "Tried to send message with Unix file descriptors to a client that doesn't support that.");
        return;
    }
    if (!may_deliver(from, *to, *m, false)) return;
    if (m->expects_reply()) {
        // As dbus-daemon: one reply slot per (caller, serial, callee); a second call could never be told
        // apart from the first when the replies come back.
        if (replies_.awaits(from.id(), h.serial, to->id())) {
            reply_error(from, h, "org.freedesktop.DBus.Error.AccessDenied",
                        "Message has the same reply serial as a currently-outstanding existing method call");
            return;
        }
        if (replies_.pending_for(from.id()) >= options_.limits.max_replies_per_connection) {
            reply_error(from, h, "org.freedesktop.DBus.Error.LimitsExceeded",
                        "The maximum number of pending replies per connection has been reached");
            return;
        }
        if (!from.account().try_charge(UserAccount::self_slot, Resource::replies, 1)) {
            reply_error(from, h, "org.freedesktop.DBus.Error.LimitsExceeded",
                        fmt::format("The maximum number of pending replies for UID {} has been reached", from.uid()));
            return;
        }
        if (options_.limits.reply_timeout_ms > 0) {
            replies_.expect(from.id(), h.serial, to->id(),
                            ReplyRegistry::Clock::now() + std::chrono::milliseconds(options_.limits.reply_timeout_ms));
            arm_reply_timer();
        } else {
            replies_.expect(from.id(), h.serial, to->id());
        }
    }
    if (unicast_rules_ > 0) deliver_to_unicast_rules(m, &from, to->id());
    to->enqueue(std::move(m), to->actor_slot_for(from));
}

// As dbus-daemon: without NO_AUTO_START a name with a .service file is started and the message waits
// for it; otherwise the name is unknown.
void Bus::route_to_unowned(Connection& from, MessagePtr m) {
    const wire::Header& h = m->header();
    if (h.flags & wire::flags::no_auto_start) {
        return reply_error(from, h, "org.freedesktop.DBus.Error.NameHasNoOwner",
                           fmt::format("Name \"{}\" does not exist", h.destination));
    }
    const ServiceEntry* service = activation_.lookup(h.destination);
    if (!service) {
        return reply_error(from, h, "org.freedesktop.DBus.Error.ServiceUnknown",
                           fmt::format("The name {} was not provided by any .service files", h.destination));
    }
    if (std::string denied; !may_activate(from, *m, denied)) {
        return send_error(from, h, "org.freedesktop.DBus.Error.AccessDenied", denied);
    }
    activation_.auto_start(from, std::move(m), *service);
}

void Bus::deliver_activated(Connection& from, MessagePtr m) { route_unicast(from, std::move(m)); }

// Only the connection that owns org.freedesktop.systemd1 speaks for systemd.
void Bus::on_activation_failure(Connection& from, const Message& m) {
    if (names_.owner(systemd_name) != from.id() || (from.uid() != 0 && from.uid() != ::getuid())) {
        spdlog::warn("Ignoring forged ActivationFailure message from connection {} ({})", from.unique_name(),
                     from.loginfo());
        return;
    }
    std::string_view unit, error_name, text;
    wire::Reader r(m.body(), m.header().endian);
    if (m.header().signature != "sss" || !r.string(unit) || !r.string(error_name) || !r.string(text)) {
        spdlog::warn("Ignoring malformed ActivationFailure message from connection {}", from.unique_name());
        return;
    }
    activation_.systemd_failure(unit, error_name, text);
}

// The last two doors of a unicast: the policy, then the receiver's queue. Either refusal goes back to
// the sender as an error, whatever kind of message it sent, as dbus-daemon answers.
bool Bus::may_deliver(Connection& from, Connection& to, const Message& m, bool requested_reply) {
    if (std::string denied; !allowed(&from, &to, m, true, requested_reply, &denied)) {
        send_error(from, m.header(), "org.freedesktop.DBus.Error.AccessDenied", denied);
        return false;
    }
    if (!to.has_room_for(m, to.actor_slot_for(from))) {
        // The slow reader keeps its connection; the sender hears why, and is read more slowly for a while.
        send_error(from, m.header(), "org.freedesktop.DBus.Error.LimitsExceeded", full_queue_text(from, to, m));
        from.note_refused_for_room();
        return false;
    }
    return true;
}

// A reply to a name nobody owns (a caller that has gone, say) is answered as dbus-daemon answers it, with
// the error a call to that name would get, whatever the reply's flags; a reply never starts a service.
void Bus::reply_to_unowned(Connection& from, const wire::Header& h) {
    if (h.flags & wire::flags::no_auto_start) {
        return send_error(from, h, "org.freedesktop.DBus.Error.NameHasNoOwner",
                          fmt::format("Name \"{}\" does not exist", h.destination));
    }
    if (activation_.lookup(h.destination)) {
        spdlog::debug("connection {} ({}): dropped a reply for {}, which has no owner yet", from.id(),
                      from.unique_name(), h.destination);
        return;
    }
    send_error(from, h, "org.freedesktop.DBus.Error.ServiceUnknown",
               fmt::format("The name {} was not provided by any .service files", h.destination));
}

void Bus::route_reply(Connection& from, MessagePtr m) {
    const wire::Header& h = m->header();
    Connection* to = find(h.destination);
    if (!to && !h.destination.empty()) return reply_to_unowned(from, h);
    const bool expected = to && h.reply_serial && replies_.take(to->id(), *h.reply_serial, from.id());
    if (expected) to->account().release(UserAccount::self_slot, Resource::replies, 1);
    if (!expected) {
        // A reply nobody asked for is never delivered (see COMPAT.md), whatever the policy says; where
        // the policy refuses it, the replier hears so, as from dbus-daemon.
        std::string denied;
        if (to && !allowed(&from, to, *m, true, false, &denied) && !denied.empty()) {
            send_error(from, h, "org.freedesktop.DBus.Error.AccessDenied", denied);
        }
        spdlog::debug("connection {} ({}): dropped a reply nobody expected (to {}, reply serial {})", from.id(),
                      from.unique_name(), h.destination, h.reply_serial.value_or(0));
        return;
    }
    if (!m->fds().empty() && !to->unix_fd_negotiated()) {
        spdlog::debug("connection {}: dropped a reply with fds for {}, which cannot receive fds", from.id(),
                      to->unique_name());
        return;
    }
    if (!may_deliver(from, *to, *m, true)) return;
    if (unicast_rules_ > 0) deliver_to_unicast_rules(m, &from, to->id());
    to->enqueue(std::move(m), to->actor_slot_for(from));
}

struct Bus::MatchContext {
    std::array<match::MatchArg, max_match_args> args;
    match::MatchInput in;
    Bus* bus = nullptr;
    ConnectionId sender = 0;
    std::string_view sender_name;
    ConnectionId recipient = 0;
};

void Bus::fill_match_input(const MessagePtr& m, Connection* sender, ConnectionId recipient, MatchContext& ctx) {
    const wire::Header& h = m->header();
    const size_t wanted = std::max(matches_.args_needed(), monitor_rules_.args_needed());
    const size_t nargs = wanted ? read_match_args(*m, ctx.args, wanted) : 0;
    ctx.bus = this;
    ctx.sender = sender ? sender->id() : 0;
    ctx.sender_name = h.sender;
    ctx.recipient = recipient;
    match::MatchInput& in = ctx.in;
    in.type = h.type;
    in.sender = h.sender;
    in.interface = h.interface;
    in.member = h.member;
    in.path = h.path;
    in.destination = h.destination;
    in.args = {ctx.args.data(), nargs};
    // The names the sender has claimed let the index look up well-known-sender rules directly.
    if (sender) {
        in.sender_names = names_.claimed_names(sender->id());
        in.sender_names_known = true;
    }
    in.ctx = &ctx;
    in.sender_owns = [](const void* p, std::string_view name) {
        const auto* c = static_cast<const MatchContext*>(p);
        if (name == c->sender_name) return true;
        return c->sender != 0 && c->bus->names_.owner(name) == c->sender;
    };
    in.recipient_owns = [](const void* p, std::string_view name) {
        const auto* c = static_cast<const MatchContext*>(p);
        if (c->recipient == 0) return false;
        if (!name.empty() && name[0] == ':') return c->bus->name_of(c->recipient) == name;
        return c->bus->names_.owner(name) == c->recipient;
    };
}

void Bus::broadcast(const MessagePtr& m, Connection* sender) {
    MatchContext ctx;
    fill_match_input(m, sender, 0, ctx);
    receivers_.clear();
    matches_.collect(ctx.in, true, receivers_);
    const bool has_fds = !m->fds().empty();
    for (match::MatchOwner owner : receivers_) {
        Connection* to = find(owner);
        if (!to || !to->registered()) continue;
        if (has_fds && !to->unix_fd_negotiated()) continue;
        if (!allowed(sender, to, *m, false, false, nullptr)) continue;
        const uint32_t actor = sender ? to->actor_slot_for(*sender) : UserAccount::self_slot;
        if (!to->has_room_for(*m, actor)) continue;  // a full reader misses broadcasts; it is not disconnected
        to->enqueue(m, actor);
    }
}

void Bus::deliver_to_unicast_rules(const MessagePtr& m, Connection* sender, ConnectionId recipient) {
    MatchContext ctx;
    fill_match_input(m, sender, recipient, ctx);
    receivers_.clear();
    matches_.collect(ctx.in, true, receivers_);
    const bool has_fds = !m->fds().empty();
    for (match::MatchOwner owner : receivers_) {
        if (owner == recipient) continue;  // it gets the message itself
        Connection* to = find(owner);
        if (!to || !to->registered()) continue;
        if (has_fds && !to->unix_fd_negotiated()) continue;
        if (!allowed(sender, to, *m, false, false, nullptr)) continue;
        const uint32_t actor = sender ? to->actor_slot_for(*sender) : UserAccount::self_slot;
        if (!to->has_room_for(*m, actor)) continue;  // a full reader misses broadcasts; it is not disconnected
        to->enqueue(m, actor);
    }
}

void Bus::tap(const MessagePtr& m, Connection* sender) {
    MatchContext ctx;
    Connection* recipient = m->header().destination.empty() ? nullptr : find(m->header().destination);
    fill_match_input(m, sender, recipient ? recipient->id() : 0, ctx);
    receivers_.clear();
    monitor_rules_.collect(ctx.in, true, receivers_);
    for (match::MatchOwner owner : receivers_) {
        Connection* to = find(owner);
        if (!to || !to->is_monitor()) continue;
        if (!m->fds().empty() && !to->unix_fd_negotiated()) continue;
        to->enqueue(m);
    }
}

void Bus::tap_hello(const MessagePtr& hello, Connection& from) {
    if (monitors_.empty()) return;
    wire::HeaderFields f = wire::fields_of(hello->header());
    f.sender = from.unique_name();
    tap(Message::build(f, hello->body()), &from);
}

size_t Bus::unicast_rule_weight(const match::MatchRule& r) const {
    return r.eavesdrop || !r.destination.empty() ? 1 : 0;
}

void Bus::add_match(Connection& c, match::MatchRule rule) {
    c.account().charge(UserAccount::self_slot, Resource::match_rules, 1);  // the driver checked may_charge
    unicast_rules_ += unicast_rule_weight(rule);
    matches_.add(c.id(), std::move(rule));
    const size_t mine = matches_.count(c.id());
    c.note_match_rules(mine);
    peaks_.match_rules_per_connection = std::max(peaks_.match_rules_per_connection, mine);
    peaks_.match_rules = std::max(peaks_.match_rules, matches_.total());
}

bool Bus::remove_match(Connection& c, const match::MatchRule& rule) {
    if (!matches_.remove(c.id(), rule)) return false;
    c.account().release(UserAccount::self_slot, Resource::match_rules, 1);
    unicast_rules_ -= unicast_rule_weight(rule);
    return true;
}

void Bus::become_monitor(Connection& c, std::vector<match::MatchRule> rules) {
    for (const auto& r : matches_.rules(c.id())) unicast_rules_ -= unicast_rule_weight(r);
    c.account().release(UserAccount::self_slot, Resource::match_rules, matches_.count(c.id()));
    matches_.remove_all(c.id());
    changes_.clear();
    changes_.push_back({c.unique_name(), c.id(), 0});  // dbus-daemon announces the unique name first
    names_.remove_connection(c.id(), changes_);
    charge_names(c);
    auto changes = std::move(changes_);
    // Announced while c is still registered: like dbus-daemon, the monitor itself is told NameLost for
    // each name and finally for its unique name (busctl monitor waits for that before it shows anything).
    announce(changes);
    changes.clear();
    changes_ = std::move(changes);
    c.set_monitor();
    by_unique_name_.erase(c.unique_name());
    if (rules.empty()) {
        auto all = match::parse_match_rule("eavesdrop=true");
        if (all) rules.push_back(std::move(*all));
    }
    for (auto& r : rules) {
        r.eavesdrop = true;  // a monitor sees unicast traffic too
        monitor_rules_.add(c.id(), std::move(r));
    }
    monitors_.push_back(c.id());
    spdlog::debug("connection {} ({}) became a monitor", c.id(), c.unique_name());
}

namespace {
bool before_hello(const Connection* c) { return c && c->before_hello(); }
}  // namespace

void Bus::watch_auth_timeout(Connection& c) {
    // Entries of connections past Hello (or gone) leave from the front as new ones come, so the queue
    // stays about as long as the count of connections before Hello.
    while (!before_hello_.empty() && !before_hello(find(before_hello_.front().id))) before_hello_.pop_front();
    before_hello_.push_back({c.id(), std::chrono::steady_clock::now()});
    arm_auth_timer();
}

// One timer per kind of deadline, armed for the earliest: when it fires, `on_fire` handles what is due
// (and arms it again for what is left), then what that queued goes out.
void Bus::arm_timer(boost::asio::steady_timer& timer, bool& armed, std::chrono::steady_clock::time_point at,
                    void (Bus::*on_fire)()) {
    armed = true;
    timer.expires_at(at);
    timer.async_wait([this, &armed, on_fire](const boost::system::error_code& ec) {
        armed = false;
        if (ec) return;
        (this->*on_fire)();
        flush_dirty();
    });
}

void Bus::arm_auth_timer() {
    if (auth_timer_armed_ || before_hello_.empty()) return;
    arm_timer(auth_timer_, auth_timer_armed_,
              before_hello_.front().since + std::chrono::milliseconds(options_.limits.auth_timeout_ms),
              &Bus::on_auth_timeout);
}

void Bus::on_auth_timeout() {
    const auto now = std::chrono::steady_clock::now();
    const auto limit = std::chrono::milliseconds(options_.limits.auth_timeout_ms);
    while (!before_hello_.empty()) {
        const BeforeHello e = before_hello_.front();
        Connection* c = find(e.id);
        const bool waiting = before_hello(c);
        if (waiting && e.since + limit > now) break;
        before_hello_.pop_front();
        if (!waiting) continue;
        const std::shared_ptr<Connection> keep = c->shared_from_this();  // closing removes it from connections_
        keep->close("no Hello within auth_timeout");
    }
    arm_auth_timer();
}

void Bus::arm_reply_timer() {
    if (reply_timer_armed_) return;
    const auto next = replies_.next_deadline();
    if (next == ReplyRegistry::Clock::time_point::max()) return;
    arm_timer(reply_timer_, reply_timer_armed_, next, &Bus::on_reply_timeout);
}

void Bus::on_reply_timeout() {
    unanswered_.clear();
    replies_.expire(ReplyRegistry::Clock::now(), unanswered_);
    answer_no_reply("Message did not receive a reply (timeout by message bus)");
    arm_reply_timer();
}

// NoReply to each caller in unanswered_. The list is taken first: an error that overflows a caller's
// queue closes that caller, which refills unanswered_ from remove_connection.
void Bus::answer_no_reply(std::string_view text) {
    const std::vector<PendingCall> owed = std::move(unanswered_);
    unanswered_.clear();
    for (const PendingCall& call : owed) {
        Connection* caller = find(call.caller);
        if (!caller) continue;
        caller->account().release(UserAccount::self_slot, Resource::replies, 1);
        wire::Header h;
        h.serial = call.serial;
        h.type = wire::MessageType::method_call;
        reply_error(*caller, h, "org.freedesktop.DBus.Error.NoReply", text);
    }
}

void Bus::send_from_driver(MessagePtr m) {
    if (!monitors_.empty()) tap(m, nullptr);
    const wire::Header& h = m->header();
    if (h.destination.empty()) return broadcast(m, nullptr);
    Connection* to = find(h.destination);
    if (!to) return;
    // The driver's replies count as requested. dbus-daemon shows the driver's unicast replies and
    // signals to monitors only, not to eavesdroppers.
    if (!allowed(nullptr, to, *m, true, true, nullptr)) return;
    to->enqueue(std::move(m));
}

void Bus::reply_error(Connection& to, const wire::Header& call, std::string_view error_name,
                      std::string_view text) {
    if (call.type != wire::MessageType::method_call || (call.flags & wire::flags::no_reply_expected)) return;
    send_error(to, call, error_name, text);
}

void Bus::send_error(Connection& to, const wire::Header& msg, std::string_view error_name, std::string_view text) {
    if (!to.is_open()) return;
    std::vector<uint8_t> body;
    wire::Writer w(body);
    w.string(text);
    wire::HeaderFields f;
    f.type = wire::MessageType::error;
    f.flags = wire::flags::no_reply_expected;
    f.serial = next_serial();
    f.reply_serial = msg.serial;
    f.error_name = error_name;
    f.destination = to.unique_name();
    f.sender = driver_name;
    f.signature = "s";
    if (to.unique_name().empty()) {
        to.enqueue(Message::build(f, body));  // before Hello: no name to address it to
        return;
    }
    send_from_driver(Message::build(f, body));
}

void Bus::send_name_signal(ConnectionId to_id, std::string_view member, std::string_view name) {
    Connection* to = find(to_id);
    if (!to || !to->registered()) return;
    std::vector<uint8_t> body;
    wire::Writer w(body);
    w.string(name);
    wire::HeaderFields f = driver_signal(member);
    f.destination = to->unique_name();
    f.signature = "s";
    send_from_driver(Message::build(f, body));
}

wire::HeaderFields Bus::driver_signal(std::string_view member) {
    wire::HeaderFields f;
    f.type = wire::MessageType::signal;
    f.flags = wire::flags::no_reply_expected;
    f.serial = next_serial();
    f.path = driver_path;
    f.interface = driver_interface;
    f.member = member;
    f.sender = driver_name;
    return f;
}

void Bus::announce_activatable_services_changed() {
    send_from_driver(Message::build(driver_signal("ActivatableServicesChanged"), {}));
}

void Bus::announce(const std::vector<NameChange>& changes) {
    for (const NameChange& ch : changes) {
        // The departing connection's own unique name has no owner connection any more: use the name.
        const std::string_view old_name = ch.old_owner ? name_of(ch.old_owner) : std::string_view{};
        const std::string_view new_name = ch.new_owner ? name_of(ch.new_owner) : std::string_view{};
        std::vector<uint8_t> body;
        wire::Writer w(body);
        w.string(ch.name);
        w.string(old_name);
        w.string(new_name);
        wire::HeaderFields f = driver_signal("NameOwnerChanged");
        f.signature = "sss";
        if (ch.old_owner) send_name_signal(ch.old_owner, "NameLost", ch.name);
        send_from_driver(Message::build(f, body));
        if (ch.new_owner) send_name_signal(ch.new_owner, "NameAcquired", ch.name);
    }
    if (activation_.pending() == 0) return;
    // What waited for a name is routed once everything about its new owner has been announced.
    std::vector<std::string> acquired = std::move(acquired_);
    acquired.clear();
    for (const NameChange& ch : changes) {
        if (ch.new_owner && !ch.name.empty() && ch.name[0] != ':') acquired.push_back(ch.name);
    }
    for (const std::string& name : acquired) activation_.name_acquired(name);
    acquired.clear();
    acquired_ = std::move(acquired);
}

}  // namespace jetbus::broker
