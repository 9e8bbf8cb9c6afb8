// Server side of the D-Bus authentication protocol (spec: "Authentication Protocol"), as a pure
// state machine: the connection hands it one line at a time and writes out whatever it appends.
// No I/O, no clock, no user database: the peer's uid comes from SO_PEERCRED via SaslOptions.
//
// The replies copy dbus-daemon 1.14 byte for byte (checked against the real daemon), including its
// quirks: ERROR texts are quoted, every REJECTED counts towards the limit (even the mechanism list
// asked for by a bare AUTH), BEGIN before OK closes the connection without a reply.
//
// What the caller (the connection) does, not this class:
// - The single NUL byte that precedes the first line (spec: "Special credentials-passing nul
//   byte") is read and checked by the connection; a first byte that is not NUL closes it, as
//   dbus-daemon does. The first line handed to feed() starts after that byte.
// - Cutting lines at "\r\n" (cut_sasl_line below does it) and keeping what follows BEGIN: those
//   bytes are the start of the message stream, possibly already in the same read.
// - On SaslState::failed: write out what feed() appended (the last REJECTED, if any), then close.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace jetbus::broker {

enum class SaslState { auth, waiting_for_data, waiting_for_begin, authenticated, failed };

struct SaslOptions {
    uid_t peer_uid;                 // from SO_PEERCRED: the only truth
    bool allow_external = true;     // config <auth>EXTERNAL</auth> (an empty <auth> list means all supported)
    bool allow_anonymous = false;   // config <allow_anonymous/> plus ANONYMOUS in the mechanisms
    bool unix_fd_capable = true;    // transport can pass fds (unix sockets: yes)
    std::string_view guid;          // 32 hex digits, the server GUID sent in OK (copied)
};

// dbus-daemon (dbus-auth.c, MAX_BUFFER) closes the connection once more than 16 KiB wait in its
// auth input buffer. A line arrives whole with its "\r\n", so the longest line it accepts is
// 16 KiB minus the two bytes of "\r\n" (measured: 16382 answered, 16383 disconnected).
constexpr size_t max_sasl_buffer = 16 * 1024;
constexpr size_t max_sasl_line_length = max_sasl_buffer - 2;

// dbus-daemon (dbus-auth.c, max_failures) closes the connection after sending its 6th REJECTED.
constexpr unsigned max_sasl_rejections = 6;

// uid() of a connection that authenticated as ANONYMOUS: it has no user.
constexpr uid_t sasl_no_uid = static_cast<uid_t>(-1);

class SaslServer {
public:
    explicit SaslServer(const SaslOptions& options);

    // One line as received, WITHOUT the trailing "\r\n". Appends the reply line(s), each ending in
    // "\r\n", to `out` (nothing for BEGIN). Returns the state after the line. Once authenticated or
    // failed, further lines are ignored (nothing appended, state unchanged).
    SaslState feed(std::string_view line, std::string& out);

    SaslState state() const { return state_; }
    bool unix_fd_negotiated() const { return unix_fd_negotiated_; }
    bool anonymous() const { return anonymous_; }   // authenticated as ANONYMOUS
    uid_t uid() const { return uid_; }              // peer_uid for EXTERNAL, sasl_no_uid for ANONYMOUS
    unsigned rejections() const { return rejections_; }

private:
    enum class Mechanism { none, external, anonymous };

    void on_auth(std::string_view args, std::string& out);
    void on_data(std::string_view args, std::string& out);
    void run_mechanism(std::string_view hex, std::string& out);
    void run_external(std::string_view identity, std::string& out);
    void run_anonymous(std::string_view trace, std::string& out);
    void on_negotiate_unix_fd(std::string& out);
    void send_ok(std::string& out);
    void send_rejected(std::string& out);
    static void send_error(std::string_view text, std::string& out);
    void dispatch_auth(std::string_view cmd, std::string_view args, std::string& out);
    void dispatch_data(std::string_view cmd, std::string_view args, std::string& out);
    void dispatch_begin(std::string_view cmd, std::string_view args, std::string& out);

    uid_t peer_uid_;
    bool allow_external_;
    bool allow_anonymous_;
    bool unix_fd_capable_;
    std::string guid_;
    SaslState state_ = SaslState::auth;
    Mechanism mechanism_ = Mechanism::none;
    bool asked_for_identity_ = false;   // EXTERNAL sent its empty DATA challenge already
    bool unix_fd_negotiated_ = false;
    bool anonymous_ = false;
    uid_t uid_ = sasl_no_uid;
    unsigned rejections_ = 0;
};

// Cutting the next line off the front of a connection's receive buffer.
struct SaslLine {
    enum class Status { line, need_more, too_long };
    Status status;
    std::string_view line;   // without "\r\n", valid while the buffer is
    size_t consumed = 0;     // bytes to drop from the buffer, "\r\n" included
};

// A line when "\r\n" is there; need_more while there is none and at most max_sasl_buffer bytes wait
// (dbus-daemon waits up to exactly that); too_long beyond, or when the line found exceeds
// max_sasl_line_length: the caller then closes the connection without a reply, as dbus-daemon does.
SaslLine cut_sasl_line(std::string_view buffer);

}  // namespace jetbus::broker
