// An in-process bus (Bus + Driver on one io_context) and a raw test client on a socketpair, so broker and
// driver behaviour can be checked byte by byte, under the sanitizers, without starting a process.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <fmt/format.h>

#include "broker/bus.h"
#include "driver/driver.h"
#include "wire/header.h"
#include "wire/reader.h"
#include "wire/writer.h"

namespace jetbus::test {

struct TestBus {
    boost::asio::io_context io;
    broker::Bus bus{io, options()};
    driver::Driver driver{bus, {"0123456789abcdef0123456789abcdef", {}}};

    TestBus() { bus.set_driver(&driver); }
    explicit TestBus(uint32_t auth_timeout_ms) : bus(io, options(auth_timeout_ms)) { bus.set_driver(&driver); }
    explicit TestBus(const broker::BusLimits& limits) : bus(io, with_limits(limits)) { bus.set_driver(&driver); }
    static broker::BusOptions with_limits(const broker::BusLimits& limits) {
        broker::BusOptions o = options();
        o.limits = limits;
        return o;
    }
    static broker::BusOptions options(uint32_t auth_timeout_ms = 30000) {
        broker::BusOptions o;
        o.limits.auth_timeout_ms = auth_timeout_ms;
        o.guid = "00112233445566778899aabbccddeeff";
        o.limits.max_replies_per_connection = 4;
        o.limits.max_match_rules_per_connection = 8;
        return o;
    }
    void pump() {
        io.restart();
        io.poll();
    }
};

// A received message, copied out of the stream.
struct Received {
    std::vector<uint8_t> bytes;
    wire::Header header;
    std::string first_string() const {
        wire::Reader r({bytes.data() + header.body_offset, header.body_length}, header.endian);
        std::string_view s;
        return r.string(s) ? std::string(s) : std::string();
    }
    uint32_t first_uint32() const {
        wire::Reader r({bytes.data() + header.body_offset, header.body_length}, header.endian);
        uint32_t v = 0;
        r.uint32(v);
        return v;
    }
};

class TestClient {
public:
    explicit TestClient(TestBus& tb, bool hello = true, bool unix_fds = false) : tb_(tb) {
        int sv[2];
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv);
        tb_.bus.accept(sv[0]);
        fd_ = sv[1];
        unix_fds_ = unix_fds;
        const std::string auth = std::string(1, '\0') + "AUTH EXTERNAL " + hex_uid() + "\r\n" +
                                 (unix_fds ? "NEGOTIATE_UNIX_FD\r\n" : "") + "BEGIN\r\n";
        send_raw(auth);
        if (hello) {
            auto reply = call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello");
            if (reply) name = reply->first_string();
        }
    }
    ~TestClient() { if (fd_ >= 0) close(fd_); }

    void send_raw(std::string_view bytes) { ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL); }
    void send_raw(const std::vector<uint8_t>& bytes) { ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL); }
    // Sends bytes with one fd attached by SCM_RIGHTS.
    void send_raw_with_fd(const std::vector<uint8_t>& bytes, int fd) {
        iovec iov{const_cast<uint8_t*>(bytes.data()), bytes.size()};
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
        ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
    }
    // Builds a message carrying one fd (UNIX_FDS = 1) and sends it; returns its serial.
    uint32_t send_with_fd(wire::HeaderFields f, const std::vector<uint8_t>& body, int fd) {
        f.serial = ++serial_;
        f.unix_fds = 1;
        std::vector<uint8_t> out(wire::header_size(f));
        wire::write_header(f, static_cast<uint32_t>(body.size()), out);
        out.insert(out.end(), body.begin(), body.end());
        send_raw_with_fd(out, fd);
        return f.serial;
    }
    void disconnect() { close(fd_); fd_ = -1; tb_.pump(); }

    // Builds and sends a message; returns its serial.
    uint32_t send(wire::HeaderFields f, const std::vector<uint8_t>& body = {}) {
        f.serial = ++serial_;
        std::vector<uint8_t> out(wire::header_size(f));
        wire::write_header(f, static_cast<uint32_t>(body.size()), out);
        out.insert(out.end(), body.begin(), body.end());
        send_raw(out);
        return f.serial;
    }
    uint32_t send_call(std::string_view dest, std::string_view path, std::string_view iface, std::string_view member,
                       std::string_view sig = "", const std::vector<uint8_t>& body = {}, uint8_t flags = 0) {
        wire::HeaderFields f;
        f.type = wire::MessageType::method_call;
        f.flags = flags;
        f.destination = dest;
        f.path = path;
        f.interface = iface;
        f.member = member;
        f.signature = sig;
        return send(f, body);
    }
    std::optional<Received> call(std::string_view dest, std::string_view path, std::string_view iface,
                                 std::string_view member, std::string_view sig = "",
                                 const std::vector<uint8_t>& body = {}) {
        const uint32_t serial = send_call(dest, path, iface, member, sig, body);
        return wait_for([serial](const Received& m) { return m.header.reply_serial == serial; });
    }
    std::optional<Received> call_driver(std::string_view member, std::string_view sig = "",
                                        const std::vector<uint8_t>& body = {}) {
        return call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", member, sig, body);
    }

    // Pumps the bus until a message satisfying pred arrives (earlier ones stay queued), or 2 s pass.
    template <class Pred>
    std::optional<Received> wait_for(Pred pred, std::chrono::milliseconds timeout = std::chrono::milliseconds(2000)) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            for (auto it = inbox_.begin(); it != inbox_.end(); ++it) {
                if (pred(*it)) {
                    Received r = std::move(*it);
                    inbox_.erase(it);
                    return r;
                }
            }
            if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
            tb_.pump();
            read_available();
        }
    }
    // True once the bus has closed this client's connection (EOF on the socket).
    bool closed_by_bus(std::chrono::milliseconds timeout = std::chrono::milliseconds(2000)) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            tb_.pump();
            if (read_available() == 0) return true;
        }
        return false;
    }
    // Everything received so far (after pumping a little).
    std::vector<Received> drain() {
        for (int i = 0; i < 20; ++i) {
            tb_.pump();
            read_available();
        }
        auto out = std::move(inbox_);
        inbox_.clear();
        return out;
    }

    std::string name;

private:
    static std::string hex_uid() {
        const std::string uid = std::to_string(getuid());
        std::string hex;
        for (char ch : uid) hex += fmt::format("{:02x}", static_cast<unsigned>(ch));
        return hex;
    }
    // Returns 0 on EOF, -1 when nothing was there, else bytes read. Cuts complete messages into inbox_.
    ssize_t read_available() {
        uint8_t buf[65536];
        const ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0) return 0;
        if (n < 0) return -1;
        stream_.insert(stream_.end(), buf, buf + n);
        cut();
        return n;
    }
    void cut() {
        if (!authed_) {
            // Skip SASL lines: everything up to and including "OK ...\r\n" (and AGREE_UNIX_FD).
            const std::string s(stream_.begin(), stream_.end());
            const auto ok = s.find(unix_fds_ ? "AGREE_UNIX_FD" : "OK ");
            if (ok == std::string::npos) return;
            const auto eol = s.find("\r\n", ok);
            if (eol == std::string::npos) return;
            stream_.erase(stream_.begin(), stream_.begin() + static_cast<long>(eol + 2));
            authed_ = true;
        }
        while (stream_.size() >= wire::fixed_header_size) {
            auto size = wire::message_size({stream_.data(), wire::fixed_header_size});
            if (!size || stream_.size() < *size) return;
            Received r;
            r.bytes.assign(stream_.begin(), stream_.begin() + static_cast<long>(*size));
            stream_.erase(stream_.begin(), stream_.begin() + static_cast<long>(*size));
            auto h = wire::parse_header(r.bytes);
            if (!h) continue;
            r.header = *h;
            inbox_.push_back(std::move(r));
        }
    }

    TestBus& tb_;
    int fd_ = -1;
    uint32_t serial_ = 0;
    bool authed_ = false;
    bool unix_fds_ = false;
    std::vector<uint8_t> stream_;
    std::vector<Received> inbox_;
};

inline std::vector<uint8_t> body_s(std::string_view s) {
    std::vector<uint8_t> b;
    wire::Writer(b).string(s);
    return b;
}
inline std::vector<uint8_t> body_su(std::string_view s, uint32_t u) {
    std::vector<uint8_t> b;
    wire::Writer w(b);
    w.string(s);
    w.uint32(u);
    return b;
}

}  // namespace jetbus::test
