// Name ownership (own, own_prefix) and who may connect (user/group rules), as dbus-daemon 1.14
// decides them (bus_rules_check_can_own, bus_policy_allow_unix_user).
#include "policy_test_util.h"

#include <algorithm>

using namespace jetbus::policy;
using namespace jetbus::policy::test;

namespace {

bool owns(const CompiledPolicy& p, std::string_view name) {
    return p.snapshot(user(nobody_uid)).can_own(name).allowed;
}

bool connects(const CompiledPolicy& p, uid_t uid, std::vector<gid_t> groups = {}) {
    return p.can_connect(uid, groups).allowed;
}

}  // namespace

TEST_CASE("Owning a name is denied unless a rule allows it") {
    auto p = load_default(R"(<allow send_destination="*"/>)");
    CHECK_FALSE(owns(p, "org.example.Name"));
}

TEST_CASE("own names one name exactly, own=\"*\" every name") {
    auto p = load_default(R"(<allow own="org.example.Name"/>)");
    CHECK(owns(p, "org.example.Name"));
    CHECK_FALSE(owns(p, "org.example.Name.Sub"));
    CHECK_FALSE(owns(p, "org.example"));
    auto all = load_default(R"(<allow own="*"/><deny own="org.example.Secret"/>)");
    CHECK(owns(all, "org.anything.At.All"));
    CHECK_FALSE(owns(all, "org.example.Secret"));
}

TEST_CASE("own_prefix covers the name and the names below it, word by word") {
    auto p = load_default(R"(<allow own_prefix="org.example"/>)");
    CHECK(owns(p, "org.example"));
    CHECK(owns(p, "org.example.A.B"));
    CHECK_FALSE(owns(p, "org.examples"));
    CHECK_FALSE(owns(p, "org"));
}

TEST_CASE("Without user or group rules only the bus's own user may connect") {
    auto p = load_default(R"(<allow own="*"/>)");
    CHECK(connects(p, root_uid));
    CHECK_FALSE(connects(p, nobody_uid));
    auto as_nobody = load(R"(<policy context="default"><allow own="*"/></policy>)", nobody_uid);
    CHECK(connects(as_nobody, nobody_uid));
    CHECK_FALSE(connects(as_nobody, root_uid));
}

TEST_CASE("user=\"*\" lets everyone connect, later user and group rules refine it") {
    auto p = load_default(R"(<allow user="*"/><deny user="nobody"/><deny group="daemon"/><allow user="bin"/>)");
    CHECK(connects(p, 1000));
    CHECK_FALSE(connects(p, nobody_uid, {nogroup_gid}));
    CHECK_FALSE(connects(p, 3, {1, 3}));  // sys, in group daemon
    CHECK(connects(p, 2, {1, 2}));        // bin, in group daemon, allowed by name afterwards
    auto v = p.can_connect(2, std::vector<gid_t>{1, 2});
    CHECK(v.matched_rules == 3);
}

TEST_CASE("Mandatory connect rules override default ones") {
    auto p = load(R"(<policy context="mandatory"><deny user="nobody"/></policy>
                     <policy context="default"><allow user="*"/></policy>)");
    CHECK_FALSE(connects(p, nobody_uid));
    CHECK(connects(p, daemon_uid));
}

TEST_CASE("Connect rules inside at_console policies are ignored") {
    auto p = load(R"(<policy at_console="true"><allow user="*"/></policy>)");
    CHECK_FALSE(connects(p, nobody_uid));
}

TEST_CASE("A connect rule naming an unknown user or group never matches") {
    auto p = load_default(R"(<allow user="*"/><deny user="jetbus-no-such-user"/><deny group="jetbus-no-such-group"/>)");
    CHECK(connects(p, nobody_uid, {nogroup_gid}));
    auto deny_unknown_only = load_default(R"(<allow user="jetbus-no-such-user"/>)");
    CHECK_FALSE(connects(deny_unknown_only, nobody_uid));
}

TEST_CASE("A user's groups come from the user database, and an unknown uid has none") {
    auto root_groups = unix_groups_of(root_uid);
    REQUIRE(root_groups);
    CHECK(std::find(root_groups->begin(), root_groups->end(), gid_t{0}) != root_groups->end());
    auto nobody_groups = unix_groups_of(nobody_uid);
    REQUIRE(nobody_groups);
    CHECK(std::find(nobody_groups->begin(), nobody_groups->end(), nogroup_gid) != nobody_groups->end());
    CHECK_FALSE(unix_groups_of(3999999));
}
