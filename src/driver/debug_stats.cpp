// org.freedesktop.DBus.Debug.Stats: the bus's counters, as dbus-daemon reports them (same keys, order and
// types), for dbus-send, busctl and monitoring agents. Queue levels are read from the connections' own
// queues; the peaks are kept where messages, rules and names are added (see Connection::Peaks).
#include <algorithm>
#include <utility>

#include <fmt/format.h>

#include "driver/driver.h"
#include "match/match_rule.h"

namespace jetbus::driver {

namespace {

void add_uint32(wire::Writer& w, std::string_view key, size_t value) {
    w.begin_dict_entry();
    w.string(key);
    w.begin_variant("u");
    w.uint32(static_cast<uint32_t>(value));
}

void add_string(wire::Writer& w, std::string_view key, std::string_view value) {
    w.begin_dict_entry();
    w.string(key);
    w.begin_variant("s");
    w.string(value);
}

}  // namespace

void Driver::get_stats(Call& c) {
    std::vector<uint8_t> body;
    wire::Writer w(body);
    const size_t dict = w.begin_array(8);
    add_uint32(w, "Serial", stats_serial_++);
    // dbus-daemon's list allocator; jetbus has no such pool, so nothing is used, cached or allocated in it.
    add_uint32(w, "ListMemPoolUsedBytes", 0);
    add_uint32(w, "ListMemPoolCachedBytes", 0);
    add_uint32(w, "ListMemPoolAllocatedBytes", 0);
    add_uint32(w, "ActiveConnections", bus_.active_count());
    add_uint32(w, "IncompleteConnections", bus_.incomplete_count());
    add_uint32(w, "MatchRules", bus_.matches().total());
    add_uint32(w, "PeakMatchRules", bus_.peaks().match_rules);
    add_uint32(w, "PeakMatchRulesPerConnection", bus_.peaks().match_rules_per_connection);
    add_uint32(w, "BusNames", bus_.bus_name_count());
    add_uint32(w, "PeakBusNames", bus_.peaks().bus_names);
    add_uint32(w, "PeakBusNamesPerConnection", bus_.peaks().bus_names_per_connection);
    w.end_array(dict);
    reply(c, "a{sv}", body);
}

void Driver::get_connection_stats(Call& c) {
    std::string_view name;
    if (!read_name_arg(c, name)) return;
    if (name == broker::driver_name) {
        return reply_error(c, DriverError::invalid_args,
                           fmt::format("GetConnectionStats is not meaningful for the message bus \"{}\" itself",
                                       broker::driver_name));
    }
    const Peer peer = resolve_peer(name);
    if (!peer.conn) {
        return reply_error(c, DriverError::name_has_no_owner,
                           fmt::format("Could not get statistics of name '{}': no such name", name));
    }
    const broker::Connection& s = *peer.conn;
    const broker::Connection::Peaks& peaks = s.peaks();
    std::vector<uint8_t> body;
    wire::Writer w(body);
    const size_t dict = w.begin_array(8);
    add_uint32(w, "Serial", connection_stats_serial_++);
    add_uint32(w, "MatchRules", bus_.matches().count(s.id()));
    add_uint32(w, "PeakMatchRules", peaks.match_rules);
    add_uint32(w, "BusNames", bus_.bus_names_of(s));
    add_uint32(w, "PeakBusNames", peaks.bus_names);
    add_string(w, "UniqueName", s.unique_name());
    // As dbus-daemon counts them: what was read and not yet dispatched, and everything received that
    // the bus still holds (queued for slow receivers, or read and waiting its turn).
    const broker::Connection::Pending pending = s.pending_input();
    add_uint32(w, "IncomingMessages", pending.messages);
    add_uint32(w, "IncomingBytes", s.incoming_bytes() + pending.bytes);
    add_uint32(w, "IncomingFDs", s.incoming_fds());
    add_uint32(w, "PeakIncomingBytes", peaks.incoming_bytes);
    add_uint32(w, "PeakIncomingFDs", peaks.incoming_fds);
    add_uint32(w, "OutgoingMessages", s.queued_messages());
    add_uint32(w, "OutgoingBytes", s.queued_bytes());
    add_uint32(w, "OutgoingFDs", s.queued_fds());
    add_uint32(w, "PeakOutgoingBytes", peaks.outgoing_bytes);
    add_uint32(w, "PeakOutgoingFDs", peaks.outgoing_fds);
    w.end_array(dict);
    reply(c, "a{sv}", body);
}

// Every registered connection (empty rule lists included), oldest first, its rules in canonical form.
// Rules are listed as dbus-daemon files them: by message type (any type first), those naming an
// interface before those that do not, and otherwise in the order added.
void Driver::get_all_match_rules(Call& c) {
    std::vector<uint8_t> body;
    wire::Writer w(body);
    const size_t dict = w.begin_array(8);
    std::vector<const match::MatchRule*> listed;
    for (const broker::Connection* conn : bus_.registered_connections()) {
        listed.clear();
        for (const match::MatchRule& r : bus_.matches().rules(conn->id())) listed.push_back(&r);
        std::stable_sort(listed.begin(), listed.end(), [](const match::MatchRule* a, const match::MatchRule* b) {
            return std::pair(a->type, a->interface.empty()) < std::pair(b->type, b->interface.empty());
        });
        w.begin_dict_entry();
        w.string(conn->unique_name());
        const size_t rules = w.begin_array(4);
        for (const match::MatchRule* r : listed) w.string(match::to_string(*r));
        w.end_array(rules);
    }
    w.end_array(dict);
    reply(c, "a{sas}", body);
}

}  // namespace jetbus::driver
