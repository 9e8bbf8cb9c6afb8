// Message: re-stamping a received message sets the sender, drops unknown and forged header fields, and
// leaves the body bytes where they were.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include "broker/message.h"
#include "wire/header.h"
#include "wire/writer.h"

using namespace jetbus;
using namespace jetbus::broker;

namespace {

MessagePtr received(const std::vector<uint8_t>& raw) {
    MessagePtr m = Message::create_for_raw(raw.size());
    std::memcpy(m->raw_data(), raw.data(), raw.size());
    return m;
}

std::vector<uint8_t> call_bytes(std::string_view forged_sender, wire::Endian endian = wire::native_endian) {
    std::vector<uint8_t> body;
    wire::Writer(body).string("payload");
    if (endian != wire::native_endian) {
        const uint32_t len = __builtin_bswap32(7);
        std::memcpy(body.data(), &len, 4);
    }
    wire::HeaderFields f;
    f.endian = endian;
    f.type = wire::MessageType::method_call;
    f.serial = 5;
    f.path = "/a/b";
    f.interface = "com.example.I";
    f.member = "Do";
    f.destination = "com.example.Svc";
    f.sender = forged_sender;
    f.signature = "s";
    std::vector<uint8_t> out(wire::header_size(f));
    wire::write_header(f, static_cast<uint32_t>(body.size()), out);
    out.insert(out.end(), body.begin(), body.end());
    return out;
}

}  // namespace

TEST_CASE("Restamp sets the sender the bus knows and keeps every other field and the body") {
    MessagePtr m = received(call_bytes(""));
    REQUIRE(m->restamp(":1.42") == wire::WireError::none);
    const auto& h = m->header();
    CHECK(h.sender == ":1.42");
    CHECK(h.serial == 5);
    CHECK(h.path == "/a/b");
    CHECK(h.member == "Do");
    CHECK(h.destination == "com.example.Svc");
    auto reparsed = wire::parse_header(m->bytes());
    REQUIRE(reparsed);
    CHECK(reparsed->sender == ":1.42");
    CHECK(m->body().size() == 4 + 7 + 1);
    CHECK(std::memcmp(m->body().data() + 4, "payload", 7) == 0);
}

TEST_CASE("Restamp appends the sender after the fields it keeps byte for byte") {
    const std::vector<uint8_t> raw = call_bytes("");
    MessagePtr m = received(raw);
    REQUIRE(m->restamp(":1.42") == wire::WireError::none);
    auto original = wire::parse_header({raw.data(), raw.size()});
    REQUIRE(original);
    const auto out = m->bytes();
    uint32_t old_len, new_len;
    std::memcpy(&old_len, raw.data() + 12, 4);
    std::memcpy(&new_len, out.data() + 12, 4);
    // The old fields, unchanged, then the sender field at the next 8-aligned offset.
    CHECK(std::memcmp(out.data(), raw.data(), 12) == 0);
    CHECK(std::memcmp(out.data() + 16, raw.data() + 16, old_len) == 0);
    const size_t at = (16 + old_len + 7) / 8 * 8;
    CHECK(out[at] == 7);
    CHECK(std::memcmp(out.data() + at + 8, ":1.42", 6) == 0);
    CHECK(new_len == at + 8 + 6 - 16);
    auto reparsed = wire::parse_header(out);
    REQUIRE(reparsed);
    CHECK(reparsed->path == original->path);
    CHECK(reparsed->interface == original->interface);
    CHECK(reparsed->destination == original->destination);
    CHECK(reparsed->signature == original->signature);
    CHECK(reparsed->sender == ":1.42");
    CHECK(reparsed->body_offset == m->header().body_offset);
    CHECK(m->header().signature == "s");
    CHECK(std::equal(m->body().begin(), m->body().end(), raw.begin() + static_cast<long>(original->body_offset)));
}

TEST_CASE("Restamp keeps a big-endian message big-endian, header and body alike") {
    for (std::string_view forged : {"", ":1.999"}) {
        CAPTURE(forged);
        MessagePtr m = received(call_bytes(forged, wire::Endian::big));
        REQUIRE(m->restamp(":1.5") == wire::WireError::none);
        CHECK(m->bytes()[0] == 'B');
        auto reparsed = wire::parse_header(m->bytes());
        REQUIRE(reparsed);
        CHECK(reparsed->endian == wire::Endian::big);
        CHECK(reparsed->sender == ":1.5");
        CHECK(reparsed->member == "Do");
        CHECK(reparsed->serial == 5);
        CHECK(m->header().sender == ":1.5");
        const uint8_t* body = m->body().data();
        CHECK(body[3] == 7);  // the string's length, still big-endian
        CHECK(std::memcmp(body + 4, "payload", 7) == 0);
    }
}

TEST_CASE("Restamp replaces a sender field forged by the client") {
    MessagePtr m = received(call_bytes(":1.999"));
    REQUIRE(m->restamp(":1.3") == wire::WireError::none);
    CHECK(m->header().sender == ":1.3");
}

TEST_CASE("Restamp drops header fields with unknown codes") {
    // A method call with an extra field code 200 (a string variant) before the known fields.
    std::vector<uint8_t> raw = {'l', 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0};
    auto field = [&](uint8_t code, char type, std::string_view value) {
        while (raw.size() % 8) raw.push_back(0);
        raw.push_back(code);
        raw.push_back(1);
        raw.push_back(static_cast<uint8_t>(type));
        raw.push_back(0);
        const uint32_t len = static_cast<uint32_t>(value.size());
        raw.insert(raw.end(), reinterpret_cast<const uint8_t*>(&len), reinterpret_cast<const uint8_t*>(&len) + 4);
        raw.insert(raw.end(), value.begin(), value.end());
        raw.push_back(0);
    };
    field(200, 's', "junk");
    field(1, 'o', "/p");
    field(3, 's', "M");
    const uint32_t fields_len = static_cast<uint32_t>(raw.size() - 16);
    std::memcpy(raw.data() + 12, &fields_len, 4);
    while (raw.size() % 8) raw.push_back(0);
    MessagePtr m = received(raw);
    auto before = wire::parse_header({raw.data(), raw.size()});
    REQUIRE(before);
    CHECK(before->has_unknown_fields);
    REQUIRE(m->restamp(":1.7") == wire::WireError::none);
    CHECK_FALSE(m->header().has_unknown_fields);
    CHECK(m->header().path == "/p");
    CHECK(m->header().member == "M");
    CHECK(m->header().sender == ":1.7");
}

TEST_CASE("Restamp refuses a malformed header") {
    std::vector<uint8_t> raw = call_bytes("");
    raw[3] = 2;  // protocol version 2
    MessagePtr m = received(raw);
    CHECK(m->restamp(":1.1") == wire::WireError::bad_version);
}

TEST_CASE("Closing the last reference closes the fds a message carries") {
    int p[2];
    REQUIRE(pipe(p) == 0);
    {
        wire::HeaderFields f;
        f.type = wire::MessageType::signal;
        f.serial = 1;
        f.path = "/";
        f.interface = "a.b";
        f.member = "C";
        f.unix_fds = 1;
        MessagePtr m = Message::build(f, {}, {p[0]});
        MessagePtr shared = m;
        CHECK(m->fds().size() == 1);
    }
    CHECK(fcntl(p[0], F_GETFD) == -1);
    close(p[1]);
}
