// Debian's system bus configuration (/usr/share/dbus-1/system.conf with its system.d files),
// compiled and asked the questions real clients cause. Each expectation was checked against
// dbus-daemon 1.14.10 running the same files.
#include "policy_test_util.h"

using namespace jetbus::policy;
using namespace jetbus::policy::test;

namespace {

struct SystemBus {
    CompiledPolicy policy =
        CompiledPolicy::compile(jetbus::config::load_bus_config("/usr/share/dbus-1/system.conf"), root_uid);
    PolicySnapshot root = policy.snapshot(user(root_uid, {0}));
    PolicySnapshot nobody = policy.snapshot(user(nobody_uid, {nogroup_gid}));
};

const Names bus_driver{"org.freedesktop.DBus"};

MessageFacts driver_call(std::string_view interface, std::string_view member) {
    return method_call("org.freedesktop.DBus", interface, member, "/org/freedesktop/DBus");
}

}  // namespace

TEST_CASE("On the system bus every user with an account may connect") {
    SystemBus bus;
    CHECK(bus.policy.can_connect(nobody_uid, std::vector<gid_t>{nogroup_gid}).allowed);
    CHECK(bus.policy.can_connect(root_uid, std::vector<gid_t>{0}).allowed);
}

TEST_CASE("On the system bus not even root may own a name no policy file grants") {
    SystemBus bus;
    CHECK_FALSE(bus.root.can_own("org.example.Anything").allowed);
    CHECK_FALSE(bus.nobody.can_own("org.example.Anything").allowed);
}

TEST_CASE("On the system bus root may own org.freedesktop.hostname1 and nobody may not") {
    SystemBus bus;
    CHECK(bus.root.can_own("org.freedesktop.hostname1").allowed);
    CHECK_FALSE(bus.nobody.can_own("org.freedesktop.hostname1").allowed);
}

TEST_CASE("On the system bus only polkitd may own org.freedesktop.PolicyKit1") {
    SystemBus bus;
    auto polkitd = jetbus::config::lookup_config_user("polkitd");
    REQUIRE(polkitd);
    CHECK(bus.policy.snapshot(user(*polkitd)).can_own("org.freedesktop.PolicyKit1").allowed);
    CHECK_FALSE(bus.root.can_own("org.freedesktop.PolicyKit1").allowed);
}

TEST_CASE("On the system bus anyone may call hostname1, whichever of its names the call uses") {
    SystemBus bus;
    const Names hostnamed{":1.0", "org.freedesktop.hostname1"};
    CHECK(bus.nobody.can_send(method_call("org.freedesktop.hostname1", "org.freedesktop.hostname1", "SetHostname"),
                              hostnamed).allowed);
    CHECK(bus.nobody.can_send(method_call(":1.0", "org.example.Other", "Anything"), hostnamed).allowed);
}

TEST_CASE("On the system bus method calls to a peer no policy file mentions are denied") {
    SystemBus bus;
    auto v = bus.nobody.can_send(method_call(":1.7", "org.example.I", "M"), Names{":1.7", "org.example.Service"});
    CHECK_FALSE(v.allowed);
    CHECK(v.matched_rules == 1);
    CHECK_FALSE(bus.root.can_send(method_call(":1.7", "org.example.I", "M"), Names{":1.7"}).allowed);
}

TEST_CASE("On the system bus signals and requested replies may be sent, unrequested replies may not") {
    SystemBus bus;
    const Names peer{":1.7"};
    CHECK(bus.nobody.can_send(signal("org.example.I", "Changed"), peer).allowed);
    CHECK(bus.nobody.can_send(method_return(true, ":1.7"), peer).allowed);
    CHECK(bus.nobody.can_send(error_reply("org.example.Error", true, ":1.7"), peer).allowed);
    CHECK_FALSE(bus.nobody.can_send(method_return(false, ":1.7"), peer).allowed);
    CHECK_FALSE(bus.nobody.can_send(error_reply("org.example.Error", false, ":1.7"), peer).allowed);
}

TEST_CASE("On the system bus every message type may be received") {
    SystemBus bus;
    const Names peer{":1.7"};
    CHECK(bus.nobody.can_receive(method_call(":1.8", "org.example.I", "M"), peer, true).allowed);
    CHECK(bus.nobody.can_receive(signal("org.example.I", "S"), peer, false).allowed);
    CHECK(bus.nobody.can_receive(method_return(true, ":1.8"), peer, true).allowed);
    CHECK(bus.nobody.can_receive(error_reply("org.example.E", true, ":1.8"), peer, true).allowed);
}

TEST_CASE("On the system bus anyone may call the bus driver's main interface, not UpdateActivationEnvironment") {
    SystemBus bus;
    CHECK(bus.nobody.can_send(driver_call("org.freedesktop.DBus", "ListNames"), bus_driver).allowed);
    CHECK(bus.nobody.can_send(driver_call("org.freedesktop.DBus.Properties", "GetAll"), bus_driver).allowed);
    auto v = bus.nobody.can_send(driver_call("org.freedesktop.DBus", "UpdateActivationEnvironment"), bus_driver);
    CHECK_FALSE(v.allowed);
    CHECK(v.matched_rules == 3);  // dbus-daemon: "Rejected send message, 3 matched rules"
    CHECK_FALSE(bus.root.can_send(driver_call("org.freedesktop.DBus", "UpdateActivationEnvironment"), bus_driver).allowed);
}

TEST_CASE("On the system bus only root may become a monitor or read the bus statistics") {
    SystemBus bus;
    auto monitor = driver_call("org.freedesktop.DBus.Monitoring", "BecomeMonitor");
    auto v = bus.nobody.can_send(monitor, bus_driver);
    CHECK_FALSE(v.allowed);
    CHECK(v.matched_rules == 1);
    CHECK(bus.root.can_send(monitor, bus_driver).allowed);
    auto stats = driver_call("org.freedesktop.DBus.Debug.Stats", "GetStats");
    auto s = bus.nobody.can_send(stats, bus_driver);
    CHECK_FALSE(s.allowed);
    CHECK(s.matched_rules == 2);
    CHECK(bus.root.can_send(stats, bus_driver).allowed);
}
