// The org.freedesktop.DBus interface: names, matches, credentials. Error names and texts follow
// dbus-daemon 1.14 word for word, since clients and test suites compare them.
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>

#include "driver/driver.h"
#include "match/match_rule.h"
#include "wire/names.h"

namespace jetbus::driver {

bool Driver::read_name_arg(Call& c, std::string_view& name) {
    if (c.args.string(name)) return true;
    reply_error(c, DriverError::invalid_args, "Malformed arguments");
    return false;
}

Driver::Peer Driver::resolve_peer(std::string_view name) {
    if (name == broker::driver_name) return {true, nullptr};
    broker::Connection* conn = bus_.find(name);
    if (!conn || !conn->registered()) return {false, nullptr};
    return {true, conn};
}

void Driver::hello(Call& c) {
    if (std::string refused; !bus_.may_register(c.from, refused)) {
        return reply_error(c, DriverError::limits_exceeded, refused);
    }
    const std::string name = bus_.register_connection(c.from);
    bus_.tap_hello(c.msg, c.from);
    reply_string(c, name);
    bus_.announce({broker::NameChange{name, 0, c.from.id()}});
}

void Driver::request_name(Call& c) {
    std::string_view name;
    uint32_t flags = 0;
    if (!c.args.string(name) || !c.args.uint32(flags)) {
        return reply_error(c, DriverError::invalid_args, "Malformed arguments");
    }
    if (!wire::is_valid_bus_name(name)) {
        return reply_error(c, DriverError::invalid_args, fmt::format("Requested bus name \"{}\" is not valid", name));
    }
    if (name[0] == ':') {
        return reply_error(c, DriverError::invalid_args,
                           fmt::format("Cannot acquire a service starting with ':' such as \"{}\"", name));
    }
    if (name == broker::driver_name) {
        return reply_error(c, DriverError::invalid_args,
                           fmt::format("Connection \"{}\" is not allowed to own the service \"{}\"because it is "
                                       "reserved for D-Bus' use only",
                                       c.from.unique_name(), name));
    }
    if (std::string denied; !bus_.may_own(c.from, name, denied)) {
        return reply_error(c, DriverError::access_denied, denied);
    }
    // dbus-daemon counts the unique name among the names a connection has.
    if (bus_.names().owner(name) != c.from.id() &&
        bus_.names().claims_of(c.from.id()) + 1 >= bus_.limits().max_names_per_connection) {
        return reply_error(c, DriverError::limits_exceeded,
                           fmt::format("Connection \"{}\" is not allowed to own more services (increase limits "
                                       "in configuration file if required; max_names_per_connection={})",
                                       c.from.unique_name(), bus_.limits().max_names_per_connection));
    }
    if (bus_.names().owner(name) != c.from.id() &&
        !c.from.account().may_charge(broker::UserAccount::self_slot, broker::Resource::names, 1)) {
        c.from.account().note_refusal(broker::UserAccount::self_slot, broker::Resource::names);
        return reply_error(c, DriverError::limits_exceeded,
                           fmt::format("Connection \"{}\" is not allowed to own more services: UID {} owns its limit "
                                       "of names (max_names_per_user={})",
                                       c.from.unique_name(), c.from.uid(), bus_.limits().max_names_per_user));
    }
    changes_.clear();
    const auto result = bus_.names().request(name, c.from.id(), flags, changes_);
    recharge_names(c.from);
    bus_.note_bus_names(c.from);
    reply_uint32(c, static_cast<uint32_t>(result));
    bus_.announce(changes_);
}

// A request or release can move other peers' claims too (a replaced owner leaves or queues).
void Driver::recharge_names(broker::Connection& from) {
    bus_.charge_names(from);
    for (const broker::NameChange& change : changes_) {
        for (broker::ConnectionId id : {change.old_owner, change.new_owner}) {
            if (id == 0 || id == from.id()) continue;
            if (broker::Connection* other = bus_.find(id)) bus_.charge_names(*other);
        }
    }
}

void Driver::release_name(Call& c) {
    std::string_view name;
    if (!read_name_arg(c, name)) return;
    if (!wire::is_valid_bus_name(name)) {
        return reply_error(c, DriverError::invalid_args, fmt::format("Given bus name \"{}\" is not valid", name));
    }
    if (name[0] == ':') {
        return reply_error(c, DriverError::invalid_args,
                           fmt::format("Cannot release a service starting with ':' such as \"{}\"", name));
    }
    if (name == broker::driver_name) {
        return reply_error(c, DriverError::invalid_args,
                           "Cannot release the org.freedesktop.DBus service because it is owned by the bus");
    }
    changes_.clear();
    const auto result = bus_.names().release(name, c.from.id(), changes_);
    recharge_names(c.from);
    reply_uint32(c, static_cast<uint32_t>(result));
    bus_.announce(changes_);
}

void Driver::start_service_by_name(Call& c) {
    std::string_view name;
    uint32_t flags = 0;
    if (!c.args.string(name) || !c.args.uint32(flags)) {
        return reply_error(c, DriverError::invalid_args, "Malformed arguments");
    }
    // As dbus-daemon, the service file is looked for first: even a name that has an owner (the bus's
    // own included) is unknown when no .service file provides it.
    const broker::ServiceEntry* service = bus_.activation().lookup(name);
    if (!service) {
        return reply_error(c, DriverError::service_unknown,
                           fmt::format("The name {} was not provided by any .service files", name));
    }
    if (bus_.find(name)) return reply_uint32(c, 2);  // DBUS_START_REPLY_ALREADY_RUNNING
    bus_.activation().start(c.from, c.msg, *service);  // answered with 1 once the name is taken
}

void Driver::update_activation_environment(Call& c) {
    size_t end = 0;
    if (!c.args.enter_array(8, end)) return reply_error(c, DriverError::invalid_args, "Malformed arguments");
    std::vector<std::pair<std::string_view, std::string_view>> vars;
    while (c.args.offset() < end) {
        std::string_view key, value;
        if (!c.args.enter_struct() || !c.args.string(key) || !c.args.string(value)) {
            return reply_error(c, DriverError::invalid_args, "Malformed arguments");
        }
        vars.emplace_back(key, value);
    }
    // As dbus-daemon: only root and the bus's own user may change what every service starts with, and
    // never on a bus whose services run through the setuid helper, which clears the environment anyway.
    if (c.from.uid() != 0 && c.from.uid() != ::getuid()) {
        return reply_error(c, DriverError::access_denied,
                           fmt::format("rejected attempt to call UpdateActivationEnvironment by connection {} ({}) "
                                       "with uid {}",
                                       c.from.unique_name(), c.from.loginfo(), c.from.uid()));
    }
    if (bus_.activation().uses_servicehelper()) {
        return reply_error(c, DriverError::access_denied, "Cannot change activation environment on a system bus.");
    }
    for (const auto& [k, v] : vars) bus_.activation().update_environment(k, v);
    bus_.activation().forward_environment_to_systemd(vars);
    reply_empty(c);
}

void Driver::name_has_owner(Call& c) {
    std::string_view name;
    if (!read_name_arg(c, name)) return;
    std::vector<uint8_t> body;
    wire::Writer(body).boolean(resolve_peer(name).found);
    reply(c, "b", body);
}

namespace {

void write_string_array(std::vector<uint8_t>& body, const std::vector<std::string>& items) {
    wire::Writer w(body);
    const size_t token = w.begin_array(4);
    for (const auto& s : items) w.string(s);
    w.end_array(token);
}

}  // namespace

void Driver::list_names(Call& c) {
    std::vector<std::string> names{std::string(broker::driver_name)};
    auto well_known = bus_.names().names();
    auto unique = bus_.unique_names();
    names.insert(names.end(), well_known.begin(), well_known.end());
    names.insert(names.end(), unique.begin(), unique.end());
    std::vector<uint8_t> body;
    write_string_array(body, names);
    reply(c, "as", body);
}

void Driver::list_activatable_names(Call& c) {
    std::vector<uint8_t> body;
    std::vector<std::string> names = bus_.activation().names();
    names.insert(names.begin(), std::string(broker::driver_name));
    write_string_array(body, names);
    reply(c, "as", body);
}

void Driver::add_match(Call& c) {
    std::string_view text;
    if (!read_name_arg(c, text)) return;
    auto rule = match::parse_match_rule(text);
    if (!rule) {
        const auto& e = rule.error();
        return reply_error(c, e.kind == match::MatchRuleErrorKind::too_long ? DriverError::limits_exceeded
                                                                             : DriverError::match_rule_invalid,
                           e.message);
    }
    // As dbus-daemon on a system bus: eavesdropping is for root and the bus's own user only.
    if (rule->eavesdrop && bus_.type() == "system" && c.from.uid() != 0 && c.from.uid() != ::getuid()) {
        return reply_error(c, DriverError::access_denied,
                           fmt::format("rejected attempt to call AddMatch by connection {} ({}) with uid {}",
                                       c.from.unique_name(), c.from.loginfo(), c.from.uid()));
    }
    if (bus_.matches().count(c.from.id()) >= bus_.limits().max_match_rules_per_connection) {
        return reply_error(c, DriverError::limits_exceeded,
                           fmt::format("Connection \"{}\" is not allowed to add more match rules (increase limits "
                                       "in configuration file if required; max_match_rules_per_connection={})",
                                       c.from.unique_name(), bus_.limits().max_match_rules_per_connection));
    }
    if (!c.from.account().may_charge(broker::UserAccount::self_slot, broker::Resource::match_rules, 1)) {
        c.from.account().note_refusal(broker::UserAccount::self_slot, broker::Resource::match_rules);
        return reply_error(c, DriverError::limits_exceeded,
                           fmt::format("Connection \"{}\" is not allowed to add more match rules: UID {} holds its "
                                       "limit of match rules (max_match_rules_per_user={})",
                                       c.from.unique_name(), c.from.uid(), bus_.limits().max_match_rules_per_user));
    }
    bus_.add_match(c.from, std::move(*rule));
    reply_empty(c);
}

void Driver::remove_match(Call& c) {
    std::string_view text;
    if (!read_name_arg(c, text)) return;
    auto rule = match::parse_match_rule(text);
    if (!rule) return reply_error(c, DriverError::match_rule_invalid, rule.error().message);
    if (!bus_.remove_match(c.from, *rule)) {
        return reply_error(c, DriverError::match_rule_not_found,
                           "The given match rule wasn't found and can't be removed");
    }
    reply_empty(c);
}

void Driver::get_name_owner(Call& c) {
    std::string_view name;
    if (!read_name_arg(c, name)) return;
    const Peer p = resolve_peer(name);
    if (!p.found) {
        return reply_error(c, DriverError::name_has_no_owner,
                           fmt::format("Could not get owner of name '{}': no such name", name));
    }
    reply_string(c, p.conn ? std::string_view(p.conn->unique_name()) : broker::driver_name);
}

void Driver::list_queued_owners(Call& c) {
    std::string_view name;
    if (!read_name_arg(c, name)) return;
    std::vector<std::string> owners;
    if (name == broker::driver_name) {
        owners.emplace_back(broker::driver_name);
    } else if (!name.empty() && name[0] == ':') {
        if (const Peer p = resolve_peer(name); p.found) owners.emplace_back(p.conn->unique_name());
    } else {
        for (broker::ConnectionId id : bus_.names().queue(name)) {
            if (broker::Connection* conn = bus_.find(id)) owners.push_back(conn->unique_name());
        }
    }
    if (owners.empty()) {
        return reply_error(c, DriverError::name_has_no_owner,
                           fmt::format("Could not get owners of name '{}': no such name", name));
    }
    std::vector<uint8_t> body;
    write_string_array(body, owners);
    reply(c, "as", body);
}

void Driver::get_connection_unix_user(Call& c) {
    std::string_view name;
    if (!read_name_arg(c, name)) return;
    const Peer p = resolve_peer(name);
    if (!p.found) {
        return reply_error(c, DriverError::name_has_no_owner,
                           fmt::format("Could not get UID of name '{}': no such name", name));
    }
    reply_uint32(c, p.conn ? p.conn->uid() : static_cast<uint32_t>(::getuid()));
}

void Driver::get_connection_unix_process_id(Call& c) {
    std::string_view name;
    if (!read_name_arg(c, name)) return;
    const Peer p = resolve_peer(name);
    if (!p.found) {
        return reply_error(c, DriverError::name_has_no_owner,
                           fmt::format("Could not get PID of name '{}': no such name", name));
    }
    reply_uint32(c, p.conn ? static_cast<uint32_t>(p.conn->credentials().pid) : static_cast<uint32_t>(::getpid()));
}

void Driver::get_adt_audit_session_data(Call& c) {
    std::string_view name;
    if (!read_name_arg(c, name)) return;
    if (!resolve_peer(name).found) {
        return reply_error(c, DriverError::name_has_no_owner,
                           fmt::format("Could not get audit session data of name '{}': no such name", name));
    }
    // Solaris ADT only, as in dbus-daemon on Linux.
    reply_error(c, DriverError::adt_audit_data_unknown,
                fmt::format("Could not determine audit session data for '{}'", name));
}

void Driver::get_connection_selinux_security_context(Call& c) {
    std::string_view name;
    if (!read_name_arg(c, name)) return;
    const Peer p = resolve_peer(name);
    if (!p.found) {
        return reply_error(c, DriverError::name_has_no_owner,
                           fmt::format("Could not get security context of name '{}': no such name", name));
    }
    // SELinux contexts are reported only when SELinux is enabled; like dbus-daemon without it, refuse.
    reply_error(c, DriverError::selinux_context_unknown,
                fmt::format("Could not determine security context for '{}'", name));
}

void Driver::reload_config(Call& c) {
    std::string name, error;
    if (!options_.reload_config) return reply_error(c, DriverError::failed, "Reloading is not available");
    if (!options_.reload_config(name, error)) {
        return bus_.reply_error(c.from, c.msg->header(), name, error);
    }
    reply_empty(c);
}

void Driver::get_id(Call& c) { reply_string(c, bus_.guid()); }

void Driver::write_credentials(wire::Writer& w, const Peer& p, bool with_pidfd, std::vector<int>& fds) {
    const uint32_t uid = p.conn ? p.conn->uid() : static_cast<uint32_t>(::getuid());
    const uint32_t pid = p.conn ? static_cast<uint32_t>(p.conn->credentials().pid) : static_cast<uint32_t>(::getpid());
    // dbus-daemon reports groups for peers only, not for the bus itself.
    std::vector<gid_t> groups;
    if (p.conn) {
        groups = p.conn->peer_groups();
        groups.push_back(p.conn->credentials().gid);  // SO_PEERGROUPS lists supplementary groups only
        std::sort(groups.begin(), groups.end());
        groups.erase(std::unique(groups.begin(), groups.end()), groups.end());
    }

    const size_t dict = w.begin_array(8);
    w.begin_dict_entry();
    w.string("ProcessID");
    w.begin_variant("u");
    w.uint32(pid);
    if (with_pidfd) {
        // A pidfd pins the process, where a pid can be reused (spec 0.42). The bus's own comes from
        // pidfd_open, a peer's from SO_PEERPIDFD on its socket, asked now (transport.h says why late
        // is as good as at accept).
        const int pidfd = p.conn ? p.conn->open_pidfd() : static_cast<int>(::syscall(SYS_pidfd_open, ::getpid(), 0));
        if (pidfd >= 0) {
            w.begin_dict_entry();
            w.string("ProcessFD");
            w.begin_variant("h");
            w.unix_fd(static_cast<uint32_t>(fds.size()));
            fds.push_back(pidfd);
        }
    }
    if (p.conn) {
        w.begin_dict_entry();
        w.string("UnixGroupIDs");
        w.begin_variant("au");
        const size_t arr = w.begin_array(4);
        for (gid_t g : groups) w.uint32(g);
        w.end_array(arr);
    }
    w.begin_dict_entry();
    w.string("UnixUserID");
    w.begin_variant("u");
    w.uint32(uid);
    if (p.conn && !p.conn->credentials().security_label.empty()) {
        const std::string& label = p.conn->credentials().security_label;
        w.begin_dict_entry();
        w.string("LinuxSecurityLabel");
        w.begin_variant("ay");
        const size_t bytes = w.begin_array(1);
        for (char ch : label) w.byte(static_cast<uint8_t>(ch));
        w.byte(0);  // dbus-daemon includes the terminating NUL
        w.end_array(bytes);
    }
    w.end_array(dict);
}

void Driver::get_connection_credentials(Call& c) {
    std::string_view name;
    if (!read_name_arg(c, name)) return;
    const Peer p = resolve_peer(name);
    if (!p.found) {
        return reply_error(c, DriverError::name_has_no_owner,
                           fmt::format("Could not get credentials of name '{}': no such name", name));
    }
    std::vector<uint8_t> body;
    std::vector<int> fds;
    wire::Writer w(body);
    write_credentials(w, p, c.from.unix_fd_negotiated(), fds);
    reply(c, "a{sv}", body, std::move(fds));
}

}  // namespace jetbus::driver
