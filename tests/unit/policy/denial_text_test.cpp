// The AccessDenied texts, compared with what dbus-daemon 1.14.10 printed for the same refusals.
#include "policy/denial_text.h"
#include "policy_test_util.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iterator>

using namespace jetbus::policy;
using namespace jetbus::policy::test;

TEST_CASE("A refused method call reads as dbus-daemon's \"Rejected send message\"") {
    std::string sender_info = format_loginfo(65534, 16155, "dbus-send --bus=unix:path=/tmp/policy-exp/sock --p");
    std::string receiver_info = format_loginfo(0, 16138, "/usr/bin/python3 /tmp/policy-exp/svc.py unix:path=");
    PeerDescription sender{":1.1", sender_info};
    PeerDescription receiver{":1.0", receiver_info};
    Verdict v;
    v.matched_rules = 2;
    auto text = format_message_complaint(Complaint::rejected_send, v,
                                         method_call("org.test.Svc", "org.test.I", "Denied", "/x"), &sender, &receiver);
    CHECK(text ==
          "Rejected send message, 2 matched rules; type=\"method_call\", sender=\":1.1\" (uid=65534 pid=16155 "
          "comm=\"dbus-send --bus=unix:path=/tmp/policy-exp/sock --p\") interface=\"org.test.I\" member=\"Denied\" "
          "error name=\"(unset)\" requested_reply=\"0\" destination=\"org.test.Svc\" (uid=0 pid=16138 "
          "comm=\"/usr/bin/python3 /tmp/policy-exp/svc.py unix:path=\")");
}

TEST_CASE("A message to the bus driver names it as destination \"bus\"") {
    std::string info = format_loginfo(65534, 7, "x");
    PeerDescription sender{":1.6", info};
    Verdict v;
    v.matched_rules = 3;
    auto text = format_message_complaint(Complaint::rejected_send, v,
                                         method_call("org.freedesktop.DBus", "org.freedesktop.DBus",
                                                     "UpdateActivationEnvironment"),
                                         &sender, nullptr);
    CHECK(text ==
          "Rejected send message, 3 matched rules; type=\"method_call\", sender=\":1.6\" (uid=65534 pid=7 comm=\"x\") "
          "interface=\"org.freedesktop.DBus\" member=\"UpdateActivationEnvironment\" error name=\"(unset)\" "
          "requested_reply=\"0\" destination=\"org.freedesktop.DBus\" (bus)");
}

TEST_CASE("A refused reply from the bus driver and a broadcast read as dbus-daemon writes them") {
    std::string info = format_loginfo(1000, std::nullopt, "");
    PeerDescription receiver{":1.2", info};
    Verdict v;
    auto reply = error_reply("org.freedesktop.DBus.Error.Failed", true, "");
    auto text = format_message_complaint(Complaint::rejected_receive, v, reply, nullptr, &receiver);
    CHECK(text ==
          "Rejected receive message, 0 matched rules; type=\"error\", sender=\"(unset)\" ((bus)) "
          "interface=\"(unset)\" member=\"(unset)\" error name=\"org.freedesktop.DBus.Error.Failed\" "
          "requested_reply=\"1\" destination=\"org.freedesktop.DBus\" (uid=1000)");
    auto would = format_message_complaint(Complaint::would_reject, v, signal("a.b", "C"), &receiver, &receiver);
    CHECK(would.rfind("Would reject message, 0 matched rules; type=\"signal\"", 0) == 0);
}

TEST_CASE("loginfo leaves out what is unknown and adds the security label") {
    CHECK(format_loginfo(std::nullopt, std::nullopt, "") == "");
    CHECK(format_loginfo(std::nullopt, 5, "sh") == "pid=5 comm=\"sh\"");
    CHECK(format_loginfo(0, 1, "init", "unconfined") == "uid=0 pid=1 comm=\"init\" label=\"unconfined\"");
}

TEST_CASE("A refused RequestName reads as dbus-daemon's") {
    CHECK(format_own_denied(":1.0", "org.example.Anything") ==
          "Connection \":1.0\" is not allowed to own the service \"org.example.Anything\" due to security policies "
          "in the configuration file");
}

TEST_CASE("The command of a process is its command line, spaces between arguments, cut at 50 bytes") {
    std::string own = command_for_pid(::getpid());
    CHECK_FALSE(own.empty());
    CHECK(own.size() <= max_log_command_length);
    std::ifstream cmdline("/proc/self/cmdline", std::ios::binary);
    std::string whole((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());
    whole.pop_back();  // the final NUL
    std::replace(whole.begin(), whole.end(), '\0', ' ');
    CHECK(own == whole.substr(0, max_log_command_length));
    CHECK(own.back() != ' ');
    CHECK(command_for_pid(0).empty());
}
