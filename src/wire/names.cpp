// Name validators (spec: "Valid Names", "Valid Object Paths") and a strict UTF-8 check.
// Each is one pass over the bytes with a character-class table; all run once per header field.
#include "wire/names.h"

#include <array>
#include <cstdint>
#include <cstring>

#include "wire/protocol.h"

namespace jetbus::wire {

namespace {

constexpr uint8_t word = 1;    // [A-Za-z0-9_]: object path, interface, member elements
constexpr uint8_t digit = 2;   // [0-9]
constexpr uint8_t hyphen = 4;  // '-': allowed in bus names only

constexpr std::array<uint8_t, 256> make_classes() {
    std::array<uint8_t, 256> t{};
    for (int c = 'A'; c <= 'Z'; ++c) t[c] = word;
    for (int c = 'a'; c <= 'z'; ++c) t[c] = word;
    for (int c = '0'; c <= '9'; ++c) t[c] = word | digit;
    t['_'] = word;
    t['-'] = hyphen;
    return t;
}

constexpr std::array<uint8_t, 256> classes = make_classes();

uint8_t class_of(char c) { return classes[static_cast<uint8_t>(c)]; }

// Dot-separated elements of characters in `allowed`, at least two, none empty; an element may start
// with a digit only when digits_first is set. Covers interface, error and bus names.
bool is_dotted_name(std::string_view s, uint8_t allowed, bool digits_first) {
    if (s.empty() || s.size() > max_name_length) return false;
    bool element_start = true;
    unsigned dots = 0;
    for (char c : s) {
        if (c == '.') {
            if (element_start) return false;  // empty element
            ++dots;
            element_start = true;
            continue;
        }
        uint8_t k = class_of(c);
        if (!(k & allowed)) return false;
        if (element_start && (k & digit) && !digits_first) return false;
        element_start = false;
    }
    return dots >= 1 && !element_start;
}

}  // namespace

bool is_valid_object_path(std::string_view s) {
    if (s.empty() || s[0] != '/') return false;
    if (s.size() == 1) return true;
    bool element_start = true;
    for (size_t i = 1; i < s.size(); ++i) {
        char c = s[i];
        if (c == '/') {
            if (element_start) return false;  // "//"
            element_start = true;
        } else if (class_of(c) & word) {
            element_start = false;
        } else {
            return false;
        }
    }
    return !element_start;  // no trailing '/'
}

bool is_valid_interface_name(std::string_view s) { return is_dotted_name(s, word, false); }

bool is_valid_error_name(std::string_view s) { return is_valid_interface_name(s); }

bool is_valid_member_name(std::string_view s) {
    if (s.empty() || s.size() > max_name_length) return false;
    if (class_of(s[0]) & digit) return false;
    for (char c : s) {
        if (!(class_of(c) & word)) return false;
    }
    return true;
}

bool is_valid_unique_name(std::string_view s) {
    return s.size() >= 2 && s[0] == ':' && s.size() <= max_name_length &&
           is_dotted_name(s.substr(1), word | hyphen, true);
}

bool is_valid_well_known_name(std::string_view s) { return is_dotted_name(s, word | hyphen, false); }

bool is_valid_bus_name(std::string_view s) {
    return (!s.empty() && s[0] == ':') ? is_valid_unique_name(s) : is_valid_well_known_name(s);
}

namespace {

bool is_continuation(uint8_t b) { return (b & 0xC0) == 0x80; }

// One multi-byte sequence at p (lead byte >= 0x80); returns its length, or 0 if invalid.
// Ranges from Unicode Table 3-7 (well-formed UTF-8): no overlongs, no surrogates, max U+10FFFF.
size_t sequence_length(const uint8_t* p, const uint8_t* end) {
    uint8_t c = p[0];
    size_t avail = static_cast<size_t>(end - p);
    if (c >= 0xC2 && c <= 0xDF) return (avail >= 2 && is_continuation(p[1])) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (avail < 3 || !is_continuation(p[2])) return 0;
        uint8_t lo = c == 0xE0 ? 0xA0 : 0x80;
        uint8_t hi = c == 0xED ? 0x9F : 0xBF;
        return (p[1] >= lo && p[1] <= hi) ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (avail < 4 || !is_continuation(p[2]) || !is_continuation(p[3])) return 0;
        uint8_t lo = c == 0xF0 ? 0x90 : 0x80;
        uint8_t hi = c == 0xF4 ? 0x8F : 0xBF;
        return (p[1] >= lo && p[1] <= hi) ? 4 : 0;
    }
    return 0;  // continuation byte as lead, C0/C1 overlongs, F5..FF
}

}  // namespace

bool is_valid_utf8(std::string_view s) {
    const auto* p = reinterpret_cast<const uint8_t*>(s.data());
    const auto* end = p + s.size();
    while (p < end) {
        if (end - p >= 8) {  // ASCII fast path, eight bytes at a time
            uint64_t w;
            std::memcpy(&w, p, 8);
            if ((w & 0x8080808080808080ull) == 0) {
                p += 8;
                continue;
            }
        }
        if (*p < 0x80) {
            ++p;
            continue;
        }
        size_t n = sequence_length(p, end);
        if (n == 0) return false;
        p += n;
    }
    return true;
}

}  // namespace jetbus::wire
