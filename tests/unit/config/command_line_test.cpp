// Tests for the dbus-daemon command line: every option in both spellings, the conflicts dbus-daemon
// refuses, and its precedence quirks (checked against dbus-daemon 1.14.10).
#include "config/command_line.h"

#include <doctest/doctest.h>

#include <initializer_list>
#include <string>
#include <vector>

using jetbus::config::CommandLine;
using jetbus::config::parse_command_line;
using jetbus::config::UsageError;

namespace {

CommandLine parse(std::initializer_list<const char*> args) {
    std::vector<std::string> storage{"dbus-daemon"};
    storage.insert(storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : storage) argv.push_back(s.data());
    argv.push_back(nullptr);
    return parse_command_line(static_cast<int>(storage.size()), argv.data());
}

std::string usage_error(std::initializer_list<const char*> args) {
    try {
        parse(args);
    } catch (const UsageError& e) {
        return e.what();
    }
    return "(accepted)";
}

}  // namespace

TEST_CASE("--session and --system choose dbus-daemon's standard config files") {
    auto session = parse({"--session"});
    CHECK(session.action == CommandLine::Action::run);
    CHECK(session.config_file == "/usr/share/dbus-1/session.conf");
    CHECK(session.config_source == CommandLine::ConfigSource::session);
    auto system = parse({"--system"});
    CHECK(system.config_file == "/usr/share/dbus-1/system.conf");
    CHECK(system.config_source == CommandLine::ConfigSource::system);
}

TEST_CASE("--config-file works joined and separate") {
    CHECK(parse({"--config-file=/a.conf"}).config_file == "/a.conf");
    auto separate = parse({"--config-file", "/b.conf"});
    CHECK(separate.config_file == "/b.conf");
    CHECK(separate.config_source == CommandLine::ConfigSource::file);
}

TEST_CASE("two config files are refused like dbus-daemon refuses them") {
    CHECK(usage_error({"--session", "--system"}) ==
          "--system specified but configuration file /usr/share/dbus-1/session.conf already requested");
    CHECK(usage_error({"--config-file=/a", "--config-file", "/b"}) ==
          "--config-file specified but configuration file /a already requested");
    CHECK(usage_error({"--config-file=/a", "--session"}) ==
          "--session specified but configuration file /a already requested");
}

TEST_CASE("no config file is a usage error") {
    CHECK(usage_error({}) == "No configuration file specified.");
    CHECK(usage_error({"--nofork"}) == "No configuration file specified.");
    CHECK(usage_error({"--config-file"}) == "No configuration file specified.");
}

TEST_CASE("--address works joined and separate, and only once") {
    CHECK(parse({"--session", "--address=unix:tmpdir=/tmp"}).address == "unix:tmpdir=/tmp");
    CHECK(parse({"--session", "--address", "systemd:"}).address == "systemd:");
    CHECK(parse({"--session"}).address.empty());
    CHECK(usage_error({"--address=x", "--address", "y", "--session"}) ==
          "--address specified but address x already requested");
}

TEST_CASE("--print-address without a descriptor prints to stdout") {
    auto cl = parse({"--session", "--print-address"});
    REQUIRE(cl.print_address_fd);
    CHECK(*cl.print_address_fd == 1);
    CHECK_FALSE(parse({"--session"}).print_address_fd);
    CHECK(*parse({"--session", "--print-address="}).print_address_fd == 1);
}

TEST_CASE("--print-address takes a descriptor joined or separate") {
    CHECK(*parse({"--session", "--print-address=4"}).print_address_fd == 4);
    CHECK(*parse({"--session", "--print-address", "5"}).print_address_fd == 5);
    CHECK(*parse({"--print-address", "0", "--session"}).print_address_fd == 0);
}

TEST_CASE("--print-pid takes a descriptor joined, separate or none") {
    CHECK(*parse({"--session", "--print-pid=6"}).print_pid_fd == 6);
    CHECK(*parse({"--session", "--print-pid", "7"}).print_pid_fd == 7);
    CHECK(*parse({"--session", "--print-pid"}).print_pid_fd == 1);
    CHECK_FALSE(parse({"--session"}).print_pid_fd);
}

TEST_CASE("address and pid may go to the same descriptor") {
    auto cl = parse({"--session", "--print-address", "1", "--print-pid", "1"});
    CHECK(*cl.print_address_fd == 1);
    CHECK(*cl.print_pid_fd == 1);
}

TEST_CASE("an argument after --print-address that is not an option is taken as its descriptor") {
    // dbus-daemon takes any non-option argument there and then refuses it if it is not a number.
    CHECK(usage_error({"--print-address", "foo", "--session"}) == "Invalid file descriptor: \"foo\"");
    CHECK(usage_error({"--session", "--print-address", "--print-pid"}) == "Invalid file descriptor: \"--print-pid\"");
    CHECK(usage_error({"--session", "--print-pid=-1"}) == "Invalid file descriptor: \"-1\"");
    CHECK(usage_error({"--session", "--print-pid=3x"}) == "Invalid file descriptor: \"3x\"");
}

TEST_CASE("a recognised option after --print-address is not taken as a descriptor") {
    auto cl = parse({"--print-address", "--session"});
    CHECK(*cl.print_address_fd == 1);
    CHECK(cl.config_source == CommandLine::ConfigSource::session);
    auto nofork = parse({"--print-pid", "--nofork", "--session"});
    CHECK(*nofork.print_pid_fd == 1);
    CHECK(nofork.fork == CommandLine::Fork::never);
}

TEST_CASE("two descriptors for one output are refused") {
    CHECK(usage_error({"--print-address=3", "--print-address=4", "--session"}) ==
          "--print-address specified but printing address to 3 already requested");
    CHECK(usage_error({"--print-pid", "3", "--print-pid=4", "--session"}) ==
          "--print-pid specified but printing pid to 3 already requested");
}

TEST_CASE("--fork and --nofork: the last one wins") {
    CHECK(parse({"--session"}).fork == CommandLine::Fork::as_configured);
    CHECK(parse({"--session", "--fork"}).fork == CommandLine::Fork::always);
    CHECK(parse({"--session", "--nofork"}).fork == CommandLine::Fork::never);
    CHECK(parse({"--session", "--nofork", "--fork"}).fork == CommandLine::Fork::always);
}

TEST_CASE("syslog options select where messages go") {
    CHECK(parse({"--session"}).syslog == CommandLine::Syslog::as_configured);
    CHECK(parse({"--session", "--syslog"}).syslog == CommandLine::Syslog::also);
    CHECK(parse({"--session", "--syslog-only"}).syslog == CommandLine::Syslog::only);
    CHECK(parse({"--session", "--nosyslog"}).syslog == CommandLine::Syslog::never);
    CHECK(parse({"--session", "--nosyslog", "--syslog"}).syslog == CommandLine::Syslog::also);
    CHECK(parse({"--session", "--syslog-only", "--nosyslog"}).syslog == CommandLine::Syslog::never);
}

TEST_CASE("--nopidfile and --systemd-activation are recorded") {
    auto plain = parse({"--system"});
    CHECK(plain.write_pidfile);
    CHECK_FALSE(plain.systemd_activation);
    auto cl = parse({"--system", "--nopidfile", "--systemd-activation"});
    CHECK_FALSE(cl.write_pidfile);
    CHECK(cl.systemd_activation);
}

TEST_CASE("Debian's dbus.service command line is accepted") {
    auto cl = parse({"--system", "--address=systemd:", "--nofork", "--nopidfile", "--systemd-activation",
                     "--syslog-only"});
    CHECK(cl.address == "systemd:");
    CHECK(cl.fork == CommandLine::Fork::never);
    CHECK(cl.syslog == CommandLine::Syslog::only);
}

TEST_CASE("dbus-run-session's command line is accepted") {
    auto cl = parse({"--nofork", "--nosyslog", "--print-address", "4", "--config-file", "/x/session.conf"});
    CHECK(*cl.print_address_fd == 4);
    CHECK(cl.config_file == "/x/session.conf");
}

TEST_CASE("--version, --introspect and --help act at once, ignoring what follows") {
    CHECK(parse({"--version", "--bogus"}).action == CommandLine::Action::version);
    CHECK(parse({"--introspect"}).action == CommandLine::Action::introspect);
    CHECK(parse({"--help"}).action == CommandLine::Action::help);
    CHECK(parse({"-h"}).action == CommandLine::Action::help);
    CHECK(parse({"-?"}).action == CommandLine::Action::help);
    CHECK(parse({"--config-file", "--version"}).action == CommandLine::Action::version);
}

TEST_CASE("an unknown option is a usage error even before --version") {
    CHECK(usage_error({"--bogus", "--version"}) == "Unknown option \"--bogus\"");
    CHECK(usage_error({"--session", "extra"}) == "Unknown option \"extra\"");
    // Windows-only in dbus-daemon; refused on Unix as dbus-daemon refuses it.
    CHECK(usage_error({"--session", "--ready-event-handle=1"}) == "Unknown option \"--ready-event-handle=1\"");
}

TEST_CASE("the usage line lists the options dbus-daemon lists") {
    auto text = jetbus::config::usage_text("jetbus");
    CHECK(text.rfind("jetbus [--version] [--session] [--system] [--config-file=FILE]", 0) == 0);
    CHECK(text.find("[--systemd-activation]") != std::string::npos);
}
