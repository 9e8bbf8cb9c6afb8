// The user database lookup behind the connect check: dbus-daemon takes a user's groups from NSS
// (_dbus_unix_groups_from_uid) and rejects a uid that has no account.
#include "policy/compiled_policy.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>

namespace jetbus::policy {
namespace {

constexpr std::size_t initial_buffer = 1024;  // grown on ERANGE; passwd entries are small
constexpr int initial_groups = 32;            // grown when getgrouplist reports more

}  // namespace

std::optional<std::vector<gid_t>> unix_groups_of(uid_t uid) {
    std::vector<char> buffer(initial_buffer);
    struct passwd entry {};
    struct passwd* found = nullptr;
    int rc;
    while ((rc = ::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found)) == ERANGE)
        buffer.resize(buffer.size() * 2);
    if (rc != 0 || !found) return std::nullopt;

    std::vector<gid_t> groups(initial_groups);
    int count = static_cast<int>(groups.size());
    while (::getgrouplist(found->pw_name, found->pw_gid, groups.data(), &count) < 0) {
        if (count <= static_cast<int>(groups.size())) count = static_cast<int>(groups.size()) * 2;
        groups.resize(static_cast<std::size_t>(count));
    }
    groups.resize(static_cast<std::size_t>(count));
    return groups;
}

}  // namespace jetbus::policy
