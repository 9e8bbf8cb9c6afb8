// The message header: byte-exact vectors written by hand from the spec ("Message Format", "Header
// Fields"), round trips through write_header, and one rejection per kind of malformed header.
#include <doctest/doctest.h>

#include <vector>

#include "wire/header.h"
#include "wire/reader.h"
#include "wire_test_util.h"

using namespace jetbus::wire;
using jetbus::wire::test::Bytes;
using jetbus::wire::test::message;
using jetbus::wire::test::method_call;
using jetbus::wire::test::text_field;
using jetbus::wire::test::u32_field;

namespace {

// METHOD_CALL Hello to org.freedesktop.DBus, serial 1, no body; fields in code order
// (PATH, INTERFACE, MEMBER, DESTINATION), each 8-aligned, the header padded to 8 (128 bytes).
std::vector<uint8_t> hello_bytes(bool big) {
    Bytes b(big);
    b.raw({uint8_t(big ? 'B' : 'l'), 1, 0, 1}).u32(0).u32(1).u32(109)
        .raw({1, 1, 'o', 0}).u32(21).text("/org/freedesktop/DBus").zeros(2)  // 16..46, pad to 48
        .raw({2, 1, 's', 0}).u32(20).text("org.freedesktop.DBus").zeros(3)   // 48..77, pad to 80
        .raw({3, 1, 's', 0}).u32(5).text("Hello").zeros(2)                   // 80..94, pad to 96
        .raw({6, 1, 's', 0}).u32(20).text("org.freedesktop.DBus").zeros(3);  // 96..125, pad to 128
    return b.bytes();
}

HeaderFields hello_fields() {
    HeaderFields f;
    f.type = MessageType::method_call;
    f.serial = 1;
    f.path = "/org/freedesktop/DBus";
    f.interface = "org.freedesktop.DBus";
    f.member = "Hello";
    f.destination = "org.freedesktop.DBus";
    return f;
}

WireError parse_error(const std::vector<uint8_t>& m) {
    auto h = parse_header(m);
    return h ? WireError::none : h.error();
}

std::vector<uint8_t> fixed_header(uint32_t body_length, uint32_t fields_length) {
    Bytes b;
    b.raw({'l', 1, 0, 1}).u32(body_length).u32(1).u32(fields_length);
    return b.bytes();
}

}  // namespace

TEST_CASE("write_header produces the Hello call byte for byte") {
    HeaderFields f = hello_fields();
    std::vector<uint8_t> out(header_size(f));
    CHECK(out.size() == 128);
    CHECK(write_header(f, 0, out) == 128);
    CHECK(out == hello_bytes(false));
}

TEST_CASE("parse_header reads the little-endian Hello call") {
    std::vector<uint8_t> m = hello_bytes(false);
    REQUIRE(message_size(m).has_value());
    CHECK(*message_size(m) == 128);
    auto h = parse_header(m);
    REQUIRE(h.has_value());
    CHECK(h->endian == Endian::little);
    CHECK(h->type == MessageType::method_call);
    CHECK(h->serial == 1);
    CHECK(h->body_length == 0);
    CHECK(h->path == "/org/freedesktop/DBus");
    CHECK(h->interface == "org.freedesktop.DBus");
    CHECK(h->member == "Hello");
    CHECK(h->destination == "org.freedesktop.DBus");
    CHECK(h->sender.empty());
    CHECK(h->signature.empty());
    CHECK_FALSE(h->reply_serial.has_value());
    CHECK(h->body_offset == 128);
    CHECK_FALSE(h->has_unknown_fields);
    // Views point into the message, not into copies.
    CHECK(reinterpret_cast<const uint8_t*>(h->member.data()) == m.data() + 88);
}

TEST_CASE("parse_header reads the big-endian Hello call") {
    std::vector<uint8_t> m = hello_bytes(true);
    REQUIRE(message_size(m).has_value());
    CHECK(*message_size(m) == 128);
    auto h = parse_header(m);
    REQUIRE(h.has_value());
    CHECK(h->endian == Endian::big);
    CHECK(h->serial == 1);
    CHECK(h->path == "/org/freedesktop/DBus");
    CHECK(h->member == "Hello");
    CHECK(h->destination == "org.freedesktop.DBus");
    CHECK(h->body_offset == 128);
}

TEST_CASE("a big-endian method return with a body parses, body offset and reply serial included") {
    Bytes b(true);
    b.raw({'B', 2, 0, 1}).u32(4).u32(0x01020304).u32(29)
        .raw({5, 1, 'u', 0}).u32(0xA0B0C0D0)                    // 16..24
        .raw({8, 1, 'g', 0}).raw({1, 'u', 0}).zeros(1)         // 24..31, pad to 32
        .raw({7, 1, 's', 0}).u32(4).text(":1.7").zeros(3)      // 32..45, pad to 48
        .u32(42);                                              // body
    // fields length: 45 - 16 = 29
    auto h = parse_header(b.bytes());
    REQUIRE(h.has_value());
    CHECK(h->type == MessageType::method_return);
    CHECK(h->serial == 0x01020304);
    CHECK(h->reply_serial == 0xA0B0C0D0u);
    CHECK(h->signature == "u");
    CHECK(h->sender == ":1.7");
    CHECK(h->body_offset == 48);
    CHECK(h->body_length == 4);
    auto body = std::span<const uint8_t>(b.bytes()).subspan(h->body_offset);
    CHECK(validate_body(body, h->endian, h->signature, h->unix_fds) == WireError::none);
}

TEST_CASE("every message type round-trips through write_header and parse_header") {
    HeaderFields call = hello_fields();
    call.flags = flags::no_auto_start;
    call.sender = ":1.42";
    call.signature = "sa{sv}h";
    call.unix_fds = 3;
    HeaderFields ret;
    ret.type = MessageType::method_return;
    ret.serial = 9;
    ret.reply_serial = 1;
    ret.destination = ":1.42";
    HeaderFields err;
    err.type = MessageType::error;
    err.serial = 10;
    err.reply_serial = 2;
    err.error_name = "org.freedesktop.DBus.Error.Failed";
    err.signature = "s";
    HeaderFields sig;
    sig.type = MessageType::signal;
    sig.serial = 11;
    sig.path = "/org/freedesktop/DBus";
    sig.interface = "org.freedesktop.DBus";
    sig.member = "NameOwnerChanged";
    sig.signature = "sss";
    for (const HeaderFields& f : {call, ret, err, sig}) {
        CAPTURE(int(f.type));
        uint32_t body_length = f.signature.empty() ? 0 : 5;
        std::vector<uint8_t> m(header_size(f) + body_length);
        size_t n = write_header(f, body_length, m);
        CHECK(n == header_size(f));
        CHECK(n % 8 == 0);
        auto h = parse_header(m);
        REQUIRE(h.has_value());
        HeaderFields back = fields_of(*h);
        CHECK(back.type == f.type);
        CHECK(back.flags == f.flags);
        CHECK(back.serial == f.serial);
        CHECK(back.path == f.path);
        CHECK(back.interface == f.interface);
        CHECK(back.member == f.member);
        CHECK(back.error_name == f.error_name);
        CHECK(back.destination == f.destination);
        CHECK(back.sender == f.sender);
        CHECK(back.signature == f.signature);
        CHECK(back.reply_serial == f.reply_serial);
        CHECK(back.unix_fds == f.unix_fds);
        CHECK(h->body_offset == n);
        CHECK(h->body_length == body_length);
    }
}

TEST_CASE("re-stamping a header sets the sender and drops unknown fields") {
    auto m = method_call([](Writer& w) {
        text_field(w, 7, 's', ":1.999");  // a forged sender
        text_field(w, 42, 's', "from a future spec");
    });
    auto h = parse_header(m);
    REQUIRE(h.has_value());
    CHECK(h->has_unknown_fields);
    HeaderFields f = fields_of(*h);
    f.sender = ":1.5";
    std::vector<uint8_t> out(header_size(f));
    write_header(f, h->body_length, out);
    auto again = parse_header(out);
    REQUIRE(again.has_value());
    CHECK(again->sender == ":1.5");
    CHECK(again->member == "Ping");
    CHECK_FALSE(again->has_unknown_fields);
}

TEST_CASE("unknown header fields are validated, skipped and flagged") {
    auto m = method_call([](Writer& w) {
        w.begin_struct();
        w.byte(200);
        w.begin_variant("a{sv}");
        size_t t = w.begin_array(8);
        w.begin_dict_entry();
        w.string("k");
        w.begin_variant("t");
        w.uint64(5);
        w.end_array(t);
    });
    auto h = parse_header(m);
    REQUIRE(h.has_value());
    CHECK(h->has_unknown_fields);
    CHECK(h->member == "Ping");
}

TEST_CASE("known fields after an unknown one are still read") {
    auto m = message(1, 3, [](Writer& w) {
        w.begin_struct();
        w.byte(77);
        w.begin_variant("(yq)");
        w.begin_struct();
        w.byte(1);
        w.uint16(2);
        text_field(w, 1, 'o', "/a");
        text_field(w, 3, 's', "M");
        u32_field(w, 9, 2);
    });
    auto h = parse_header(m);
    REQUIRE(h.has_value());
    CHECK(h->has_unknown_fields);
    CHECK(h->path == "/a");
    CHECK(h->member == "M");
    CHECK(h->unix_fds == 2);
}

TEST_CASE("a known field on a message type that does not use it is kept, not refused") {
    auto m = message(4, 3, [](Writer& w) {
        text_field(w, 1, 'o', "/a");
        text_field(w, 2, 's', "a.b");
        text_field(w, 3, 's', "S");
        u32_field(w, 5, 77);  // REPLY_SERIAL on a signal: meaningless, ignored by receivers
    });
    auto h = parse_header(m);
    REQUIRE(h.has_value());
    CHECK(h->reply_serial == 77u);
}

TEST_CASE("a message of an unknown type needs no fields but must be well-formed") {
    CHECK(parse_error(message(9, 3, [](Writer&) {})) == WireError::none);
    CHECK(parse_error(message(9, 3, [](Writer& w) { u32_field(w, 2, 1); })) == WireError::bad_header_field);
}

TEST_CASE("message_size accepts exactly 128 MiB and refuses one byte more with message_too_large") {
    auto at_limit = message_size(fixed_header(134217728 - 16, 0));
    REQUIRE(at_limit.has_value());
    CHECK(*at_limit == 134217728);
    auto over = message_size(fixed_header(134217728 - 15, 0));
    REQUIRE_FALSE(over.has_value());
    CHECK(over.error() == WireError::message_too_large);
    auto fields_and_body = message_size(fixed_header(134217728 - 16 - 64, 65));  // 65 pads to 72
    REQUIRE_FALSE(fields_and_body.has_value());
    CHECK(fields_and_body.error() == WireError::message_too_large);
}

TEST_CASE("message_size counts the header padding and the body") {
    auto s = message_size(fixed_header(10, 109));
    REQUIRE(s.has_value());
    CHECK(*s == 138);
}

TEST_CASE("a header field array over 64 MiB is array_too_large") {
    auto s = message_size(fixed_header(0, 67108865));
    REQUIRE_FALSE(s.has_value());
    CHECK(s.error() == WireError::array_too_large);
}

TEST_CASE("fewer than 16 bytes, or fewer than the size says, is truncated") {
    auto m = hello_bytes(false);
    auto short_fixed = message_size(std::span<const uint8_t>(m).first(15));
    REQUIRE_FALSE(short_fixed.has_value());
    CHECK(short_fixed.error() == WireError::truncated);
    m.pop_back();
    CHECK(parse_error(m) == WireError::truncated);
}

TEST_CASE("an endianness flag other than l or B is bad_endian") {
    auto m = hello_bytes(false);
    m[0] = 'L';
    CHECK(parse_error(m) == WireError::bad_endian);
}

TEST_CASE("protocol version 2 is bad_version") {
    auto m = hello_bytes(false);
    m[3] = 2;
    CHECK(parse_error(m) == WireError::bad_version);
}

TEST_CASE("message type 0 is bad_message_type") {
    auto m = hello_bytes(false);
    m[1] = 0;
    CHECK(parse_error(m) == WireError::bad_message_type);
}

TEST_CASE("serial 0 is bad_serial") {
    CHECK(parse_error(message(1, 0, [](Writer& w) {
              text_field(w, 1, 'o', "/a");
              text_field(w, 3, 's', "M");
          })) == WireError::bad_serial);
}

TEST_CASE("REPLY_SERIAL 0 is bad_serial") {
    CHECK(parse_error(message(2, 5, [](Writer& w) { u32_field(w, 5, 0); })) == WireError::bad_serial);
}

TEST_CASE("a known field with the wrong type is bad_header_field") {
    CHECK(parse_error(method_call([](Writer& w) { u32_field(w, 2, 1); })) == WireError::bad_header_field);
    CHECK(parse_error(method_call([](Writer& w) { text_field(w, 5, 's', "1"); })) ==
          WireError::bad_header_field);
    CHECK(parse_error(method_call([](Writer& w) { text_field(w, 8, 's', "s"); })) ==
          WireError::bad_header_field);
}

TEST_CASE("header field code 0 (INVALID) is bad_header_field") {
    CHECK(parse_error(method_call([](Writer& w) { text_field(w, 0, 's', "x"); })) ==
          WireError::bad_header_field);
}

TEST_CASE("a header field given twice is duplicate_header_field") {
    CHECK(parse_error(method_call([](Writer& w) { text_field(w, 3, 's', "Again"); })) ==
          WireError::duplicate_header_field);
}

TEST_CASE("each message type without its required fields is missing_header_field") {
    auto path = [](Writer& w) { text_field(w, 1, 'o', "/a"); };
    auto iface = [](Writer& w) { text_field(w, 2, 's', "a.b"); };
    auto member = [](Writer& w) { text_field(w, 3, 's', "M"); };
    auto error_name = [](Writer& w) { text_field(w, 4, 's', "a.Error"); };
    auto reply = [](Writer& w) { u32_field(w, 5, 1); };
    auto missing = WireError::missing_header_field;
    CHECK(parse_error(message(1, 1, [&](Writer& w) { path(w); })) == missing);
    CHECK(parse_error(message(1, 1, [&](Writer& w) { member(w); })) == missing);
    CHECK(parse_error(message(1, 1, [&](Writer& w) { path(w); member(w); })) == WireError::none);
    CHECK(parse_error(message(4, 1, [&](Writer& w) { path(w); member(w); })) == missing);
    CHECK(parse_error(message(4, 1, [&](Writer& w) { path(w); iface(w); member(w); })) == WireError::none);
    CHECK(parse_error(message(3, 1, [&](Writer& w) { error_name(w); })) == missing);
    CHECK(parse_error(message(3, 1, [&](Writer& w) { reply(w); })) == missing);
    CHECK(parse_error(message(3, 1, [&](Writer& w) { error_name(w); reply(w); })) == WireError::none);
    CHECK(parse_error(message(2, 1, [](Writer&) {})) == missing);
    CHECK(parse_error(message(2, 1, [&](Writer& w) { reply(w); })) == WireError::none);
}

TEST_CASE("a body without a SIGNATURE field is bad_body_length") {
    CHECK(parse_error(method_call([](Writer&) {}, {1, 0, 0, 0})) == WireError::bad_body_length);
}

TEST_CASE("bytes past the size the fixed header gives are bad_body_length") {
    auto m = hello_bytes(false);
    m.push_back(0);
    CHECK(parse_error(m) == WireError::bad_body_length);
}

TEST_CASE("non-zero padding in the header is bad_padding") {
    auto between_fields = hello_bytes(false);
    between_fields[46] = 1;
    CHECK(parse_error(between_fields) == WireError::bad_padding);
    auto at_the_end = hello_bytes(false);
    at_the_end[127] = 1;
    CHECK(parse_error(at_the_end) == WireError::bad_padding);
}

TEST_CASE("a header string without its terminating NUL is bad_string") {
    auto m = hello_bytes(false);
    m[93] = 'x';  // the NUL after "Hello"
    CHECK(parse_error(m) == WireError::bad_string);
}

TEST_CASE("a header string whose length runs past the field array is truncated") {
    auto m = hello_bytes(false);
    m[96 + 4] = 200;  // DESTINATION length
    CHECK(parse_error(m) == WireError::truncated);
}

TEST_CASE("an invalid PATH is bad_object_path") {
    CHECK(parse_error(message(1, 1, [](Writer& w) {
              text_field(w, 1, 'o', "/a/");
              text_field(w, 3, 's', "M");
          })) == WireError::bad_object_path);
}

TEST_CASE("an invalid INTERFACE is bad_interface_name") {
    CHECK(parse_error(method_call([](Writer& w) { text_field(w, 2, 's', "nodots"); })) ==
          WireError::bad_interface_name);
}

TEST_CASE("an invalid MEMBER is bad_member_name") {
    CHECK(parse_error(message(1, 1, [](Writer& w) {
              text_field(w, 1, 'o', "/a");
              text_field(w, 3, 's', "9Lives");
          })) == WireError::bad_member_name);
}

TEST_CASE("an invalid ERROR_NAME is bad_error_name") {
    CHECK(parse_error(message(3, 1, [](Writer& w) {
              text_field(w, 4, 's', "Failed");
              u32_field(w, 5, 1);
          })) == WireError::bad_error_name);
}

TEST_CASE("an invalid DESTINATION or SENDER is bad_bus_name") {
    CHECK(parse_error(method_call([](Writer& w) { text_field(w, 6, 's', "org"); })) == WireError::bad_bus_name);
    CHECK(parse_error(method_call([](Writer& w) { text_field(w, 7, 's', ":1"); })) == WireError::bad_bus_name);
}

TEST_CASE("an invalid SIGNATURE field is bad_signature") {
    CHECK(parse_error(method_call([](Writer& w) { text_field(w, 8, 'g', "a"); })) == WireError::bad_signature);
}

TEST_CASE("an unknown field whose variant holds two types is bad_variant") {
    CHECK(parse_error(method_call([](Writer& w) {
              w.begin_struct();
              w.byte(100);
              w.begin_variant("ii");
              w.int32(1);
              w.int32(2);
          })) == WireError::bad_variant);
}

TEST_CASE("an unknown field nests through its variant: 64 variants deep is nesting_too_deep") {
    // The field sits in a(yv) (two containers); each variant adds one: 62 variants reach 64, 63 pass it.
    auto nested = [](int extra) {
        return method_call([extra](Writer& w) {
            w.begin_struct();
            w.byte(100);
            for (int i = 0; i < extra; ++i) w.begin_variant("v");
            w.begin_variant("y");
            w.byte(1);
        });
    };
    CHECK(parse_error(nested(61)) == WireError::none);
    CHECK(parse_error(nested(62)) == WireError::nesting_too_deep);
}

TEST_CASE("the reserved Local path or interface is reserved_local") {
    CHECK(parse_error(message(1, 1, [](Writer& w) {
              text_field(w, 1, 'o', "/org/freedesktop/DBus/Local");
              text_field(w, 3, 's', "M");
          })) == WireError::reserved_local);
    CHECK(parse_error(message(4, 1, [](Writer& w) {
              text_field(w, 1, 'o', "/a");
              text_field(w, 2, 's', "org.freedesktop.DBus.Local");
              text_field(w, 3, 's', "Disconnected");
          })) == WireError::reserved_local);
}

TEST_CASE("every wire error has a readable reason") {
    for (int e = 0; e <= int(WireError::reserved_local); ++e) {
        CHECK_FALSE(to_string(WireError(e)).empty());
        CHECK(to_string(WireError(e)) != "unknown wire error");
    }
}

TEST_CASE("names a peer sent before are recognised, and a different invalid name is still refused") {
    HeaderFields f;
    f.type = MessageType::method_call;
    f.serial = 1;
    f.path = "/a/b";
    f.interface = "com.example.Iface";
    f.member = "Do";
    std::vector<uint8_t> good(header_size(f));
    write_header(f, 0, good);
    RecentNames recent;
    REQUIRE(parse_header(good, &recent));
    CHECK(recent.known(static_cast<uint8_t>(HeaderField::interface), "com.example.Iface"));
    CHECK(recent.known(static_cast<uint8_t>(HeaderField::path), "/a/b"));
    CHECK_FALSE(recent.known(static_cast<uint8_t>(HeaderField::member), "Other"));
    auto again = parse_header(good, &recent);
    REQUIRE(again);
    CHECK(again->interface == "com.example.Iface");
    // Same length, one byte different, invalid: validated, not taken for the name seen before.
    f.interface = "com.example.If-ce";
    std::vector<uint8_t> bad(header_size(f));
    write_header(f, 0, bad);
    CHECK_FALSE(parse_header(bad, &recent));
}
