// validate_body: a whole body against its signature, one rejection per kind of malformed value, and the
// limits (64 MiB arrays, nesting 32/32/64 counted through variants).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "wire/protocol.h"
#include "wire/reader.h"
#include "wire/writer.h"
#include "wire_test_util.h"

using namespace jetbus::wire;
using jetbus::wire::test::Bytes;

namespace {

WireError validate(const std::vector<uint8_t>& body, std::string_view sig, uint32_t fds = 0) {
    return validate_body(body, Endian::little, sig, fds);
}

std::vector<uint8_t> one_string(std::string_view text) {
    Bytes b;
    b.u32(uint32_t(text.size())).text(text);
    return b.bytes();
}

// Variants nested `count` deep, the innermost holding a BYTE.
std::vector<uint8_t> nested_variants(int count) {
    std::vector<uint8_t> out;
    Writer w(out);
    for (int i = 0; i < count - 1; ++i) w.begin_variant("v");
    w.begin_variant("y");
    w.byte(1);
    return out;
}

}  // namespace

TEST_CASE("an empty body matches the empty signature") {
    CHECK(validate({}, "") == WireError::none);
}

TEST_CASE("a body of every type validates, big-endian too") {
    Bytes b(true);
    b.raw({9}).zeros(3).u32(1)            // y b
        .raw({0, 2, 0, 0}).u32(3)         // n, pad, h (index 3 of 4)
        .u32(2).text("hi")                // s
        .raw({1, 'i', 0}).zeros(2).u32(7)  // v holding i
        .u32(16).zeros(4)                 // a{yd}: length 16 at 32, padding, elements at 40
        .raw({1}).zeros(7).raw({0x3F, 0xF0, 0, 0, 0, 0, 0, 0})   // {1: 1.0}
        .u32(2).text("/a");               // o
    CHECK(validate_body(b.bytes(), Endian::big, "ybnhsva{yd}o", 4) == WireError::none);
}

TEST_CASE("a value cut short is truncated") {
    CHECK(validate({1, 0, 0}, "i") == WireError::truncated);
    CHECK(validate(one_string("abc"), "ss") == WireError::truncated);
    Bytes b;
    b.u32(100).text("abc");  // length beyond the body
    CHECK(validate(b.bytes(), "s") == WireError::truncated);
}

TEST_CASE("non-zero alignment padding is bad_padding") {
    CHECK(validate({1, 0, 0, 0, 5, 0, 0, 0}, "yi") == WireError::none);
    CHECK(validate({1, 0, 9, 0, 5, 0, 0, 0}, "yi") == WireError::bad_padding);
    // An empty array of 8-aligned elements still carries its padding, and it must be zero.
    CHECK(validate({0, 0, 0, 0, 0, 0, 0, 0}, "at") == WireError::none);
    CHECK(validate({0, 0, 0, 0, 1, 0, 0, 0}, "at") == WireError::bad_padding);
}

TEST_CASE("a BOOLEAN of 2 is bad_boolean") {
    CHECK(validate({1, 0, 0, 0}, "b") == WireError::none);
    CHECK(validate({2, 0, 0, 0}, "b") == WireError::bad_boolean);
    CHECK(validate({8, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0}, "ab") == WireError::bad_boolean);
}

TEST_CASE("invalid UTF-8, an embedded NUL or a missing NUL in a STRING is bad_string") {
    CHECK(validate(one_string("\xC0\x80"), "s") == WireError::bad_string);
    CHECK(validate(one_string(std::string("a\0b", 3)), "s") == WireError::bad_string);
    auto no_nul = one_string("abc");
    no_nul.back() = 'd';
    CHECK(validate(no_nul, "s") == WireError::bad_string);
}

TEST_CASE("an OBJECT_PATH off the grammar is bad_object_path") {
    CHECK(validate(one_string("/a/b"), "o") == WireError::none);
    CHECK(validate(one_string("/a//b"), "o") == WireError::bad_object_path);
}

TEST_CASE("a SIGNATURE value off the grammar is bad_signature") {
    CHECK(validate({2, 'a', 'i', 0}, "g") == WireError::none);
    CHECK(validate({1, 'a', 0}, "g") == WireError::bad_signature);
    CHECK(validate({}, "a") == WireError::bad_signature);  // the body's own signature
}

TEST_CASE("a variant whose signature is not one complete type is bad_variant") {
    CHECK(validate({2, 'i', 'i', 0, 1, 0, 0, 0, 2, 0, 0, 0}, "v") == WireError::bad_variant);
    CHECK(validate({0, 0}, "v") == WireError::bad_variant);
}

TEST_CASE("variants nest 64 deep; the 65th is nesting_too_deep") {
    CHECK(validate(nested_variants(64), "v") == WireError::none);
    CHECK(validate(nested_variants(65), "v") == WireError::nesting_too_deep);
}

TEST_CASE("struct depth counts through a variant: 33 structs is nesting_too_deep") {
    auto body = [](const char* inner) {
        std::vector<uint8_t> out;
        Writer w(out);
        w.begin_struct();
        w.begin_variant(inner);
        w.begin_struct();
        w.byte(1);
        return out;
    };
    std::string outer = std::string(32, '(') + "v" + std::string(32, ')');
    // Structs only align to 8 and the body starts at 0, so 32 nested structs share offset 0.
    CHECK(validate(body("(y)"), outer) == WireError::nesting_too_deep);
    std::vector<uint8_t> ok;
    Writer w(ok);
    w.begin_variant("y");
    w.byte(1);
    CHECK(validate(ok, outer) == WireError::none);
}

TEST_CASE("array depth counts through a variant: 33 arrays is nesting_too_deep") {
    auto body = [](const char* inner_sig, bool inner_array) {
        std::vector<uint8_t> out;
        Writer w(out);
        std::vector<size_t> tokens;
        for (int i = 0; i < 31; ++i) tokens.push_back(w.begin_array(4));
        tokens.push_back(w.begin_array(1));  // the innermost array holds variants
        w.begin_variant(inner_sig);
        if (inner_array) {
            size_t t = w.begin_array(1);
            w.byte(1);
            w.end_array(t);
        } else {
            w.byte(1);
        }
        for (auto it = tokens.rbegin(); it != tokens.rend(); ++it) w.end_array(*it);
        return out;
    };
    std::string sig = std::string(32, 'a') + "v";
    CHECK(validate(body("y", false), sig) == WireError::none);
    CHECK(validate(body("ay", true), sig) == WireError::nesting_too_deep);
}

TEST_CASE("an array of exactly 64 MiB is accepted; one byte more is array_too_large") {
    std::vector<uint8_t> body(4 + max_array_size, 0);
    Bytes len;
    len.u32(uint32_t(max_array_size));
    std::copy(len.bytes().begin(), len.bytes().end(), body.begin());
    CHECK(validate(body, "ay") == WireError::none);

    Bytes over;
    over.u32(uint32_t(max_array_size + 1));  // refused on the length alone, before any data
    CHECK(validate(over.bytes(), "ay") == WireError::array_too_large);
}

TEST_CASE("array elements that do not end at the array's length are bad_array_length") {
    CHECK(validate({6, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0}, "ai") == WireError::bad_array_length);
    Bytes b;
    b.u32(5).u32(2).text("ab");  // a string of 7 bytes in an array of 5
    CHECK(validate(b.bytes(), "as") == WireError::bad_array_length);
}

TEST_CASE("bytes after the last value are trailing_bytes") {
    CHECK(validate({1, 0, 0, 0, 0}, "i") == WireError::trailing_bytes);
    CHECK(validate({0}, "") == WireError::trailing_bytes);
}

TEST_CASE("a UNIX_FD index not below UNIX_FDS is bad_unix_fd_index") {
    CHECK(validate({0, 0, 0, 0}, "h", 1) == WireError::none);
    CHECK(validate({1, 0, 0, 0}, "h", 1) == WireError::bad_unix_fd_index);
    CHECK(validate({0, 0, 0, 0}, "h", 0) == WireError::bad_unix_fd_index);
    CHECK(validate({8, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0}, "ah", 2) == WireError::bad_unix_fd_index);
}

TEST_CASE("a dictionary with a struct value and an empty dictionary validate") {
    std::vector<uint8_t> out;
    Writer w(out);
    size_t t = w.begin_array(8);
    w.begin_dict_entry();
    w.uint32(1);
    w.begin_struct();
    w.string("x");
    w.int64(-1);
    w.end_array(t);
    t = w.begin_array(8);
    w.end_array(t);
    CHECK(validate(out, "a{u(sx)}a{sv}") == WireError::none);
}
