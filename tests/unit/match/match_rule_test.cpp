// Parsing match rules: every key, the quoting rules, and each error with dbus-daemon 1.14.10's
// text (recorded by sending AddMatch to the real daemon).
#include <doctest/doctest.h>

#include <string>

#include "match/match_rule.h"
#include "match_test_util.h"

using namespace jetbus::match;
using jetbus::match::test::error_of;
using jetbus::match::test::rule;
using jetbus::wire::MessageType;

TEST_CASE("an empty rule or one of only whitespace matches everything") {
    CHECK(rule("") == MatchRule{});
    CHECK(rule(" \t\r\n") == MatchRule{});
}

TEST_CASE("every message type name is accepted") {
    CHECK(rule("type='method_call'").type == MessageType::method_call);
    CHECK(rule("type='method_return'").type == MessageType::method_return);
    CHECK(rule("type='error'").type == MessageType::error);
    CHECK(rule("type='signal'").type == MessageType::signal);
}

TEST_CASE("the example rule of the specification parses into each of its keys") {
    MatchRule r = rule("type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
                       "member='Foo',path='/bar/foo',destination=':452345.34',arg2='bar'");
    CHECK(r.type == MessageType::signal);
    CHECK(r.sender == "org.freedesktop.DBus");
    CHECK(r.interface == "org.freedesktop.DBus");
    CHECK(r.member == "Foo");
    CHECK(r.path == "/bar/foo");
    CHECK(r.path_kind == PathKind::exact);
    CHECK(r.destination == ":452345.34");
    REQUIRE(r.args.size() == 3);
    CHECK(r.args[0].kind == ArgKind::none);
    CHECK(r.args[1].kind == ArgKind::none);
    CHECK(r.args[2] == ArgMatch{ArgKind::string, "bar"});
    CHECK_FALSE(r.eavesdrop);
}

TEST_CASE("path_namespace, argNpath, arg0namespace and eavesdrop parse") {
    MatchRule r = rule("path_namespace='/com/example',arg0namespace='com.example',arg63path='/a/',"
                       "eavesdrop='true'");
    CHECK(r.path == "/com/example");
    CHECK(r.path_kind == PathKind::namespace_prefix);
    REQUIRE(r.args.size() == 64);
    CHECK(r.args[0] == ArgMatch{ArgKind::namespace_prefix, "com.example"});
    CHECK(r.args[63] == ArgMatch{ArgKind::path, "/a/"});
    CHECK(r.eavesdrop);
}

TEST_CASE("values may be unquoted") {
    MatchRule r = rule("type=signal,member=Changed,arg0=x y");
    CHECK(r.type == MessageType::signal);
    CHECK(r.member == "Changed");
    CHECK(r.args[0].value == "x y");
}

TEST_CASE("the spec's quoted example gives apostrophe, backslash, comma, two backslashes") {
    MatchRule r = rule(R"(arg0=''\''',arg1='\',arg2=',',arg3='\\')");
    REQUIRE(r.args.size() == 4);
    CHECK(r.args[0].value == "'");
    CHECK(r.args[1].value == "\\");
    CHECK(r.args[2].value == ",");
    CHECK(r.args[3].value == "\\\\");
}

TEST_CASE("a backslash before a comma keeps the comma, so the spec's unquoted example reads as dbus-daemon reads it") {
    // The spec says arg0=\',arg1=\,arg2=',',arg3=\\ equals the quoted form above; dbus-daemon 1.14.10
    // (Debug.Stats.GetAllMatchRules) shows arg0=''\''',arg1='\,arg2=,',arg3='\\'. Clients get the daemon's reading.
    MatchRule r = rule(R"(arg0=\',arg1=\,arg2=',',arg3=\\)");
    REQUIRE(r.args.size() == 4);
    CHECK(r.args[0].value == "'");
    CHECK(r.args[1].value == "\\,arg2=,");
    CHECK(r.args[2].kind == ArgKind::none);
    CHECK(r.args[3].value == "\\\\");
}

TEST_CASE("quoted and unquoted pieces of a value join up") {
    CHECK(rule("arg0='a'b'c'").args[0].value == "abc");
    CHECK(rule("arg0=a\\'b").args[0].value == "a'b");
    CHECK(rule("arg0=''").args[0].value == "");
    CHECK(rule("arg0=").args[0].value == "");
    CHECK(rule("arg0=a\\").args[0].value == "a\\");  // a trailing backslash is itself
}

TEST_CASE("whitespace may surround keys and the equals sign but belongs to values") {
    CHECK(rule(" type =signal").type == MessageType::signal);
    CHECK(rule("type='signal',\tmember='a'").member == "a");
    CHECK(rule("type='signal', ").type == MessageType::signal);
    CHECK(error_of("type='signal' , member='Foo'") == "Invalid message type (signal ) in match rule\n");
    CHECK(error_of("type= 'signal'") == "Invalid message type ( signal) in match rule\n");
    CHECK(error_of("type='signal' ") == "Invalid message type (signal ) in match rule\n");
}

TEST_CASE("a trailing comma is accepted") {
    CHECK(rule("type='signal',").type == MessageType::signal);
}

TEST_CASE("eavesdrop may repeat and the last value wins") {
    CHECK(rule("eavesdrop=true,eavesdrop=true").eavesdrop);
    CHECK_FALSE(rule("eavesdrop=true,eavesdrop=false").eavesdrop);
    CHECK(rule("eavesdrop='false'") == MatchRule{});
}

TEST_CASE("argument numbers are read like strtoul with base 0, as dbus-daemon reads them") {
    CHECK(rule("arg0x1='a'").args.size() == 2);      // hexadecimal 1
    CHECK(rule("arg010='a'").args.size() == 9);      // octal 8
    CHECK(rule("arg+1='a'").args.size() == 2);
    CHECK(rule("arg01path='x'").args[1].kind == ArgKind::path);
}

TEST_CASE("sender and destination accept the names dbus-daemon accepts") {
    CHECK(rule("sender=':1.5'").sender == ":1.5");
    CHECK(rule("sender=':'").sender == ":");
    CHECK(rule("sender=':1-2.3'").sender == ":1-2.3");
    CHECK(rule("sender='-a.b'").sender == "-a.b");
    CHECK(rule("destination='org.foo'").destination == "org.foo");
}

TEST_CASE("arg0namespace accepts a bus name prefix without a dot and unique-name prefixes") {
    CHECK(rule("arg0namespace=a").args[0].value == "a");
    CHECK(rule("arg0namespace=a-b.c").args[0].value == "a-b.c");
    CHECK(rule("arg0namespace=:1.5").args[0].value == ":1.5");
}

TEST_CASE("a stray equals sign ends the rule, as in dbus-daemon") {
    // dbus-daemon's tokenizer does not step over it and runs out of its 16 token slots.
    CHECK(rule("=type='bogus'") == MatchRule{});
    CHECK(rule("type=signal,=member='1'").type == MessageType::signal);
}

TEST_CASE("key=value pairs after the sixteenth are ignored, as in dbus-daemon") {
    std::string sixteen;
    for (int i = 0; i < 16; ++i) sixteen += "arg" + std::to_string(i) + "='a',";
    MatchRule r = rule(sixteen + "type='bogus'");
    CHECK(r.args.size() == 16);
    CHECK(r.type == MessageType::invalid);
    std::string fifteen;
    for (int i = 0; i < 15; ++i) fifteen += "arg" + std::to_string(i) + "='a',";
    CHECK(error_of(fifteen + "type='bogus'") == "Invalid message type (bogus) in match rule\n");
}

TEST_CASE("an unknown message type is refused") {
    CHECK(error_of("type='bogus'") == "Invalid message type (bogus) in match rule\n");
    CHECK(error_of("type=''") == "Invalid message type () in match rule\n");
    CHECK(error_of("type=METHOD_CALL") == "Invalid message type (METHOD_CALL) in match rule\n");
}

TEST_CASE("a key without an equals sign is refused") {
    const std::string text = "Match rule has a key with no subsequent '=' character";
    CHECK(error_of("foo") == text);
    CHECK(error_of("type") == text);
    CHECK(error_of("arg0 path=x") == text);
    CHECK(error_of(",,,,") == text);
}

TEST_CASE("an unknown key is refused, and keys are case sensitive") {
    CHECK(error_of("a=b") == "Unknown key \"a\" in match rule");
    CHECK(error_of("Type=signal") == "Unknown key \"Type\" in match rule");
    CHECK(error_of("type='signal',,member='a'") == "Unknown key \",member\" in match rule");
}

TEST_CASE("an unbalanced quotation mark is refused before any bad value") {
    CHECK(error_of("type='signal") == "Unbalanced quotation marks in match rule");
    CHECK(error_of("type='bogus',arg0='x") == "Unbalanced quotation marks in match rule");
}

TEST_CASE("each key given twice is refused") {
    CHECK(error_of("type='signal',type='signal'") == "Key type specified twice in match rule\n");
    CHECK(error_of("sender=:1.5,sender=:1.6") == "Key sender specified twice in match rule\n");
    CHECK(error_of("interface=a.b,interface=a.b") == "Key interface specified twice in match rule\n");
    CHECK(error_of("member=a,member=a") == "Key member specified twice in match rule\n");
    CHECK(error_of("destination=:1.1,destination=:1.1") == "Key destination specified twice in match rule\n");
    CHECK(error_of("path_namespace='/a',path_namespace='/b'") ==
          "path or path_namespace specified twice in match rule\n");
}

TEST_CASE("path and path_namespace together are refused") {
    CHECK(error_of("path='/a',path_namespace='/a'") == "path or path_namespace specified twice in match rule\n");
}

TEST_CASE("the same argument given twice in any form is refused") {
    CHECK(error_of("arg3=a,arg3=b") == "Argument arg3 matched more than once in match rule\n");
    CHECK(error_of("arg0='a',arg0path='a'") == "Argument arg0path matched more than once in match rule\n");
    CHECK(error_of("arg0namespace=a,arg0namespace=b") ==
          "Argument arg0namespace matched more than once in match rule\n");
}

TEST_CASE("invalid names and paths are refused") {
    CHECK(error_of("sender='a'") == "Sender name 'a' is invalid\n");
    CHECK(error_of("sender=''") == "Sender name '' is invalid\n");
    CHECK(error_of("sender='a.1b'") == "Sender name 'a.1b' is invalid\n");
    CHECK(error_of("interface='a'") == "Interface name 'a' is invalid\n");
    CHECK(error_of("interface='a.-b'") == "Interface name 'a.-b' is invalid\n");
    CHECK(error_of("member='a.b'") == "Member name 'a.b' is invalid\n");
    CHECK(error_of("path='/a/'") == "Path '/a/' is invalid\n");
    CHECK(error_of("path=''") == "Path '' is invalid\n");
    CHECK(error_of("path_namespace='a'") == "Path 'a' is invalid\n");
    CHECK(error_of("destination='x'") == "Destination name 'x' is invalid\n");
    CHECK(error_of("member=a\\'b") == "Member name 'a'b' is invalid\n");
}

TEST_CASE("eavesdrop other than true or false is refused") {
    CHECK(error_of("eavesdrop=maybe") == "eavesdrop='maybe' is invalid, it should be 'true' or 'false'\n");
    CHECK(error_of("eavesdrop=TRUE") == "eavesdrop='TRUE' is invalid, it should be 'true' or 'false'\n");
}

TEST_CASE("an arg key without a number is refused") {
    CHECK(error_of("arg=1") == "Key 'arg' in match rule starts with 'arg' but lacks an arg number. "
                               "Should be 'arg0' or 'arg7' for example.\n");
    CHECK(error_of("argx=1") == "Key 'argx' in match rule starts with 'arg' but could not parse arg number. "
                                "Should be 'arg0' or 'arg7' for example.\n");
    CHECK(error_of("arg99999999999999999999=x") ==
          "Key 'arg99999999999999999999' in match rule starts with 'arg' but could not parse arg number. "
          "Should be 'arg0' or 'arg7' for example.\n");
}

TEST_CASE("an argument number above 63 is refused") {
    CHECK(error_of("arg64='a'") == "Key 'arg64' in match rule has arg number 64 but the maximum is 63.\n");
    CHECK(error_of("arg64path='a'") == "Key 'arg64path' in match rule has arg number 64 but the maximum is 63.\n");
    CHECK(error_of("arg-1='a'") ==
          "Key 'arg-1' in match rule has arg number 18446744073709551615 but the maximum is 63.\n");
}

TEST_CASE("junk after an argument number is refused, and only arg0 takes namespace") {
    CHECK(error_of("arg0foo='x'") == "Key 'arg0foo' in match rule contains junk after argument number (0). "
                                     "Only 'arg0path' (for example) or 'arg0namespace' are valid");
    CHECK(error_of("arg1namespace='a'") == "Key 'arg1namespace' in match rule contains junk after argument "
                                           "number (1). Only 'arg1path' (for example) or 'arg0namespace' are valid");
    CHECK(error_of("arg0PATH=x") == "Key 'arg0PATH' in match rule contains junk after argument number (0). "
                                    "Only 'arg0path' (for example) or 'arg0namespace' are valid");
}

TEST_CASE("an arg0namespace that is no bus name prefix is refused") {
    for (const char* ns : {"a..b", "", "a.", "1a", "a.1", ":1..2"}) {
        CHECK(error_of(std::string("arg0namespace='") + ns + "'") ==
              std::string("arg0namespace='") + ns + "' is not a valid prefix of a bus name");
    }
}

TEST_CASE("a rule longer than 1024 bytes is refused as a limit, not as invalid") {
    std::string rule_text = "arg0='" + std::string(1019, 'a') + "'";  // 1026 bytes
    auto parsed = parse_match_rule(rule_text);
    REQUIRE_FALSE(parsed.has_value());
    CHECK(parsed.error().kind == MatchRuleErrorKind::too_long);
    CHECK(parsed.error().message == "Match rule text is 1026 bytes, maximum is 1024");
    std::string exactly = "arg0='" + std::string(1017, 'a') + "'";
    CHECK(exactly.size() == 1024);
    CHECK(rule(exactly).args[0].value.size() == 1017);
}

TEST_CASE("rules spelled differently but meaning the same are equal") {
    CHECK(rule("type='signal',member='Foo'") == rule(" member=Foo,\ttype =signal"));
    CHECK(rule("arg0=\\'") == rule("arg0=''\\'''"));
    CHECK(rule("eavesdrop=false,path=/x") == rule("path='/x'"));
    CHECK(rule("arg0x1=a") == rule("arg1=a"));
}

TEST_CASE("rules that differ in any key are not equal") {
    CHECK_FALSE(rule("path='/a'") == rule("path_namespace='/a'"));
    CHECK_FALSE(rule("arg0='/a'") == rule("arg0path='/a'"));
    CHECK_FALSE(rule("arg0='a'") == rule("arg1='a'"));
    CHECK_FALSE(rule("member=a") == rule("member=a,eavesdrop=true"));
    CHECK_FALSE(rule("sender=:1.1") == rule("destination=:1.1"));
}

TEST_CASE("the canonical text uses dbus-daemon's key order and quoting") {
    MatchRule r = rule("arg3='zz',arg2path='/p/',arg0='x'\\''y',destination=':1.7',path_namespace='/a',"
                       "member='m',interface='a.b',sender=':1.5',type='signal'");
    CHECK(to_string(r) == "type='signal',interface='a.b',member='m',path_namespace='/a',sender=':1.5',"
                          "destination=':1.7',arg0='x'\\''y',arg2path='/p/',arg3='zz'");
    CHECK(to_string(rule("arg0namespace='a.b',eavesdrop=true")) == "eavesdrop='true',arg0namespace='a.b'");
    CHECK(to_string(rule("arg1=',\\'")) == "arg1=',\\'");
    CHECK(to_string(rule("")) == "");
}

TEST_CASE("the canonical text parses back to the same rule") {
    for (const char* text : {"type=error,sender=org.x.Y,path=/a/b,arg0=',''\\'",
                             R"(arg0=''\''',arg1='\',arg2=',',arg3='\\')",
                             "member=M,arg5path='/x/',eavesdrop=true,destination=:1.2",
                             "arg0namespace=org.gnome,path_namespace=/"}) {
        MatchRule r = rule(text);
        CHECK(rule(to_string(r)) == r);
    }
}
