// The signature grammar and its limits (spec: "Valid Signatures", "Container types").
#include <doctest/doctest.h>

#include <string>

#include "wire/signature.h"

using namespace jetbus::wire;

namespace {
std::string repeat(std::string_view s, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += s;
    return out;
}
}  // namespace

TEST_CASE("signatures made of complete types are valid") {
    for (const char* s : {"", "y", "bnqiuxtdsogh", "v", "ai", "aai", "a(ii)", "(i(ii))", "a{sv}", "a{oa{sa{sv}}}",
                          "(yv)", "a(yv)", "sa{sv}as", "ah", "a{ya(y)}"}) {
        CAPTURE(s);
        CHECK(is_valid_signature(s));
        CHECK(check_signature(s) == WireError::none);
    }
}

TEST_CASE("malformed signatures are refused with bad_signature") {
    for (const char* s : {"a", "()", "(", "(i", "i)", ")", "{sv}", "a{vs}", "a{s}", "a{sss}", "a{(i)s}", "a{sv",
                          "aa", "r", "e", "m", "*", "?", "@", "&", "^", "z", "a{}", "(a)", "{", "}"}) {
        CAPTURE(s);
        CHECK(check_signature(s) == WireError::bad_signature);
        CHECK_FALSE(is_valid_signature(s));
    }
    CHECK(check_signature(std::string("i\0i", 3)) == WireError::bad_signature);
}

TEST_CASE("a signature of 255 bytes is valid and one of 256 is bad_signature") {
    CHECK(is_valid_signature(std::string(255, 'y')));
    CHECK(check_signature(std::string(256, 'y')) == WireError::bad_signature);
}

TEST_CASE("arrays nest 32 deep; the 33rd is nesting_too_deep") {
    CHECK(is_valid_signature(repeat("a", 32) + "y"));
    CHECK(check_signature(repeat("a", 33) + "y") == WireError::nesting_too_deep);
}

TEST_CASE("structs nest 32 deep; the 33rd is nesting_too_deep") {
    CHECK(is_valid_signature(repeat("(", 32) + "y" + repeat(")", 32)));
    CHECK(check_signature(repeat("(", 33) + "y" + repeat(")", 33)) == WireError::nesting_too_deep);
}

TEST_CASE("32 arrays around 32 structs reach the total depth of 64") {
    std::string s = repeat("a", 32) + repeat("(", 32) + "y" + repeat(")", 32);
    SignatureDepth depth;
    REQUIRE(check_signature(s, depth) == WireError::none);
    CHECK(depth.arrays == 32);
    CHECK(depth.structs == 32);
    CHECK(depth.total == 64);
}

TEST_CASE("dict entries count in the total depth, which may not pass 64") {
    // 32 levels of a{s...} make 64 containers; one struct more is 65.
    std::string ok = repeat("a{s", 32) + "y" + repeat("}", 32);
    CHECK(is_valid_signature(ok));
    std::string deep = repeat("a{s", 32) + "(y)" + repeat("}", 32);
    CHECK(check_signature(deep) == WireError::nesting_too_deep);
}

TEST_CASE("signature depth reports the deepest point, not the sum") {
    SignatureDepth depth;
    REQUIRE(check_signature("a(i)aai(((y)))", depth) == WireError::none);
    CHECK(depth.arrays == 2);
    CHECK(depth.structs == 3);
    CHECK(depth.total == 3);
}

TEST_CASE("single complete types are what a variant may carry") {
    CHECK(is_single_complete_type("i"));
    CHECK(is_single_complete_type("a{sv}"));
    CHECK(is_single_complete_type("(ii)"));
    CHECK_FALSE(is_single_complete_type(""));
    CHECK_FALSE(is_single_complete_type("ii"));
    CHECK_FALSE(is_single_complete_type("a"));
}

TEST_CASE("complete_type_length measures the first complete type") {
    CHECK(complete_type_length("i") == 1);
    CHECK(complete_type_length("a{sv}i") == 5);
    CHECK(complete_type_length("(i(ii))s") == 7);
    CHECK(complete_type_length("aai") == 3);
    CHECK(complete_type_length("") == 0);
    CHECK(complete_type_length(")") == 0);
    CHECK(complete_type_length("(i") == 0);
}

TEST_CASE("alignment of each type code follows the marshalling summary") {
    CHECK(alignment_of('y') == 1);
    CHECK(alignment_of('g') == 1);
    CHECK(alignment_of('v') == 1);
    CHECK(alignment_of('n') == 2);
    CHECK(alignment_of('q') == 2);
    for (char c : std::string("biuhsoa")) CHECK(alignment_of(c) == 4);
    for (char c : std::string("xtd({")) CHECK(alignment_of(c) == 8);
    CHECK(is_basic_type('h'));
    CHECK_FALSE(is_basic_type('v'));
    CHECK_FALSE(is_basic_type('('));
}
