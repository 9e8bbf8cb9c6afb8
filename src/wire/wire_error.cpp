// Human-readable reasons for WireError, for the log line written when a peer is dropped.
#include "wire/wire_error.h"

namespace jetbus::wire {

std::string_view to_string(WireError e) {
    switch (e) {
    case WireError::none: return "no error";
    case WireError::truncated: return "message truncated";
    case WireError::bad_endian: return "invalid endianness flag";
    case WireError::bad_version: return "unsupported protocol version";
    case WireError::bad_message_type: return "invalid message type";
    case WireError::message_too_large: return "message exceeds 128 MiB";
    case WireError::array_too_large: return "array exceeds 64 MiB";
    case WireError::bad_padding: return "non-zero alignment padding";
    case WireError::bad_boolean: return "boolean neither 0 nor 1";
    case WireError::bad_string: return "invalid string (bad UTF-8, embedded or missing NUL)";
    case WireError::bad_object_path: return "invalid object path";
    case WireError::bad_signature: return "invalid signature";
    case WireError::nesting_too_deep: return "containers nested too deeply";
    case WireError::bad_variant: return "variant signature is not a single complete type";
    case WireError::bad_header_field: return "header field has the wrong type or an invalid code";
    case WireError::duplicate_header_field: return "header field appears twice";
    case WireError::missing_header_field: return "required header field missing";
    case WireError::bad_serial: return "serial or reply serial is zero";
    case WireError::bad_body_length: return "body length does not match";
    case WireError::trailing_bytes: return "trailing bytes after the body's last value";
    case WireError::bad_unix_fd_index: return "unix fd index out of range";
    case WireError::bad_bus_name: return "invalid bus name";
    case WireError::bad_interface_name: return "invalid interface name";
    case WireError::bad_member_name: return "invalid member name";
    case WireError::bad_error_name: return "invalid error name";
    case WireError::bad_array_length: return "array elements do not match the array length";
    case WireError::reserved_local: return "uses the reserved org.freedesktop.DBus.Local path or interface";
    }
    return "unknown wire error";
}

}  // namespace jetbus::wire
