// Routing a message through the match registry allocates nothing once the caller's output vector
// has grown: counted by replacing the global operator new for this test program.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "match/match_registry.h"
#include "match_test_util.h"

namespace {
std::atomic<size_t> allocations{0};
}

void* operator new(size_t size) {
    ++allocations;
    if (void* p = std::malloc(size ? size : 1)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

using namespace jetbus::match;
using jetbus::match::test::rule;

TEST_CASE("collect allocates nothing once warmed up") {
    MatchRegistry registry;
    for (MatchOwner i = 0; i < 200; ++i) {
        std::string n = std::to_string(i % 20);
        registry.add(i, rule("type=signal,member=M" + n + ",path_namespace=/a,arg0namespace=x"));
        registry.add(i, rule("sender=org.a,arg1=v" + n));
        registry.add(i, rule("eavesdrop=true,destination=:1." + n));
    }
    jetbus::match::MatchArg args[] = {{"x.y", 's'}, {"v3", 's'}};
    MatchInput m;
    m.type = jetbus::wire::MessageType::signal;
    m.sender = ":1.1";
    m.member = "M3";
    m.path = "/a/b";
    m.args = args;
    m.sender_owns = [](const void*, std::string_view name) { return name == "org.a"; };
    m.recipient_owns = [](const void*, std::string_view) { return false; };
    std::vector<MatchOwner> out;
    registry.collect(m, true, out);  // grows out once
    REQUIRE(out.size() == 10);  // owners i with i % 20 == 3
    const size_t before = allocations.load();
    for (int i = 0; i < 100; ++i) {
        out.clear();
        registry.collect(m, i % 2 == 0, out);
        m.destination = i % 3 == 0 ? ":1.3" : "";
    }
    CHECK(allocations.load() == before);
}
