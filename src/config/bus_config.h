// The busconfig language of dbus-daemon(1) ("CONFIGURATION FILE"): loading a file with its includes
// into a plain data model. Policy is kept as written (a later step compiles it); the refusals and
// their wording follow dbus-daemon 1.14 so a file one daemon refuses, the other refuses too.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace jetbus::config {

// "FILE:LINE: reason" for a file that cannot be used.
class ConfigError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A configuration file (or a non-optional include) that does not exist: dbus-daemon's FileNotFound.
class ConfigFileNotFound : public ConfigError {
public:
    using ConfigError::ConfigError;
};

// One <allow> or <deny>. Attribute values are verbatim ("*" stays "*"); an absent attribute is
// nullopt. `kind` says which family the rule belongs to (the rules dbus-daemon uses to decide).
struct PolicyRule {
    enum class Kind { send, receive, own, user, group };
    bool allow = false;
    Kind kind = Kind::send;
    std::string origin;  // "FILE:LINE" of the element, for log lines

    std::optional<std::string> send_interface, send_member, send_error, send_broadcast, send_destination,
        send_destination_prefix, send_path, send_type, send_requested_reply;
    std::optional<std::string> receive_interface, receive_member, receive_error, receive_sender, receive_path,
        receive_type, receive_requested_reply;
    std::optional<std::string> eavesdrop, min_fds, max_fds, log;
    std::optional<std::string> own, own_prefix, user, group;
};

// One <policy>. `subject` is the user or group name (or uid/gid) as written, or "true"/"false" for
// at_console, empty for default/mandatory. `subject_id` is the resolved uid/gid; nullopt for an
// unknown name, in which case dbus-daemon ignores the policy (a warning is recorded).
struct Policy {
    enum class Scope { default_context, mandatory, user, group, at_console };
    Scope scope = Scope::default_context;
    std::string subject;
    std::optional<std::uint32_t> subject_id;
    std::string origin;
    std::vector<PolicyRule> rules;
};

struct SelinuxAssociation {
    std::string own;
    std::string context;
};

struct BusConfig {
    std::string source_path;  // the path given to load_bus_config, re-read by ReloadConfig
    std::string type;         // <type>, last one wins; empty if none
    std::vector<std::string> listen;
    std::vector<std::string> auth;  // empty: every mechanism jetbus knows is allowed
    bool allow_anonymous = false;
    bool fork = false;
    bool keep_umask = false;
    bool syslog = false;
    bool standard_session_servicedirs = false;
    bool standard_system_servicedirs = false;
    // <servicedir> and the standard dirs, absolute, first wins, no duplicates, in document order.
    std::vector<std::string> servicedirs;
    // $XDG_RUNTIME_DIR/dbus-1/services when standard_session_servicedirs added it: that directory
    // requires strict service file names (NAME.service) and is not watched. Empty otherwise.
    std::string runtime_servicedir;
    std::string user;           // <user>, last wins; empty: do not change user
    std::string pidfile;        // <pidfile>, last wins; empty: none
    std::string servicehelper;  // <servicehelper>, resolved against the file's dir
    std::map<std::string, std::int64_t> limits;  // only the <limit>s written, last wins
    std::vector<Policy> policies;                // in document order, includes in place
    std::vector<SelinuxAssociation> selinux_associations;
    std::string apparmor_mode;                   // "enabled", "disabled", "required"; empty if absent
    std::vector<std::string> included_files;     // every file read (for watching), the source first
    std::vector<std::string> included_dirs;      // every <includedir> that existed
    std::vector<std::string> warnings;           // "FILE:LINE: ..." for the broker to print at start

    // A limit's configured value or else dbus-daemon's built-in default. Throws std::out_of_range
    // for a name that is not a limit.
    std::int64_t limit(std::string_view name) const;
};

// Loads `path` and everything it includes. Throws ConfigError on a malformed file.
BusConfig load_bus_config(const std::string& path);

// The names <limit name="..."> accepts, with dbus-daemon's defaults (bus/config-parser.c).
struct LimitInfo {
    std::string_view name;
    std::int64_t default_value;
    bool int_range;  // must fit a 32-bit int (times and counts); byte sizes may be larger
};
const std::vector<LimitInfo>& known_limits();

// The directories <standard_session_servicedirs/> and <standard_system_servicedirs/> stand for,
// from the environment as dbus-daemon(1) documents them.
std::vector<std::string> standard_session_servicedirs();
std::vector<std::string> standard_system_servicedirs();

// A user or group as written in a config file: a name or a numeric id. nullopt if unknown.
std::optional<std::uint32_t> lookup_config_user(const std::string& name);
std::optional<std::uint32_t> lookup_config_group(const std::string& name);

}  // namespace jetbus::config
