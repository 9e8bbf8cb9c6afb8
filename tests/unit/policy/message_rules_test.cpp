// Send and receive rules, one attribute at a time, with dbus-daemon 1.14's matching (bus/policy.c).
#include "policy_test_util.h"

using namespace jetbus::policy;
using namespace jetbus::policy::test;
using jetbus::wire::MessageType;

namespace {

const Names service{":1.5", "org.example.Service"};
const Names other{":1.6", "org.example.Other"};

bool sends(const CompiledPolicy& p, const MessageFacts& m, const Names& receiver = service) {
    return p.snapshot(user(nobody_uid)).can_send(m, receiver).allowed;
}

bool receives(const CompiledPolicy& p, const MessageFacts& m, const Names& sender = service, bool addressed = true) {
    return p.snapshot(user(nobody_uid)).can_receive(m, sender, addressed).allowed;
}

}  // namespace

TEST_CASE("With no rule that applies, sending and receiving are denied") {
    auto p = load_default(R"(<allow own="*"/>)");
    auto v = p.snapshot(user(nobody_uid)).can_send(method_call("org.example.Service", "org.example.I", "M"), service);
    CHECK_FALSE(v.allowed);
    CHECK(v.matched_rules == 0);
    CHECK(v.origin.empty());
    CHECK_FALSE(receives(p, signal("org.example.I", "S")));
}

TEST_CASE("send_destination matches any name the receiver owns or queues for, and its unique name") {
    auto p = load_default(R"(<allow send_destination="org.example.Service"/>)");
    auto call = method_call(":1.5", "org.example.I", "M");
    CHECK(sends(p, call, service));
    CHECK(sends(p, call, Names{":1.5", "org.example.Queued", "org.example.Service"}));
    CHECK_FALSE(sends(p, call, other));

    auto by_unique = load_default(R"(<allow send_destination=":1.5"/>)");
    CHECK(sends(by_unique, method_call("org.example.Service", "org.example.I", "M"), service));
}

TEST_CASE("send_destination=\"*\" matches every receiver and broadcasts") {
    auto p = load_default(R"(<allow send_destination="*"/>)");
    CHECK(sends(p, method_call("org.example.Other", "org.example.I", "M"), other));
    CHECK(sends(p, signal("org.example.I", "S"), other));
}

TEST_CASE("send_destination_prefix matches the name and the names below it, word by word") {
    auto p = load_default(R"(<allow send_destination_prefix="org.example"/>)");
    auto call = method_call("x", "org.example.I", "M");
    CHECK(sends(p, call, Names{":1.5", "org.example"}));
    CHECK(sends(p, call, Names{":1.5", "org.example.Service.Sub"}));
    CHECK_FALSE(sends(p, call, Names{":1.5", "org.examples.Service"}));
    CHECK_FALSE(sends(p, call, Names{":1.5"}));
}

TEST_CASE("send_interface: an allow rule skips messages without an interface, a deny rule catches them") {
    auto allow = load_default(R"(<allow send_interface="org.example.I"/>)");
    CHECK(sends(allow, method_call("s", "org.example.I", "M")));
    CHECK_FALSE(sends(allow, method_call("s", "org.example.J", "M")));
    CHECK_FALSE(sends(allow, method_call("s", "", "M")));

    auto deny = load_default(R"(<allow send_destination="*"/>
                                <deny send_interface="org.example.I"/>)");
    CHECK_FALSE(deny.snapshot(user(nobody_uid)).can_send(method_call("s", "", "M"), service).allowed);
    CHECK(sends(deny, method_call("s", "org.example.J", "M")));
}

TEST_CASE("send_member and send_path narrow a rule") {
    auto p = load_default(R"(<allow send_interface="org.example.I" send_member="Get"/>
                             <allow send_path="/org/example/A"/>)");
    CHECK(sends(p, method_call("s", "org.example.I", "Get", "/x")));
    CHECK_FALSE(sends(p, method_call("s", "org.example.I", "Set", "/x")));
    CHECK(sends(p, method_call("s", "org.example.J", "Set", "/org/example/A")));
    CHECK_FALSE(sends(p, method_call("s", "org.example.J", "Set", "/org/example/A/B")));
}

TEST_CASE("send_error matches error replies with that name") {
    auto p = load_default(R"(<allow send_error="org.example.Error.Nope" send_requested_reply="false"/>)");
    CHECK(sends(p, error_reply("org.example.Error.Nope", false)));
    CHECK_FALSE(sends(p, error_reply("org.example.Error.Other", false)));
}

TEST_CASE("send_type matches one message type, and \"*\" every type") {
    auto p = load_default(R"(<allow send_type="signal"/>)");
    CHECK(sends(p, signal("org.example.I", "S")));
    CHECK_FALSE(sends(p, method_call("s", "org.example.I", "M")));

    auto calls = load_default(R"(<allow send_type="method_call"/>)");
    CHECK(sends(calls, method_call("s", "org.example.I", "M")));
    CHECK_FALSE(sends(calls, signal("org.example.I", "S")));

    auto errors = load_default(R"(<allow send_type="error"/>)");
    CHECK(sends(errors, error_reply("org.example.E", true)));
    CHECK_FALSE(sends(errors, method_return(true)));

    auto any = load_default(R"(<allow send_type="*"/>)");
    CHECK(sends(any, method_call("s", "org.example.I", "M")));
    CHECK(sends(any, signal("org.example.I", "S")));
}

TEST_CASE("send_broadcast tells signals without a destination from everything else") {
    auto p = load_default(R"(<allow send_broadcast="true"/>)");
    CHECK(sends(p, signal("org.example.I", "S")));
    CHECK_FALSE(sends(p, signal("org.example.I", "S", ":1.5")));
    CHECK_FALSE(sends(p, method_call("s", "org.example.I", "M")));

    auto unicast = load_default(R"(<allow send_broadcast="false" send_type="signal"/>)");
    CHECK(sends(unicast, signal("org.example.I", "S", ":1.5")));
    CHECK_FALSE(sends(unicast, signal("org.example.I", "S")));
}

TEST_CASE("min_fds and max_fds bound the number of fds a message carries") {
    auto p = load_default(R"(<allow send_type="method_call"/>
                             <deny send_type="method_call" min_fds="1"/>
                             <allow send_type="method_call" min_fds="3" max_fds="4"/>)");
    auto with_fds = [](std::uint32_t n) {
        auto m = method_call("s", "org.example.I", "M");
        m.unix_fds = n;
        return m;
    };
    CHECK(sends(p, with_fds(0)));
    CHECK_FALSE(sends(p, with_fds(1)));
    CHECK_FALSE(sends(p, with_fds(2)));
    CHECK(sends(p, with_fds(3)));
    CHECK(sends(p, with_fds(4)));
    CHECK_FALSE(sends(p, with_fds(5)));
}

TEST_CASE("A rule with several attributes applies only when all of them match") {
    auto p = load_default(R"(<allow send_destination="org.example.Service" send_interface="org.example.I"
                                    send_member="M" send_type="method_call" send_path="/org/example"/>)");
    CHECK(sends(p, method_call("s", "org.example.I", "M")));
    CHECK_FALSE(sends(p, method_call("s", "org.example.I", "M"), other));
    CHECK_FALSE(sends(p, method_call("s", "org.example.I", "N")));
    CHECK_FALSE(sends(p, method_call("s", "org.example.J", "M")));
    CHECK_FALSE(sends(p, method_call("s", "org.example.I", "M", "/elsewhere")));
    CHECK_FALSE(sends(p, signal("org.example.I", "M", "s")));
}

TEST_CASE("An allow rule lets through only requested replies unless it says send_requested_reply=\"false\"") {
    auto p = load_default(R"(<allow send_type="method_return"/>)");
    CHECK(sends(p, method_return(true)));
    CHECK_FALSE(sends(p, method_return(false)));

    auto any_reply = load_default(R"(<allow send_type="method_return" send_requested_reply="false"/>)");
    CHECK(sends(any_reply, method_return(false)));
    CHECK(sends(any_reply, method_return(true)));
}

TEST_CASE("An allow send rule with eavesdrop=\"true\" also lets through unrequested replies") {
    auto p = load_default(R"(<allow send_destination="*" eavesdrop="true"/>)");
    CHECK(sends(p, method_return(false)));
}

TEST_CASE("A deny rule catches only unrequested replies unless it says send_requested_reply=\"true\"") {
    auto p = load_default(R"(<allow send_type="method_return" send_requested_reply="false"/>
                             <deny send_type="method_return"/>)");
    CHECK(sends(p, method_return(true)));
    CHECK_FALSE(sends(p, method_return(false)));

    auto all = load_default(R"(<allow send_type="method_return" send_requested_reply="false"/>
                               <deny send_type="method_return" send_requested_reply="true"/>)");
    CHECK_FALSE(sends(all, method_return(true)));
    CHECK_FALSE(sends(all, method_return(false)));
}

TEST_CASE("The requested_reply flags play no part for messages that are not replies") {
    auto p = load_default(R"(<allow send_type="method_call" send_requested_reply="true"/>)");
    CHECK(sends(p, method_call("s", "org.example.I", "M")));
}

TEST_CASE("The verdict names the deciding rule, counts the rules that applied, and carries its log flag") {
    std::string file;
    auto p = load(R"(<policy context="default">
<allow send_destination="*"/>
<deny send_interface="org.example.I" log="true"/>
<allow send_interface="org.example.I" send_member="Ok"/>
</policy>)", 0, &file);
    auto s = p.snapshot(user(nobody_uid));
    auto denied = s.can_send(method_call("s", "org.example.I", "No"), service);
    CHECK_FALSE(denied.allowed);
    CHECK(denied.matched_rules == 2);
    CHECK(denied.origin == file + ":5");
    CHECK(denied.log);
    auto allowed = s.can_send(method_call("s", "org.example.I", "Ok"), service);
    CHECK(allowed.allowed);
    CHECK(allowed.matched_rules == 3);
    CHECK(allowed.origin == file + ":6");
    CHECK_FALSE(allowed.log);
}

TEST_CASE("receive_sender matches any name of the sender, \"*\" every sender") {
    auto p = load_default(R"(<allow receive_sender="org.example.Service"/>)");
    CHECK(receives(p, signal("org.example.I", "S"), service));
    CHECK_FALSE(receives(p, signal("org.example.I", "S"), other));
    auto from_bus = load_default(R"(<allow receive_sender="org.freedesktop.DBus"/>)");
    CHECK(receives(from_bus, signal("org.freedesktop.DBus", "NameOwnerChanged"), Names{"org.freedesktop.DBus"}));
    auto any = load_default(R"(<allow receive_sender="*"/>)");
    CHECK(receives(any, signal("org.example.I", "S"), other));
}

TEST_CASE("receive_interface, receive_member, receive_path, receive_error and receive_type narrow a rule") {
    auto p = load_default(R"(<allow receive_interface="org.example.I" receive_member="S" receive_type="signal"/>
                             <allow receive_path="/org/example/P" receive_type="method_call"/>
                             <allow receive_error="org.example.E" receive_type="error"/>)");
    CHECK(receives(p, signal("org.example.I", "S")));
    CHECK_FALSE(receives(p, signal("org.example.I", "T")));
    CHECK_FALSE(receives(p, signal("", "S")));
    CHECK_FALSE(receives(p, method_call(":1.1", "org.example.I", "S")));
    CHECK(receives(p, method_call(":1.1", "org.example.J", "X", "/org/example/P")));
    CHECK(receives(p, error_reply("org.example.E", true)));
    CHECK_FALSE(receives(p, error_reply("org.example.F", true)));
}

TEST_CASE("receive_requested_reply works like send_requested_reply") {
    auto p = load_default(R"(<allow receive_type="method_return"/>)");
    CHECK(receives(p, method_return(true)));
    CHECK_FALSE(receives(p, method_return(false)));
    auto any_reply = load_default(R"(<allow receive_type="method_return" receive_requested_reply="false"/>)");
    CHECK(receives(any_reply, method_return(false)));
}

TEST_CASE("Only allow rules with eavesdrop=\"true\" let a connection see messages addressed to others") {
    auto plain = load_default(R"(<allow receive_sender="*"/>)");
    auto call = method_call(":1.9", "org.example.I", "M");
    CHECK(receives(plain, call, service, true));
    CHECK_FALSE(receives(plain, call, service, false));

    auto eavesdrop = load_default(R"(<allow eavesdrop="true"/>)");
    CHECK(receives(eavesdrop, call, service, false));
    CHECK(receives(eavesdrop, call, service, true));
}

TEST_CASE("A deny rule with eavesdrop=\"true\" applies only to eavesdropped copies") {
    auto p = load_default(R"(<allow eavesdrop="true"/>
                             <deny receive_interface="org.example.I" eavesdrop="true"/>)");
    auto call = method_call(":1.9", "org.example.I", "M");
    CHECK(receives(p, call, service, true));
    CHECK_FALSE(receives(p, call, service, false));
}

TEST_CASE("A broadcast delivered through a match rule is never eavesdropping") {
    auto p = load_default(R"(<allow receive_type="signal"/>)");
    CHECK(receives(p, signal("org.example.I", "S"), service, false));
    CHECK_FALSE(receives(p, signal("org.example.I", "S", ":1.9"), service, false));
}

TEST_CASE("log=\"true\" is reported for send rules only, as in dbus-daemon") {
    auto p = load_default(R"(<deny receive_type="signal" log="true"/>)");
    auto v = p.snapshot(user(nobody_uid)).can_receive(signal("org.example.I", "S"), service, true);
    CHECK_FALSE(v.allowed);
    CHECK(v.matched_rules == 1);
    CHECK_FALSE(v.log);
}

TEST_CASE("A message without path, member or error name matches rules that name one, as in dbus-daemon") {
    auto p = load_default(R"(<allow send_error="org.example.E"/>)");
    CHECK(sends(p, method_call("s", "org.example.I", "M")));
    auto r = load_default(R"(<allow receive_error="org.example.E"/>)");
    CHECK(receives(r, signal("org.example.I", "S")));
    auto no_path = method_call("s", "org.example.I", "M", "");
    CHECK(sends(load_default(R"(<allow send_path="/a"/>)"), no_path));
}
