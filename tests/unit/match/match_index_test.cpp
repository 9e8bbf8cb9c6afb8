// The indexed MatchRegistry against the plain definition: many random rules over a small
// vocabulary (so keys collide), random messages of every type, with and without destination and
// ownership callbacks, compared with a loop calling matches() on every rule; plus the cases the
// tree treats specially, spelled out.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "match/match_index.h"
#include "match/match_registry.h"
#include "match_test_util.h"

using namespace jetbus::match;
using jetbus::match::test::rule;
using jetbus::wire::MessageType;

namespace {

// Who owns what while one message is routed, answering as the broker does (src/broker/bus.cpp).
struct World {
    std::map<std::string, std::string> owner_of;  // well-known name -> unique name
    std::string sender;                           // unique name, or the bus's own name
    std::string recipient;                        // unique name the message goes to, or empty

    static bool sender_owns(const void* p, std::string_view name) {
        const auto* w = static_cast<const World*>(p);
        if (name == w->sender) return true;
        auto it = w->owner_of.find(std::string(name));
        return it != w->owner_of.end() && it->second == w->sender;
    }
    static bool recipient_owns(const void* p, std::string_view name) {
        const auto* w = static_cast<const World*>(p);
        if (w->recipient.empty()) return false;
        if (name[0] == ':') return name == w->recipient;
        auto it = w->owner_of.find(std::string(name));
        return it != w->owner_of.end() && it->second == w->recipient;
    }
};

// The registry as it was: every rule, in order, scanned in full.
struct Reference {
    std::vector<std::pair<MatchOwner, MatchRule>> rules;

    bool remove(MatchOwner owner, const MatchRule& r) {
        for (size_t i = rules.size(); i > 0; --i) {
            if (rules[i - 1].first != owner || !(rules[i - 1].second == r)) continue;
            rules.erase(rules.begin() + static_cast<std::ptrdiff_t>(i - 1));
            return true;
        }
        return false;
    }
    void remove_all(MatchOwner owner) {
        std::erase_if(rules, [&](const auto& e) { return e.first == owner; });
    }
    std::vector<MatchRule> of(MatchOwner owner) const {
        std::vector<MatchRule> out;
        for (const auto& [o, r] : rules)
            if (o == owner) out.push_back(r);
        return out;
    }
    std::vector<MatchOwner> collect(const MatchInput& m, bool eavesdrop) const {
        std::set<MatchOwner> owners;
        for (const auto& [o, r] : rules)
            if (matches(r, m, eavesdrop)) owners.insert(o);
        return {owners.begin(), owners.end()};
    }
};

class Random {
public:
    explicit Random(uint32_t seed) : gen_(seed) {}
    size_t below(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(gen_); }
    bool chance(double p) { return std::bernoulli_distribution(p)(gen_); }
    template <typename T, size_t N>
    const T& pick(const T (&items)[N]) { return items[below(N)]; }

private:
    std::mt19937 gen_;
};

const MessageType types[] = {MessageType::method_call, MessageType::method_return, MessageType::error,
                             MessageType::signal};
const char* const senders[] = {":1.1", ":1.2", ":1.3", "org.freedesktop.DBus"};
const char* const rule_senders[] = {"", "", "", ":1.1", ":1.2", "org.a", "org.b", "org.freedesktop.DBus"};
const char* const interfaces[] = {"", "", "i.a", "i.b"};
const char* const members[] = {"", "", "A", "B"};
const char* const paths[] = {"", "/", "/a", "/a/b", "/a/bc", "/b"};
const char* const rule_paths[] = {"/", "/a", "/a/b", "/b"};
const char* const destinations[] = {"", "", ":1.1", ":1.3", "org.a", "org.b"};
const char* const rule_destinations[] = {"", "", "", "", ":1.1", ":1.3", "org.a"};
const char* const arg_values[] = {"x", "x.y", "x.y.z", "xy", "/", "/a", "/a/", "/a/b", ""};
const char* const uniques[] = {":1.1", ":1.2", ":1.3"};
const MatchOwner owner_ids[] = {3, 17, 5, 100, 42, 8, 61, 2, 9, 77};

ArgMatch random_arg(Random& rnd, size_t index, bool last) {
    ArgKind kinds[] = {ArgKind::none, ArgKind::string, ArgKind::string, ArgKind::path, ArgKind::namespace_prefix};
    ArgKind kind = kinds[rnd.below(index == 0 ? 5 : 4)];
    if (last && kind == ArgKind::none) kind = ArgKind::string;
    if (kind == ArgKind::none) return {};
    return {kind, rnd.pick(arg_values)};
}

MatchRule random_rule(Random& rnd) {
    MatchRule r;
    if (rnd.chance(0.5)) r.type = rnd.pick(types);
    r.sender = rnd.pick(rule_senders);
    r.interface = rnd.pick(interfaces);
    r.member = rnd.pick(members);
    if (rnd.chance(0.5)) {
        r.path_kind = rnd.chance(0.5) ? PathKind::exact : PathKind::namespace_prefix;
        r.path = rnd.pick(rule_paths);
    }
    r.destination = rnd.pick(rule_destinations);
    r.eavesdrop = rnd.chance(0.25);
    size_t nargs = rnd.chance(0.5) ? 0 : rnd.below(4) + 1;
    for (size_t i = 0; i < nargs; ++i) r.args.push_back(random_arg(rnd, i, i + 1 == nargs));
    return r;
}

struct Message {
    MatchInput in;
    MatchArg args[4];
    World world;
    std::vector<std::string> sender_names;
};

// The names the sender owns, and sometimes one it does not (a superset is allowed).
void list_sender_names(Random& rnd, Message& msg) {
    msg.sender_names.clear();
    for (const auto& [name, owner] : msg.world.owner_of)
        if (owner == msg.world.sender || rnd.chance(0.2)) msg.sender_names.push_back(name);
    msg.in.sender_names = msg.sender_names;
    msg.in.sender_names_known = true;
}

void random_world(Random& rnd, Message& msg) {
    World& w = msg.world;
    w.owner_of.clear();
    for (const char* name : {"org.a", "org.b"})
        if (rnd.chance(0.7)) w.owner_of[name] = rnd.pick(uniques);
    w.sender = msg.in.sender;
    std::string_view dest = msg.in.destination;
    w.recipient.clear();
    if (dest.starts_with(':')) w.recipient = std::string(dest);
    else if (!dest.empty() && w.owner_of.contains(std::string(dest))) w.recipient = w.owner_of[std::string(dest)];
}

void random_message(Random& rnd, Message& msg) {
    const char arg_types[] = {'s', 's', 'o', 'u'};
    MatchInput& in = msg.in;
    in = MatchInput{};
    in.type = rnd.pick(types);
    in.sender = rnd.pick(senders);
    in.interface = rnd.pick(interfaces);
    in.member = rnd.pick(members);
    in.path = rnd.pick(paths);
    in.destination = rnd.chance(0.5) ? "" : rnd.pick(destinations);
    size_t nargs = rnd.below(5);
    for (size_t i = 0; i < nargs; ++i) msg.args[i] = {rnd.pick(arg_values), rnd.pick(arg_types)};
    in.args = {msg.args, nargs};
    random_world(rnd, msg);
    if (rnd.chance(0.8)) {
        in.ctx = &msg.world;
        in.sender_owns = World::sender_owns;
        in.recipient_owns = World::recipient_owns;
        if (rnd.chance(0.5)) list_sender_names(rnd, msg);
    }
}

std::vector<MatchOwner> collect(const MatchRegistry& registry, const MatchInput& m, bool eavesdrop) {
    std::vector<MatchOwner> out;
    registry.collect(m, eavesdrop, out);
    return out;
}

void check_owner(const MatchRegistry& registry, const Reference& ref, MatchOwner owner) {
    auto expected = ref.of(owner);
    auto actual = registry.rules(owner);
    CHECK(registry.count(owner) == expected.size());
    CHECK(std::equal(actual.begin(), actual.end(), expected.begin(), expected.end()));
}

// One random step: change the rules (add, remove one, remove an owner's) or route a message.
void step(Random& rnd, MatchRegistry& registry, Reference& ref, Message& msg) {
    size_t op = rnd.below(100);
    MatchOwner owner = rnd.pick(owner_ids);
    if (op < 30 && ref.rules.size() < 400) {
        MatchRule r = random_rule(rnd);
        registry.add(owner, r);
        ref.rules.emplace_back(owner, r);
    } else if (op < 45 && !ref.rules.empty()) {
        auto [o, r] = ref.rules[rnd.below(ref.rules.size())];
        if (rnd.chance(0.2)) r = random_rule(rnd);  // often not there
        CHECK(registry.remove(o, r) == ref.remove(o, r));
        check_owner(registry, ref, o);
    } else if (op < 47) {
        registry.remove_all(owner);
        ref.remove_all(owner);
        check_owner(registry, ref, owner);
    } else {
        random_message(rnd, msg);
        CHECK(collect(registry, msg.in, true) == ref.collect(msg.in, true));
        CHECK(collect(registry, msg.in, false) == ref.collect(msg.in, false));
    }
    CHECK(registry.total() == ref.rules.size());
}

}  // namespace

TEST_CASE("collect finds exactly the owners a full scan with matches() finds") {
    for (uint32_t seed : {1u, 2u, 3u, 20240601u}) {
        INFO("seed ", seed);
        Random rnd(seed);
        MatchRegistry registry;
        Reference ref;
        Message msg;
        for (int i = 0; i < 5000; ++i) step(rnd, registry, ref, msg);
        for (MatchOwner owner : owner_ids) check_owner(registry, ref, owner);
    }
}

TEST_CASE("path_namespace rules catch the path itself and paths below it, '/' catches all") {
    MatchRegistry registry;
    registry.add(1, rule("path_namespace=/"));
    registry.add(2, rule("path_namespace=/a"));
    registry.add(3, rule("path_namespace=/a/b"));
    registry.add(4, rule("path=/a"));
    MatchInput m;
    m.type = MessageType::signal;
    m.sender = ":1.1";
    m.path = "/a/b/c";
    CHECK(collect(registry, m, true) == std::vector<MatchOwner>{1, 2, 3});
    m.path = "/a";
    CHECK(collect(registry, m, true) == std::vector<MatchOwner>{1, 2, 4});
    m.path = "/ab";
    CHECK(collect(registry, m, true) == std::vector<MatchOwner>{1});
    m.path = "/";
    CHECK(collect(registry, m, true) == std::vector<MatchOwner>{1});
}

TEST_CASE("arg0namespace rules catch the name itself and names below it") {
    MatchRegistry registry;
    registry.add(1, rule("arg0namespace=org.a"));
    registry.add(2, rule("arg0namespace=org.a.b"));
    MatchArg arg{"org.a.b.c", 's'};
    MatchInput m;
    m.type = MessageType::signal;
    m.sender = ":1.1";
    m.args = {&arg, 1};
    CHECK(collect(registry, m, true) == std::vector<MatchOwner>{1, 2});
    arg.value = "org.ab";
    CHECK(collect(registry, m, true).empty());
}

TEST_CASE("a rule naming a well-known sender catches what its owner sends, asked through the callback") {
    MatchRegistry registry;
    registry.add(1, rule("sender=org.a,member=A"));
    registry.add(2, rule("sender=org.b,member=A"));
    World world;
    world.owner_of = {{"org.a", ":1.7"}};
    world.sender = ":1.7";
    MatchInput m;
    m.type = MessageType::signal;
    m.sender = ":1.7";
    m.member = "A";
    m.ctx = &world;
    m.sender_owns = World::sender_owns;
    CHECK(collect(registry, m, true) == std::vector<MatchOwner>{1});
    m.sender_owns = nullptr;  // without the callback, names match only by spelling
    CHECK(collect(registry, m, true).empty());
}

TEST_CASE("removing one of two owners' identical rules leaves the other's in place") {
    MatchRegistry registry;
    registry.add(1, rule("member=A"));
    registry.add(2, rule("member=A"));
    registry.add(2, rule("member=A"));
    CHECK(registry.remove(2, rule("member=A")));
    MatchInput m;
    m.type = MessageType::signal;
    m.sender = ":1.1";
    m.member = "A";
    CHECK(collect(registry, m, true) == std::vector<MatchOwner>{1, 2});
    CHECK(registry.remove(2, rule("member=A")));
    CHECK(collect(registry, m, true) == std::vector<MatchOwner>{1});
    registry.remove_all(1);
    CHECK(collect(registry, m, true).empty());
}

TEST_CASE("the index shrinks back to its roots when every rule is gone") {
    MatchIndex index;
    const size_t empty = index.node_count();
    IndexedOwner owner{1, 0};
    std::vector<MatchRule> rules = {rule("type=signal,interface=i.a,member=A,path=/a,arg2=x"),
                                    rule("type=signal,interface=i.a,member=B"), rule("sender=org.a"),
                                    rule("destination=:1.1,eavesdrop=true"), rule("")};
    std::vector<IndexedRule> entries(rules.size());
    for (size_t i = 0; i < rules.size(); ++i) {
        entries[i] = {&rules[i], &owner};
        index.insert(entries[i]);
    }
    CHECK(index.node_count() > empty + 5);
    for (IndexedRule& e : entries) index.erase(e);
    CHECK(index.node_count() == empty);
}

TEST_CASE("thousands of rules that differ only by member, path_namespace or arg0 catch only their own") {
    MatchRegistry registry;
    for (MatchOwner i = 0; i < 3000; ++i) {
        std::string n = std::to_string(i);
        registry.add(i, rule("type=signal,interface=i.a,member=M" + n));
        registry.add(i + 10000, rule("type=signal,path_namespace=/p" + n));
        registry.add(i + 20000, rule("type=signal,arg0=v" + n));
    }
    MatchArg arg{"v7", 's'};
    MatchInput m;
    m.type = MessageType::signal;
    m.sender = ":1.1";
    m.interface = "i.a";
    m.member = "M12";
    m.path = "/p5/x";
    m.args = {&arg, 1};
    CHECK(collect(registry, m, true) == std::vector<MatchOwner>{12, 10005, 20007});
}
