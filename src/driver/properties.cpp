// org.freedesktop.DBus.Properties on the bus object: Features and Interfaces, both read-only.
#include <fmt/format.h>

#include "driver/driver.h"

namespace jetbus::driver {

namespace {

constexpr std::string_view iface_dbus = "org.freedesktop.DBus";

// What this bus implements beyond the core interface, as dbus-daemon names it.
std::vector<std::string_view> features(bool systemd_activation) {
    std::vector<std::string_view> f = {"ActivatableServicesChanged", "HeaderFiltering"};
    if (systemd_activation) f.push_back("SystemdActivation");
    return f;
}
const std::vector<std::string_view>& extra_interfaces() {
    static const std::vector<std::string_view> i = {"org.freedesktop.DBus.Monitoring",
                                                            "org.freedesktop.DBus.Debug.Stats"};
    return i;
}

void write_string_array(wire::Writer& w, const std::vector<std::string_view>& items) {
    const size_t token = w.begin_array(4);
    for (auto s : items) w.string(s);
    w.end_array(token);
}

}  // namespace

void Driver::write_properties(wire::Writer& w) {
    const size_t dict = w.begin_array(8);
    w.begin_dict_entry();
    w.string("Features");
    w.begin_variant("as");
    write_string_array(w, features(bus_.activation().systemd_activation()));
    w.begin_dict_entry();
    w.string("Interfaces");
    w.begin_variant("as");
    write_string_array(w, extra_interfaces());
    w.end_array(dict);
}

void Driver::properties_get(Call& c) {
    std::string_view iface, prop;
    if (!c.args.string(iface) || !c.args.string(prop)) {
        return reply_error(c, DriverError::invalid_args, "Malformed arguments");
    }
    if (iface != iface_dbus) {
        return reply_error(c, DriverError::unknown_interface, fmt::format("Interface \"{}\" not found", iface));
    }
    std::vector<uint8_t> body;
    wire::Writer w(body);
    if (prop == "Features") {
        w.begin_variant("as");
        write_string_array(w, features(bus_.activation().systemd_activation()));
    } else if (prop == "Interfaces") {
        w.begin_variant("as");
        write_string_array(w, extra_interfaces());
    } else {
        return reply_error(c, DriverError::unknown_property,
                           fmt::format("Property \"{}.{}\" not found", iface, prop));
    }
    reply(c, "v", body);
}

void Driver::properties_get_all(Call& c) {
    std::string_view iface;
    if (!c.args.string(iface)) return reply_error(c, DriverError::invalid_args, "Malformed arguments");
    if (iface != iface_dbus) {
        return reply_error(c, DriverError::unknown_interface, fmt::format("Interface \"{}\" not found", iface));
    }
    std::vector<uint8_t> body;
    wire::Writer w(body);
    write_properties(w);
    reply(c, "a{sv}", body);
}

void Driver::properties_set(Call& c) {
    std::string_view iface, prop;
    if (!c.args.string(iface) || !c.args.string(prop)) {
        return reply_error(c, DriverError::invalid_args, "Malformed arguments");
    }
    if (iface != iface_dbus) {
        return reply_error(c, DriverError::unknown_interface, fmt::format("Interface \"{}\" not found", iface));
    }
    if (prop != "Features" && prop != "Interfaces") {
        return reply_error(c, DriverError::unknown_property,
                           fmt::format("Property \"{}.{}\" not found", iface, prop));
    }
    reply_error(c, DriverError::property_read_only,
                fmt::format("Property '{}.{}' cannot be set", iface, prop));
}

}  // namespace jetbus::driver
