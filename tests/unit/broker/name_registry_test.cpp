// NameRegistry: RequestName/ReleaseName semantics from the specification's "Message Bus Names".
#include <doctest/doctest.h>

#include "broker/name_registry.h"

using namespace jetbus::broker;

namespace {
constexpr ConnectionId a = 1, b = 2, c = 3;
}

TEST_CASE("RequestName on a free name makes the caller primary owner and reports the change") {
    NameRegistry r;
    std::vector<NameChange> ch;
    CHECK(r.request("com.example.A", a, 0, ch) == RequestNameReply::primary_owner);
    REQUIRE(ch.size() == 1);
    CHECK(ch[0].name == "com.example.A");
    CHECK(ch[0].old_owner == 0);
    CHECK(ch[0].new_owner == a);
    CHECK(r.owner("com.example.A") == a);
}

TEST_CASE("RequestName by the primary owner answers ALREADY_OWNER without a change") {
    NameRegistry r;
    std::vector<NameChange> ch;
    r.request("com.example.A", a, 0, ch);
    ch.clear();
    CHECK(r.request("com.example.A", a, 0, ch) == RequestNameReply::already_owner);
    CHECK(ch.empty());
}

TEST_CASE("RequestName with DO_NOT_QUEUE fails when owned") {
    NameRegistry r;
    std::vector<NameChange> ch;
    r.request("com.example.A", a, 0, ch);
    CHECK(r.request("com.example.A", b, name_flags::do_not_queue, ch) == RequestNameReply::exists);
    CHECK(r.queue("com.example.A") == std::vector<ConnectionId>{a});
}

TEST_CASE("RequestName without DO_NOT_QUEUE waits in line and gets the name on release") {
    NameRegistry r;
    std::vector<NameChange> ch;
    r.request("com.example.A", a, 0, ch);
    CHECK(r.request("com.example.A", b, 0, ch) == RequestNameReply::in_queue);
    CHECK(r.queue("com.example.A") == std::vector<ConnectionId>{a, b});
    ch.clear();
    CHECK(r.release("com.example.A", a, ch) == ReleaseNameReply::released);
    REQUIRE(ch.size() == 1);
    CHECK(ch[0].old_owner == a);
    CHECK(ch[0].new_owner == b);
    CHECK(r.owner("com.example.A") == b);
}

TEST_CASE("REPLACE_EXISTING takes a name whose owner allowed replacement; the old owner queues first") {
    NameRegistry r;
    std::vector<NameChange> ch;
    r.request("com.example.A", a, name_flags::allow_replacement, ch);
    r.request("com.example.A", c, 0, ch);
    ch.clear();
    CHECK(r.request("com.example.A", b, name_flags::replace_existing, ch) == RequestNameReply::primary_owner);
    REQUIRE(ch.size() == 1);
    CHECK(ch[0].old_owner == a);
    CHECK(ch[0].new_owner == b);
    CHECK(r.queue("com.example.A") == std::vector<ConnectionId>{b, a, c});
}

TEST_CASE("A replaced owner that asked DO_NOT_QUEUE loses the name entirely") {
    NameRegistry r;
    std::vector<NameChange> ch;
    r.request("com.example.A", a, name_flags::allow_replacement | name_flags::do_not_queue, ch);
    CHECK(r.request("com.example.A", b, name_flags::replace_existing, ch) == RequestNameReply::primary_owner);
    CHECK(r.queue("com.example.A") == std::vector<ConnectionId>{b});
    CHECK(r.claims_of(a) == 0);
}

TEST_CASE("REPLACE_EXISTING without ALLOW_REPLACEMENT from the owner only queues") {
    NameRegistry r;
    std::vector<NameChange> ch;
    r.request("com.example.A", a, 0, ch);
    CHECK(r.request("com.example.A", b, name_flags::replace_existing, ch) == RequestNameReply::in_queue);
    CHECK(r.owner("com.example.A") == a);
}

TEST_CASE("ReleaseName answers NON_EXISTENT and NOT_OWNER") {
    NameRegistry r;
    std::vector<NameChange> ch;
    CHECK(r.release("com.example.A", a, ch) == ReleaseNameReply::non_existent);
    r.request("com.example.A", a, 0, ch);
    CHECK(r.release("com.example.A", b, ch) == ReleaseNameReply::not_owner);
}

TEST_CASE("Releasing the last claim frees the name") {
    NameRegistry r;
    std::vector<NameChange> ch;
    r.request("com.example.A", a, 0, ch);
    ch.clear();
    r.release("com.example.A", a, ch);
    REQUIRE(ch.size() == 1);
    CHECK(ch[0].new_owner == 0);
    CHECK(r.owner("com.example.A") == 0);
    CHECK(r.names().empty());
}

TEST_CASE("A departing connection gives up every name and its place in every queue") {
    NameRegistry r;
    std::vector<NameChange> ch;
    r.request("com.example.A", a, 0, ch);
    r.request("com.example.B", a, 0, ch);
    r.request("com.example.B", b, 0, ch);
    r.request("com.example.C", b, 0, ch);
    r.request("com.example.C", a, 0, ch);
    ch.clear();
    r.remove_connection(a, ch);
    CHECK(ch.size() == 2);  // A freed, B handed to b; a's place in C's queue goes silently
    CHECK(r.owner("com.example.A") == 0);
    CHECK(r.owner("com.example.B") == b);
    CHECK(r.queue("com.example.C") == std::vector<ConnectionId>{b});
    CHECK(r.claims_of(a) == 0);
}

TEST_CASE("names_owned_by lists only names held as primary owner") {
    NameRegistry r;
    std::vector<NameChange> ch;
    r.request("com.example.A", a, 0, ch);
    r.request("com.example.B", b, 0, ch);
    r.request("com.example.B", a, 0, ch);
    CHECK(r.names_owned_by(a) == std::vector<std::string>{"com.example.A"});
    CHECK(r.claims_of(a) == 2);
}
