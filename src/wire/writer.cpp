// Writer: appends marshalled values to a byte vector in host (little-endian) order.
// It trusts its caller: values are not validated here (the Reader and parse_header do that on input).
#include "wire/writer.h"

#include <cassert>
#include <cstring>

#include "wire/protocol.h"

namespace jetbus::wire {

namespace {

template <class T>
void append(std::vector<uint8_t>& out, T v) {
    size_t at = out.size();
    out.resize(at + sizeof v);
    std::memcpy(out.data() + at, &v, sizeof v);
}

// A STRING or OBJECT_PATH body: the text and its NUL (the length was written before).
void append_text(std::vector<uint8_t>& out, std::string_view s) {
    out.insert(out.end(), s.begin(), s.end());
    out.push_back(0);
}

}  // namespace

void Writer::align(size_t n) { out_.resize(out_.size() + ((0 - out_.size()) & (n - 1)), 0); }

void Writer::byte(uint8_t v) { out_.push_back(v); }

void Writer::boolean(bool v) { uint32(v ? 1 : 0); }

void Writer::int16(int16_t v) { align(2); append(out_, v); }

void Writer::uint16(uint16_t v) { align(2); append(out_, v); }

void Writer::int32(int32_t v) { align(4); append(out_, v); }

void Writer::uint32(uint32_t v) { align(4); append(out_, v); }

void Writer::int64(int64_t v) { align(8); append(out_, v); }

void Writer::uint64(uint64_t v) { align(8); append(out_, v); }

void Writer::dbl(double v) { align(8); append(out_, v); }

void Writer::unix_fd(uint32_t index) { uint32(index); }

void Writer::string(std::string_view s) {
    uint32(static_cast<uint32_t>(s.size()));
    append_text(out_, s);
}

void Writer::object_path(std::string_view s) { string(s); }

void Writer::signature(std::string_view s) {
    assert(s.size() <= max_signature_length);
    byte(static_cast<uint8_t>(s.size()));
    append_text(out_, s);
}

// The token is the length field's offset (a multiple of 4); bit 0 records whether 4 bytes of padding
// follow it (possible only for 8-aligned elements), so end_array finds where the elements start.
size_t Writer::begin_array(size_t element_alignment) {
    align(4);
    size_t length_at = out_.size();
    append<uint32_t>(out_, 0);
    size_t before = out_.size();
    align(element_alignment);
    return length_at | (out_.size() != before ? 1 : 0);
}

void Writer::end_array(size_t token) {
    size_t length_at = token & ~size_t{1};
    size_t start = length_at + 4 + ((token & 1) ? 4 : 0);
    auto len = static_cast<uint32_t>(out_.size() - start);
    assert(len <= max_array_size);
    std::memcpy(out_.data() + length_at, &len, 4);
}

void Writer::begin_struct() { align(8); }

void Writer::begin_dict_entry() { align(8); }

void Writer::begin_variant(std::string_view sig) { signature(sig); }

}  // namespace jetbus::wire
