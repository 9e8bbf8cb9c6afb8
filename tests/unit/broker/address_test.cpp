// Tests for D-Bus server addresses: parsing every listenable form, escaping, binding and connecting.
#include "broker/address.h"

#include <doctest/doctest.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

using jetbus::broker::AddressError;
using jetbus::broker::BoundListener;
using jetbus::broker::ListenAddress;
using Kind = jetbus::broker::ListenAddress::Kind;
namespace broker = jetbus::broker;

namespace {

// A fresh private directory, removed with its contents at the end of the test.
struct TempDir {
    std::string path;
    TempDir() {
        char templ[] = "/tmp/jetbus-address-test-XXXXXX";
        REQUIRE(::mkdtemp(templ) != nullptr);
        path = templ;
    }
    ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
};

// Connects a client socket to a unix address string such as the one a listener reports.
bool client_connects(const std::string& name, bool abstract) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::size_t offset = abstract ? 1 : 0;
    std::memcpy(sa.sun_path + offset, name.data(), name.size());
    auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + offset + name.size() + (abstract ? 0 : 1));
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), len) == 0;
    ::close(fd);
    return ok;
}

// The listener accepts the pending connection without blocking (it is non-blocking).
bool listener_has_pending_connection(const BoundListener& listener) {
    int fd = ::accept4(listener.fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return false;
    ::close(fd);
    return true;
}

std::string path_from_address(const std::string& address) {
    const std::string prefix = "unix:path=";
    REQUIRE(address.rfind(prefix, 0) == 0);
    return broker::unescape_address_value(address.substr(prefix.size()));
}

}  // namespace

TEST_CASE("unix:path= parses to a path listen address") {
    auto list = broker::parse_listen_addresses("unix:path=/run/dbus/system_bus_socket");
    REQUIRE(list.size() == 1);
    CHECK(list[0].kind == Kind::path);
    CHECK(list[0].value == "/run/dbus/system_bus_socket");
}

TEST_CASE("every listenable unix form and systemd: are recognised") {
    auto list = broker::parse_listen_addresses(
        "unix:abstract=/tmp/dbus-x;unix:tmpdir=/tmp;unix:dir=/var/tmp;unix:runtime=yes;systemd:");
    REQUIRE(list.size() == 5);
    CHECK(list[0].kind == Kind::abstract);
    CHECK(list[0].value == "/tmp/dbus-x");
    CHECK(list[1].kind == Kind::tmpdir);
    CHECK(list[1].value == "/tmp");
    CHECK(list[2].kind == Kind::dir);
    CHECK(list[2].value == "/var/tmp");
    CHECK(list[3].kind == Kind::runtime);
    CHECK(list[3].value.empty());
    CHECK(list[4].kind == Kind::systemd);
}

TEST_CASE("address values are unescaped and a guid or unknown key is ignored") {
    auto list = broker::parse_listen_addresses("unix:guid=0123456789abcdef0123456789abcdef,path=/tmp/a%20b%2cc");
    REQUIRE(list.size() == 1);
    CHECK(list[0].value == "/tmp/a b,c");
}

TEST_CASE("a trailing semicolon is accepted but an empty entry is not") {
    CHECK(broker::parse_listen_addresses("unix:path=/tmp/x;").size() == 1);
    CHECK_THROWS_AS(broker::parse_listen_addresses("unix:path=/tmp/x;;unix:path=/tmp/y"), AddressError);
    CHECK_THROWS_AS(broker::parse_listen_addresses(""), AddressError);
}

TEST_CASE("an unknown transport is refused with its name") {
    CHECK_THROWS_WITH_AS(broker::parse_listen_addresses("foo:bar=1"), "Unknown address type 'foo'", AddressError);
}

TEST_CASE("tcp: is refused as unsupported") {
    CHECK_THROWS_AS(broker::parse_listen_addresses("tcp:host=localhost,port=0"), AddressError);
}

TEST_CASE("a unix address without a socket key is refused") {
    CHECK_THROWS_AS(broker::parse_listen_addresses("unix:"), AddressError);
    CHECK_THROWS_AS(broker::parse_listen_addresses("unix:guid=0123"), AddressError);
}

TEST_CASE("a unix address with two socket keys is refused") {
    CHECK_THROWS_AS(broker::parse_listen_addresses("unix:path=/tmp/a,tmpdir=/tmp"), AddressError);
}

TEST_CASE("a key without a value or without '=' is refused") {
    CHECK_THROWS_AS(broker::parse_listen_addresses("unix:path="), AddressError);
    CHECK_THROWS_AS(broker::parse_listen_addresses("unix:path"), AddressError);
    CHECK_THROWS_AS(broker::parse_listen_addresses("unix:=x"), AddressError);
}

TEST_CASE("an address without a colon is refused") {
    CHECK_THROWS_AS(broker::parse_listen_addresses("unix"), AddressError);
}

TEST_CASE("runtime= only accepts yes") {
    CHECK_THROWS_AS(broker::parse_listen_addresses("unix:runtime=no"), AddressError);
}

TEST_CASE("bad escapes are refused") {
    CHECK_THROWS_AS(broker::parse_listen_addresses("unix:path=/tmp/%zz"), AddressError);
    CHECK_THROWS_AS(broker::parse_listen_addresses("unix:path=/tmp/%4"), AddressError);
    CHECK_THROWS_AS(broker::parse_listen_addresses("unix:path=/tmp/a b"), AddressError);
    CHECK_THROWS_AS(broker::unescape_address_value("%"), AddressError);
}

TEST_CASE("escaping leaves only the optionally-escaped bytes as they are") {
    CHECK(broker::escape_address_value("/tmp/Az09-_.*") == "/tmp/Az09-_.*");
    CHECK(broker::escape_address_value("a b,c;d=e%") == "a%20b%2cc%3bd%3de%25");
    CHECK(broker::escape_address_value(std::string("\x00\xff", 2)) == "%00%ff");
}

TEST_CASE("escaping then unescaping gives back every byte value") {
    std::string all;
    for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
    CHECK(broker::unescape_address_value(broker::escape_address_value(all)) == all);
}

TEST_CASE("generate_guid gives 32 lowercase hex digits, different each time") {
    auto a = broker::generate_guid();
    auto b = broker::generate_guid();
    CHECK(a.size() == 32);
    CHECK(a.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(a != b);
}

TEST_CASE("a path listener accepts a connection and reports its escaped address") {
    TempDir dir;
    std::string path = dir.path + "/bus socket";
    auto listener = broker::bind_listener({Kind::path, path});
    CHECK(listener.address == "unix:path=" + dir.path + "/bus%20socket");
    CHECK(listener.unlink_path == path);
    CHECK(client_connects(path, false));
    CHECK(listener_has_pending_connection(listener));
    ::close(listener.fd);
}

TEST_CASE("a stale socket file at unix:path= is replaced") {
    TempDir dir;
    std::string path = dir.path + "/bus";
    auto first = broker::bind_listener({Kind::path, path});
    ::close(first.fd);  // the old bus died without removing its socket
    auto second = broker::bind_listener({Kind::path, path});
    CHECK(client_connects(path, false));
    ::close(second.fd);
}

TEST_CASE("a regular file at unix:path= is not replaced") {
    TempDir dir;
    std::string path = dir.path + "/file";
    std::system(("touch '" + path + "'").c_str());
    CHECK_THROWS_AS(broker::bind_listener({Kind::path, path}), AddressError);
    struct stat st;
    CHECK(::stat(path.c_str(), &st) == 0);
}

TEST_CASE("an abstract listener accepts a connection") {
    std::string name = "jetbus-test-" + broker::generate_guid();
    auto listener = broker::bind_listener({Kind::abstract, name});
    CHECK(listener.address == "unix:abstract=" + name);
    CHECK(listener.unlink_path.empty());
    CHECK(client_connects(name, true));
    CHECK(listener_has_pending_connection(listener));
    ::close(listener.fd);
}

TEST_CASE("a tmpdir listener creates a fresh socket in that directory") {
    TempDir dir;
    auto listener = broker::bind_listener({Kind::tmpdir, dir.path});
    auto path = path_from_address(listener.address);
    CHECK(path.rfind(dir.path + "/dbus-", 0) == 0);
    CHECK(listener.unlink_path == path);
    CHECK(client_connects(path, false));
    auto other = broker::bind_listener({Kind::dir, dir.path});
    CHECK(other.unlink_path != listener.unlink_path);
    ::close(listener.fd);
    ::close(other.fd);
}

TEST_CASE("runtime=yes binds $XDG_RUNTIME_DIR/bus") {
    TempDir dir;
    const char* old = std::getenv("XDG_RUNTIME_DIR");
    std::string saved = old ? old : "";
    ::setenv("XDG_RUNTIME_DIR", dir.path.c_str(), 1);
    auto listener = broker::bind_listener({Kind::runtime, {}});
    CHECK(listener.address == "unix:path=" + dir.path + "/bus");
    ::close(listener.fd);
    ::unsetenv("XDG_RUNTIME_DIR");
    CHECK_THROWS_AS(broker::bind_listener({Kind::runtime, {}}), AddressError);
    if (old) ::setenv("XDG_RUNTIME_DIR", saved.c_str(), 1);
}

TEST_CASE("binding in a missing directory names the socket and the errno text") {
    CHECK_THROWS_WITH_AS(broker::bind_listener({Kind::path, "/nonexistent-jetbus/bus"}),
                         "Failed to bind socket \"/nonexistent-jetbus/bus\": No such file or directory",
                         AddressError);
}

TEST_CASE("systemd: addresses cannot be bound by jetbus itself") {
    CHECK_THROWS_AS(broker::bind_listener({Kind::systemd, {}}), AddressError);
}
