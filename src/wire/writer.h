// Writer: marshals values into a growing byte vector with the spec's alignment, in the host's byte order.
// Used to build message bodies (driver replies, signals, tests, bench). Offsets and alignment are counted
// from the start of the vector, which is where the body starts (bodies start 8-aligned).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace jetbus::wire {

class Writer {
public:
    explicit Writer(std::vector<uint8_t>& out) : out_(out) {}

    void byte(uint8_t v);
    void boolean(bool v);
    void int16(int16_t v);
    void uint16(uint16_t v);
    void int32(int32_t v);
    void uint32(uint32_t v);
    void int64(int64_t v);
    void uint64(uint64_t v);
    void dbl(double v);
    void string(std::string_view s);
    void object_path(std::string_view s);
    void signature(std::string_view s);
    void unix_fd(uint32_t index);

    // Arrays: begin_array(alignment of the element type, 1/2/4/8), write the elements, end_array(token).
    size_t begin_array(size_t element_alignment);
    void end_array(size_t token);
    void begin_struct();        // aligns to 8; structs and dict entries have no end marker
    void begin_dict_entry();    // aligns to 8
    void begin_variant(std::string_view signature);  // writes the signature; the value follows

    void align(size_t n);
    size_t size() const { return out_.size(); }

private:
    std::vector<uint8_t>& out_;
};

}  // namespace jetbus::wire
