// MatchRegistry: counting, removal by value, and collecting the owners a message is for.
#include <doctest/doctest.h>

#include <vector>

#include "match/match_registry.h"
#include "match_test_util.h"

using namespace jetbus::match;
using jetbus::match::test::rule;
using jetbus::wire::MessageType;

namespace {

MatchInput signal(std::string_view member) {
    MatchInput m;
    m.type = MessageType::signal;
    m.sender = ":1.1";
    m.interface = "com.example.Iface";
    m.member = member;
    m.path = "/com/example";
    return m;
}

std::vector<MatchOwner> collect(const MatchRegistry& registry, const MatchInput& m, bool eavesdrop = true) {
    std::vector<MatchOwner> out;
    registry.collect(m, eavesdrop, out);
    return out;
}

}  // namespace

TEST_CASE("count follows adds and removes per owner") {
    MatchRegistry registry;
    CHECK(registry.count(1) == 0);
    registry.add(1, rule("member=A"));
    registry.add(1, rule("member=B"));
    registry.add(2, rule("member=A"));
    CHECK(registry.count(1) == 2);
    CHECK(registry.count(2) == 1);
    CHECK(registry.total() == 3);
    CHECK(registry.remove(1, rule("member=A")));
    CHECK(registry.count(1) == 1);
    CHECK(registry.total() == 2);
}

TEST_CASE("a rule added twice needs two removals") {
    MatchRegistry registry;
    registry.add(1, rule("member=A"));
    registry.add(1, rule("member=A"));
    CHECK(registry.remove(1, rule("member=A")));
    CHECK(registry.count(1) == 1);
    CHECK(collect(registry, signal("A")) == std::vector<MatchOwner>{1});
    CHECK(registry.remove(1, rule("member=A")));
    CHECK(registry.count(1) == 0);
    CHECK(collect(registry, signal("A")).empty());
    CHECK_FALSE(registry.remove(1, rule("member=A")));
}

TEST_CASE("RemoveMatch finds a rule spelled differently but meaning the same") {
    MatchRegistry registry;
    registry.add(1, rule("type='signal',member='A'"));
    CHECK(registry.remove(1, rule(" member=A, type=signal")));
    CHECK(registry.count(1) == 0);
}

TEST_CASE("removing a rule that was never added fails") {
    MatchRegistry registry;
    CHECK_FALSE(registry.remove(1, rule("member=A")));
    registry.add(1, rule("member=A"));
    CHECK_FALSE(registry.remove(1, rule("member=B")));
    CHECK_FALSE(registry.remove(2, rule("member=A")));  // another owner's rule
    CHECK(registry.count(1) == 1);
}

TEST_CASE("remove_all drops every rule of one owner only") {
    MatchRegistry registry;
    registry.add(1, rule("member=A"));
    registry.add(1, rule("member=B"));
    registry.add(2, rule("member=A"));
    registry.remove_all(1);
    registry.remove_all(3);  // no rules: nothing happens
    CHECK(registry.count(1) == 0);
    CHECK(registry.count(2) == 1);
    CHECK(registry.total() == 1);
    CHECK(collect(registry, signal("A")) == std::vector<MatchOwner>{2});
}

TEST_CASE("rules lists an owner's rules in the order they were added") {
    MatchRegistry registry;
    registry.add(1, rule("member=B"));
    registry.add(1, rule("member=A"));
    auto rules = registry.rules(1);
    REQUIRE(rules.size() == 2);
    CHECK(rules[0].member == "B");
    CHECK(rules[1].member == "A");
    CHECK(registry.rules(2).empty());
}

TEST_CASE("collect lists each owner with a matching rule once") {
    MatchRegistry registry;
    registry.add(1, rule("member=A"));
    registry.add(1, rule("type=signal"));
    registry.add(2, rule("member=B"));
    registry.add(3, rule(""));
    CHECK(collect(registry, signal("A")) == std::vector<MatchOwner>{1, 3});
    CHECK(collect(registry, signal("B")) == std::vector<MatchOwner>{1, 2, 3});
}

TEST_CASE("collect appends to what the caller already has") {
    MatchRegistry registry;
    registry.add(4, rule("member=A"));
    std::vector<MatchOwner> out{9};
    registry.collect(signal("A"), true, out);
    CHECK(out == std::vector<MatchOwner>{9, 4});
}

TEST_CASE("eavesdropping rules catch unicast messages only when eavesdropping is included") {
    MatchRegistry registry;
    registry.add(1, rule("member=A"));
    registry.add(2, rule("member=A,eavesdrop=true"));
    registry.add(3, rule("member=A,destination=:1.9"));
    MatchInput unicast = signal("A");
    unicast.destination = ":1.9";
    CHECK(collect(registry, unicast, true) == std::vector<MatchOwner>{2, 3});
    CHECK(collect(registry, unicast, false) == std::vector<MatchOwner>{3});
    CHECK(collect(registry, signal("A"), false) == std::vector<MatchOwner>{1, 2});
}

TEST_CASE("args_needed tells how many leading arguments any rule inspects") {
    MatchRegistry registry;
    CHECK(registry.args_needed() == 0);
    registry.add(1, rule("member=A"));
    CHECK(registry.args_needed() == 0);
    registry.add(1, rule("arg2='x'"));
    registry.add(2, rule("arg63path='/'"));
    CHECK(registry.args_needed() == 64);
    registry.remove_all(2);
    CHECK(registry.args_needed() == 3);
    CHECK(registry.remove(1, rule("arg2=x")));
    CHECK(registry.args_needed() == 0);
}
