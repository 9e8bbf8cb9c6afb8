// D-Bus server addresses: parsing the listen addresses of the spec's "Server Addresses" and
// "Transports" sections, value escaping, binding unix listening sockets and the server guid.
// Used at start-up and reload only, so errors are exceptions (AddressError), never on the data path.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace jetbus::broker {

class AddressError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// One listenable address. `value` is unescaped: the path, abstract name or directory; empty for
// runtime (resolved from $XDG_RUNTIME_DIR when bound) and systemd (sockets come from sd_listen_fds).
struct ListenAddress {
    enum class Kind { path, abstract, tmpdir, dir, runtime, systemd } kind;
    std::string value;
};

// Parses a ';'-separated list of `transport:key=value,...`. Only unix: and systemd: are listenable
// by jetbus; unknown keys (guid=, ...) are ignored as dbus-daemon ignores them.
std::vector<ListenAddress> parse_listen_addresses(std::string_view addresses);

// A bound, listening, non-blocking, close-on-exec socket. `address` is what clients connect to
// (escaped, without guid); `unlink_path` is the socket file to remove at exit (empty if abstract).
struct BoundListener {
    int fd = -1;
    std::string address;
    std::string unlink_path;
};

// Binds one address; throws AddressError naming the socket and the errno text. A stale socket
// file at unix:path= (or runtime) is replaced, as dbus-daemon does; any other file is an error.
// Kind::systemd cannot be bound here: the caller takes the sockets systemd passed.
BoundListener bind_listener(const ListenAddress& address);

// The spec's value escaping: bytes outside [-0-9A-Za-z_/.*] become %XX.
std::string escape_address_value(std::string_view value);

// The reverse; throws AddressError on a bad %XX or on a byte that must have been escaped.
std::string unescape_address_value(std::string_view value);

// The server guid: 32 lowercase hex digits (16 bytes from getrandom).
std::string generate_guid();

}  // namespace jetbus::broker
