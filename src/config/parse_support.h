// Internal to src/config: the pieces of busconfig parsing that do not need the XML parser, so that
// bus_config.cpp stays about documents and includes. Not part of the module's public interface.
#pragma once

#include "config/bus_config.h"

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace jetbus::config::detail {

// A refusal without a location; the document parser adds "FILE:LINE: ".
class Reason : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

using Attributes = std::vector<std::pair<std::string, std::string>>;

// <policy context|user|group|at_console>. Unknown users/groups add a warning reason.
Policy parse_policy(const Attributes& attributes, std::vector<std::string>& warnings);

// <allow>/<deny> inside `policy`, validated as dbus-daemon validates it.
PolicyRule parse_rule(std::string_view element, const Attributes& attributes, const Policy& policy,
                      std::vector<std::string>& warnings);

// Checks <limit name="..."> content and returns the value.
std::int64_t parse_limit(const std::string& name, const std::string& text);

// True when the kernel has SELinux enabled (selinuxfs is mounted).
bool selinux_enabled();

}  // namespace jetbus::config::detail
