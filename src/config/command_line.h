// The dbus-daemon 1.14 command line, accepted exactly as dbus-daemon accepts it (bus/main.c): both
// `--opt=VALUE` and `--opt VALUE` spellings, the same precedence when options collide, the same
// refusals. Parsing has no side effects; main acts on the result.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace jetbus::config {

class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// dbus-daemon(1): "--session is equivalent to --config-file=/usr/share/dbus-1/session.conf" (and
// --system to .../system.conf); a drop-in reads the same files.
inline constexpr std::string_view kSessionConfigFile = "/usr/share/dbus-1/session.conf";
inline constexpr std::string_view kSystemConfigFile = "/usr/share/dbus-1/system.conf";

struct CommandLine {
    // --help/-h/-?: print usage and exit 1 (as dbus-daemon); --version, --introspect: print, exit 0.
    enum class Action { run, help, version, introspect };
    // Which option chose the config file (--session, --system or --config-file).
    enum class ConfigSource { file, session, system };
    enum class Fork { as_configured, always, never };  // --fork / --nofork, last one wins
    enum class Syslog {
        as_configured,  // no option: the config's <syslog/> decides
        also,           // --syslog: syslog and stderr
        only,           // --syslog-only: syslog, not stderr
        never,          // --nosyslog: stderr only
    };

    Action action = Action::run;
    std::string config_file;
    ConfigSource config_source = ConfigSource::file;
    std::string address;                    // --address: replaces every <listen>; empty if not given
    std::optional<int> print_address_fd;    // set when --print-address was given; 1 (stdout) without a value
    std::optional<int> print_pid_fd;        // likewise for --print-pid
    Fork fork = Fork::as_configured;
    Syslog syslog = Syslog::as_configured;
    bool write_pidfile = true;              // false with --nopidfile
    bool systemd_activation = false;        // --systemd-activation
};

// Parses argv as dbus-daemon does. Throws UsageError (message to print before the usage line) for an
// unknown option, conflicting options (two config files, two addresses, two descriptors for the
// same output), a missing config file or an invalid descriptor.
CommandLine parse_command_line(int argc, char** argv);

// The usage line dbus-daemon prints, with `program` as the first word.
std::string usage_text(std::string_view program);

}  // namespace jetbus::config
