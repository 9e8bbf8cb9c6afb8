// The message header, parsed in place: field values are views into the message's own bytes.
// parse_header validates the fixed header and every header field once, including the fields each message
// type requires; the body is not touched. write_header marshals a header for a message the broker builds
// or re-stamps (sender set, unknown fields dropped).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "wire/expected.h"
#include "wire/protocol.h"
#include "wire/wire_error.h"

namespace jetbus::wire {

struct Header {
    Endian endian = native_endian;
    MessageType type = MessageType::invalid;
    uint8_t flags = 0;
    uint32_t body_length = 0;
    uint32_t serial = 0;
    std::string_view path;
    std::string_view interface;
    std::string_view member;
    std::string_view error_name;
    std::string_view destination;
    std::string_view sender;
    std::string_view signature;   // empty when the field is absent
    std::optional<uint32_t> reply_serial;
    uint32_t unix_fds = 0;        // 0 when the field is absent
    size_t body_offset = 0;       // where the body starts (a multiple of 8)
    bool has_unknown_fields = false;  // fields with codes the spec does not define (to be dropped)
};

// Total size of the message whose first 16 bytes are given (fixed header + field array + padding + body),
// validating endian, version, type and the 128 MiB limit. Needs at least fixed_header_size bytes.
Expected<size_t, WireError> message_size(std::span<const uint8_t> fixed_header);

// The names one peer sent last, each known valid: a header field equal byte for byte to the one before
// it skips validating it again. A peer mostly repeats its path, interface, member and destination.
// Fixed storage, so remembering allocates nothing; longer names are simply validated every time.
class RecentNames {
public:
    bool known(uint8_t code, std::string_view v) const;
    void remember(uint8_t code, std::string_view v);

private:
    static constexpr size_t capacity = 80;
    struct Entry {
        uint8_t size = 0;
        bool set = false;
        char text[capacity];
    };
    Entry by_code_[9];  // indexed by header field code (1..8)
};

// Parses and validates the header of one complete message (all of message_size() bytes). With
// `recent`, names the same peer sent before are not validated again.
Expected<Header, WireError> parse_header(std::span<const uint8_t> message, RecentNames* recent = nullptr);

// The fields of a header to write. Empty string_views and nullopt are left out.
struct HeaderFields {
    Endian endian = native_endian;  // a re-stamped header keeps its message's byte order (the body's)
    MessageType type = MessageType::invalid;
    uint8_t flags = 0;
    uint32_t serial = 0;
    std::string_view path;
    std::string_view interface;
    std::string_view member;
    std::string_view error_name;
    std::string_view destination;
    std::string_view sender;
    std::string_view signature;
    std::optional<uint32_t> reply_serial;
    uint32_t unix_fds = 0;        // written only when non-zero
};

// The same fields as a parsed header (views), for re-stamping: the caller then sets sender.
HeaderFields fields_of(const Header& h);

// Size in bytes of the header write_header() would produce, padding to 8 included.
size_t header_size(const HeaderFields& f);

// Writes the header (fixed part, field array, padding to 8) into out, which must hold header_size(f)
// bytes, in f.endian's byte order. Returns the bytes written.
size_t write_header(const HeaderFields& f, uint32_t body_length, std::span<uint8_t> out);

// The same, and fills `written` with the header just written, its views pointing into out: what
// parse_header(out + body) would give, without parsing again (the fields were valid going in).
size_t write_header(const HeaderFields& f, uint32_t body_length, std::span<uint8_t> out, Header& written);

}  // namespace jetbus::wire
