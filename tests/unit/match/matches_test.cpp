// Matching one rule against one message: each key's semantics, with the examples of the
// specification's "Match Rules" table.
#include <doctest/doctest.h>

#include <initializer_list>
#include <string_view>
#include <vector>

#include "match/match_input.h"
#include "match_test_util.h"

using namespace jetbus::match;
using jetbus::match::test::rule;
using jetbus::wire::MessageType;

namespace {

// A broadcast signal from :1.5 with the given leading arguments.
struct Signal {
    std::vector<MatchArg> args;
    MatchInput input;

    explicit Signal(std::initializer_list<MatchArg> a = {}) : args(a) {
        input.type = MessageType::signal;
        input.sender = ":1.5";
        input.interface = "com.example.Iface";
        input.member = "Changed";
        input.path = "/com/example/foo";
        input.args = args;
    }
};

bool arg0_matches(std::string_view rule_text, MatchArg arg) {
    Signal s{arg};
    return matches(rule(rule_text), s.input);
}

bool path_matches(std::string_view rule_text, std::string_view path) {
    Signal s;
    s.input.path = path;
    return matches(rule(rule_text), s.input);
}

MatchArg str(std::string_view v) { return MatchArg{v, 's'}; }
MatchArg obj(std::string_view v) { return MatchArg{v, 'o'}; }

}  // namespace

TEST_CASE("an empty rule matches any broadcast") {
    Signal s;
    CHECK(matches(rule(""), s.input));
}

TEST_CASE("type, interface and member must equal the message's") {
    Signal s;
    CHECK(matches(rule("type='signal',interface='com.example.Iface',member='Changed'"), s.input));
    CHECK_FALSE(matches(rule("type='method_call'"), s.input));
    CHECK_FALSE(matches(rule("interface='com.example.Other'"), s.input));
    CHECK_FALSE(matches(rule("member='Other'"), s.input));
}

TEST_CASE("a rule naming an interface does not match a message without one") {
    Signal s;
    s.input.interface = {};
    CHECK_FALSE(matches(rule("interface='com.example.Iface'"), s.input));
    CHECK(matches(rule("member='Changed'"), s.input));
}

TEST_CASE("a sender given as a unique name matches only that connection") {
    Signal s;
    CHECK(matches(rule("sender=':1.5'"), s.input));
    CHECK_FALSE(matches(rule("sender=':1.6'"), s.input));
}

TEST_CASE("a sender given as a well-known name matches when the sender is its primary owner") {
    Signal s;
    CHECK_FALSE(matches(rule("sender='com.example.Owned'"), s.input));  // no ownership callback
    s.input.sender_owns = [](const void*, std::string_view name) { return name == "com.example.Owned"; };
    CHECK(matches(rule("sender='com.example.Owned'"), s.input));
    CHECK_FALSE(matches(rule("sender='com.example.NotOwned'"), s.input));
}

TEST_CASE("the ownership callback gets the context the broker set") {
    Signal s;
    int owner_table = 7;
    s.input.ctx = &owner_table;
    s.input.sender_owns = [](const void* ctx, std::string_view) { return *static_cast<const int*>(ctx) == 7; };
    CHECK(matches(rule("sender='com.example.Owned'"), s.input));
}

TEST_CASE("messages from the bus match sender='org.freedesktop.DBus'") {
    Signal s;
    s.input.sender = "org.freedesktop.DBus";
    CHECK(matches(rule("sender='org.freedesktop.DBus'"), s.input));
}

TEST_CASE("a rule without destination does not match a message that has one") {
    Signal s;
    s.input.destination = ":1.9";
    CHECK_FALSE(matches(rule("member='Changed'"), s.input));
    CHECK_FALSE(matches(rule("eavesdrop='false'"), s.input));
}

TEST_CASE("eavesdrop='true' matches messages sent to any destination") {
    Signal s;
    s.input.destination = ":1.9";
    CHECK(matches(rule("eavesdrop='true'"), s.input));
    CHECK_FALSE(matches(rule("eavesdrop='true'"), s.input, false));  // the router disallows eavesdropping
    s.input.destination = {};
    CHECK(matches(rule("eavesdrop='true'"), s.input, false));  // a broadcast is no eavesdropping
}

TEST_CASE("destination matches the message's destination and never a broadcast") {
    Signal s;
    CHECK_FALSE(matches(rule("destination=':1.9'"), s.input));
    s.input.destination = ":1.9";
    CHECK(matches(rule("destination=':1.9'"), s.input));
    CHECK_FALSE(matches(rule("destination=':1.8'"), s.input));
}

TEST_CASE("destination matches when the addressed connection owns the name the rule gives") {
    Signal s;
    s.input.destination = "com.example.Service";  // owned by :1.9
    s.input.recipient_owns = [](const void*, std::string_view name) {
        return name == ":1.9" || name == "com.example.Service";
    };
    CHECK(matches(rule("destination=':1.9'"), s.input));
    CHECK_FALSE(matches(rule("destination=':1.8'"), s.input));
}

TEST_CASE("path matches the exact object path only") {
    CHECK(path_matches("path='/com/example/foo'", "/com/example/foo"));
    CHECK_FALSE(path_matches("path='/com/example/foo'", "/com/example/foo/bar"));
    CHECK_FALSE(path_matches("path='/com/example/foo'", ""));
}

TEST_CASE("path_namespace matches the path itself and paths below it, as the spec's example says") {
    CHECK(path_matches("path_namespace='/com/example/foo'", "/com/example/foo"));
    CHECK(path_matches("path_namespace='/com/example/foo'", "/com/example/foo/bar"));
    CHECK_FALSE(path_matches("path_namespace='/com/example/foo'", "/com/example/foobar"));
    CHECK_FALSE(path_matches("path_namespace='/com/example/foo'", "/com/example"));
    CHECK_FALSE(path_matches("path_namespace='/com/example/foo'", ""));
}

TEST_CASE("path_namespace='/' matches every path") {
    CHECK(path_matches("path_namespace='/'", "/"));
    CHECK(path_matches("path_namespace='/'", "/a/b"));
    CHECK_FALSE(path_matches("path_namespace='/'", ""));  // a message without a path
}

TEST_CASE("argN matches a string argument exactly") {
    CHECK(arg0_matches("arg0='foo'", str("foo")));
    CHECK_FALSE(arg0_matches("arg0='foo'", str("foobar")));
    CHECK_FALSE(arg0_matches("arg0='foo'", str("fo")));
    CHECK(arg0_matches("arg0=''", str("")));
}

TEST_CASE("argN does not match an object path or any other type") {
    CHECK_FALSE(arg0_matches("arg0='/a'", obj("/a")));
    CHECK_FALSE(arg0_matches("arg0='5'", MatchArg{"5", 0}));
}

TEST_CASE("argN does not match a message with fewer arguments") {
    Signal s{str("a")};
    CHECK(matches(rule("arg0='a'"), s.input));
    CHECK_FALSE(matches(rule("arg1='b'"), s.input));
}

TEST_CASE("all argument keys of a rule must match") {
    Signal s{str("a"), MatchArg{"", 0}, str("c")};
    CHECK(matches(rule("arg0='a',arg2='c'"), s.input));
    CHECK_FALSE(matches(rule("arg0='a',arg2='x'"), s.input));
    CHECK_FALSE(matches(rule("arg0='a',arg1=''"), s.input));
}

TEST_CASE("arg0path='/aa/bb/' matches the arguments the spec lists") {
    for (std::string_view arg : {"/", "/aa/", "/aa/bb/", "/aa/bb/cc/", "/aa/bb/cc"}) {
        INFO(arg);
        CHECK(arg0_matches("arg0path='/aa/bb/'", str(arg)));
    }
}

TEST_CASE("arg0path='/aa/bb/' does not match the arguments the spec excludes") {
    for (std::string_view arg : {"/aa/b", "/aa", "/aa/bb"}) {
        INFO(arg);
        CHECK_FALSE(arg0_matches("arg0path='/aa/bb/'", str(arg)));
    }
}

TEST_CASE("argNpath matches object path arguments too") {
    CHECK(arg0_matches("arg0path='/aa/bb/'", obj("/aa/bb/cc")));
    CHECK(arg0_matches("arg0path='/aa/bb'", obj("/aa/bb")));
    CHECK(arg0_matches("arg0path='/aa/bb'", obj("/")));
    CHECK_FALSE(arg0_matches("arg0path='/aa/bb'", obj("/aa/bb/cc")));
    CHECK_FALSE(arg0_matches("arg0path='/aa/bb/'", MatchArg{"/aa/bb/", 'g'}));
}

TEST_CASE("argNpath with an empty string matches only an empty argument") {
    CHECK(arg0_matches("arg0path=''", str("")));
    CHECK_FALSE(arg0_matches("arg0path=''", str("/a")));
    CHECK_FALSE(arg0_matches("arg0path='/a/'", str("")));
}

TEST_CASE("arg0namespace matches the spec's backend1 example") {
    const char* r = "member='NameOwnerChanged',arg0namespace='com.example.backend1'";
    Signal s{str("")};
    s.input.member = "NameOwnerChanged";
    for (std::string_view name : {"com.example.backend1", "com.example.backend1.foo", "com.example.backend1.foo.bar"}) {
        INFO(name);
        s.args[0] = str(name);
        CHECK(matches(rule(r), s.input));
    }
    for (std::string_view name : {"com.example.backend10", "com.example.backend", "com.example", "org.other"}) {
        INFO(name);
        s.args[0] = str(name);
        CHECK_FALSE(matches(rule(r), s.input));
    }
}

TEST_CASE("arg0namespace matches string arguments only") {
    CHECK_FALSE(arg0_matches("arg0namespace='a.b'", obj("a.b")));
}
