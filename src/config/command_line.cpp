// The dbus-daemon command line. The order of the checks in classify() is dbus-daemon's: a
// separate-form value (`--print-address 4`) is taken only by an argument that is not itself a
// recognised option, and any such argument is taken, so `--print-address --print-pid` is an
// invalid descriptor there and here.
#include "config/command_line.h"

#include <fmt/format.h>

#include <charconv>
#include <climits>

namespace jetbus::config {
namespace {

// Everything gathered while walking argv; turned into a CommandLine at the end.
struct ParseState {
    CommandLine result;
    std::string address_fd;  // the descriptor text as given ("" = stdout)
    std::string pid_fd;
    bool syslog_always = false;  // dbus-daemon's three syslog flags, changed the way it changes them
    bool syslog_only = false;
    bool syslog_never = false;
};

bool starts_with(std::string_view arg, std::string_view prefix) { return arg.substr(0, prefix.size()) == prefix; }

std::string_view after_equals(std::string_view arg) { return arg.substr(arg.find('=') + 1); }

void set_config_file(ParseState& s, std::string_view option, std::string_view file,
                     CommandLine::ConfigSource source) {
    if (!s.result.config_file.empty())
        throw UsageError(fmt::format("--{} specified but configuration file {} already requested", option,
                                     s.result.config_file));
    s.result.config_file = std::string(file);
    s.result.config_source = source;
}

void set_address(ParseState& s, std::string_view address) {
    if (!s.result.address.empty())
        throw UsageError(fmt::format("--address specified but address {} already requested", s.result.address));
    s.result.address = std::string(address);
}

void set_address_fd(ParseState& s, std::string_view fd) {
    if (!s.address_fd.empty())
        throw UsageError(
            fmt::format("--print-address specified but printing address to {} already requested", s.address_fd));
    s.address_fd = std::string(fd);
    s.result.print_address_fd = 1;
}

void set_pid_fd(ParseState& s, std::string_view fd) {
    if (!s.pid_fd.empty())
        throw UsageError(fmt::format("--print-pid specified but printing pid to {} already requested", s.pid_fd));
    s.pid_fd = std::string(fd);
    s.result.print_pid_fd = 1;
}

// Options that are a single word. Returns false if `arg` is not one of them.
bool apply_flag(ParseState& s, std::string_view arg) {
    auto& r = s.result;
    if (arg == "--nosyslog") {
        s.syslog_always = false;
        s.syslog_never = true;
    } else if (arg == "--syslog") {
        s.syslog_never = false;
        s.syslog_always = true;
    } else if (arg == "--syslog-only") {
        s.syslog_never = false;
        s.syslog_always = s.syslog_only = true;
    } else if (arg == "--nofork") {
        r.fork = CommandLine::Fork::never;
    } else if (arg == "--fork") {
        r.fork = CommandLine::Fork::always;
    } else if (arg == "--systemd-activation") {
        r.systemd_activation = true;
    } else if (arg == "--nopidfile") {
        r.write_pidfile = false;
    } else if (arg == "--system") {
        set_config_file(s, "system", kSystemConfigFile, CommandLine::ConfigSource::system);
    } else if (arg == "--session") {
        set_config_file(s, "session", kSessionConfigFile, CommandLine::ConfigSource::session);
    } else {
        return false;
    }
    return true;
}

// Options with a value, in either spelling. `prev` is the previous argument.
bool apply_valued(ParseState& s, std::string_view arg, std::string_view prev) {
    using Source = CommandLine::ConfigSource;
    if (starts_with(arg, "--config-file=")) {
        set_config_file(s, "config-file", after_equals(arg), Source::file);
    } else if (prev == "--config-file") {
        set_config_file(s, "config-file", arg, Source::file);
    } else if (arg == "--config-file") {
        // the value is the next argument
    } else if (starts_with(arg, "--address=")) {
        set_address(s, after_equals(arg));
    } else if (prev == "--address") {
        set_address(s, arg);
    } else if (arg == "--address") {
        // the value is the next argument
    } else if (starts_with(arg, "--print-address=")) {
        set_address_fd(s, after_equals(arg));
    } else if (prev == "--print-address") {
        set_address_fd(s, arg);
    } else if (arg == "--print-address") {
        s.result.print_address_fd = 1;  // stdout unless the next argument names a descriptor
    } else if (starts_with(arg, "--print-pid=")) {
        set_pid_fd(s, after_equals(arg));
    } else if (prev == "--print-pid") {
        set_pid_fd(s, arg);
    } else if (arg == "--print-pid") {
        s.result.print_pid_fd = 1;
    } else {
        return false;
    }
    return true;
}

// A descriptor must be a whole non-negative int, as dbus-daemon checks it after the loop.
std::optional<int> descriptor(const std::string& text, std::optional<int> requested) {
    if (!requested || text.empty()) return requested;
    int value = -1;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < 0)
        throw UsageError(fmt::format("Invalid file descriptor: \"{}\"", text));
    return value;
}

CommandLine::Syslog syslog_mode(const ParseState& s) {
    if (s.syslog_never) return CommandLine::Syslog::never;
    if (s.syslog_always) return s.syslog_only ? CommandLine::Syslog::only : CommandLine::Syslog::also;
    return CommandLine::Syslog::as_configured;
}

// --help, --version and --introspect act at once, whatever else was given.
CommandLine only(CommandLine::Action action) {
    CommandLine result;
    result.action = action;
    return result;
}

}  // namespace

CommandLine parse_command_line(int argc, char** argv) {
    ParseState s;
    std::string_view prev;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h" || arg == "-?") return only(CommandLine::Action::help);
        if (arg == "--version") return only(CommandLine::Action::version);
        if (arg == "--introspect") return only(CommandLine::Action::introspect);
        if (!apply_flag(s, arg) && !apply_valued(s, arg, prev))
            throw UsageError(fmt::format("Unknown option \"{}\"", arg));
        prev = arg;
    }
    if (s.result.config_file.empty()) throw UsageError("No configuration file specified.");
    s.result.print_address_fd = descriptor(s.address_fd, s.result.print_address_fd);
    s.result.print_pid_fd = descriptor(s.pid_fd, s.result.print_pid_fd);
    s.result.syslog = syslog_mode(s);
    return s.result;
}

std::string usage_text(std::string_view program) {
    return fmt::format(
        "{} [--version] [--session] [--system] [--config-file=FILE] [--print-address[=DESCRIPTOR]] "
        "[--print-pid[=DESCRIPTOR]] [--introspect] [--address=ADDRESS] [--nopidfile] [--nosyslog] [--syslog] "
        "[--syslog-only] [--nofork] [--fork] [--systemd-activation]",
        program);
}

}  // namespace jetbus::config
