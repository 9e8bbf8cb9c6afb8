// D-Bus server addresses: parsing, escaping and binding of unix listening sockets. The error texts
// follow dbus-daemon's so an administrator sees the same reason whichever daemon refused the address.
#include "broker/address.h"

#include <fmt/format.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <utility>

namespace jetbus::broker {
namespace {

// tmpdir=/dir= sockets are named dbus-XXXXXXXXXX like dbus-daemon's (10 random alphanumerics).
constexpr std::size_t kRandomNameLength = 10;
// A random-name collision is retried a few times before giving up (dbus-daemon retries too).
constexpr int kRandomNameAttempts = 16;
// The listen backlog: dbus-daemon passes SOMAXCONN (4096 on Linux >= 5.4); the kernel caps it.
constexpr int kListenBacklog = SOMAXCONN;

bool is_optionally_escaped(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '/' || c == '.' || c == '*';
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

struct KeyValue {
    std::string key;
    std::string value;
};

struct Entry {
    std::string transport;
    std::vector<KeyValue> pairs;
};

std::vector<KeyValue> parse_pairs(std::string_view text) {
    std::vector<KeyValue> pairs;
    while (!text.empty()) {
        auto comma = text.find(',');
        auto item = text.substr(0, comma);
        auto eq = item.find('=');
        if (eq == std::string_view::npos || eq == 0 || eq + 1 == item.size())
            throw AddressError("'=' character not found or has no value following it");
        pairs.push_back({std::string(item.substr(0, eq)), unescape_address_value(item.substr(eq + 1))});
        text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    }
    return pairs;
}

// Splits on ';' like libdbus: a trailing ';' is fine, an empty entry in the middle is not.
std::vector<Entry> parse_entries(std::string_view addresses) {
    if (addresses.empty()) throw AddressError("Empty address ''");
    std::vector<Entry> entries;
    while (!addresses.empty()) {
        auto semi = addresses.find(';');
        auto entry = addresses.substr(0, semi);
        auto colon = entry.find(':');
        if (colon == std::string_view::npos)
            throw AddressError(fmt::format("Address does not contain a colon: '{}'", entry));
        entries.push_back({std::string(entry.substr(0, colon)), parse_pairs(entry.substr(colon + 1))});
        addresses = semi == std::string_view::npos ? std::string_view{} : addresses.substr(semi + 1);
    }
    return entries;
}

ListenAddress unix_address(const Entry& entry) {
    static constexpr std::array<std::pair<std::string_view, ListenAddress::Kind>, 5> kinds{{
        {"path", ListenAddress::Kind::path},
        {"tmpdir", ListenAddress::Kind::tmpdir},
        {"abstract", ListenAddress::Kind::abstract},
        {"runtime", ListenAddress::Kind::runtime},
        {"dir", ListenAddress::Kind::dir},
    }};
    const ListenAddress* found = nullptr;
    ListenAddress result{};
    for (const auto& pair : entry.pairs) {
        for (const auto& [key, kind] : kinds) {
            if (pair.key != key) continue;
            if (found)
                throw AddressError(
                    "cannot specify two of \"path\", \"tmpdir\", \"abstract\", \"runtime\" and \"dir\" at "
                    "the same time");
            result = {kind, pair.value};
            found = &result;
        }
    }
    if (!found)
        throw AddressError("Server address of type unix was missing argument path or tmpdir or abstract or "
                           "runtime or dir");
    if (result.kind == ListenAddress::Kind::runtime) {
        if (result.value != "yes")
            throw AddressError("if given, the only value allowed for \"runtime\" is \"yes\"");
        result.value.clear();
    }
    return result;
}

ListenAddress to_listen_address(const Entry& entry) {
    if (entry.transport == "unix") return unix_address(entry);
    if (entry.transport == "systemd") return {ListenAddress::Kind::systemd, {}};
    if (entry.transport == "tcp" || entry.transport == "nonce-tcp" || entry.transport == "launchd" ||
        entry.transport == "autolaunch" || entry.transport == "unixexec")
        throw AddressError(fmt::format("Address type '{}' is not supported by jetbus (use unix:)", entry.transport));
    throw AddressError(fmt::format("Unknown address type '{}'", entry.transport));
}

std::string random_name() {
    static constexpr std::string_view alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    std::array<unsigned char, kRandomNameLength> bytes{};
    if (getrandom(bytes.data(), bytes.size(), 0) != static_cast<ssize_t>(bytes.size()))
        throw AddressError(fmt::format("getrandom failed: {}", std::strerror(errno)));
    std::string name = "dbus-";
    for (auto b : bytes) name += alphabet[b % alphabet.size()];
    return name;
}

class Socket {
public:
    Socket() : fd_(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) {
        if (fd_ < 0) throw AddressError(fmt::format("Failed to create socket: {}", std::strerror(errno)));
    }
    ~Socket() {
        if (fd_ >= 0) ::close(fd_);
    }
    Socket(const Socket&) = delete;
    Socket& operator=(const Socket&) = delete;
    int get() const { return fd_; }
    int release() { return std::exchange(fd_, -1); }

private:
    int fd_;
};

// Fills a sockaddr_un; abstract names start with a NUL byte and are not NUL-terminated.
socklen_t make_sockaddr(sockaddr_un& sa, std::string_view name, bool abstract) {
    sa = {};
    sa.sun_family = AF_UNIX;
    std::size_t offset = abstract ? 1 : 0;
    // A path needs its terminating NUL; an abstract name needs the leading one.
    if (name.size() + 1 > sizeof(sa.sun_path))
        throw AddressError(fmt::format("Socket name too long: \"{}\"", name));
    std::memcpy(sa.sun_path + offset, name.data(), name.size());
    return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + offset + name.size() + (abstract ? 0 : 1));
}

// Returns 0 or the errno of bind/listen.
int try_bind(int fd, std::string_view name, bool abstract) {
    sockaddr_un sa;
    socklen_t len = make_sockaddr(sa, name, abstract);
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&sa), len) < 0) return errno;
    if (::listen(fd, kListenBacklog) < 0) return errno;
    return 0;
}

[[noreturn]] void throw_bind_error(std::string_view name, int err) {
    throw AddressError(fmt::format("Failed to bind socket \"{}\": {}", name, std::strerror(err)));
}

// dbus-daemon removes a socket left behind by a dead bus, but never a regular file.
void remove_stale_socket(const std::string& path) {
    struct stat st;
    if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(path.c_str());
}

BoundListener bind_path(const std::string& path) {
    Socket sock;
    remove_stale_socket(path);
    if (int err = try_bind(sock.get(), path, false)) throw_bind_error(path, err);
    // Access is decided by authentication and policy, not file mode (dbus-daemon also opens it up).
    ::chmod(path.c_str(), 0777);
    return {sock.release(), "unix:path=" + escape_address_value(path), path};
}

BoundListener bind_abstract(const std::string& name) {
    Socket sock;
    if (int err = try_bind(sock.get(), name, true)) throw_bind_error(name, err);
    return {sock.release(), "unix:abstract=" + escape_address_value(name), {}};
}

BoundListener bind_in_directory(const std::string& dir) {
    for (int attempt = 0;; ++attempt) {
        std::string path = dir + "/" + random_name();
        Socket sock;
        int err = try_bind(sock.get(), path, false);
        if (err == 0) {
            ::chmod(path.c_str(), 0777);
            return {sock.release(), "unix:path=" + escape_address_value(path), path};
        }
        if (err != EADDRINUSE || attempt + 1 == kRandomNameAttempts) throw_bind_error(path, err);
    }
}

std::string runtime_socket_path() {
    const char* dir = std::getenv("XDG_RUNTIME_DIR");
    if (!dir || !*dir) throw AddressError("unix:runtime=yes was specified but XDG_RUNTIME_DIR was not set");
    return std::string(dir) + "/bus";
}

}  // namespace

std::vector<ListenAddress> parse_listen_addresses(std::string_view addresses) {
    std::vector<ListenAddress> result;
    for (const auto& entry : parse_entries(addresses)) result.push_back(to_listen_address(entry));
    return result;
}

BoundListener bind_listener(const ListenAddress& address) {
    switch (address.kind) {
    case ListenAddress::Kind::path: return bind_path(address.value);
    case ListenAddress::Kind::abstract: return bind_abstract(address.value);
    case ListenAddress::Kind::tmpdir:
    case ListenAddress::Kind::dir: return bind_in_directory(address.value);
    case ListenAddress::Kind::runtime: return bind_path(runtime_socket_path());
    case ListenAddress::Kind::systemd: break;
    }
    throw AddressError("systemd: addresses are not bound by jetbus: the sockets come from systemd (sd_listen_fds)");
}

std::string escape_address_value(std::string_view value) {
    static constexpr std::string_view hex = "0123456789abcdef";
    std::string out;
    out.reserve(value.size());
    for (char ch : value) {
        auto c = static_cast<unsigned char>(ch);
        if (is_optionally_escaped(c)) {
            out += ch;
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 0xf];
        }
    }
    return out;
}

std::string unescape_address_value(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (std::size_t i = 0; i < value.size(); ++i) {
        auto c = static_cast<unsigned char>(value[i]);
        if (c == '%') {
            bool complete = i + 2 < value.size();
            int hi = complete ? hex_value(value[i + 1]) : -1;
            int lo = complete ? hex_value(value[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                throw AddressError("In D-Bus address, percent character was followed by characters other than hex digits");
            out += static_cast<char>(hi * 16 + lo);
            i += 2;
        } else if (is_optionally_escaped(c) || c == '\\') {
            // libdbus also accepts an unescaped backslash (Windows paths); so do we.
            out += static_cast<char>(c);
        } else {
            throw AddressError(fmt::format("In D-Bus address, character '{}' should have been escaped",
                                           static_cast<char>(c)));
        }
    }
    return out;
}

std::string generate_guid() {
    std::array<unsigned char, 16> bytes{};
    if (getrandom(bytes.data(), bytes.size(), 0) != static_cast<ssize_t>(bytes.size()))
        throw AddressError(fmt::format("getrandom failed: {}", std::strerror(errno)));
    std::string guid;
    guid.reserve(32);
    for (auto b : bytes) guid += fmt::format("{:02x}", b);
    return guid;
}

}  // namespace jetbus::broker
