// Protocol constants and limits of the D-Bus wire format (specification 0.43, "Message Protocol").
#pragma once

#include <cstddef>
#include <cstdint>

namespace jetbus::wire {

enum class Endian : uint8_t { little = 'l', big = 'B' };

constexpr Endian native_endian = Endian::little;  // jetbus targets little-endian hosts (x86_64, aarch64)

enum class MessageType : uint8_t {
    invalid = 0,
    method_call = 1,
    method_return = 2,
    error = 3,
    signal = 4,
};

// Header flags (spec: "Message Format", flags byte).
namespace flags {
constexpr uint8_t no_reply_expected = 0x1;
constexpr uint8_t no_auto_start = 0x2;
constexpr uint8_t allow_interactive_authorization = 0x4;
}  // namespace flags

enum class HeaderField : uint8_t {
    invalid = 0,
    path = 1,
    interface = 2,
    member = 3,
    error_name = 4,
    reply_serial = 5,
    destination = 6,
    sender = 7,
    signature = 8,
    unix_fds = 9,
};

constexpr uint8_t protocol_version = 1;
constexpr size_t fixed_header_size = 16;           // endian, type, flags, version, body length, serial, fields length
constexpr size_t max_message_size = 134217728;     // 128 MiB: spec "Valid Signatures"/"Message Format" limit
constexpr size_t max_array_size = 67108864;        // 64 MiB: spec limit on one array's byte length
constexpr size_t max_signature_length = 255;       // spec: signatures are at most 255 bytes
constexpr size_t max_name_length = 255;            // spec: bus, interface, member and error names
constexpr unsigned max_struct_depth = 32;          // spec: structs nest at most 32 deep
constexpr unsigned max_array_depth = 32;           // spec: arrays nest at most 32 deep
constexpr unsigned max_total_depth = 64;           // spec: total container nesting, variants included
constexpr size_t max_unix_fds = 253;               // dbus-daemon max_message_unix_fds default (SCM_MAX_FD)

}  // namespace jetbus::wire
