// Service files for bus activation: the desktop-entry style "[D-BUS Service]" files of dbus-daemon(1)
// ("Message Bus Service Files"), the directories they live in, and the Exec= line split into argv.
// What is refused, and which file wins, follows dbus-daemon 1.14 (except that an invalid Name= is
// refused, as later dbus-daemon releases do); reasons use dbus-daemon's wording.
#pragma once

#include "config/bus_config.h"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jetbus::config {

// dbus-daemon refuses larger service files.
constexpr std::size_t kMaxServiceFileSize = 128 * 1024;

struct ServiceFile {
    std::string path;                    // the file it came from
    std::string name;                    // [D-BUS Service] Name=
    std::string exec;                    // Exec= as written ("" when absent)
    std::string user;                    // User= ("" when absent)
    std::string systemd_service;         // SystemdService= ("" when absent)
    std::string assumed_apparmor_label;  // AssumedAppArmorLabel= ("" when absent)
};

// Parses the text of one .service file (a desktop-entry style key file). On failure returns nullopt and
// sets error to the reason (dbus-daemon's wording where it has one). A missing Exec= is refused, as
// dbus-daemon 1.14 refuses it; an empty one is accepted (starting it fails later).
std::optional<ServiceFile> parse_service_file(std::string_view text, const std::string& path, std::string& error);

// A directory to scan; strict: the file must be named NAME.service (as dbus-daemon requires for some dirs).
struct ServiceDir {
    std::string path;
    bool strict_naming = false;
};

// The dirs of a loaded BusConfig (servicedirs, with the runtime dir/system dirs flagged strict where
// dbus-daemon flags them): only $XDG_RUNTIME_DIR/dbus-1/services is strict; the system dirs are not.
std::vector<ServiceDir> service_dirs_of(const BusConfig& config);

struct ServiceCatalog {
    std::vector<ServiceFile> services;  // one per name: the first directory wins, as in dbus-daemon
    std::vector<std::string> errors;    // "PATH: reason" for every file skipped
};

// Reads every *.service in dirs. Missing dirs are silently fine (as dbus-daemon). Never throws.
// Within one directory a file named NAME.service wins over others declaring NAME, then the first in
// byte order of file names (dbus-daemon takes whichever readdir returns first).
ServiceCatalog scan_service_dirs(const std::vector<ServiceDir>& dirs);

// Splits an Exec= line into argv with the shell-like quoting dbus-daemon accepts ('...', "...", \).
// nullopt with error on an unterminated quote or empty command. Like dbus-daemon, a '#' starts a
// comment anywhere outside quotes, and trailing blanks leave a final empty argument.
std::optional<std::vector<std::string>> split_exec(std::string_view exec, std::string& error);

}  // namespace jetbus::config
