// Writer and Reader: the spec's marshalling examples byte for byte, and round trips of every type,
// containers nested, in both byte orders for reading.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "wire/reader.h"
#include "wire/writer.h"
#include "wire_test_util.h"

using namespace jetbus::wire;
using jetbus::wire::test::Bytes;

TEST_CASE("strings foo, + and bar marshal as in the spec's example") {
    std::vector<uint8_t> out;
    Writer w(out);
    w.string("foo");
    w.string("+");
    w.string("bar");
    Bytes expected;
    expected.u32(3).text("foo").u32(1).text("+").zeros(2).u32(3).text("bar");
    CHECK(out == expected.bytes());

    Reader r(out, Endian::little);
    std::string_view a, b, c;
    REQUIRE(r.string(a));
    REQUIRE(r.string(b));
    REQUIRE(r.string(c));
    CHECK(a == "foo");
    CHECK(b == "+");
    CHECK(c == "bar");
    CHECK(r.at_end());
}

TEST_CASE("a big-endian array holding the INT64 5 reads as in the spec's example") {
    const std::vector<uint8_t> bytes = {0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5};
    Reader r(bytes, Endian::big);
    size_t end;
    REQUIRE(r.enter_array(8, end));
    CHECK(end == 16);
    int64_t v;
    REQUIRE(r.int64(v));
    CHECK(v == 5);
    CHECK(r.offset() == end);
    CHECK(r.at_end());
}

TEST_CASE("a big-endian variant holding the UINT64 5 reads as in the spec's example") {
    const std::vector<uint8_t> bytes = {1, 't', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5};
    Reader r(bytes, Endian::big);
    std::string_view sig;
    REQUIRE(r.enter_variant(sig));
    CHECK(sig == "t");
    uint64_t v;
    REQUIRE(r.uint64(v));
    CHECK(v == 5);
    CHECK(r.at_end());
}

TEST_CASE("an empty array is still padded to its element alignment") {
    std::vector<uint8_t> out;
    Writer w(out);
    size_t t = w.begin_array(8);
    w.end_array(t);
    CHECK(out == std::vector<uint8_t>{0, 0, 0, 0, 0, 0, 0, 0});

    out.clear();
    w.byte(0xAA);  // the length lands at 4, elements at 8: no padding after the length
    t = w.begin_array(8);
    w.uint64(1);
    w.end_array(t);
    Bytes expected;
    expected.raw({0xAA}).zeros(3).u32(8).u32(1).u32(0);
    CHECK(out == expected.bytes());
}

TEST_CASE("every basic type round-trips through Writer and Reader") {
    std::vector<uint8_t> out;
    Writer w(out);
    w.byte(0xFF);
    w.boolean(true);
    w.boolean(false);
    w.int16(std::numeric_limits<int16_t>::min());
    w.uint16(0xBEEF);
    w.int32(-123456789);
    w.uint32(0xDEADBEEF);
    w.int64(std::numeric_limits<int64_t>::min());
    w.uint64(0x0123456789ABCDEFull);
    w.dbl(-2.5e300);
    w.string("héllo");
    w.object_path("/org/example");
    w.signature("a{sv}");
    w.unix_fd(2);
    w.string("");

    Reader r(out, Endian::little);
    uint8_t y; bool b1, b2; int16_t n; uint16_t q; int32_t i; uint32_t u; int64_t x; uint64_t t; double d;
    std::string_view s, o, g, empty;
    uint32_t h;
    REQUIRE(r.byte(y));
    REQUIRE(r.boolean(b1));
    REQUIRE(r.boolean(b2));
    REQUIRE(r.int16(n));
    REQUIRE(r.uint16(q));
    REQUIRE(r.int32(i));
    REQUIRE(r.uint32(u));
    REQUIRE(r.int64(x));
    REQUIRE(r.uint64(t));
    REQUIRE(r.dbl(d));
    REQUIRE(r.string(s));
    REQUIRE(r.object_path(o));
    REQUIRE(r.signature(g));
    REQUIRE(r.unix_fd(h));
    REQUIRE(r.string(empty));
    CHECK(r.at_end());
    CHECK(y == 0xFF);
    CHECK(b1);
    CHECK_FALSE(b2);
    CHECK(n == std::numeric_limits<int16_t>::min());
    CHECK(q == 0xBEEF);
    CHECK(i == -123456789);
    CHECK(u == 0xDEADBEEF);
    CHECK(x == std::numeric_limits<int64_t>::min());
    CHECK(t == 0x0123456789ABCDEFull);
    CHECK(d == -2.5e300);
    CHECK(s == "héllo");
    CHECK(o == "/org/example");
    CHECK(g == "a{sv}");
    CHECK(h == 2);
    CHECK(empty.empty());
    CHECK(validate_body(out, Endian::little, "ybbnqiuxtdsogh" "s", 3) == WireError::none);
}

TEST_CASE("big-endian fixed values of every width read back") {
    Bytes b(true);
    b.raw({0x12, 0x34}).zeros(2).u32(0xCAFEBABE).raw({0x3F, 0xF0, 0, 0, 0, 0, 0, 0});  // q, u, d = 1.0
    Reader r(b.bytes(), Endian::big);
    uint16_t q;
    uint32_t u;
    double d;
    REQUIRE(r.uint16(q));
    REQUIRE(r.uint32(u));
    REQUIRE(r.dbl(d));
    CHECK(q == 0x1234);
    CHECK(u == 0xCAFEBABE);
    CHECK(d == 1.0);
}

TEST_CASE("a dictionary of variants holding nested containers round-trips") {
    // a{sv} with "n" -> (ias) and "m" -> aay, then an empty a(yt), then a struct of a struct.
    std::vector<uint8_t> out;
    Writer w(out);
    size_t dict = w.begin_array(8);
    w.begin_dict_entry();
    w.string("n");
    w.begin_variant("(ias)");
    w.begin_struct();
    w.int32(-1);
    size_t strs = w.begin_array(4);
    w.string("a");
    w.string("bc");
    w.end_array(strs);
    w.begin_dict_entry();
    w.string("m");
    w.begin_variant("aay");
    size_t outer = w.begin_array(4);
    size_t inner = w.begin_array(1);
    w.byte(1);
    w.byte(2);
    w.end_array(inner);
    inner = w.begin_array(1);
    w.end_array(inner);
    w.end_array(outer);
    w.end_array(dict);
    size_t empty = w.begin_array(8);
    w.end_array(empty);
    w.begin_struct();
    w.byte(7);
    w.begin_struct();
    w.dbl(0.5);

    const char* sig = "a{sv}a(yt)(y(d))";
    CHECK(validate_body(out, Endian::little, sig, 0) == WireError::none);

    Reader r(out, Endian::little);
    size_t end;
    REQUIRE(r.enter_array(8, end));
    REQUIRE(r.enter_struct());
    std::string_view key, vsig;
    REQUIRE(r.string(key));
    CHECK(key == "n");
    REQUIRE(r.enter_variant(vsig));
    CHECK(vsig == "(ias)");
    REQUIRE(r.enter_struct());
    int32_t i;
    REQUIRE(r.int32(i));
    CHECK(i == -1);
    size_t strs_end;
    REQUIRE(r.enter_array(4, strs_end));
    std::string_view s1, s2;
    REQUIRE(r.string(s1));
    REQUIRE(r.string(s2));
    CHECK(s1 == "a");
    CHECK(s2 == "bc");
    CHECK(r.offset() == strs_end);
    REQUIRE(r.enter_struct());
    REQUIRE(r.string(key));
    CHECK(key == "m");
    REQUIRE(r.enter_variant(vsig));
    CHECK(vsig == "aay");
    REQUIRE(r.skip("aay"));
    CHECK(r.offset() == end);
    REQUIRE(r.skip("a(yt)"));
    REQUIRE(r.enter_struct());
    uint8_t y;
    REQUIRE(r.byte(y));
    CHECK(y == 7);
    REQUIRE(r.enter_struct());
    double d;
    REQUIRE(r.dbl(d));
    CHECK(d == 0.5);
    CHECK(r.at_end());
}

TEST_CASE("skip validates what it passes over") {
    std::vector<uint8_t> out;
    Writer w(out);
    size_t t = w.begin_array(4);
    w.boolean(true);
    w.uint32(2);  // not a boolean
    w.end_array(t);
    Reader r(out, Endian::little);
    CHECK_FALSE(r.skip("ab"));
    CHECK(r.error() == WireError::bad_boolean);
    Reader again(out, Endian::little);
    CHECK(again.skip("au"));
    CHECK(again.at_end());
}

TEST_CASE("skip refuses a type that is not a single complete type") {
    std::vector<uint8_t> out(8, 0);
    Reader r(out, Endian::little);
    CHECK_FALSE(r.skip("ii"));
    CHECK(r.error() == WireError::bad_signature);
}
