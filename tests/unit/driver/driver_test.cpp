// The driver and the router, driven in process by raw clients: what a client sees on the wire.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>

#include "config/bus_config.h"
#include "policy/compiled_policy.h"
#include <sys/un.h>

#include "broker/address.h"
#include "broker/listener.h"
#include "test_bus.h"

using namespace jetbus;
using namespace jetbus::test;

namespace {

bool is_error(const std::optional<Received>& r, std::string_view name) {
    return r && r->header.type == wire::MessageType::error && r->header.error_name == name;
}

}  // namespace

TEST_CASE("Hello gives a unique name, then NameAcquired for it") {
    TestBus tb;
    TestClient c(tb, false);
    auto reply = c.call_driver("Hello");
    REQUIRE(reply);
    CHECK(reply->header.type == wire::MessageType::method_return);
    const std::string name = reply->first_string();
    CHECK(name.rfind(":1.", 0) == 0);
    auto acquired = c.wait_for([](const Received& m) { return m.header.member == "NameAcquired"; });
    REQUIRE(acquired);
    CHECK(acquired->first_string() == name);
    CHECK(acquired->header.sender == "org.freedesktop.DBus");
}

TEST_CASE("A second Hello fails with org.freedesktop.DBus.Error.Failed") {
    TestBus tb;
    TestClient c(tb);
    auto reply = c.call_driver("Hello");
    REQUIRE(is_error(reply, "org.freedesktop.DBus.Error.Failed"));
    CHECK(reply->first_string() == "Already handled an Hello message");
}

TEST_CASE("A message other than Hello before Hello disconnects the client") {
    TestBus tb;
    TestClient c(tb, false);
    c.send_call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "ListNames");
    CHECK(c.closed_by_bus());
}

TEST_CASE("An unknown driver method gives UnknownMethod, an unknown interface UnknownInterface") {
    TestBus tb;
    TestClient c(tb);
    auto r = c.call_driver("NoSuchMethod");
    REQUIRE(is_error(r, "org.freedesktop.DBus.Error.UnknownMethod"));
    CHECK(r->first_string() == "org.freedesktop.DBus does not understand message NoSuchMethod");
    auto r2 = c.call("org.freedesktop.DBus", "/", "com.example.Nope", "Foo");
    CHECK(is_error(r2, "org.freedesktop.DBus.Error.UnknownInterface"));
}

TEST_CASE("Driver calls with the wrong signature give InvalidArgs worded like dbus-daemon") {
    TestBus tb;
    TestClient c(tb);
    auto r = c.call_driver("GetNameOwner", "u", [] {
        std::vector<uint8_t> b;
        wire::Writer(b).uint32(1);
        return b;
    }());
    REQUIRE(is_error(r, "org.freedesktop.DBus.Error.InvalidArgs"));
    CHECK(r->first_string() == "Call to GetNameOwner has wrong args (u, expected s)\n");
}

TEST_CASE("RequestName makes the caller the owner that GetNameOwner reports") {
    TestBus tb;
    TestClient a(tb), b(tb);
    auto r = a.call_driver("RequestName", "su", body_su("com.example.Svc", 0));
    REQUIRE(r);
    CHECK(r->first_uint32() == 1);
    auto owner = b.call_driver("GetNameOwner", "s", body_s("com.example.Svc"));
    REQUIRE(owner);
    CHECK(owner->first_string() == a.name);
    auto queued = b.call_driver("RequestName", "su", body_su("com.example.Svc", 0));
    REQUIRE(queued);
    CHECK(queued->first_uint32() == 2);
    auto dnq = b.call_driver("RequestName", "su", body_su("com.example.Svc", 4));
    REQUIRE(dnq);
    CHECK(dnq->first_uint32() == 3);
}

TEST_CASE("RequestName refuses unique, reserved and invalid names") {
    TestBus tb;
    TestClient c(tb);
    CHECK(is_error(c.call_driver("RequestName", "su", body_su(":1.5", 0)), "org.freedesktop.DBus.Error.InvalidArgs"));
    CHECK(is_error(c.call_driver("RequestName", "su", body_su("org.freedesktop.DBus", 0)),
                   "org.freedesktop.DBus.Error.InvalidArgs"));
    CHECK(is_error(c.call_driver("RequestName", "su", body_su("a..b", 0)), "org.freedesktop.DBus.Error.InvalidArgs"));
}

TEST_CASE("GetNameOwner of an unowned name gives NameHasNoOwner") {
    TestBus tb;
    TestClient c(tb);
    auto r = c.call_driver("GetNameOwner", "s", body_s("com.example.Nobody"));
    REQUIRE(is_error(r, "org.freedesktop.DBus.Error.NameHasNoOwner"));
    CHECK(r->first_string() == "Could not get owner of name 'com.example.Nobody': no such name");
}

TEST_CASE("A call to a well-known name reaches its owner with the sender stamped, and the reply returns") {
    TestBus tb;
    TestClient svc(tb), caller(tb);
    svc.call_driver("RequestName", "su", body_su("com.example.Svc", 0));
    const uint32_t serial = caller.send_call("com.example.Svc", "/obj", "com.example.I", "Do", "s", body_s("x"));
    auto call = svc.wait_for([](const Received& m) { return m.header.member == "Do"; });
    REQUIRE(call);
    CHECK(call->header.sender == caller.name);
    CHECK(call->first_string() == "x");
    wire::HeaderFields f;
    f.type = wire::MessageType::method_return;
    f.reply_serial = serial;
    f.destination = caller.name;
    f.signature = "s";
    svc.send(f, body_s("done"));
    auto reply = caller.wait_for([serial](const Received& m) { return m.header.reply_serial == serial; });
    REQUIRE(reply);
    CHECK(reply->header.sender == svc.name);
    CHECK(reply->first_string() == "done");
}

TEST_CASE("A reply nobody asked for is not delivered") {
    TestBus tb;
    TestClient a(tb), b(tb);
    wire::HeaderFields f;
    f.type = wire::MessageType::method_return;
    f.reply_serial = 77;
    f.destination = b.name;
    a.send(f);
    auto got = b.wait_for([](const Received& m) { return m.header.reply_serial == 77u; },
                          std::chrono::milliseconds(200));
    CHECK_FALSE(got);
}

TEST_CASE("A callee that disconnects with a call pending makes the caller get NoReply") {
    TestBus tb;
    TestClient caller(tb);
    auto svc = std::make_unique<TestClient>(tb);
    svc->call_driver("RequestName", "su", body_su("com.example.Svc", 0));
    const uint32_t serial = caller.send_call("com.example.Svc", "/obj", "com.example.I", "Slow");
    REQUIRE(svc->wait_for([](const Received& m) { return m.header.member == "Slow"; }));
    svc->disconnect();
    auto r = caller.wait_for([serial](const Received& m) { return m.header.reply_serial == serial; });
    REQUIRE(is_error(r, "org.freedesktop.DBus.Error.NoReply"));
    CHECK(r->first_string() == "Message recipient disconnected from message bus without replying");
}

TEST_CASE("A call to a name nobody owns gives ServiceUnknown") {
    TestBus tb;
    TestClient c(tb);
    auto r = c.call("com.example.Nobody", "/", "com.example.I", "M");
    REQUIRE(is_error(r, "org.freedesktop.DBus.Error.ServiceUnknown"));
    CHECK(r->first_string() == "The name com.example.Nobody was not provided by any .service files");
}

TEST_CASE("A broadcast signal reaches only the connections whose rules match it") {
    TestBus tb;
    TestClient emitter(tb), subscriber(tb), bystander(tb);
    REQUIRE(subscriber.call_driver("AddMatch", "s", body_s("type='signal',interface='com.example.I',arg0='yes'")));
    wire::HeaderFields f;
    f.type = wire::MessageType::signal;
    f.path = "/obj";
    f.interface = "com.example.I";
    f.member = "Changed";
    f.signature = "s";
    emitter.send(f, body_s("no"));
    emitter.send(f, body_s("yes"));
    auto got = subscriber.wait_for([](const Received& m) { return m.header.member == "Changed"; });
    REQUIRE(got);
    CHECK(got->first_string() == "yes");
    CHECK(got->header.sender == emitter.name);
    for (const auto& m : subscriber.drain()) CHECK(m.header.member != "Changed");
    for (const auto& m : bystander.drain()) CHECK(m.header.member != "Changed");
}

TEST_CASE("RemoveMatch of a rule never added gives MatchRuleNotFound; a rule added twice needs two removals") {
    TestBus tb;
    TestClient c(tb);
    CHECK(is_error(c.call_driver("RemoveMatch", "s", body_s("type='signal'")),
                   "org.freedesktop.DBus.Error.MatchRuleNotFound"));
    c.call_driver("AddMatch", "s", body_s("type='signal'"));
    c.call_driver("AddMatch", "s", body_s("type='signal'"));
    auto r1 = c.call_driver("RemoveMatch", "s", body_s("type='signal'"));
    REQUIRE(r1);
    CHECK(r1->header.type == wire::MessageType::method_return);
    auto r2 = c.call_driver("RemoveMatch", "s", body_s("type='signal'"));
    REQUIRE(r2);
    CHECK(r2->header.type == wire::MessageType::method_return);
    CHECK(is_error(c.call_driver("RemoveMatch", "s", body_s("type='signal'")),
                   "org.freedesktop.DBus.Error.MatchRuleNotFound"));
}

TEST_CASE("AddMatch beyond max_match_rules_per_connection gives LimitsExceeded") {
    TestBus tb;
    TestClient c(tb);
    for (int i = 0; i < 8; ++i) {
        auto r = c.call_driver("AddMatch", "s", body_s(fmt::format("member='M{}'", i)));
        REQUIRE(r);
        CHECK(r->header.type == wire::MessageType::method_return);
    }
    CHECK(is_error(c.call_driver("AddMatch", "s", body_s("member='M9'")), "org.freedesktop.DBus.Error.LimitsExceeded"));
}

TEST_CASE("Calls beyond max_replies_per_connection give LimitsExceeded") {
    TestBus tb;
    TestClient svc(tb), caller(tb);
    svc.call_driver("RequestName", "su", body_su("com.example.Svc", 0));
    for (int i = 0; i < 4; ++i) caller.send_call("com.example.Svc", "/", "com.example.I", "Hang");
    auto r = caller.call("com.example.Svc", "/", "com.example.I", "Hang");
    CHECK(is_error(r, "org.freedesktop.DBus.Error.LimitsExceeded"));
}

TEST_CASE("NameOwnerChanged announces a departing owner's names") {
    TestBus tb;
    TestClient watcher(tb);
    auto owner = std::make_unique<TestClient>(tb);
    owner->call_driver("RequestName", "su", body_su("com.example.Gone", 0));
    watcher.call_driver("AddMatch", "s", body_s("type='signal',member='NameOwnerChanged',arg0='com.example.Gone'"));
    const std::string owner_name = owner->name;
    owner->disconnect();
    auto sig = watcher.wait_for([](const Received& m) { return m.header.member == "NameOwnerChanged"; });
    REQUIRE(sig);
    wire::Reader r({sig->bytes.data() + sig->header.body_offset, sig->header.body_length}, sig->header.endian);
    std::string_view name, old_owner, new_owner;
    REQUIRE(r.string(name));
    REQUIRE(r.string(old_owner));
    REQUIRE(r.string(new_owner));
    CHECK(name == "com.example.Gone");
    CHECK(old_owner == owner_name);
    CHECK(new_owner == "");
}

TEST_CASE("A malformed message closes only its sender; others keep being served") {
    TestBus tb;
    TestClient good(tb), bad(tb);
    // A fixed header announcing protocol version 9.
    std::vector<uint8_t> junk = {'l', 1, 0, 9, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0};
    bad.send_raw(junk);
    CHECK(bad.closed_by_bus());
    auto r = good.call_driver("GetId");
    REQUIRE(r);
    CHECK(r->first_string() == "00112233445566778899aabbccddeeff");
}

TEST_CASE("A huge length field closes only that connection") {
    TestBus tb;
    TestClient good(tb), bad(tb);
    std::vector<uint8_t> huge = {'l', 1, 0, 1, 0xff, 0xff, 0xff, 0x7f, 1, 0, 0, 0, 0, 0, 0, 0};
    bad.send_raw(huge);
    CHECK(bad.closed_by_bus());
    CHECK(good.call_driver("GetId"));
}

TEST_CASE("A client that vanishes mid-message costs nothing to others") {
    TestBus tb;
    TestClient good(tb);
    auto gone = std::make_unique<TestClient>(tb);
    std::vector<uint8_t> partial = {'l', 1, 0, 1, 100, 0, 0, 0, 1, 0, 0, 0, 8, 0, 0, 0, 1, 1, 'o'};
    gone->send_raw(partial);
    gone->disconnect();
    CHECK(good.call_driver("ListNames"));
}

TEST_CASE("A bad authentication line is refused and only that client is closed") {
    TestBus tb;
    TestClient good(tb);
    int sv[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    tb.bus.accept(sv[0]);
    const std::string junk = std::string(1, '\0') + "HELLO THERE\r\n";
    ::send(sv[1], junk.data(), junk.size(), MSG_NOSIGNAL);
    tb.pump();
    char buf[256] = {};
    const ssize_t n = ::recv(sv[1], buf, sizeof buf - 1, MSG_DONTWAIT);
    REQUIRE(n > 0);
    CHECK(std::string(buf, static_cast<size_t>(n)).rfind("ERROR", 0) == 0);
    close(sv[1]);
    CHECK(good.call_driver("GetId"));
}

TEST_CASE("Properties report Features and Interfaces; Set is refused as read-only") {
    TestBus tb;
    TestClient c(tb);
    std::vector<uint8_t> body;
    wire::Writer w(body);
    w.string("org.freedesktop.DBus");
    w.string("Features");
    auto r = c.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus.Properties", "Get", "ss",
                    body);
    REQUIRE(r);
    CHECK(r->header.signature == "v");
    std::vector<uint8_t> set;
    wire::Writer ws(set);
    ws.string("org.freedesktop.DBus");
    ws.string("Features");
    ws.begin_variant("i");
    ws.int32(1);
    auto s = c.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus.Properties", "Set", "ssv",
                    set);
    CHECK(is_error(s, "org.freedesktop.DBus.Error.PropertyReadOnly"));
}

TEST_CASE("Peer.GetMachineId answers the machine id and Ping answers empty") {
    TestBus tb;
    TestClient c(tb);
    auto id = c.call("org.freedesktop.DBus", "/", "org.freedesktop.DBus.Peer", "GetMachineId");
    REQUIRE(id);
    CHECK(id->first_string() == "0123456789abcdef0123456789abcdef");
    auto ping = c.call("org.freedesktop.DBus", "/", "org.freedesktop.DBus.Peer", "Ping");
    REQUIRE(ping);
    CHECK(ping->header.type == wire::MessageType::method_return);
}

TEST_CASE("GetConnectionCredentials gives uid, pid and groups, and no ProcessFD without fd passing") {
    TestBus tb;
    TestClient c(tb);
    auto r = c.call_driver("GetConnectionCredentials", "s", body_s(c.name));
    REQUIRE(r);
    CHECK(r->header.signature == "a{sv}");
    CHECK(r->header.unix_fds == 0);
    const std::string body(r->bytes.begin() + static_cast<long>(r->header.body_offset), r->bytes.end());
    CHECK(body.find("UnixUserID") != std::string::npos);
    CHECK(body.find("ProcessID") != std::string::npos);
    CHECK(body.find("UnixGroupIDs") != std::string::npos);
    CHECK(body.find("ProcessFD") == std::string::npos);
}

TEST_CASE("A client that does not finish authenticating in auth_timeout is disconnected") {
    TestBus tb(100);
    int sv[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    tb.bus.accept(sv[0]);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    bool closed = false;
    while (!closed && std::chrono::steady_clock::now() < deadline) {
        tb.io.restart();
        tb.io.run_for(std::chrono::milliseconds(20));
        char b;
        closed = ::recv(sv[1], &b, 1, MSG_DONTWAIT) == 0;
    }
    CHECK(closed);
    close(sv[1]);
}

TEST_CASE("An fd sent to a peer that did not negotiate fds gets NotSupported back") {
    TestBus tb;
    TestClient sender(tb, true, true), receiver(tb);
    int p[2];
    REQUIRE(pipe(p) == 0);
    wire::HeaderFields f;
    f.type = wire::MessageType::method_call;
    f.destination = receiver.name;
    f.path = "/";
    f.interface = "com.example.I";
    f.member = "TakeFd";
    f.signature = "h";
    std::vector<uint8_t> body;
    wire::Writer(body).unix_fd(0);
    const uint32_t serial = sender.send_with_fd(f, body, p[0]);
    auto r = sender.wait_for([serial](const Received& m) { return m.header.reply_serial == serial; });
    REQUIRE(is_error(r, "org.freedesktop.DBus.Error.NotSupported"));
    for (const auto& m : receiver.drain()) CHECK(m.header.member != "TakeFd");
    close(p[0]);
    close(p[1]);
}

TEST_CASE("An fd sent to a peer that negotiated fds arrives with its message") {
    TestBus tb;
    TestClient sender(tb, true, true), receiver(tb, true, true);
    int p[2];
    REQUIRE(pipe(p) == 0);
    wire::HeaderFields f;
    f.type = wire::MessageType::method_call;
    f.flags = wire::flags::no_reply_expected;
    f.destination = receiver.name;
    f.path = "/";
    f.interface = "com.example.I";
    f.member = "TakeFd";
    f.signature = "h";
    std::vector<uint8_t> body;
    wire::Writer(body).unix_fd(0);
    sender.send_with_fd(f, body, p[0]);
    auto got = receiver.wait_for([](const Received& m) { return m.header.member == "TakeFd"; });
    REQUIRE(got);
    CHECK(got->header.unix_fds == 1);
    close(p[0]);
    close(p[1]);
}

namespace {

// A policy compiled from a small busconfig: everything allowed but what the test denies.
policy::CompiledPolicy policy_from(std::string_view rules) {
    char dir[] = "/tmp/jetbus-policy-XXXXXX";
    REQUIRE(mkdtemp(dir) != nullptr);
    const std::string path = std::string(dir) + "/bus.conf";
    FILE* f = fopen(path.c_str(), "w");
    REQUIRE(f != nullptr);
    fmt::print(f, "<busconfig><type>session</type><listen>unix:tmpdir=/tmp</listen><policy context=\"default\">"
                  "<allow send_destination=\"*\" eavesdrop=\"true\"/><allow eavesdrop=\"true\"/><allow own=\"*\"/>"
                  "<allow user=\"*\"/>{}</policy></busconfig>",
               rules);
    fclose(f);
    auto config = config::load_bus_config(path);
    unlink(path.c_str());
    rmdir(dir);
    return policy::CompiledPolicy::compile(config, getuid());
}

}  // namespace

TEST_CASE("RequestName of a name the policy does not let the caller own gives AccessDenied") {
    TestBus tb;
    tb.bus.set_policy(policy_from("<deny own=\"com.example.Denied\"/>"));
    TestClient c(tb);
    auto r = c.call_driver("RequestName", "su", body_su("com.example.Denied", 0));
    REQUIRE(is_error(r, "org.freedesktop.DBus.Error.AccessDenied"));
    CHECK(r->first_string() == fmt::format("Connection \"{}\" is not allowed to own the service "
                                           "\"com.example.Denied\" due to security policies in the configuration file",
                                           c.name));
    auto ok = c.call_driver("RequestName", "su", body_su("com.example.Allowed", 0));
    REQUIRE(ok);
    CHECK(ok->first_uint32() == 1);
}

TEST_CASE("A call the send policy denies gets AccessDenied and never reaches the callee") {
    TestBus tb;
    tb.bus.set_policy(policy_from("<deny send_interface=\"com.example.Secret\"/>"));
    TestClient svc(tb), caller(tb);
    svc.call_driver("RequestName", "su", body_su("com.example.Svc", 0));
    auto r = caller.call("com.example.Svc", "/", "com.example.Secret", "Get");
    REQUIRE(is_error(r, "org.freedesktop.DBus.Error.AccessDenied"));
    CHECK(r->first_string().rfind("Rejected send message, ", 0) == 0);
    for (const auto& m : svc.drain()) CHECK(m.header.interface != "com.example.Secret");
    const uint32_t serial = caller.send_call("com.example.Svc", "/", "com.example.Open", "Get");
    CHECK(svc.wait_for([](const Received& m) { return m.header.interface == "com.example.Open"; }));
    (void)serial;
}

TEST_CASE("A broadcast the receive policy denies is not delivered to that receiver") {
    TestBus tb;
    tb.bus.set_policy(policy_from("<deny receive_interface=\"com.example.Hidden\"/>"));
    TestClient emitter(tb), listener(tb);
    listener.call_driver("AddMatch", "s", body_s("type='signal'"));
    wire::HeaderFields f;
    f.type = wire::MessageType::signal;
    f.path = "/";
    f.interface = "com.example.Hidden";
    f.member = "S";
    emitter.send(f);
    f.interface = "com.example.Shown";
    emitter.send(f);
    auto got = listener.wait_for([](const Received& m) { return m.header.member == "S"; });
    REQUIRE(got);
    CHECK(got->header.interface == "com.example.Shown");
}

TEST_CASE("At max_incomplete_connections the listener waits until a connection completes its Hello") {
    broker::BusLimits limits;
    limits.max_incomplete_connections = 2;
    TestBus tb(limits);
    char dir[] = "/tmp/jetbus-listen-XXXXXX";
    REQUIRE(mkdtemp(dir) != nullptr);
    const std::string path = std::string(dir) + "/bus";
    auto bound = broker::bind_listener({broker::ListenAddress::Kind::path, path});
    broker::Listener listener(tb.bus, bound.fd, bound.unlink_path);
    listener.start();
    const std::string uid_hex = [] {
        std::string hex;
        for (char ch : std::to_string(getuid())) hex += fmt::format("{:02x}", static_cast<unsigned>(ch));
        return hex;
    }();
    int peers[3];
    for (int& fd : peers) {
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
        REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        const std::string auth = std::string(1, '\0') + "AUTH EXTERNAL " + uid_hex + "\r\n";
        ::send(fd, auth.data(), auth.size(), MSG_NOSIGNAL);
    }
    auto answered = [&](int fd) {
        char buf[256];
        for (int i = 0; i < 50; ++i) {
            tb.io.restart();
            tb.io.run_for(std::chrono::milliseconds(5));
            if (::recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0) return true;
        }
        return false;
    };
    CHECK(answered(peers[0]));
    CHECK(answered(peers[1]));
    CHECK_FALSE(answered(peers[2]));  // still in the kernel's backlog
    // The first completes: BEGIN and Hello.
    wire::HeaderFields f;
    f.type = wire::MessageType::method_call;
    f.serial = 1;
    f.destination = "org.freedesktop.DBus";
    f.path = "/org/freedesktop/DBus";
    f.interface = "org.freedesktop.DBus";
    f.member = "Hello";
    std::vector<uint8_t> hello(wire::header_size(f));
    wire::write_header(f, 0, hello);
    const std::string begin = "BEGIN\r\n";
    ::send(peers[0], begin.data(), begin.size(), MSG_NOSIGNAL);
    ::send(peers[0], hello.data(), hello.size(), MSG_NOSIGNAL);
    CHECK(answered(peers[0]));
    CHECK(answered(peers[2]));  // now accepted and answered
    for (int fd : peers) close(fd);
    rmdir(dir);
}

TEST_CASE("With reply_timeout the bus answers NoReply itself when a callee never replies") {
    broker::BusLimits limits;
    limits.reply_timeout_ms = 100;
    TestBus tb(limits);
    TestClient svc(tb), caller(tb);
    svc.call_driver("RequestName", "su", body_su("com.example.Svc", 0));
    const uint32_t serial = caller.send_call("com.example.Svc", "/", "com.example.I", "Never");
    REQUIRE(svc.wait_for([](const Received& m) { return m.header.member == "Never"; }));
    std::optional<Received> r;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (!r && std::chrono::steady_clock::now() < deadline) {
        tb.io.restart();
        tb.io.run_for(std::chrono::milliseconds(20));
        r = caller.wait_for([serial](const Received& m) { return m.header.reply_serial == serial; },
                            std::chrono::milliseconds(1));
    }
    REQUIRE(is_error(r, "org.freedesktop.DBus.Error.NoReply"));
    CHECK(r->first_string() == "Message did not receive a reply (timeout by message bus)");
    // A late reply is no longer expected and is dropped.
    wire::HeaderFields f;
    f.type = wire::MessageType::method_return;
    f.reply_serial = serial;
    f.destination = caller.name;
    svc.send(f);
    CHECK_FALSE(caller.wait_for([serial](const Received& m) { return m.header.reply_serial == serial; },
                                std::chrono::milliseconds(200)));
}

TEST_CASE("Unix fds that arrive without their message close the connection after pending_fd_timeout") {
    broker::BusLimits limits;
    limits.pending_fd_timeout_ms = 100;
    TestBus tb(limits);
    TestClient good(tb), c(tb, true, true);
    int p[2];
    REQUIRE(pipe(p) == 0);
    const std::vector<uint8_t> first_byte = {'l'};  // the start of a message that never completes
    c.send_raw_with_fd(first_byte, p[0]);
    bool closed = false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (!closed && std::chrono::steady_clock::now() < deadline) {
        tb.io.restart();
        tb.io.run_for(std::chrono::milliseconds(20));
        closed = c.closed_by_bus(std::chrono::milliseconds(1));
    }
    CHECK(closed);
    CHECK(good.call_driver("GetId"));
    close(p[0]);
    close(p[1]);
}
