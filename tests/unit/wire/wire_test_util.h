// Helpers for the wire unit tests: spelling out bytes by hand, and building whole messages
// (fixed header, hand-chosen header fields, body) so a test can put exactly one defect in one place.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "wire/writer.h"

namespace jetbus::wire::test {

// Bytes written out by hand, in either byte order.
class Bytes {
public:
    explicit Bytes(bool big_endian = false) : big_(big_endian) {}
    Bytes& raw(std::initializer_list<uint8_t> b) { v_.insert(v_.end(), b); return *this; }
    Bytes& u32(uint32_t x) {
        for (int i = 0; i < 4; ++i) v_.push_back(uint8_t(x >> (big_ ? 24 - 8 * i : 8 * i)));
        return *this;
    }
    Bytes& text(std::string_view s) {  // the characters and a terminating NUL
        for (char c : s) v_.push_back(uint8_t(c));  // (vector::insert trips a g++ 12 -O2 false warning)
        v_.push_back(0);
        return *this;
    }
    Bytes& zeros(size_t n) { v_.insert(v_.end(), n, 0); return *this; }
    const std::vector<uint8_t>& bytes() const { return v_; }
    std::vector<uint8_t>& bytes() { return v_; }

private:
    bool big_;
    std::vector<uint8_t> v_;
};

// One header field struct: code, variant signature of one type code, the value.
inline void text_field(Writer& w, uint8_t code, char type, std::string_view value) {
    w.begin_struct();
    w.byte(code);
    w.begin_variant(std::string_view(&type, 1));
    if (type == 'g') {
        w.signature(value);
    } else {
        w.string(value);
    }
}

inline void u32_field(Writer& w, uint8_t code, uint32_t value) {
    w.begin_struct();
    w.byte(code);
    w.begin_variant("u");
    w.uint32(value);
}

// A little-endian message with the given header fields and body.
inline std::vector<uint8_t> message(uint8_t type, uint32_t serial, const std::function<void(Writer&)>& fields,
                                    const std::vector<uint8_t>& body = {}) {
    std::vector<uint8_t> out;
    Writer w(out);
    w.byte('l');
    w.byte(type);
    w.byte(0);
    w.byte(1);
    w.uint32(uint32_t(body.size()));
    w.uint32(serial);
    size_t token = w.begin_array(8);
    fields(w);
    w.end_array(token);
    w.align(8);
    out.insert(out.end(), body.begin(), body.end());
    return out;
}

// The fields a METHOD_CALL needs, plus whatever `more` adds.
inline std::vector<uint8_t> method_call(const std::function<void(Writer&)>& more = [](Writer&) {},
                                        const std::vector<uint8_t>& body = {}) {
    return message(1, 7, [&](Writer& w) {
        text_field(w, 1, 'o', "/org/example/Object");
        text_field(w, 3, 's', "Ping");
        more(w);
    }, body);
}

}  // namespace jetbus::wire::test
