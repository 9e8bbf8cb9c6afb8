// Tests for busconfig loading: the files Debian's dbus-daemon ships and jetbus's own must load;
// malformed files are refused with "FILE:LINE: reason" as dbus-daemon refuses them.
#include "config/bus_config.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

using jetbus::config::BusConfig;
using jetbus::config::ConfigError;
using jetbus::config::load_bus_config;
using jetbus::config::Policy;
using jetbus::config::PolicyRule;

namespace {

// A private directory for config files, removed at the end of the test.
struct ConfigDir {
    std::string path;
    ConfigDir() {
        char templ[] = "/tmp/jetbus-config-test-XXXXXX";
        REQUIRE(::mkdtemp(templ) != nullptr);
        path = templ;
    }
    ~ConfigDir() { std::system(("rm -rf '" + path + "'").c_str()); }

    std::string write(const std::string& name, const std::string& text) const {
        std::string file = path + "/" + name;
        std::ofstream(file) << text;
        return file;
    }
    // A file with a listen address so it loads as a top-level config; `body` goes inside busconfig.
    std::string write_bus(const std::string& name, const std::string& body) const {
        return write(name, "<busconfig>\n<listen>unix:tmpdir=/tmp</listen>\n" + body + "\n</busconfig>\n");
    }
    void mkdir(const std::string& name) const { ::mkdir((path + "/" + name).c_str(), 0700); }
};

std::string load_error(const std::string& file) {
    try {
        load_bus_config(file);
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "(loaded)";
}

bool has_warning_containing(const BusConfig& config, const std::string& text) {
    return std::any_of(config.warnings.begin(), config.warnings.end(),
                       [&](const std::string& w) { return w.find(text) != std::string::npos; });
}

bool contains(const std::vector<std::string>& list, const std::string& item) {
    return std::find(list.begin(), list.end(), item) != list.end();
}

const char* kDoctype =
    "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
    " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n";

}  // namespace

TEST_CASE("Debian's session.conf loads unchanged") {
    auto config = load_bus_config("/usr/share/dbus-1/session.conf");
    CHECK(config.source_path == "/usr/share/dbus-1/session.conf");
    CHECK(config.type == "session");
    CHECK(config.listen == std::vector<std::string>{"unix:tmpdir=/tmp"});
    CHECK(config.auth == std::vector<std::string>{"EXTERNAL"});
    CHECK(config.keep_umask);
    CHECK_FALSE(config.fork);
    CHECK(config.standard_session_servicedirs);
    CHECK(contains(config.servicedirs, "/usr/share/dbus-1/services"));
    CHECK(config.limits.size() == 15);
    CHECK(config.limit("max_message_size") == 1000000000);
    CHECK(config.limit("max_message_unix_fds") == 16);  // not set: dbus-daemon's default
    REQUIRE_FALSE(config.policies.empty());
    const Policy& policy = config.policies[0];
    CHECK(policy.scope == Policy::Scope::default_context);
    REQUIRE(policy.rules.size() == 3);
    CHECK(policy.rules[0].allow);
    CHECK(policy.rules[0].kind == PolicyRule::Kind::send);
    CHECK(policy.rules[0].send_destination == "*");
    CHECK(policy.rules[0].eavesdrop == "true");
    CHECK(policy.rules[1].kind == PolicyRule::Kind::receive);
    CHECK(policy.rules[2].kind == PolicyRule::Kind::own);
    CHECK(policy.rules[2].own == "*");
    CHECK(policy.origin.rfind("/usr/share/dbus-1/session.conf:", 0) == 0);
}

TEST_CASE("Debian's system.conf loads unchanged, with its system.d files") {
    auto config = load_bus_config("/usr/share/dbus-1/system.conf");
    CHECK(config.type == "system");
    CHECK(config.user == "messagebus");
    CHECK(config.fork);
    CHECK(config.syslog);
    CHECK(config.pidfile == "/run/dbus/pid");
    CHECK(config.servicehelper == "/usr/lib/dbus-1.0/dbus-daemon-launch-helper");
    CHECK(config.listen == std::vector<std::string>{"unix:path=/run/dbus/system_bus_socket"});
    CHECK(config.standard_system_servicedirs);
    CHECK(config.servicedirs.front() == "/usr/local/share/dbus-1/system-services");
    CHECK(config.limits.empty());
    CHECK(config.limit("max_replies_per_connection") == 128);
    CHECK(contains(config.included_dirs, "/usr/share/dbus-1/system.d"));
    REQUIRE(config.policies.size() >= 4);
    CHECK(config.policies[0].rules[0].user == "*");
    CHECK(config.policies[0].rules[0].kind == PolicyRule::Kind::user);
    CHECK(config.policies[1].scope == Policy::Scope::user);
    CHECK(config.policies[1].subject == "root");
    CHECK(config.policies[1].subject_id == 0u);
    CHECK_FALSE(has_warning_containing(config, "<servicehelper>"));
}

TEST_CASE("jetbus's shipped session.conf loads as a permissive session bus") {
    auto config = load_bus_config(JETBUS_SOURCE_DIR "/config/session.conf");
    CHECK(config.type == "session");
    CHECK(config.listen == std::vector<std::string>{"unix:tmpdir=/tmp"});
    CHECK(config.auth == std::vector<std::string>{"EXTERNAL"});
    CHECK(config.standard_session_servicedirs);
    CHECK(config.limit("max_names_per_connection") == 50000);
    REQUIRE(config.policies.size() >= 1);
    CHECK(config.policies[0].rules.size() == 3);
    CHECK(config.warnings.empty());
}

TEST_CASE("jetbus's shipped system.conf loads as a default-deny system bus") {
    auto config = load_bus_config(JETBUS_SOURCE_DIR "/config/system.conf");
    CHECK(config.type == "system");
    CHECK(config.user == "messagebus");
    CHECK(config.listen == std::vector<std::string>{"unix:path=/run/dbus/system_bus_socket"});
    CHECK(config.pidfile == "/run/dbus/pid");
    CHECK(config.servicehelper.empty());
    const auto& rules = config.policies.at(0).rules;
    CHECK_FALSE(rules.at(1).allow);
    CHECK(rules.at(1).own == "*");
    CHECK(rules.at(2).send_type == "method_call");
    CHECK(contains(config.included_dirs, "/usr/share/dbus-1/system.d"));
}

TEST_CASE("the busconfig DOCTYPE is accepted") {
    ConfigDir dir;
    auto file = dir.write("a.conf", std::string(kDoctype) + "<busconfig><listen>unix:path=/tmp/x</listen></busconfig>");
    CHECK(load_bus_config(file).listen.size() == 1);
}

TEST_CASE("a config without <listen> is refused") {
    ConfigDir dir;
    auto file = dir.write("a.conf", "<busconfig><type>session</type></busconfig>");
    CHECK(load_error(file) == file + ": Configuration file needs one or more <listen> elements giving addresses");
}

TEST_CASE("a missing config file is refused with the errno text") {
    CHECK(load_error("/nonexistent/jetbus.conf") ==
          "Failed to open \"/nonexistent/jetbus.conf\": No such file or directory");
}

TEST_CASE("XML errors name the file and line") {
    ConfigDir dir;
    auto file = dir.write("a.conf", "<busconfig>\n<listen>unix:tmpdir=/tmp</listen>\n<type>x</typo>\n</busconfig>\n");
    CHECK(load_error(file).rfind("Error in file " + file + ", line 3, column ", 0) == 0);
    CHECK(load_error(file).find(": mismatched tag") != std::string::npos);
}

TEST_CASE("an unknown root element is refused") {
    ConfigDir dir;
    auto file = dir.write("a.conf", "<foo/>");
    CHECK(load_error(file) == file + ":1: Unknown element <foo> at root of configuration file");
}

TEST_CASE("an unknown element is refused where it appears") {
    ConfigDir dir;
    auto file = dir.write_bus("a.conf", "<bogus/>");
    CHECK(load_error(file) == file + ":3: Element <bogus> not allowed inside <busconfig> in configuration file");
    auto nested = dir.write_bus("b.conf", "<policy context=\"default\"><allow own=\"a\"><deny own=\"b\"/></allow></policy>");
    CHECK(load_error(nested) == nested + ":3: Element <deny> is not allowed in this context");
}

TEST_CASE("unexpected attributes and text are refused") {
    ConfigDir dir;
    auto attr = dir.write("a.conf", "<busconfig busy=\"1\"><listen>unix:tmpdir=/tmp</listen></busconfig>");
    CHECK(load_error(attr) == attr + ":1: Attribute \"busy\" is invalid on <busconfig> element in this context");
    auto text = dir.write_bus("b.conf", "<fork>x</fork>");
    CHECK(load_error(text) == text + ":3: No text content expected inside XML element fork in configuration file");
    auto empty = dir.write_bus("c.conf", "<user></user>");
    CHECK(load_error(empty) == empty + ":3: XML element <user> was expected to have content inside it");
}

TEST_CASE("single-valued elements: the last one wins; lists keep every entry") {
    ConfigDir dir;
    auto file = dir.write_bus("a.conf",
                              "<type>a</type><type>b</type><user>u1</user><user>u2</user>"
                              "<listen>unix:path=/tmp/y</listen><auth>EXTERNAL</auth><auth>ANONYMOUS</auth>"
                              "<pidfile>/run/p1</pidfile><pidfile>/run/p2</pidfile><allow_anonymous/>");
    auto config = load_bus_config(file);
    CHECK(config.type == "b");
    CHECK(config.user == "u2");
    CHECK(config.pidfile == "/run/p2");
    CHECK(config.listen == std::vector<std::string>{"unix:tmpdir=/tmp", "unix:path=/tmp/y"});
    CHECK(config.auth == std::vector<std::string>{"EXTERNAL", "ANONYMOUS"});
    CHECK(config.allow_anonymous);
    CHECK_FALSE(has_warning_containing(config, "<allow_anonymous> is parsed but not yet enforced"));
}

TEST_CASE("servicedirs are resolved against the config's directory and kept unique") {
    ConfigDir dir;
    auto file = dir.write_bus("a.conf",
                              "<servicedir>services</servicedir><servicedir>/abs/dir</servicedir>"
                              "<servicedir>services</servicedir>");
    auto config = load_bus_config(file);
    CHECK(config.servicedirs == std::vector<std::string>{dir.path + "/services", "/abs/dir"});
}

TEST_CASE("standard session servicedirs follow the XDG variables") {
    ConfigDir dir;
    auto file = dir.write_bus("a.conf", "<standard_session_servicedirs/>");
    std::string saved_runtime = std::getenv("XDG_RUNTIME_DIR") ? std::getenv("XDG_RUNTIME_DIR") : "";
    std::string saved_dirs = std::getenv("XDG_DATA_DIRS") ? std::getenv("XDG_DATA_DIRS") : "";
    ::setenv("XDG_RUNTIME_DIR", "/run/user/4242", 1);
    ::setenv("XDG_DATA_DIRS", "/opt/a:/opt/b", 1);
    auto config = load_bus_config(file);
    ::setenv("XDG_RUNTIME_DIR", saved_runtime.c_str(), 1);
    ::setenv("XDG_DATA_DIRS", saved_dirs.c_str(), 1);
    REQUIRE(config.servicedirs.size() == 5);
    CHECK(config.servicedirs[0] == "/run/user/4242/dbus-1/services");
    CHECK(config.runtime_servicedir == "/run/user/4242/dbus-1/services");
    CHECK(config.servicedirs[2] == "/opt/a/dbus-1/services");
    CHECK(config.servicedirs[3] == "/opt/b/dbus-1/services");
    CHECK(config.servicedirs[4] == "/usr/share/dbus-1/services");
}

TEST_CASE("an include is read relative to the including file, in place") {
    ConfigDir dir;
    dir.mkdir("sub");
    dir.write("sub/inner.conf", "<busconfig><listen>unix:path=/tmp/inner</listen><type>inner</type></busconfig>");
    auto file = dir.write_bus("a.conf", "<include>sub/inner.conf</include><listen>unix:path=/tmp/after</listen>");
    auto config = load_bus_config(file);
    CHECK(config.listen ==
          std::vector<std::string>{"unix:tmpdir=/tmp", "unix:path=/tmp/inner", "unix:path=/tmp/after"});
    CHECK(config.type == "inner");
    CHECK(contains(config.included_files, dir.path + "/sub/inner.conf"));
}

TEST_CASE("a missing include is an error unless ignore_missing=yes") {
    ConfigDir dir;
    auto missing = dir.write_bus("a.conf", "<include>nothere.conf</include>");
    CHECK(load_error(missing) == missing + ":3: Failed to open \"" + dir.path +
                                     "/nothere.conf\": No such file or directory");
    auto ignored = dir.write_bus("b.conf", "<include ignore_missing=\"yes\">nothere.conf</include>");
    CHECK_NOTHROW(load_bus_config(ignored));
    auto bad = dir.write_bus("c.conf", "<include ignore_missing=\"true\">nothere.conf</include>");
    CHECK(load_error(bad) == bad + ":3: ignore_missing attribute must have value \"yes\" or \"no\"");
}

TEST_CASE("an error in an included file names that file") {
    ConfigDir dir;
    dir.write("inner.conf", "<busconfig>\n\n<limit name=\"nope\">1</limit></busconfig>");
    auto file = dir.write_bus("a.conf", "<include>inner.conf</include>");
    CHECK(load_error(file) == dir.path + "/inner.conf:3: There is no limit called \"nope\"");
}

TEST_CASE("an include loop is refused") {
    ConfigDir dir;
    dir.write("b.conf", "<busconfig><include>a.conf</include></busconfig>");
    auto file = dir.write_bus("a.conf", "<include>b.conf</include>");
    CHECK(load_error(file) == dir.path + "/b.conf:1: Circular inclusion of file '" + dir.path + "/a.conf'");
    auto self = dir.write_bus("self.conf", "<include>./self.conf</include>");
    CHECK(load_error(self).find("Circular inclusion") != std::string::npos);
}

TEST_CASE("includedir reads every .conf in name order and tolerates a missing directory") {
    ConfigDir dir;
    dir.mkdir("d");
    dir.write("d/b.conf", "<busconfig><listen>unix:path=/tmp/b</listen></busconfig>");
    dir.write("d/a.conf", "<busconfig><listen>unix:path=/tmp/a</listen></busconfig>");
    dir.write("d/c.txt", "not a config");
    auto file = dir.write_bus("main.conf", "<includedir>d</includedir><includedir>nothere.d</includedir>");
    auto config = load_bus_config(file);
    CHECK(config.listen == std::vector<std::string>{"unix:tmpdir=/tmp", "unix:path=/tmp/a", "unix:path=/tmp/b"});
    CHECK(config.included_dirs == std::vector<std::string>{dir.path + "/d"});
}

TEST_CASE("a broken file in an includedir is skipped with a warning, as dbus-daemon does") {
    ConfigDir dir;
    dir.mkdir("d");
    dir.write("d/a.conf", "<busconfig><listen>unix:path=/tmp/a</listen><bogus/></busconfig>");
    dir.write("d/b.conf", "<busconfig><listen>unix:path=/tmp/b</listen></busconfig>");
    auto config = load_bus_config(dir.write_bus("main.conf", "<includedir>d</includedir>"));
    CHECK(config.listen == std::vector<std::string>{"unix:tmpdir=/tmp", "unix:path=/tmp/b"});
    CHECK(has_warning_containing(config, "Element <bogus> not allowed inside <busconfig>"));
}

TEST_CASE("limits are stored by name; unknown, negative and unparsable ones are refused") {
    ConfigDir dir;
    auto ok = dir.write_bus("a.conf",
                            "<limit name=\"max_message_size\">99999999999</limit>"
                            "<limit name=\"reply_timeout\"> 5000</limit>");
    auto config = load_bus_config(ok);
    CHECK(config.limits.at("max_message_size") == 99999999999);
    CHECK(config.limits.at("reply_timeout") == 5000);
    auto unknown = dir.write_bus("b.conf", "<limit name=\"bogus_limit\">5</limit>");
    CHECK(load_error(unknown) == unknown + ":3: There is no limit called \"bogus_limit\"");
    auto negative = dir.write_bus("c.conf", "<limit name=\"max_message_size\">-5</limit>");
    CHECK(load_error(negative) == negative + ":3: <limit name=\"max_message_size\"> must be a positive number");
    auto text = dir.write_bus("d.conf", "<limit name=\"auth_timeout\">soon</limit>");
    CHECK(load_error(text) ==
          text + ":3: <limit name=\"auth_timeout\"> element has invalid value (could not parse as integer)");
    auto large = dir.write_bus("e.conf", "<limit name=\"auth_timeout\">99999999999</limit>");
    CHECK(load_error(large) == large + ":3: <limit name=\"auth_timeout\"> value is too large");
    auto unnamed = dir.write_bus("f.conf", "<limit>5</limit>");
    CHECK(load_error(unnamed) == unnamed + ":3: <limit> element must have a \"name\" attribute");
}

TEST_CASE("every allow/deny attribute is stored verbatim") {
    ConfigDir dir;
    auto file = dir.write_bus(
        "a.conf",
        "<policy context=\"mandatory\">"
        "<deny send_interface=\"i\" send_member=\"m\" send_destination=\"d\" send_path=\"/p\" send_type=\"*\" "
        "send_requested_reply=\"false\" send_broadcast=\"true\" eavesdrop=\"true\" min_fds=\"1\" max_fds=\"2\" "
        "log=\"true\"/>"
        "<allow send_error=\"e\" send_destination_prefix=\"org.x\"/>"
        "<allow receive_interface=\"ri\" receive_member=\"rm\" receive_sender=\"rs\" receive_path=\"/r\" "
        "receive_type=\"signal\" receive_requested_reply=\"true\"/>"
        "<allow receive_error=\"re\"/>"
        "<allow own_prefix=\"org.y\"/><allow group=\"*\"/>"
        "</policy>");
    auto config = load_bus_config(file);
    const Policy& p = config.policies.at(0);
    CHECK(p.scope == Policy::Scope::mandatory);
    REQUIRE(p.rules.size() == 6);
    const PolicyRule& send = p.rules[0];
    CHECK_FALSE(send.allow);
    CHECK(send.kind == PolicyRule::Kind::send);
    CHECK(send.send_interface == "i");
    CHECK(send.send_member == "m");
    CHECK(send.send_destination == "d");
    CHECK(send.send_path == "/p");
    CHECK(send.send_type == "*");
    CHECK(send.send_requested_reply == "false");
    CHECK(send.send_broadcast == "true");
    CHECK(send.eavesdrop == "true");
    CHECK(send.min_fds == "1");
    CHECK(send.max_fds == "2");
    CHECK(send.log == "true");
    CHECK_FALSE(send.own);
    CHECK(p.rules[1].send_error == "e");
    CHECK(p.rules[1].send_destination_prefix == "org.x");
    const PolicyRule& receive = p.rules[2];
    CHECK(receive.kind == PolicyRule::Kind::receive);
    CHECK(receive.receive_interface == "ri");
    CHECK(receive.receive_member == "rm");
    CHECK(receive.receive_sender == "rs");
    CHECK(receive.receive_path == "/r");
    CHECK(receive.receive_type == "signal");
    CHECK(receive.receive_requested_reply == "true");
    CHECK(p.rules[3].receive_error == "re");
    CHECK(p.rules[4].kind == PolicyRule::Kind::own);
    CHECK(p.rules[4].own_prefix == "org.y");
    CHECK(p.rules[5].kind == PolicyRule::Kind::group);
    CHECK(p.rules[5].origin == file + ":3");
}

TEST_CASE("policy attributes are checked as dbus-daemon checks them") {
    ConfigDir dir;
    auto check = [&](const std::string& policy, const std::string& expected) {
        auto file = dir.write_bus("p.conf", policy);
        CHECK(load_error(file) == file + ":3: " + expected);
    };
    check("<policy context=\"other\"/>",
          "context attribute on <policy> must have the value \"default\" or \"mandatory\", not \"other\"");
    check("<policy context=\"default\" user=\"root\"/>",
          "<policy> element must have exactly one of (context|user|group|at_console) attributes");
    check("<policy/>", "<policy> element must have exactly one of (context|user|group|at_console) attributes");
    check("<policy at_console=\"maybe\"/>", "Unknown value \"maybe\" for at_console in message bus configuration file");
    check("<policy context=\"default\"><allow/></policy>", "Element <allow> must have one or more attributes");
    check("<policy context=\"default\"><allow min_fds=\"1\"/></policy>", "Element <allow> must have one or more attributes");
    check("<policy context=\"default\"><allow bogus=\"a\"/></policy>",
          "Attribute \"bogus\" is invalid on <allow> element in this context");
    check("<policy context=\"default\"><allow send_member=\"a\"/></policy>",
          "On element <allow>, if you specify a member you must specify an interface or a path. Keep in mind that "
          "not all messages have an interface field.");
    check("<policy context=\"default\"><allow own=\"a\" send_type=\"signal\"/></policy>",
          "Invalid combination of attributes on element <allow>: own, own_prefix, user, group and the "
          "message-related attributes cannot be combined");
    check("<policy context=\"default\"><deny send_type=\"signal\" receive_type=\"signal\"/></policy>",
          "Invalid combination of attributes on element <deny>: send and receive attributes cannot be combined");
    check("<policy context=\"default\"><allow send_error=\"a\" send_interface=\"b\"/></policy>",
          "Invalid combination of attributes on element <allow>: send_error cannot be combined with send_member or "
          "send_interface");
    check("<policy context=\"default\"><allow send_destination=\"a\" send_destination_prefix=\"b\"/></policy>",
          "Invalid combination of attributes on element <allow>: send_destination cannot be combined with "
          "send_destination_prefix");
    check("<policy context=\"default\"><allow send_type=\"bogus\"/></policy>", "Bad message type \"bogus\"");
    check("<policy context=\"default\"><allow eavesdrop=\"yes\"/></policy>",
          "Bad value \"yes\" for eavesdrop attribute, must be true or false");
    check("<policy context=\"default\"><allow max_fds=\"x\" send_type=\"signal\"/></policy>",
          "Bad value \"x\" for max_fds attribute, must be an integer in range 0 to 33554432 inclusive");
    check("<policy user=\"root\"><allow user=\"*\"/></policy>",
          "<allow> rule cannot be per-user because it has bus-global semantics");
    check("<policy group=\"root\"><deny group=\"*\"/></policy>",
          "<deny> rule cannot be per-group because it has bus-global semantics");
    check("<policy context=\"default\"><limit name=\"x\">1</limit></policy>",
          "Element <limit> not allowed inside <policy> in configuration file");
}

TEST_CASE("unknown users and groups are warnings, as in dbus-daemon") {
    ConfigDir dir;
    auto file = dir.write_bus("a.conf",
                              "<policy user=\"no-such-user-jetbus\"><allow own=\"a\"/></policy>"
                              "<policy context=\"default\"><allow group=\"no-such-group-jetbus\"/></policy>"
                              "<policy user=\"0\"><allow own=\"b\"/></policy>");
    auto config = load_bus_config(file);
    CHECK_FALSE(config.policies[0].subject_id);
    CHECK(config.policies[2].subject_id == 0u);
    CHECK(has_warning_containing(config, "Unknown username \"no-such-user-jetbus\" in message bus configuration file"));
    CHECK(has_warning_containing(config, "Unknown group \"no-such-group-jetbus\" on element <allow>"));
}

TEST_CASE("selinux and apparmor are accepted with a not-yet-enforced warning; at_console is enforced") {
    ConfigDir dir;
    auto file = dir.write_bus("a.conf",
                              "<selinux><associate own=\"org.a\" context=\"a_t\"/></selinux>"
                              "<apparmor mode=\"required\"/>"
                              "<policy at_console=\"true\"><allow own=\"*\"/></policy>");
    auto config = load_bus_config(file);
    CHECK(config.selinux_associations.size() == 1);
    CHECK(config.selinux_associations[0].context == "a_t");
    CHECK(config.apparmor_mode == "required");
    CHECK(config.policies[0].scope == Policy::Scope::at_console);
    CHECK(config.policies[0].subject == "true");
    CHECK(has_warning_containing(config, "<selinux> is parsed but not yet enforced"));
    CHECK(has_warning_containing(config, "<apparmor> is parsed but not yet enforced"));
    CHECK_FALSE(has_warning_containing(config, "at_console"));
    auto disabled = load_bus_config(dir.write_bus("b.conf", "<apparmor mode=\"disabled\"/>"));
    CHECK(disabled.warnings.empty());
    auto bad = dir.write_bus("c.conf", "<apparmor mode=\"bogus\"/>");
    CHECK(load_error(bad) == bad + ":3: Mode attribute on <apparmor> must have value \"required\", \"enabled\" or "
                                   "\"disabled\", not \"bogus\"");
    auto associate = dir.write_bus("d.conf", "<selinux><associate own=\"a\"/></selinux>");
    CHECK(load_error(associate) == associate + ":3: Element <associate> must have attributes "
                                               "own=\"<servicename>\" and context=\"<selinux context>\"");
}

TEST_CASE("BusConfig::limit refuses a name that is not a limit") {
    BusConfig config;
    CHECK(config.limit("auth_timeout") == 5000);
    CHECK_THROWS_AS(config.limit("bogus"), std::out_of_range);
}
