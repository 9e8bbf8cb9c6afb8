// Driver: the method table and the dispatch of calls to org.freedesktop.DBus. See driver.h.
#include "driver/driver.h"

#include <fmt/format.h>

namespace jetbus::driver {

namespace {

constexpr std::string_view iface_dbus = "org.freedesktop.DBus";
constexpr std::string_view iface_properties = "org.freedesktop.DBus.Properties";
constexpr std::string_view iface_introspectable = "org.freedesktop.DBus.Introspectable";
constexpr std::string_view iface_peer = "org.freedesktop.DBus.Peer";
constexpr std::string_view iface_monitoring = "org.freedesktop.DBus.Monitoring";
constexpr std::string_view iface_stats = "org.freedesktop.DBus.Debug.Stats";

// Interfaces dbus-daemon offers only on /org/freedesktop/DBus, not on every path.
bool only_on_driver_path(std::string_view iface) {
    return iface == iface_properties || iface == iface_monitoring || iface == iface_stats;
}

}  // namespace

const std::vector<Driver::Method>& driver_methods() {
    static const std::vector<Driver::Method> table = {
        {iface_dbus, "Hello", "", &Driver::hello},
        {iface_dbus, "RequestName", "su", &Driver::request_name},
        {iface_dbus, "ReleaseName", "s", &Driver::release_name},
        {iface_dbus, "StartServiceByName", "su", &Driver::start_service_by_name},
        {iface_dbus, "UpdateActivationEnvironment", "a{ss}", &Driver::update_activation_environment},
        {iface_dbus, "NameHasOwner", "s", &Driver::name_has_owner},
        {iface_dbus, "ListNames", "", &Driver::list_names},
        {iface_dbus, "ListActivatableNames", "", &Driver::list_activatable_names},
        {iface_dbus, "AddMatch", "s", &Driver::add_match},
        {iface_dbus, "RemoveMatch", "s", &Driver::remove_match},
        {iface_dbus, "GetNameOwner", "s", &Driver::get_name_owner},
        {iface_dbus, "ListQueuedOwners", "s", &Driver::list_queued_owners},
        {iface_dbus, "GetConnectionUnixUser", "s", &Driver::get_connection_unix_user},
        {iface_dbus, "GetConnectionUnixProcessID", "s", &Driver::get_connection_unix_process_id},
        {iface_dbus, "GetAdtAuditSessionData", "s", &Driver::get_adt_audit_session_data},
        {iface_dbus, "GetConnectionSELinuxSecurityContext", "s",
         &Driver::get_connection_selinux_security_context},
        {iface_dbus, "ReloadConfig", "", &Driver::reload_config},
        {iface_dbus, "GetId", "", &Driver::get_id},
        {iface_dbus, "GetConnectionCredentials", "s", &Driver::get_connection_credentials},
        {iface_properties, "Get", "ss", &Driver::properties_get},
        {iface_properties, "GetAll", "s", &Driver::properties_get_all},
        {iface_properties, "Set", "ssv", &Driver::properties_set},
        {iface_monitoring, "BecomeMonitor", "asu", &Driver::become_monitor},
        {iface_stats, "GetStats", "", &Driver::get_stats},
        {iface_stats, "GetConnectionStats", "s", &Driver::get_connection_stats},
        {iface_stats, "GetAllMatchRules", "", &Driver::get_all_match_rules},
        {iface_introspectable, "Introspect", "", &Driver::introspect},
        {iface_peer, "Ping", "", &Driver::ping},
        {iface_peer, "GetMachineId", "", &Driver::get_machine_id},
    };
    return table;
}

Driver::Driver(broker::Bus& bus, DriverOptions options) : bus_(bus), options_(std::move(options)) {}

void Driver::handle(broker::Connection& from, const broker::MessagePtr& m) {
    const wire::Header& h = m->header();
    const bool on_driver_path = h.path == broker::driver_path;
    const Method* found = nullptr;
    bool interface_known = h.interface.empty();
    for (const Method& method : driver_methods()) {
        if (only_on_driver_path(method.interface) && !on_driver_path) continue;
        if (!h.interface.empty() && method.interface != h.interface) continue;
        interface_known = true;
        if (method.member == h.member) {
            found = &method;
            break;
        }
    }
    Call call{from, m, wire::Reader(m->body(), h.endian)};
    if (!found) {
        return reply_error(call, interface_known ? DriverError::unknown_method : DriverError::unknown_interface,
                           fmt::format("org.freedesktop.DBus does not understand message {}", h.member));
    }
    if (from.registered() && found->handler == &Driver::hello) {
        return reply_error(call, DriverError::failed, "Already handled an Hello message");
    }
    if (h.signature != found->in_signature) {
        return reply_error(call, DriverError::invalid_args,
                           fmt::format("Call to {} has wrong args ({}, expected {})\n", h.member, h.signature,
                                       found->in_signature));
    }
    (this->*(found->handler))(call);
}

}  // namespace jetbus::driver
