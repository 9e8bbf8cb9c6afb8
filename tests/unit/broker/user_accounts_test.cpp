// UserAccounts: a user's maximum, the share another user may take, and accounts that come and go.
#include <doctest/doctest.h>

#include "broker/user_accounts.h"

using jetbus::broker::Resource;
using jetbus::broker::UserAccount;
using jetbus::broker::UserAccounts;
using jetbus::broker::UserQuota;

namespace {

UserQuota quota_of(size_t bytes) {
    UserQuota q;
    for (auto& m : q.max) m = 100;
    q[Resource::bytes] = bytes;
    return q;
}

// Charges one unit at a time until refused; returns how many were taken.
size_t fill(UserAccount& a, uint32_t slot, Resource r) {
    size_t n = 0;
    while (a.try_charge(slot, r, 1)) ++n;
    return n;
}

}  // namespace

TEST_CASE("A user's own charges stop at its maximum and nowhere before") {
    UserAccounts accounts(quota_of(1000), 0);
    UserAccount& a = accounts.attach(1000);
    CHECK(a.try_charge(UserAccount::self_slot, Resource::bytes, 999));
    CHECK(a.try_charge(UserAccount::self_slot, Resource::bytes, 1));
    CHECK_FALSE(a.try_charge(UserAccount::self_slot, Resource::bytes, 1));
    CHECK(a.used(Resource::bytes) == 1000);
    a.release(UserAccount::self_slot, Resource::bytes, 10);
    CHECK(a.try_charge(UserAccount::self_slot, Resource::bytes, 10));
}

TEST_CASE("One other user gets half of an idle account, and a second other user still finds room") {
    UserAccounts accounts(quota_of(1000), 0);
    UserAccount& receiver = accounts.attach(1000);
    const uint32_t flooder = receiver.actor_slot(2000);
    const size_t taken = fill(receiver, flooder, Resource::bytes);
    CHECK(taken == 500);  // (500) * 2 <= 500 + 500
    const uint32_t second = receiver.actor_slot(3000);
    const size_t second_taken = fill(receiver, second, Resource::bytes);
    // Two holders now: the newcomer gets a third of what was left, and the owner keeps the rest.
    CHECK(second_taken == 166);
    CHECK(receiver.holders(Resource::bytes) == 2);
    CHECK(receiver.try_charge(UserAccount::self_slot, Resource::bytes, 1000 - 500 - 166));
}

TEST_CASE("A refused charge changes nothing, and a released share can be taken again") {
    UserAccounts accounts(quota_of(100), 0);
    UserAccount& receiver = accounts.attach(1000);
    const uint32_t other = receiver.actor_slot(2000);
    CHECK_FALSE(receiver.try_charge(other, Resource::bytes, 51));
    CHECK(receiver.used(Resource::bytes) == 0);
    CHECK(receiver.holders(Resource::bytes) == 0);
    CHECK(receiver.try_charge(other, Resource::bytes, 50));
    CHECK_FALSE(receiver.try_charge(other, Resource::bytes, 1));
    receiver.release(other, Resource::bytes, 50);
    CHECK(receiver.holders(Resource::bytes) == 0);
    CHECK(receiver.try_charge(other, Resource::bytes, 50));
}

TEST_CASE("Resources are accounted apart: a full byte share leaves fds and names untouched") {
    UserAccounts accounts(quota_of(100), 0);
    UserAccount& receiver = accounts.attach(1000);
    const uint32_t other = receiver.actor_slot(2000);
    CHECK(fill(receiver, other, Resource::bytes) == 50);
    CHECK(receiver.try_charge(other, Resource::fds, 1));
    CHECK(receiver.try_charge(UserAccount::self_slot, Resource::names, 100));
}

TEST_CASE("An account is dropped once its last connection left and nothing is charged, the bus's never") {
    UserAccounts accounts(quota_of(100), 0);
    UserAccount& a = accounts.attach(1000);
    accounts.attach(1000);
    a.charge(UserAccount::self_slot, Resource::bytes, 5);
    accounts.detach(a);
    accounts.detach(a);
    CHECK(accounts.find(1000) != nullptr);  // still holds 5 bytes
    a.release(UserAccount::self_slot, Resource::bytes, 5);
    CHECK(accounts.find(1000) == nullptr);
    UserAccount& bus = accounts.bus_account();
    const uint32_t client = bus.actor_slot(1000);
    bus.charge(client, Resource::service_starts, 1);
    bus.release(client, Resource::service_starts, 1);
    CHECK(accounts.find(0) == &bus);
}

TEST_CASE("Huge maxima and charges do not overflow the share rule") {
    UserQuota q;
    for (auto& m : q.max) m = SIZE_MAX;
    UserAccounts accounts(q, 0);
    UserAccount& receiver = accounts.attach(1000);
    const uint32_t other = receiver.actor_slot(2000);
    CHECK(receiver.try_charge(other, Resource::bytes, SIZE_MAX / 2));
    CHECK_FALSE(receiver.try_charge(other, Resource::bytes, SIZE_MAX / 2));
}
