// org.freedesktop.DBus.Monitoring: BecomeMonitor turns the caller into a read-only monitor that sees
// every message its rules select, unicast and driver traffic included (dbus-monitor, busctl monitor).
#include <unistd.h>

#include <fmt/format.h>

#include "driver/driver.h"
#include "match/match_rule.h"

namespace jetbus::driver {

void Driver::become_monitor(Call& c) {
    size_t end = 0;
    std::vector<match::MatchRule> rules;
    if (!c.args.enter_array(4, end)) return reply_error(c, DriverError::invalid_args, "Malformed arguments");
    while (c.args.offset() < end) {
        std::string_view text;
        if (!c.args.string(text)) return reply_error(c, DriverError::invalid_args, "Malformed arguments");
        auto rule = match::parse_match_rule(text);
        if (!rule) return reply_error(c, DriverError::match_rule_invalid, rule.error().message);
        rules.push_back(std::move(*rule));
    }
    uint32_t flags = 0;
    if (!c.args.uint32(flags)) return reply_error(c, DriverError::invalid_args, "Malformed arguments");
    if (flags != 0) {
        return reply_error(c, DriverError::invalid_args, "BecomeMonitor does not support any flags yet");
    }
    // As dbus-daemon: only root or the bus's own user may watch everyone's traffic.
    if (c.from.uid() != 0 && c.from.uid() != ::getuid()) {
        return reply_error(c, DriverError::access_denied,
                           fmt::format("Connection \"{}\" (uid {}) is not allowed to become a monitor",
                                       c.from.unique_name(), c.from.uid()));
    }
    reply_empty(c);
    bus_.become_monitor(c.from, std::move(rules));
}

}  // namespace jetbus::driver
