// ReplyRegistry: replies go through only when expected, once, and departures owe NoReply.
#include <doctest/doctest.h>

#include "broker/reply_registry.h"

using namespace jetbus::broker;

TEST_CASE("An expected reply is taken once") {
    ReplyRegistry r;
    r.expect(1, 7, 2);
    CHECK(r.pending_for(1) == 1);
    CHECK(r.take(1, 7, 2));
    CHECK_FALSE(r.take(1, 7, 2));
    CHECK(r.pending_for(1) == 0);
}

TEST_CASE("A reply from someone other than the callee is not expected") {
    ReplyRegistry r;
    r.expect(1, 7, 2);
    CHECK_FALSE(r.take(1, 7, 3));
    CHECK_FALSE(r.take(1, 8, 2));
    CHECK(r.take(1, 7, 2));
}

TEST_CASE("A departing callee leaves its callers owed a NoReply") {
    ReplyRegistry r;
    r.expect(1, 7, 2);
    r.expect(3, 9, 2);
    r.expect(1, 8, 4);
    std::vector<PendingCall> owed;
    r.remove_connection(2, owed);
    CHECK(owed.size() == 2);
    CHECK(r.pending_for(1) == 1);
    CHECK(r.pending_for(3) == 0);
    CHECK(r.take(1, 8, 4));
}

TEST_CASE("A departing caller's pending calls are forgotten without NoReply") {
    ReplyRegistry r;
    r.expect(1, 7, 2);
    std::vector<PendingCall> owed;
    r.remove_connection(1, owed);
    CHECK(owed.empty());
    CHECK_FALSE(r.take(1, 7, 2));
}

TEST_CASE("A call awaiting its reply is known by caller, serial and callee") {
    ReplyRegistry r;
    r.expect(1, 7, 2);
    CHECK(r.awaits(1, 7, 2));
    CHECK_FALSE(r.awaits(1, 7, 3));
    CHECK_FALSE(r.awaits(1, 8, 2));
    CHECK(r.take(1, 7, 2));
    CHECK_FALSE(r.awaits(1, 7, 2));
}
