// Validators for the names of the D-Bus protocol (spec: "Valid Names", "Valid Object Paths").
#pragma once

#include <string_view>

namespace jetbus::wire {

bool is_valid_object_path(std::string_view s);
bool is_valid_interface_name(std::string_view s);
bool is_valid_member_name(std::string_view s);
bool is_valid_error_name(std::string_view s);   // same grammar as interface names
bool is_valid_bus_name(std::string_view s);     // unique (":1.5") or well-known ("org.example.Foo")
bool is_valid_unique_name(std::string_view s);
bool is_valid_well_known_name(std::string_view s);
bool is_valid_utf8(std::string_view s);         // strict: no overlongs, no surrogates, nothing past U+10FFFF

}  // namespace jetbus::wire
