// Reader: bounds-checked unmarshalling of values in either byte order. Every read checks alignment padding
// (must be zero), lengths and validity, and returns false on malformed input, leaving the error in error().
// It never reads past the span it was given.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "wire/protocol.h"
#include "wire/wire_error.h"

namespace jetbus::wire {

WireError validate_body(std::span<const uint8_t> body, Endian endian, std::string_view signature,
                        uint32_t unix_fds);

class Reader {
public:
    // data starts at an 8-aligned position of the message (the body, or the header fields' start).
    Reader(std::span<const uint8_t> data, Endian endian)
        : data_(data), endian_(endian), swap_(endian != native_endian) {}

    // UNIX_FD values must be below this count (the message's UNIX_FDS); unlimited until set.
    void set_unix_fds(uint32_t count) { unix_fds_ = count; }

    bool byte(uint8_t& v);
    bool boolean(bool& v);
    bool int16(int16_t& v);
    bool uint16(uint16_t& v);
    bool int32(int32_t& v);
    bool uint32(uint32_t& v);
    bool int64(int64_t& v);
    bool uint64(uint64_t& v);
    bool dbl(double& v);
    bool string(std::string_view& v);       // validated UTF-8, no embedded NUL
    bool object_path(std::string_view& v);  // validated object path
    bool signature(std::string_view& v);    // validated signature
    bool unix_fd(uint32_t& index);
    // A STRING's bytes with only its framing checked (length, terminating NUL): for names that a
    // stricter ASCII grammar validates next, which makes the UTF-8 pass redundant.
    bool string_bytes(std::string_view& v);

    // Arrays: enter_array reads the length and the padding to the element alignment and gives the end
    // offset; loop while offset() < end, then check offset() == end (elements may not overrun it).
    bool enter_array(size_t element_alignment, size_t& end);
    bool enter_struct();   // aligns to 8
    bool enter_variant(std::string_view& signature);  // a single complete type

    // Skips one complete value of the given single complete type (validating it).
    bool skip(std::string_view type);
    // Skips one VARIANT (signature and value) that sits inside containers nested this deep, so the
    // spec's nesting limits count through it.
    bool skip_variant(unsigned array_depth, unsigned struct_depth, unsigned total_depth);

    bool align(size_t n);
    size_t offset() const { return pos_; }
    bool at_end() const { return pos_ == data_.size(); }
    WireError error() const { return error_; }

private:
    struct Depth {
        unsigned arrays = 0;
        unsigned structs = 0;
        unsigned total = 0;
    };

    friend WireError validate_body(std::span<const uint8_t>, Endian, std::string_view, uint32_t);

    bool fail(WireError e) { error_ = e; return false; }
    bool take(size_t size, const uint8_t*& p);
    bool signature_bytes(std::string_view& v);
    bool skip_value(const char*& t, const char* end, Depth d);
    bool skip_array(const char*& t, const char* end, Depth d);
    bool skip_fixed_array(char code, size_t end);
    bool skip_fields(const char*& t, const char* end, char close, Depth d);
    bool skip_variant_at(Depth d);

    std::span<const uint8_t> data_;
    Endian endian_;
    bool swap_;
    uint32_t unix_fds_ = UINT32_MAX;
    size_t pos_ = 0;
    WireError error_ = WireError::none;
};

// Validates a whole body against its signature: every value well-formed, nesting within limits, no
// trailing bytes, every UNIX_FD index below unix_fds.
WireError validate_body(std::span<const uint8_t> body, Endian endian, std::string_view signature,
                        uint32_t unix_fds);

}  // namespace jetbus::wire
