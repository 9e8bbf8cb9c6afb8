// WireError: every way a message or a value on the wire can be malformed. One enum for all of src/wire,
// so the broker can log why it dropped a peer without knowing which layer refused.
#pragma once

#include <string_view>

namespace jetbus::wire {

enum class WireError {
    none = 0,
    truncated,                 // fewer bytes than a length or the fixed header says
    bad_endian,                // first byte is neither 'l' nor 'B'
    bad_version,               // protocol version is not 1
    bad_message_type,          // type 0 (INVALID)
    message_too_large,         // over max_message_size
    array_too_large,           // an array over max_array_size
    bad_padding,               // alignment padding bytes not zero
    bad_boolean,               // BOOLEAN other than 0 or 1
    bad_string,                // not UTF-8, embedded NUL, or missing terminating NUL
    bad_object_path,           // OBJECT_PATH grammar
    bad_signature,             // SIGNATURE grammar, length or nesting
    nesting_too_deep,          // container depth over the spec's limits
    bad_variant,               // variant signature not a single complete type
    bad_header_field,          // a known header field with the wrong type or an invalid value
    duplicate_header_field,    // a header field code appears twice
    missing_header_field,      // a field required for the message type is absent
    bad_serial,                // serial or REPLY_SERIAL is zero
    bad_body_length,           // body does not match its signature's length
    trailing_bytes,            // body has bytes after the last value of the signature
    bad_unix_fd_index,         // UNIX_FD index not below the message's UNIX_FDS count
    bad_bus_name,
    bad_interface_name,
    bad_member_name,
    bad_error_name,
    bad_array_length,          // an array's elements do not end exactly at its declared byte length
    reserved_local,            // PATH /org/freedesktop/DBus/Local or INTERFACE org.freedesktop.DBus.Local
};

// A short human-readable reason, for log lines and error messages.
std::string_view to_string(WireError e);

}  // namespace jetbus::wire
