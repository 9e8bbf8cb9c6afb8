// Name validators and strict UTF-8 (spec: "Valid Names", "Valid Object Paths").
#include <doctest/doctest.h>

#include <string>

#include "wire/names.h"

using namespace jetbus::wire;

TEST_CASE("object paths follow the spec's grammar") {
    CHECK(is_valid_object_path("/"));
    CHECK(is_valid_object_path("/org/freedesktop/DBus"));
    CHECK(is_valid_object_path("/a_b/C9/_"));
    CHECK_FALSE(is_valid_object_path(""));
    CHECK_FALSE(is_valid_object_path("org/x"));
    CHECK_FALSE(is_valid_object_path("/org/"));        // trailing slash
    CHECK_FALSE(is_valid_object_path("/org//x"));      // empty element
    CHECK_FALSE(is_valid_object_path("//"));
    CHECK_FALSE(is_valid_object_path("/org/x-y"));     // '-' not allowed
    CHECK_FALSE(is_valid_object_path("/org/x.y"));
    CHECK_FALSE(is_valid_object_path(std::string("/a\0b", 4)));
    CHECK(is_valid_object_path("/" + std::string(1000, 'a')));  // no length limit
}

TEST_CASE("interface and error names need two elements of [A-Za-z0-9_] not starting with a digit") {
    CHECK(is_valid_interface_name("org.freedesktop.DBus"));
    CHECK(is_valid_interface_name("a.b"));
    CHECK(is_valid_interface_name("org._7_zip.Plugin"));
    CHECK_FALSE(is_valid_interface_name("org"));
    CHECK_FALSE(is_valid_interface_name(""));
    CHECK_FALSE(is_valid_interface_name(".org.x"));
    CHECK_FALSE(is_valid_interface_name("org.x."));
    CHECK_FALSE(is_valid_interface_name("org..x"));
    CHECK_FALSE(is_valid_interface_name("org.7zip"));
    CHECK_FALSE(is_valid_interface_name("org.7-zip"));
    CHECK_FALSE(is_valid_interface_name("org.é"));
    CHECK(is_valid_error_name("org.freedesktop.DBus.Error.Failed"));
    CHECK_FALSE(is_valid_error_name("Failed"));
}

TEST_CASE("interface names are limited to 255 bytes") {
    std::string name = "a." + std::string(253, 'b');
    CHECK(name.size() == 255);
    CHECK(is_valid_interface_name(name));
    CHECK_FALSE(is_valid_interface_name(name + "b"));
}

TEST_CASE("member names are one element of [A-Za-z0-9_] not starting with a digit") {
    CHECK(is_valid_member_name("Hello"));
    CHECK(is_valid_member_name("_x9"));
    CHECK_FALSE(is_valid_member_name(""));
    CHECK_FALSE(is_valid_member_name("9x"));
    CHECK_FALSE(is_valid_member_name("a.b"));
    CHECK_FALSE(is_valid_member_name("a-b"));
    CHECK(is_valid_member_name(std::string(255, 'm')));
    CHECK_FALSE(is_valid_member_name(std::string(256, 'm')));
}

TEST_CASE("unique names start with a colon and their elements may start with digits") {
    CHECK(is_valid_unique_name(":1.5"));
    CHECK(is_valid_unique_name(":a-b.c_d.0"));
    CHECK(is_valid_bus_name(":1.5"));
    CHECK_FALSE(is_valid_unique_name(":1"));
    CHECK_FALSE(is_valid_unique_name(":"));
    CHECK_FALSE(is_valid_unique_name(":.1"));
    CHECK_FALSE(is_valid_unique_name("1.5"));
    CHECK_FALSE(is_valid_unique_name(":1..5"));
    CHECK_FALSE(is_valid_unique_name(":" + std::string(127, 'a') + "." + std::string(127, 'b')));  // 256 bytes
}

TEST_CASE("well-known names allow hyphens but no leading digits in elements") {
    CHECK(is_valid_well_known_name("org.freedesktop.DBus"));
    CHECK(is_valid_well_known_name("com.example-corp.App"));
    CHECK(is_valid_bus_name("org.freedesktop.DBus"));
    CHECK_FALSE(is_valid_well_known_name("org"));
    CHECK_FALSE(is_valid_well_known_name(".org.x"));
    CHECK_FALSE(is_valid_well_known_name("org.7zip"));
    CHECK_FALSE(is_valid_well_known_name(":1.5"));
    CHECK_FALSE(is_valid_well_known_name("org.x y"));
    CHECK_FALSE(is_valid_bus_name(""));
    CHECK_FALSE(is_valid_bus_name("org."));
    std::string longest = "a." + std::string(253, 'b');
    CHECK(is_valid_bus_name(longest));
    CHECK_FALSE(is_valid_bus_name(longest + "b"));
}

TEST_CASE("UTF-8 validation accepts well-formed text of every sequence length") {
    CHECK(is_valid_utf8(""));
    CHECK(is_valid_utf8("plain ascii, longer than eight bytes"));
    CHECK(is_valid_utf8("\xC3\xA9"));              // é
    CHECK(is_valid_utf8("\xE2\x82\xAC"));          // €
    CHECK(is_valid_utf8("\xED\x9F\xBF"));          // U+D7FF, just below the surrogates
    CHECK(is_valid_utf8("\xEE\x80\x80"));          // U+E000, just above them
    CHECK(is_valid_utf8("\xF0\x9F\x98\x80"));      // U+1F600
    CHECK(is_valid_utf8("\xF4\x8F\xBF\xBF"));      // U+10FFFF
    CHECK(is_valid_utf8("abcdefgh\xC3\xA9ijklmnop"));
}

TEST_CASE("UTF-8 validation refuses overlongs, surrogates, out-of-range and cut sequences") {
    CHECK_FALSE(is_valid_utf8("\xC0\x80"));          // overlong NUL
    CHECK_FALSE(is_valid_utf8("\xC1\xBF"));
    CHECK_FALSE(is_valid_utf8("\xE0\x80\x80"));      // overlong 3-byte
    CHECK_FALSE(is_valid_utf8("\xF0\x80\x80\x80"));  // overlong 4-byte
    CHECK_FALSE(is_valid_utf8("\xED\xA0\x80"));      // U+D800 surrogate
    CHECK_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
    CHECK_FALSE(is_valid_utf8("\xF5\x80\x80\x80"));
    CHECK_FALSE(is_valid_utf8("\xFF"));
    CHECK_FALSE(is_valid_utf8("\x80"));              // lone continuation byte
    CHECK_FALSE(is_valid_utf8("\xC3"));              // cut short
    CHECK_FALSE(is_valid_utf8("\xE2\x82"));
    CHECK_FALSE(is_valid_utf8("abcdefgh\xE2\x28\xA1"));
}
