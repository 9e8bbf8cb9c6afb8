// Reader: bounds-checked unmarshalling in either byte order, and whole-body validation.
// Invariant: pos_ <= data_.size(), so every "remaining bytes" subtraction is safe. Values are loaded with
// memcpy (no alignment assumptions about the buffer) and byte-swapped when the message is big-endian.
#include "wire/reader.h"

#include <cstring>

#include "wire/names.h"
#include "wire/signature.h"

namespace jetbus::wire {

namespace {

template <class T>
T load(const uint8_t* p, bool swap) {
    T v;
    std::memcpy(&v, p, sizeof v);
    if (!swap) return v;
    if constexpr (sizeof(T) == 2) {
        uint16_t u;
        std::memcpy(&u, &v, 2);
        u = __builtin_bswap16(u);
        std::memcpy(&v, &u, 2);
    } else if constexpr (sizeof(T) == 4) {
        uint32_t u;
        std::memcpy(&u, &v, 4);
        u = __builtin_bswap32(u);
        std::memcpy(&v, &u, 4);
    } else {
        uint64_t u;
        std::memcpy(&u, &v, 8);
        u = __builtin_bswap64(u);
        std::memcpy(&v, &u, 8);
    }
    return v;
}

bool is_fixed_type(char c) {
    switch (c) {
    case 'y': case 'b': case 'n': case 'q': case 'i': case 'u': case 'h': case 'x': case 't': case 'd':
        return true;
    default:
        return false;
    }
}

}  // namespace

bool Reader::align(size_t n) {
    size_t pad = (0 - pos_) & (n - 1);
    if (data_.size() - pos_ < pad) return fail(WireError::truncated);
    for (size_t i = 0; i < pad; ++i) {
        if (data_[pos_ + i] != 0) return fail(WireError::bad_padding);
    }
    pos_ += pad;
    return true;
}

// Aligns to `size` (the natural alignment of fixed types) and hands out the next `size` bytes.
bool Reader::take(size_t size, const uint8_t*& p) {
    if (!align(size)) return false;
    if (data_.size() - pos_ < size) return fail(WireError::truncated);
    p = data_.data() + pos_;
    pos_ += size;
    return true;
}

bool Reader::byte(uint8_t& v) {
    const uint8_t* p;
    if (!take(1, p)) return false;
    v = *p;
    return true;
}

bool Reader::boolean(bool& v) {
    uint32_t u;
    if (!uint32(u)) return false;
    if (u > 1) return fail(WireError::bad_boolean);
    v = u == 1;
    return true;
}

bool Reader::int16(int16_t& v) {
    const uint8_t* p;
    if (!take(2, p)) return false;
    v = load<int16_t>(p, swap_);
    return true;
}

bool Reader::uint16(uint16_t& v) {
    const uint8_t* p;
    if (!take(2, p)) return false;
    v = load<uint16_t>(p, swap_);
    return true;
}

bool Reader::int32(int32_t& v) {
    const uint8_t* p;
    if (!take(4, p)) return false;
    v = load<int32_t>(p, swap_);
    return true;
}

bool Reader::uint32(uint32_t& v) {
    const uint8_t* p;
    if (!take(4, p)) return false;
    v = load<uint32_t>(p, swap_);
    return true;
}

bool Reader::int64(int64_t& v) {
    const uint8_t* p;
    if (!take(8, p)) return false;
    v = load<int64_t>(p, swap_);
    return true;
}

bool Reader::uint64(uint64_t& v) {
    const uint8_t* p;
    if (!take(8, p)) return false;
    v = load<uint64_t>(p, swap_);
    return true;
}

bool Reader::dbl(double& v) {
    const uint8_t* p;
    if (!take(8, p)) return false;
    v = load<double>(p, swap_);
    return true;
}

bool Reader::unix_fd(uint32_t& index) {
    if (!uint32(index)) return false;
    if (index >= unix_fds_) return fail(WireError::bad_unix_fd_index);
    return true;
}

bool Reader::string_bytes(std::string_view& v) {
    uint32_t len;
    if (!uint32(len)) return false;
    if (data_.size() - pos_ <= len) return fail(WireError::truncated);  // text plus its NUL
    const char* p = reinterpret_cast<const char*>(data_.data() + pos_);
    if (p[len] != '\0') return fail(WireError::bad_string);
    v = std::string_view(p, len);
    pos_ += size_t{len} + 1;
    return true;
}

bool Reader::string(std::string_view& v) {
    if (!string_bytes(v)) return false;
    if (std::memchr(v.data(), 0, v.size()) != nullptr || !is_valid_utf8(v)) {
        return fail(WireError::bad_string);
    }
    return true;
}

bool Reader::object_path(std::string_view& v) {
    if (!string_bytes(v)) return false;
    if (!is_valid_object_path(v)) return fail(WireError::bad_object_path);
    return true;
}

// A SIGNATURE's bytes (one length byte, text, NUL) without checking the grammar.
bool Reader::signature_bytes(std::string_view& v) {
    uint8_t len;
    if (!byte(len)) return false;
    if (data_.size() - pos_ <= len) return fail(WireError::truncated);
    const char* p = reinterpret_cast<const char*>(data_.data() + pos_);
    if (p[len] != '\0') return fail(WireError::bad_signature);
    v = std::string_view(p, len);
    pos_ += size_t{len} + 1;
    return true;
}

bool Reader::signature(std::string_view& v) {
    if (!signature_bytes(v)) return false;
    if (WireError e = check_signature(v); e != WireError::none) return fail(e);
    return true;
}

bool Reader::enter_array(size_t element_alignment, size_t& end) {
    uint32_t len;
    if (!uint32(len)) return false;
    if (len > max_array_size) return fail(WireError::array_too_large);
    if (!align(element_alignment)) return false;  // padding is there even for an empty array
    if (data_.size() - pos_ < len) return fail(WireError::truncated);
    end = pos_ + len;
    return true;
}

bool Reader::enter_struct() { return align(8); }

bool Reader::enter_variant(std::string_view& sig) {
    if (!signature(sig)) return false;
    if (sig.empty() || complete_type_length(sig) != sig.size()) return fail(WireError::bad_variant);
    return true;
}

bool Reader::skip(std::string_view type) {
    if (WireError e = check_signature(type); e != WireError::none) return fail(e);
    if (type.empty() || complete_type_length(type) != type.size()) return fail(WireError::bad_signature);
    const char* t = type.data();
    return skip_value(t, type.data() + type.size(), Depth{});
}

bool Reader::skip_variant(unsigned array_depth, unsigned struct_depth, unsigned total_depth) {
    return skip_variant_at(Depth{array_depth, struct_depth, total_depth});
}

// The variant's own signature is checked against what remains of the limits around it.
bool Reader::skip_variant_at(Depth d) {
    std::string_view sig;
    if (!signature_bytes(sig)) return false;
    SignatureDepth inner;
    if (WireError e = check_signature(sig, inner); e != WireError::none) return fail(e);
    if (sig.empty() || complete_type_length(sig) != sig.size()) return fail(WireError::bad_variant);
    Depth in{d.arrays, d.structs, d.total + 1};
    if (d.arrays + inner.arrays > max_array_depth || d.structs + inner.structs > max_struct_depth ||
        in.total + inner.total > max_total_depth) {
        return fail(WireError::nesting_too_deep);
    }
    const char* t = sig.data();
    return skip_value(t, sig.data() + sig.size(), in);
}

// Skips the value of the complete type at t (of a validated signature) and moves t past that type.
bool Reader::skip_value(const char*& t, const char* end, Depth d) {
    switch (*t++) {
    case 'y': { uint8_t v; return byte(v); }
    case 'b': { bool v; return boolean(v); }
    case 'n': case 'q': { uint16_t v; return uint16(v); }
    case 'i': case 'u': { uint32_t v; return uint32(v); }
    case 'h': { uint32_t v; return unix_fd(v); }
    case 'x': case 't': case 'd': { uint64_t v; return uint64(v); }
    case 's': { std::string_view v; return string(v); }
    case 'o': { std::string_view v; return object_path(v); }
    case 'g': { std::string_view v; return signature(v); }
    case 'v': return skip_variant_at(d);
    case 'a': return skip_array(t, end, d);
    case '(': return skip_fields(t, end, ')', Depth{d.arrays, d.structs + 1, d.total + 1});
    case '{': return skip_fields(t, end, '}', Depth{d.arrays, d.structs, d.total + 1});
    default: return fail(WireError::bad_signature);
    }
}

bool Reader::skip_fields(const char*& t, const char* end, char close, Depth d) {
    if (!align(8)) return false;
    while (*t != close) {
        if (!skip_value(t, end, d)) return false;
    }
    ++t;
    return true;
}

bool Reader::skip_array(const char*& t, const char* end, Depth d) {
    const char* elem = t;
    // Measured from the 'a': a dict entry is a complete type only as an array's element.
    const char* array_type = elem - 1;
    t = array_type + complete_type_length(std::string_view(array_type, static_cast<size_t>(end - array_type)));
    size_t elem_len = static_cast<size_t>(t - elem);
    size_t array_end;
    if (!enter_array(alignment_of(*elem), array_end)) return false;
    if (elem_len == 1 && is_fixed_type(*elem)) return skip_fixed_array(*elem, array_end);
    Depth in{d.arrays + 1, d.structs, d.total + 1};
    while (pos_ < array_end) {
        const char* e = elem;
        if (!skip_value(e, end, in)) return false;
        if (pos_ > array_end) return fail(WireError::bad_array_length);
    }
    return true;
}

// Arrays of fixed-size values need no per-element walk, except where values have a restricted range.
bool Reader::skip_fixed_array(char code, size_t end) {
    size_t size = alignment_of(code);  // a fixed type's size equals its alignment
    if ((end - pos_) % size != 0) return fail(WireError::bad_array_length);
    if (code == 'b' || code == 'h') {
        while (pos_ < end) {
            uint32_t v;
            if (!uint32(v)) return false;
            if (code == 'b' && v > 1) return fail(WireError::bad_boolean);
            if (code == 'h' && v >= unix_fds_) return fail(WireError::bad_unix_fd_index);
        }
    }
    pos_ = end;
    return true;
}

WireError validate_body(std::span<const uint8_t> body, Endian endian, std::string_view signature,
                        uint32_t unix_fds) {
    if (WireError e = check_signature(signature); e != WireError::none) return e;
    Reader r(body, endian);
    r.set_unix_fds(unix_fds);
    const char* t = signature.data();
    const char* end = t + signature.size();
    while (t != end) {
        if (!r.skip_value(t, end, Reader::Depth{})) return r.error();
    }
    return r.at_end() ? WireError::none : WireError::trailing_bytes;
}

}  // namespace jetbus::wire
