// What a config file refers to outside itself: the standard service directories (XDG and the
// dbus-daemon(1) list), user and group names, whether SELinux is on. Read at load time only.
#include "config/bus_config.h"
#include "config/parse_support.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace jetbus::config {
namespace {

// Where dbus-daemon was built to look (its ${datadir}); the same directory on Debian.
constexpr std::string_view kDataDir = "/usr/share";
// The buffer for getpwnam_r/getgrnam_r when sysconf gives no hint.
constexpr long kFallbackPasswdBuffer = 16384;

std::string env_or(const char* name, std::string fallback) {
    const char* value = std::getenv(name);
    return value && *value ? std::string(value) : fallback;
}

std::string home_directory() {
    if (const char* home = std::getenv("HOME"); home && *home) return home;
    if (const passwd* pw = ::getpwuid(::getuid())) return pw->pw_dir;
    return "/";
}

std::vector<std::string> split_colons(const std::string& list) {
    std::vector<std::string> parts;
    std::size_t start = 0;
    while (start <= list.size()) {
        auto end = list.find(':', start);
        if (end == std::string::npos) end = list.size();
        if (end > start) parts.push_back(list.substr(start, end - start));
        start = end + 1;
    }
    return parts;
}

std::optional<std::uint32_t> parse_id(const std::string& text) {
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos || text.size() > 10)
        return std::nullopt;
    unsigned long long id = std::strtoull(text.c_str(), nullptr, 10);
    if (id > 0xfffffffeULL) return std::nullopt;  // (uid_t)-1 means "no user"
    return static_cast<std::uint32_t>(id);
}

std::vector<char> lookup_buffer() {
    long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
    return std::vector<char>(static_cast<std::size_t>(size > 0 ? size : kFallbackPasswdBuffer));
}

}  // namespace

std::vector<std::string> standard_session_servicedirs() {
    std::vector<std::string> dirs;
    if (const char* runtime = std::getenv("XDG_RUNTIME_DIR"); runtime && *runtime)
        dirs.push_back(std::string(runtime) + "/dbus-1/services");
    dirs.push_back(env_or("XDG_DATA_HOME", home_directory() + "/.local/share") + "/dbus-1/services");
    for (const auto& dir : split_colons(env_or("XDG_DATA_DIRS", "/usr/local/share:/usr/share")))
        dirs.push_back(dir + "/dbus-1/services");
    dirs.push_back(std::string(kDataDir) + "/dbus-1/services");
    return dirs;
}

std::vector<std::string> standard_system_servicedirs() {
    return {"/usr/local/share/dbus-1/system-services", "/usr/share/dbus-1/system-services",
            std::string(kDataDir) + "/dbus-1/system-services", "/lib/dbus-1/system-services"};
}

std::optional<std::uint32_t> lookup_config_user(const std::string& name) {
    if (auto id = parse_id(name)) return id;
    auto buffer = lookup_buffer();
    passwd pw{};
    passwd* found = nullptr;
    if (::getpwnam_r(name.c_str(), &pw, buffer.data(), buffer.size(), &found) != 0 || !found) return std::nullopt;
    return found->pw_uid;
}

std::optional<std::uint32_t> lookup_config_group(const std::string& name) {
    if (auto id = parse_id(name)) return id;
    auto buffer = lookup_buffer();
    group gr{};
    group* found = nullptr;
    int err;
    // A group with many members can need more room than the hint: grow on ERANGE.
    while ((err = ::getgrnam_r(name.c_str(), &gr, buffer.data(), buffer.size(), &found)) == ERANGE)
        buffer.resize(buffer.size() * 2);
    if (err != 0 || !found) return std::nullopt;
    return found->gr_gid;
}

bool detail::selinux_enabled() { return ::access("/sys/fs/selinux/enforce", F_OK) == 0; }

}  // namespace jetbus::config
