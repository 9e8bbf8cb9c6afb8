// Driver: the bus's own object, org.freedesktop.DBus. It answers the methods of the org.freedesktop.DBus,
// Properties, Introspectable, Monitoring, Debug.Stats and Peer interfaces from one method table; each
// interface's handlers live in a file of their own.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "broker/bus.h"
#include "driver/errors.h"
#include "wire/reader.h"
#include "wire/writer.h"

namespace jetbus::driver {

class Driver;

struct DriverOptions {
    std::string machine_id;                                   // Peer.GetMachineId
    // ReloadConfig; on failure sets the D-Bus error name and text. Empty: not supported.
    std::function<bool(std::string& error_name, std::string& error)> reload_config;
};

class Driver : public broker::DriverHandler {
public:
    Driver(broker::Bus& bus, DriverOptions options);
    void handle(broker::Connection& from, const broker::MessagePtr& m) override;

    // A call in progress: the caller, the message and a reader positioned at the body's start.
    struct Call {
        broker::Connection& from;
        const broker::MessagePtr& msg;
        wire::Reader args;
    };
    using Handler = void (Driver::*)(Call&);
    struct Method {
        std::string_view interface;
        std::string_view member;
        std::string_view in_signature;
        Handler handler;
    };

private:
    friend const std::vector<Method>& driver_methods();

    // org.freedesktop.DBus (dbus_interface.cpp)
    void hello(Call&);
    void request_name(Call&);
    void release_name(Call&);
    void start_service_by_name(Call&);
    void update_activation_environment(Call&);
    void name_has_owner(Call&);
    void list_names(Call&);
    void list_activatable_names(Call&);
    void add_match(Call&);
    void remove_match(Call&);
    void get_name_owner(Call&);
    void list_queued_owners(Call&);
    void get_connection_unix_user(Call&);
    void get_connection_unix_process_id(Call&);
    void get_adt_audit_session_data(Call&);
    void get_connection_selinux_security_context(Call&);
    void reload_config(Call&);
    void get_id(Call&);
    void get_connection_credentials(Call&);
    // org.freedesktop.DBus.Properties (properties.cpp)
    void properties_get(Call&);
    void properties_get_all(Call&);
    void properties_set(Call&);
    // org.freedesktop.DBus.Introspectable (introspectable.cpp)
    void introspect(Call&);
    // org.freedesktop.DBus.Monitoring (monitoring.cpp)
    void become_monitor(Call&);
    // org.freedesktop.DBus.Debug.Stats (debug_stats.cpp)
    void get_stats(Call&);
    void get_connection_stats(Call&);
    void get_all_match_rules(Call&);
    // org.freedesktop.DBus.Peer (peer.cpp)
    void ping(Call&);
    void get_machine_id(Call&);

    // Replies (reply.cpp).
    void reply(Call& c, std::string_view signature, const std::vector<uint8_t>& body, std::vector<int> fds = {});
    void reply_empty(Call& c) { reply(c, "", {}); }
    void reply_string(Call& c, std::string_view s);
    void reply_uint32(Call& c, uint32_t v);
    void reply_error(Call& c, DriverError e, std::string_view text);

    // The connection a name argument refers to, the bus itself being nullptr with found = true.
    struct Peer {
        bool found = false;
        broker::Connection* conn = nullptr;   // nullptr and found: org.freedesktop.DBus itself
    };
    Peer resolve_peer(std::string_view name);
    bool read_name_arg(Call& c, std::string_view& name);

    // Writes the a{sv} of GetConnectionCredentials; a pidfd for ProcessFD, when given, goes to fds.
    void write_credentials(wire::Writer& w, const Peer& p, bool with_pidfd, std::vector<int>& fds);
    void write_properties(wire::Writer& w);

    broker::Bus& bus_;
    DriverOptions options_;
    std::vector<broker::NameChange> changes_;
    void recharge_names(broker::Connection& from);
    uint32_t stats_serial_ = 0;             // GetStats' Serial: one count per method, as dbus-daemon
    uint32_t connection_stats_serial_ = 0;  // GetConnectionStats' Serial
};

// The introspection data of the bus object at path, as Introspect returns it (and --introspect prints).
std::string introspection_xml(std::string_view path);

// The method table (driver.cpp), for introspection and tests.
const std::vector<Driver::Method>& driver_methods();

}  // namespace jetbus::driver
