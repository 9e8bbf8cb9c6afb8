// Issue 6: no heap allocation per message in the steady state. An in-process bus routes the three kinds
// of traffic a busy session bus carries — a method call to a well-known name and its reply, a pipelined
// batch of calls, and a signal broadcast to subscribers chosen by match rules — first to warm up, then
// 100,000 messages while every allocation the bus makes is counted (counting_allocator.h).
//
// The clients here are raw sockets with pre-sized buffers, so the measured loop allocates nothing on the
// client side either; the count of those allocations is checked too, to show the measurement is clean.
#include <doctest/doctest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "../driver/test_bus.h"
#include "counting_allocator.h"

using namespace jetbus;
using namespace jetbus::test;

namespace {

constexpr std::string_view service_name = "com.example.Echo";
constexpr std::string_view service_path = "/com/example/Echo";
constexpr uint64_t warm_up_messages = 10'000;
// Under a sanitizer nothing is counted, so a tenth of the traffic is enough to exercise the same path.
constexpr uint64_t measured_messages = alloc::counting_available ? 100'000 : 10'000;
constexpr size_t batch_size = 8;   // calls in flight at once in the pipelined batch


// Runs the bus's ready handlers, with its allocations counted as the bus's.
void pump(TestBus& tb) {
    alloc::BusScope scope;
    tb.pump();
}

// Keeps the compiler from dropping an allocation whose result is unused.
void escape(void* p) { asm volatile("" : : "g"(p) : "memory"); }

// What a setup call to the driver got back.
struct DriverReply {
    wire::MessageType type = wire::MessageType::invalid;
    std::string first_string;
    uint32_t first_uint32 = 0;
};

// A client on a socketpair that builds messages straight into a reused output buffer and cuts received
// messages out of a reused input buffer: after construction it allocates nothing.
class Peer {
public:
    explicit Peer(TestBus& tb) : tb_(tb), in_(1 << 20), out_(1 << 16) {
        int sv[2];
        REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) == 0);
        tb_.bus.accept(sv[0]);
        fd_ = sv[1];
        std::string hex_uid;
        for (char ch : std::to_string(getuid())) hex_uid += fmt::format("{:02x}", static_cast<unsigned>(ch));
        const std::string auth = std::string(1, '\0') + "AUTH EXTERNAL " + hex_uid + "\r\nBEGIN\r\n";
        REQUIRE(::send(fd_, auth.data(), auth.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(auth.size()));
        skip_sasl_reply();
        name = call_driver("Hello").first_string;
        REQUIRE(!name.empty());
    }
    ~Peer() { ::close(fd_); }
    Peer(const Peer&) = delete;
    Peer& operator=(const Peer&) = delete;

    // Appends a message to the output buffer (sent by flush()); returns its serial.
    uint32_t queue(wire::HeaderFields f, std::span<const uint8_t> body) {
        f.serial = ++serial_;
        const size_t hsize = wire::header_size(f);
        REQUIRE(out_len_ + hsize + body.size() <= out_.size());
        wire::write_header(f, static_cast<uint32_t>(body.size()), {out_.data() + out_len_, hsize});
        if (!body.empty()) std::memcpy(out_.data() + out_len_ + hsize, body.data(), body.size());
        out_len_ += hsize + body.size();
        return f.serial;
    }
    // Writes everything queued, letting the bus read whenever the socket is full.
    void flush() {
        size_t done = 0;
        while (done < out_len_) {
            const ssize_t n = ::send(fd_, out_.data() + done, out_len_ - done, MSG_NOSIGNAL);
            if (n > 0) done += static_cast<size_t>(n);
            else pump(tb_);
        }
        out_len_ = 0;
    }
    // Reads what has arrived and calls on_message(header, body) for each complete message; returns how
    // many there were.
    template <class F>
    size_t receive(F&& on_message) {
        size_t count = 0;
        for (;;) {
            const ssize_t n = ::recv(fd_, in_.data() + in_len_, in_.size() - in_len_, MSG_DONTWAIT);
            if (n <= 0) return count;
            in_len_ += static_cast<size_t>(n);
            count += cut(on_message);
        }
    }

    // Setup only (allocates): calls a driver method and waits for its reply, dropping anything else.
    DriverReply call_driver(std::string_view member, std::string_view sig = "",
                            const std::vector<uint8_t>& body = {}) {
        wire::HeaderFields f;
        f.type = wire::MessageType::method_call;
        f.destination = broker::driver_name;
        f.path = broker::driver_path;
        f.interface = broker::driver_interface;
        f.member = member;
        f.signature = sig;
        const uint32_t serial = queue(f, body);
        flush();
        DriverReply reply;
        bool got = false;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        while (!got && std::chrono::steady_clock::now() < deadline) {
            pump(tb_);
            receive([&](const wire::Header& h, std::span<const uint8_t> b) {
                if (h.reply_serial != serial) return;
                got = true;
                reply.type = h.type;
                wire::Reader r(b, h.endian);
                std::string_view s;
                if (h.signature.starts_with("s") && r.string(s)) reply.first_string = s;
                if (h.signature.starts_with("u")) r.uint32(reply.first_uint32);
            });
        }
        REQUIRE(got);
        return reply;
    }
    void add_match(std::string_view rule) {
        REQUIRE(call_driver("AddMatch", "s", body_s(rule)).type == wire::MessageType::method_return);
    }

    std::string name;   // the unique name Hello gave

private:
    void skip_sasl_reply() {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        while (std::chrono::steady_clock::now() < deadline) {
            pump(tb_);
            const ssize_t n = ::recv(fd_, in_.data() + in_len_, in_.size() - in_len_, MSG_DONTWAIT);
            if (n > 0) in_len_ += static_cast<size_t>(n);
            const std::string_view seen(reinterpret_cast<const char*>(in_.data()), in_len_);
            const auto eol = seen.find("\r\n");
            if (eol != std::string_view::npos) {
                REQUIRE(seen.starts_with("OK "));
                consume(eol + 2);
                return;
            }
        }
        FAIL("no SASL OK from the bus");
    }
    template <class F>
    size_t cut(F& on_message) {
        size_t at = 0;
        size_t count = 0;
        while (in_len_ - at >= wire::fixed_header_size) {
            const std::span<const uint8_t> rest(in_.data() + at, in_len_ - at);
            const auto size = wire::message_size(rest.first(wire::fixed_header_size));
            REQUIRE(size);
            if (rest.size() < *size) break;
            const auto h = wire::parse_header(rest.first(*size));
            REQUIRE(h);
            on_message(*h, rest.subspan(h->body_offset, h->body_length));
            ++count;
            at += *size;
        }
        consume(at);
        return count;
    }
    void consume(size_t n) {
        std::memmove(in_.data(), in_.data() + n, in_len_ - n);
        in_len_ -= n;
    }

    TestBus& tb_;
    int fd_ = -1;
    uint32_t serial_ = 0;
    std::vector<uint8_t> in_;
    size_t in_len_ = 0;
    std::vector<uint8_t> out_;
    size_t out_len_ = 0;
};

// The bus with its traffic: A calls B by B's well-known name, B broadcasts signals that three of four
// subscribers' rules select.
class Traffic {
public:
    explicit Traffic(TestBus& tb) : tb_(tb), a_(tb), b_(tb), s1_(tb), s2_(tb), s3_(tb), quiet_(tb) {
        const auto owned = b_.call_driver("RequestName", "su", body_su(service_name, 0));
        REQUIRE(owned.first_uint32 == 1);   // DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER
        s1_.add_match(fmt::format("type='signal',sender='{}',interface='{}',member='Tick',arg0='go'",
                                  service_name, service_name));
        s2_.add_match(fmt::format("type='signal',interface='{}'", service_name));
        s3_.add_match(fmt::format("type='signal',sender='{}',member='Tick'", b_.name));
        quiet_.add_match(fmt::format("type='signal',interface='{}',member='Tick',arg0='stop'", service_name));
        drain_setup_signals();
    }

    // One round: a single call and its reply, a pipelined batch, two signals (20 routed messages).
    void round() {
        calls(1);
        calls(batch_size);
        signal();
        signal();
    }
    uint64_t routed() const { return routed_; }
    uint64_t faults() const { return faults_; }

private:
    // A sends `count` calls to the service's name in one write; B answers each; A checks every reply.
    void calls(size_t count) {
        wire::HeaderFields call;
        call.type = wire::MessageType::method_call;
        call.destination = service_name;
        call.path = service_path;
        call.interface = service_name;
        call.member = "Ping";
        call.signature = "s";
        uint32_t expected = 0;
        for (size_t i = 0; i < count; ++i) {
            const uint32_t serial = a_.queue(call, ping_);
            if (i == 0) expected = serial;
        }
        a_.flush();
        size_t answered = 0;
        wait([&] {
            b_.receive([&](const wire::Header& h, std::span<const uint8_t>) { answer(h); });
            b_.flush();
            answered += a_.receive([&](const wire::Header& h, std::span<const uint8_t>) {
                if (h.type == wire::MessageType::method_return && h.reply_serial == expected &&
                    h.sender == b_.name) {
                    ++expected;
                } else {
                    ++faults_;
                }
            });
            return answered >= count;
        });
        routed_ += 2 * count;
    }
    void answer(const wire::Header& call) {
        if (call.type != wire::MessageType::method_call || call.member != "Ping" || call.sender != a_.name) {
            ++faults_;
            return;
        }
        wire::HeaderFields reply;
        reply.type = wire::MessageType::method_return;
        reply.destination = call.sender;
        reply.reply_serial = call.serial;
        reply.signature = "s";
        b_.queue(reply, pong_);
    }
    // B broadcasts one signal; s1..s3 must each get it, quiet must not.
    void signal() {
        wire::HeaderFields sig;
        sig.type = wire::MessageType::signal;
        sig.path = service_path;
        sig.interface = service_name;
        sig.member = "Tick";
        sig.signature = "s";
        b_.queue(sig, go_);
        b_.flush();
        std::array<size_t, 3> got{};
        std::array<Peer*, 3> subscribers{&s1_, &s2_, &s3_};
        wait([&] {
            for (size_t i = 0; i < subscribers.size(); ++i) {
                got[i] += subscribers[i]->receive([&](const wire::Header& h, std::span<const uint8_t>) {
                    if (h.type != wire::MessageType::signal || h.member != "Tick" || h.sender != b_.name)
                        ++faults_;
                });
            }
            faults_ += quiet_.receive([](const wire::Header&, std::span<const uint8_t>) {});
            return got[0] >= 1 && got[1] >= 1 && got[2] >= 1;
        });
        for (size_t n : got) faults_ += n - 1;
        routed_ += 1;
    }
    // Pumps the bus and runs step until it says done; a stall of 2 s counts as a fault.
    template <class Step>
    void wait(Step&& step) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        for (;;) {
            pump(tb_);
            if (step()) return;
            if (std::chrono::steady_clock::now() > deadline) {
                ++faults_;
                return;
            }
        }
    }
    // NameAcquired, NameOwnerChanged and the like from the setup calls are not part of the traffic.
    void drain_setup_signals() {
        for (int i = 0; i < 20; ++i) {
            pump(tb_);
            for (Peer* p : {&a_, &b_, &s1_, &s2_, &s3_, &quiet_})
                p->receive([](const wire::Header&, std::span<const uint8_t>) {});
        }
    }

    TestBus& tb_;
    Peer a_, b_, s1_, s2_, s3_, quiet_;
    const std::vector<uint8_t> ping_ = body_s("ping");
    const std::vector<uint8_t> pong_ = body_s("pong");
    const std::vector<uint8_t> go_ = body_s("go");
    uint64_t routed_ = 0;
    uint64_t faults_ = 0;
};

// Warms the bus up, then routes measured_messages while counting; returns the counts.
alloc::AllocationCounts route_measured(const broker::BusLimits& limits) {
    TestBus tb(limits);
    Traffic traffic(tb);
    while (traffic.routed() < warm_up_messages) traffic.round();
    const uint64_t start = traffic.routed();
    alloc::start_measuring();
    while (traffic.routed() - start < measured_messages) traffic.round();
    const alloc::AllocationCounts counts = alloc::stop_measuring();
    CHECK(traffic.faults() == 0);
    if (alloc::counting_available) {
        MESSAGE("routed ", traffic.routed() - start, " messages: ", counts.in_bus, " allocations in the bus, ",
                counts.elsewhere, " in the test's clients");
    } else {
        MESSAGE("routed ", traffic.routed() - start, " messages; allocations not counted (a sanitizer owns malloc)");
    }
    return counts;
}

}  // namespace

TEST_CASE("The allocation counter sees malloc, calloc, realloc, aligned_alloc and operator new" *
          doctest::skip(!alloc::counting_available)) {
    alloc::start_measuring();
    {
        alloc::BusScope scope;
        void* m = std::malloc(24);
        escape(m);
        void* c = std::calloc(3, 8);
        escape(c);
        m = std::realloc(m, 4096);
        escape(m);
        void* a = std::aligned_alloc(64, 128);
        escape(a);
        std::free(m);
        std::free(c);
        std::free(a);
    }
    auto* plain = new std::array<char, 40>;
    escape(plain);
    delete plain;
    void* aligned = ::operator new(256, std::align_val_t{128});
    escape(aligned);
    ::operator delete(aligned, std::align_val_t{128});
    const alloc::AllocationCounts counts = alloc::stop_measuring();
    CHECK(counts.in_bus == 4);
    CHECK(counts.elsewhere == 2);
}

TEST_CASE("Routing 100,000 calls, replies and broadcast signals after warm-up allocates nothing") {
    const alloc::AllocationCounts counts = route_measured(broker::BusLimits{});
    if (!alloc::counting_available) return;   // the sanitizer owns malloc: traffic checked, not counted
    CHECK(counts.elsewhere == 0);
    CHECK(counts.in_bus == 0);
}

TEST_CASE("With a reply_timeout, routing 100,000 messages after warm-up allocates nothing") {
    broker::BusLimits limits;
    limits.reply_timeout_ms = 25000;
    const alloc::AllocationCounts counts = route_measured(limits);
    if (!alloc::counting_available) return;
    CHECK(counts.elsewhere == 0);
    CHECK(counts.in_bus == 0);
}
