// org.freedesktop.DBus.Debug.Stats, driven in process by raw clients: the counters move as messages,
// names and rules come and go, with the keys, types and order dbus-daemon 1.14 answers with.
#include <doctest/doctest.h>

#include <map>
#include <variant>

#include "test_bus.h"

using namespace jetbus;
using namespace jetbus::test;

namespace {

constexpr std::string_view stats_iface = "org.freedesktop.DBus.Debug.Stats";

// An a{sv} whose values are u or s, keys in the order they came.
struct Stats {
    std::vector<std::string> keys;
    std::map<std::string, std::variant<uint32_t, std::string>> values;
    uint32_t u(const std::string& key) const {
        auto it = values.find(key);
        REQUIRE_MESSAGE(it != values.end(), key);
        REQUIRE_MESSAGE(std::holds_alternative<uint32_t>(it->second), key);
        return std::get<uint32_t>(it->second);
    }
    std::string s(const std::string& key) const { return std::get<std::string>(values.at(key)); }
};

Stats parse_stats(const Received& r) {
    REQUIRE(r.header.type == wire::MessageType::method_return);
    REQUIRE(r.header.signature == "a{sv}");
    wire::Reader rd({r.bytes.data() + r.header.body_offset, r.header.body_length}, r.header.endian);
    Stats out;
    size_t end = 0;
    REQUIRE(rd.enter_array(8, end));
    while (rd.offset() < end) {
        std::string_view key, sig;
        REQUIRE(rd.enter_struct());
        REQUIRE(rd.string(key));
        REQUIRE(rd.enter_variant(sig));
        out.keys.emplace_back(key);
        if (sig == "u") {
            uint32_t v = 0;
            REQUIRE(rd.uint32(v));
            out.values[std::string(key)] = v;
        } else {
            REQUIRE(sig == "s");
            std::string_view v;
            REQUIRE(rd.string(v));
            out.values[std::string(key)] = std::string(v);
        }
    }
    return out;
}

std::optional<Received> call_stats(TestClient& c, std::string_view member, std::string_view sig = "",
                                   const std::vector<uint8_t>& body = {}) {
    return c.call("org.freedesktop.DBus", "/org/freedesktop/DBus", stats_iface, member, sig, body);
}

Stats get_stats(TestClient& c) {
    auto r = call_stats(c, "GetStats");
    REQUIRE(r);
    return parse_stats(*r);
}

Stats connection_stats(TestClient& c, std::string_view name) {
    auto r = call_stats(c, "GetConnectionStats", "s", body_s(name));
    REQUIRE(r);
    return parse_stats(*r);
}

bool is_error(const std::optional<Received>& r, std::string_view name) {
    return r && r->header.type == wire::MessageType::error && r->header.error_name == name;
}

// GetAllMatchRules' a{sas} as a map.
std::map<std::string, std::vector<std::string>> parse_rules(const Received& r) {
    REQUIRE(r.header.signature == "a{sas}");
    wire::Reader rd({r.bytes.data() + r.header.body_offset, r.header.body_length}, r.header.endian);
    std::map<std::string, std::vector<std::string>> out;
    size_t end = 0;
    REQUIRE(rd.enter_array(8, end));
    while (rd.offset() < end) {
        std::string_view name;
        REQUIRE(rd.enter_struct());
        REQUIRE(rd.string(name));
        auto& rules = out[std::string(name)];
        size_t rules_end = 0;
        REQUIRE(rd.enter_array(4, rules_end));
        while (rd.offset() < rules_end) {
            std::string_view rule;
            REQUIRE(rd.string(rule));
            rules.emplace_back(rule);
        }
    }
    return out;
}

wire::HeaderFields big_signal() {
    wire::HeaderFields f;
    f.type = wire::MessageType::signal;
    f.path = "/obj";
    f.interface = "com.example.Big";
    f.member = "Blob";
    f.signature = "s";
    return f;
}

}  // namespace

TEST_CASE("GetStats answers dbus-daemon's keys, in its order, all of them uint32") {
    TestBus tb;
    TestClient c(tb);
    const Stats s = get_stats(c);
    const std::vector<std::string> expected = {
        "Serial",      "ListMemPoolUsedBytes", "ListMemPoolCachedBytes",     "ListMemPoolAllocatedBytes",
        "ActiveConnections", "IncompleteConnections", "MatchRules", "PeakMatchRules",
        "PeakMatchRulesPerConnection", "BusNames", "PeakBusNames", "PeakBusNamesPerConnection"};
    CHECK(s.keys == expected);
    for (const auto& k : expected) CHECK_MESSAGE(std::holds_alternative<uint32_t>(s.values.at(k)), k);
    CHECK(get_stats(c).u("Serial") == s.u("Serial") + 1);
}

TEST_CASE("GetStats counts connections, names and match rules, and keeps their peaks") {
    TestBus tb;
    TestClient a(tb), b(tb);
    TestClient unfinished(tb, false);  // authenticates, never says Hello
    REQUIRE(b.call_driver("RequestName", "su", body_su("com.example.Stats", 0)));
    REQUIRE(a.call_driver("RequestName", "su", body_su("com.example.Stats", 0)));  // queued: a claim too
    REQUIRE(b.call_driver("AddMatch", "s", body_s("type='signal',member='One'")));
    REQUIRE(b.call_driver("AddMatch", "s", body_s("type='signal',member='Two'")));
    REQUIRE(a.call_driver("AddMatch", "s", body_s("type='signal',member='Three'")));
    Stats s = get_stats(a);
    CHECK(s.u("ActiveConnections") == 2);
    CHECK(s.u("IncompleteConnections") == 1);
    CHECK(s.u("BusNames") == 4);  // two unique names, the owner's claim and the queued one
    CHECK(s.u("PeakBusNames") == 4);
    CHECK(s.u("PeakBusNamesPerConnection") == 2);
    CHECK(s.u("MatchRules") == 3);
    CHECK(s.u("PeakMatchRules") == 3);
    CHECK(s.u("PeakMatchRulesPerConnection") == 2);

    b.disconnect();
    s = get_stats(a);
    CHECK(s.u("ActiveConnections") == 1);
    CHECK(s.u("BusNames") == 2);  // a's unique name, and the name it now owns
    CHECK(s.u("MatchRules") == 1);
    CHECK(s.u("PeakBusNames") == 4);
    CHECK(s.u("PeakMatchRules") == 3);
    CHECK(s.u("PeakMatchRulesPerConnection") == 2);
}

TEST_CASE("GetConnectionStats answers dbus-daemon's keys and types, by unique or well-known name") {
    TestBus tb;
    TestClient a(tb), b(tb);
    REQUIRE(b.call_driver("RequestName", "su", body_su("com.example.Stats", 0)));
    REQUIRE(b.call_driver("AddMatch", "s", body_s("type='signal',member='One'")));
    REQUIRE(b.call_driver("RemoveMatch", "s", body_s("type='signal',member='One'")));
    const Stats s = connection_stats(a, "com.example.Stats");
    const std::vector<std::string> expected = {
        "Serial",           "MatchRules",        "PeakMatchRules",   "BusNames",
        "PeakBusNames",     "UniqueName",        "IncomingMessages", "IncomingBytes",
        "IncomingFDs",      "PeakIncomingBytes", "PeakIncomingFDs",  "OutgoingMessages",
        "OutgoingBytes",    "OutgoingFDs",       "PeakOutgoingBytes", "PeakOutgoingFDs"};
    CHECK(s.keys == expected);
    CHECK(s.s("UniqueName") == b.name);
    CHECK(s.u("BusNames") == 2);
    CHECK(s.u("PeakBusNames") == 2);
    CHECK(s.u("MatchRules") == 0);
    CHECK(s.u("PeakMatchRules") == 1);
    CHECK(s.u("PeakIncomingBytes") > 0);
    CHECK(s.u("PeakOutgoingBytes") > 0);
    CHECK(connection_stats(a, b.name).u("Serial") == s.u("Serial") + 1);
}

TEST_CASE("GetConnectionStats refuses the bus itself and names nobody owns, worded as dbus-daemon") {
    TestBus tb;
    TestClient c(tb);
    auto bus = call_stats(c, "GetConnectionStats", "s", body_s("org.freedesktop.DBus"));
    REQUIRE(is_error(bus, "org.freedesktop.DBus.Error.InvalidArgs"));
    CHECK(bus->first_string() ==
          "GetConnectionStats is not meaningful for the message bus \"org.freedesktop.DBus\" itself");
    for (std::string_view name : {":1.99", "com.example.Nobody", "not a name"}) {
        auto r = call_stats(c, "GetConnectionStats", "s", body_s(name));
        REQUIRE(is_error(r, "org.freedesktop.DBus.Error.NameHasNoOwner"));
        CHECK(r->first_string() == fmt::format("Could not get statistics of name '{}': no such name", name));
    }
}

TEST_CASE("The call being answered counts as the caller's incoming bytes, at the size it was sent") {
    TestBus tb;
    TestClient c(tb);
    wire::HeaderFields f;
    f.type = wire::MessageType::method_call;
    f.destination = "org.freedesktop.DBus";
    f.path = "/org/freedesktop/DBus";
    f.interface = stats_iface;
    f.member = "GetConnectionStats";
    f.signature = "s";
    const std::vector<uint8_t> body = body_s(c.name);
    const uint32_t serial = c.send(f, body);
    auto r = c.wait_for([serial](const Received& m) { return m.header.reply_serial == serial; });
    REQUIRE(r);
    const Stats s = parse_stats(*r);
    CHECK(s.u("IncomingBytes") == wire::header_size(f) + body.size());
    CHECK(s.u("IncomingMessages") == 0);
    CHECK(s.u("PeakIncomingBytes") >= s.u("IncomingBytes"));
}

TEST_CASE("Calls sent in one write count as the caller's incoming messages until each is dispatched") {
    TestBus tb;
    TestClient c(tb);
    wire::HeaderFields f;
    f.type = wire::MessageType::method_call;
    f.destination = "org.freedesktop.DBus";
    f.path = "/org/freedesktop/DBus";
    f.interface = stats_iface;
    f.member = "GetConnectionStats";
    f.signature = "s";
    const std::vector<uint8_t> body = body_s(c.name);
    const size_t size = wire::header_size(f) + body.size();
    std::vector<uint8_t> three;
    for (uint32_t serial = 100; serial < 103; ++serial) {
        f.serial = serial;
        std::vector<uint8_t> one(wire::header_size(f));
        wire::write_header(f, static_cast<uint32_t>(body.size()), one);
        three.insert(three.end(), one.begin(), one.end());
        three.insert(three.end(), body.begin(), body.end());
    }
    c.send_raw(three);
    for (uint32_t waiting = 3; waiting-- > 0;) {
        const uint32_t serial = 102 - waiting;
        auto r = c.wait_for([serial](const Received& m) { return m.header.reply_serial == serial; });
        REQUIRE(r);
        const Stats s = parse_stats(*r);
        CHECK(s.u("IncomingMessages") == waiting);
        CHECK(s.u("IncomingBytes") == (waiting + 1) * size);
    }
}

TEST_CASE("Messages waiting for a peer that does not read count as its outgoing queue and its sender's "
          "incoming bytes; the peaks stay once they are written") {
    TestBus tb;
    TestClient observer(tb), emitter(tb), reader(tb);
    REQUIRE(reader.call_driver("AddMatch", "s", body_s("interface='com.example.Big'")));
    const std::vector<uint8_t> blob = body_s(std::string(60000, 'x'));
    constexpr int count = 12;  // about 720 kB: more than a socket buffer holds
    for (int i = 0; i < count; ++i) {
        emitter.send(big_signal(), blob);
        for (int j = 0; j < 5; ++j) tb.pump();
    }
    const Stats queued = connection_stats(observer, reader.name);
    CHECK(queued.u("OutgoingMessages") > 0);
    CHECK(queued.u("OutgoingMessages") < count);
    CHECK(queued.u("OutgoingBytes") > queued.u("OutgoingMessages") * blob.size());
    CHECK(queued.u("PeakOutgoingBytes") >= queued.u("OutgoingBytes"));
    CHECK(queued.u("OutgoingFDs") == 0);
    // The emitter's signals still in the broker are charged to it, as to a dbus-daemon sender.
    const Stats sender = connection_stats(observer, emitter.name);
    CHECK(sender.u("IncomingBytes") >= queued.u("OutgoingMessages") * blob.size());
    CHECK(sender.u("PeakIncomingBytes") >= sender.u("IncomingBytes"));

    size_t blobs = 0;
    for (int i = 0; i < 50 && blobs < count; ++i) {
        for (const auto& m : reader.drain()) blobs += m.header.member == "Blob";
    }
    REQUIRE(blobs == count);
    const Stats after = connection_stats(observer, reader.name);
    CHECK(after.u("OutgoingMessages") == 0);
    CHECK(after.u("OutgoingBytes") == 0);
    CHECK(after.u("PeakOutgoingBytes") == queued.u("PeakOutgoingBytes"));
    CHECK(connection_stats(observer, emitter.name).u("IncomingBytes") == 0);
}

TEST_CASE("A message's unix fds count as its sender's incoming fds while it is in the broker") {
    TestBus tb;
    TestClient observer(tb), sender(tb, true, true);
    int pipe_fds[2];
    REQUIRE(::pipe(pipe_fds) == 0);
    wire::HeaderFields f;
    f.type = wire::MessageType::method_call;
    f.destination = "org.freedesktop.DBus";
    f.path = "/org/freedesktop/DBus";
    f.interface = "org.freedesktop.DBus.Peer";
    f.member = "Ping";
    f.flags = wire::flags::no_reply_expected;
    sender.send_with_fd(f, {}, pipe_fds[0]);
    tb.pump();
    const Stats s = connection_stats(observer, sender.name);
    CHECK(s.u("PeakIncomingFDs") == 1);
    CHECK(s.u("IncomingFDs") == 0);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
}

TEST_CASE("GetAllMatchRules lists every connection, its rules as dbus-daemon writes them") {
    TestBus tb;
    TestClient a(tb), b(tb);
    REQUIRE(b.call_driver("AddMatch", "s", body_s("member='M',type='signal',arg0='x',interface='com.example.I'")));
    REQUIRE(b.call_driver("AddMatch", "s", body_s("eavesdrop=true,path_namespace='/org',arg1path='/p/'")));
    auto r = call_stats(a, "GetAllMatchRules");
    REQUIRE(r);
    const auto rules = parse_rules(*r);
    CHECK(rules.size() == 2);
    CHECK(rules.at(a.name).empty());
    CHECK(rules.at(b.name) ==
          std::vector<std::string>{"path_namespace='/org',eavesdrop='true',arg1path='/p/'",
                                   "type='signal',interface='com.example.I',member='M',arg0='x'"});
}

TEST_CASE("Debug.Stats is offered on /org/freedesktop/DBus only, and listed in Interfaces and introspection") {
    TestBus tb;
    TestClient c(tb);
    CHECK(is_error(c.call("org.freedesktop.DBus", "/", stats_iface, "GetStats"),
                   "org.freedesktop.DBus.Error.UnknownInterface"));
    CHECK(driver::introspection_xml("/org/freedesktop/DBus").find(std::string(stats_iface)) != std::string::npos);
    CHECK(driver::introspection_xml("/").find(std::string(stats_iface)) == std::string::npos);
    std::vector<uint8_t> body;
    wire::Writer w(body);
    w.string("org.freedesktop.DBus");
    w.string("Interfaces");
    auto r = c.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus.Properties", "Get", "ss",
                    body);
    REQUIRE(r);
    const std::string text(r->bytes.begin() + r->header.body_offset, r->bytes.end());
    CHECK(text.find(std::string(stats_iface)) != std::string::npos);
}
