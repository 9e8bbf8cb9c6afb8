// Header parsing (in place, one pass, no allocation) and header writing (byte-exact, fields in code order).
#include "wire/header.h"

#include <cassert>
#include <cstring>

#include "wire/names.h"
#include "wire/reader.h"
#include "wire/signature.h"

namespace jetbus::wire {

namespace {

constexpr std::string_view local_path = "/org/freedesktop/DBus/Local";       // spec: reserved
constexpr std::string_view local_interface = "org.freedesktop.DBus.Local";   // spec: reserved

// The type each known header field must carry, indexed by field code (spec: "Header Fields").
constexpr char field_types[] = {'\0', 'o', 's', 's', 's', 'u', 's', 's', 'g', 'u'};
constexpr uint8_t last_known_field = 9;

// Where a header field array element sits: inside the array and its struct (spec: "yyyyuua(yv)").
constexpr unsigned field_array_depth = 1, field_struct_depth = 1, field_total_depth = 2;

constexpr size_t align8(size_t n) { return (n + 7) & ~size_t{7}; }

uint32_t load_u32(const uint8_t* p, bool swap) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return swap ? __builtin_bswap32(v) : v;
}

using NameCheck = bool (*)(std::string_view);

WireError read_name(Reader& r, NameCheck valid, WireError invalid, std::string_view& out) {
    if (!r.string_bytes(out)) return r.error();
    return valid(out) ? WireError::none : invalid;
}

WireError read_u32(Reader& r, uint32_t& out) {
    return r.uint32(out) ? WireError::none : r.error();
}

WireError read_known_field(Reader& r, HeaderField code, Header& h) {
    uint32_t u = 0;
    WireError e = WireError::none;
    switch (code) {
    case HeaderField::path:
        return r.object_path(h.path) ? WireError::none : r.error();
    case HeaderField::interface:
        return read_name(r, is_valid_interface_name, WireError::bad_interface_name, h.interface);
    case HeaderField::member:
        return read_name(r, is_valid_member_name, WireError::bad_member_name, h.member);
    case HeaderField::error_name:
        return read_name(r, is_valid_error_name, WireError::bad_error_name, h.error_name);
    case HeaderField::destination:
        return read_name(r, is_valid_bus_name, WireError::bad_bus_name, h.destination);
    case HeaderField::sender:
        return read_name(r, is_valid_bus_name, WireError::bad_bus_name, h.sender);
    case HeaderField::signature:
        return r.signature(h.signature) ? WireError::none : r.error();
    case HeaderField::reply_serial:
        if ((e = read_u32(r, u)) != WireError::none) return e;
        if (u == 0) return WireError::bad_serial;
        h.reply_serial = u;
        return WireError::none;
    case HeaderField::unix_fds:
        return read_u32(r, h.unix_fds);
    default:
        return WireError::bad_header_field;
    }
}

// One (yv) element after its code byte: known codes once each with their type, unknown codes skipped.
WireError read_field(Reader& r, uint8_t code, Header& h, unsigned& seen) {
    if (code == 0) return WireError::bad_header_field;  // INVALID: "error if it appears in a message"
    if (code > last_known_field) {
        h.has_unknown_fields = true;
        return r.skip_variant(field_array_depth, field_struct_depth, field_total_depth)
                   ? WireError::none : r.error();
    }
    if (seen & (1u << code)) return WireError::duplicate_header_field;
    seen |= 1u << code;
    std::string_view type;
    if (!r.enter_variant(type)) return r.error();
    if (type.size() != 1 || type[0] != field_types[code]) return WireError::bad_header_field;
    return read_known_field(r, static_cast<HeaderField>(code), h);
}

WireError check_required(const Header& h) {
    bool ok = true;
    switch (h.type) {
    case MessageType::method_call: ok = !h.path.empty() && !h.member.empty(); break;
    case MessageType::signal: ok = !h.path.empty() && !h.interface.empty() && !h.member.empty(); break;
    case MessageType::error: ok = !h.error_name.empty() && h.reply_serial.has_value(); break;
    case MessageType::method_return: ok = h.reply_serial.has_value(); break;
    default: break;  // unknown types: no required fields (spec: must be ignored, but well-formed)
    }
    return ok ? WireError::none : WireError::missing_header_field;
}

// The common case, a known field carrying its own type with a valid value, read straight from the bytes
// at `at` (8-aligned). Returns the end of the field, or 0 to let the exact path find and name the fault.
size_t fast_field(std::span<const uint8_t> b, size_t at, bool swap, Header& h, unsigned& seen,
                  RecentNames* recent) {
    const uint8_t* p = b.data() + at;
    size_t avail = b.size() - at;
    uint8_t code = p[0];
    if (avail < 8 || code == 0 || code > last_known_field || (seen & (1u << code)) || p[1] != 1 ||
        p[2] != uint8_t(field_types[code]) || p[3] != 0) {
        return 0;
    }
    char type = field_types[code];
    if (type == 'u') {
        uint32_t v = load_u32(p + 4, swap);
        if (code == uint8_t(HeaderField::reply_serial)) {
            if (v == 0) return 0;
            h.reply_serial = v;
        } else {
            h.unix_fds = v;
        }
        seen |= 1u << code;
        return at + 8;
    }
    size_t len = type == 'g' ? p[4] : load_u32(p + 4, swap);
    size_t text = type == 'g' ? 5 : 8;
    if (avail <= text + len || p[text + len] != 0) return 0;
    std::string_view v(reinterpret_cast<const char*>(p + text), len);
    const bool known = recent && recent->known(code, v);
    bool ok = known;
    switch (static_cast<HeaderField>(code)) {
    case HeaderField::path: ok = ok || is_valid_object_path(v); h.path = v; break;
    case HeaderField::interface: ok = ok || is_valid_interface_name(v); h.interface = v; break;
    case HeaderField::member: ok = ok || is_valid_member_name(v); h.member = v; break;
    case HeaderField::error_name: ok = ok || is_valid_error_name(v); h.error_name = v; break;
    case HeaderField::destination: ok = ok || is_valid_bus_name(v); h.destination = v; break;
    case HeaderField::sender: ok = ok || is_valid_bus_name(v); h.sender = v; break;
    case HeaderField::signature: ok = ok || check_signature(v) == WireError::none; h.signature = v; break;
    default: break;
    }
    if (!ok) return 0;
    if (recent && !known) recent->remember(code, v);
    seen |= 1u << code;
    return at + text + len + 1;
}

// The exact path: any field, every fault named. The Reader starts at the field's 8-aligned offset, so
// alignment relative to it is alignment in the message.
WireError slow_field(std::span<const uint8_t> b, size_t& at, Endian endian, Header& h, unsigned& seen) {
    Reader r(b.subspan(at), endian);
    uint8_t code;
    if (!r.byte(code)) return r.error();
    if (WireError e = read_field(r, code, h, seen); e != WireError::none) return e;
    at += r.offset();
    return WireError::none;
}

// Fields occupy [16, header.size()); each starts 8-aligned after zero padding.
WireError read_fields(std::span<const uint8_t> header, Endian endian, Header& h, RecentNames* recent) {
    bool swap = endian != native_endian;
    size_t at = fixed_header_size;
    unsigned seen = 0;
    while (at < header.size()) {
        for (; at % 8 != 0; ++at) {
            if (at == header.size()) return WireError::truncated;
            if (header[at] != 0) return WireError::bad_padding;
        }
        if (at == header.size()) return WireError::truncated;
        size_t next = fast_field(header, at, swap, h, seen, recent);
        if (next != 0) {
            at = next;
        } else if (WireError e = slow_field(header, at, endian, h, seen); e != WireError::none) {
            return e;
        }
    }
    return WireError::none;
}

WireError check_semantics(const Header& h) {
    if (WireError e = check_required(h); e != WireError::none) return e;
    if (h.signature.empty() && h.body_length != 0) return WireError::bad_body_length;
    if (h.path == local_path || h.interface == local_interface) return WireError::reserved_local;
    return WireError::none;
}

}  // namespace

Expected<size_t, WireError> message_size(std::span<const uint8_t> fixed) {
    if (fixed.size() < fixed_header_size) return unexpected(WireError::truncated);
    const uint8_t* p = fixed.data();
    if (p[0] != 'l' && p[0] != 'B') return unexpected(WireError::bad_endian);
    if (p[3] != protocol_version) return unexpected(WireError::bad_version);
    if (p[1] == static_cast<uint8_t>(MessageType::invalid)) return unexpected(WireError::bad_message_type);
    bool swap = static_cast<Endian>(p[0]) != native_endian;
    uint32_t body_length = load_u32(p + 4, swap);
    uint32_t fields_length = load_u32(p + 12, swap);
    if (fields_length > max_array_size) return unexpected(WireError::array_too_large);
    size_t total = align8(fixed_header_size + fields_length) + body_length;
    if (total > max_message_size) return unexpected(WireError::message_too_large);
    return total;
}

bool RecentNames::known(uint8_t code, std::string_view v) const {
    if (code >= std::size(by_code_)) return false;
    const Entry& e = by_code_[code];
    return e.set && e.size == v.size() && std::memcmp(e.text, v.data(), v.size()) == 0;
}

void RecentNames::remember(uint8_t code, std::string_view v) {
    if (code >= std::size(by_code_) || v.size() > capacity) return;
    Entry& e = by_code_[code];
    std::memcpy(e.text, v.data(), v.size());
    e.size = static_cast<uint8_t>(v.size());
    e.set = true;
}

Expected<Header, WireError> parse_header(std::span<const uint8_t> message, RecentNames* recent) {
    auto size = message_size(message);
    if (!size) return unexpected(size.error());
    if (message.size() < *size) return unexpected(WireError::truncated);
    if (message.size() > *size) return unexpected(WireError::bad_body_length);

    Header h;
    const uint8_t* p = message.data();
    h.endian = static_cast<Endian>(p[0]);
    h.type = static_cast<MessageType>(p[1]);
    h.flags = p[2];
    bool swap = h.endian != native_endian;
    h.body_length = load_u32(p + 4, swap);
    h.serial = load_u32(p + 8, swap);
    if (h.serial == 0) return unexpected(WireError::bad_serial);

    size_t fields_end = fixed_header_size + load_u32(p + 12, swap);
    if (WireError e = read_fields(message.first(fields_end), h.endian, h, recent); e != WireError::none) {
        return unexpected(e);
    }
    h.body_offset = align8(fields_end);
    for (size_t i = fields_end; i < h.body_offset; ++i) {
        if (p[i] != 0) return unexpected(WireError::bad_padding);
    }
    if (WireError e = check_semantics(h); e != WireError::none) return unexpected(e);
    return h;
}

HeaderFields fields_of(const Header& h) {
    HeaderFields f;
    f.endian = h.endian;
    f.type = h.type;
    f.flags = h.flags;
    f.serial = h.serial;
    f.path = h.path;
    f.interface = h.interface;
    f.member = h.member;
    f.error_name = h.error_name;
    f.destination = h.destination;
    f.sender = h.sender;
    f.signature = h.signature;
    f.reply_serial = h.reply_serial;
    f.unix_fds = h.unix_fds;
    return f;
}

namespace {

// Calls text(code, type, value) and number(code, value) for each present field, in field-code order.
template <class Text, class Number>
void each_field(const HeaderFields& f, Text text, Number number) {
    if (!f.path.empty()) text(HeaderField::path, 'o', f.path);
    if (!f.interface.empty()) text(HeaderField::interface, 's', f.interface);
    if (!f.member.empty()) text(HeaderField::member, 's', f.member);
    if (!f.error_name.empty()) text(HeaderField::error_name, 's', f.error_name);
    if (f.reply_serial) number(HeaderField::reply_serial, *f.reply_serial);
    if (!f.destination.empty()) text(HeaderField::destination, 's', f.destination);
    if (!f.sender.empty()) text(HeaderField::sender, 's', f.sender);
    if (!f.signature.empty()) text(HeaderField::signature, 'g', f.signature);
    if (f.unix_fds != 0) number(HeaderField::unix_fds, f.unix_fds);
}

// Each field: pad to 8, code byte, variant signature (3 bytes), value. The value starts 4 past an
// 8-boundary, so a UINT32 or a string's length needs no further padding.
size_t fields_length(const HeaderFields& f) {
    size_t len = 0;  // relative to offset 16, which is 8-aligned
    each_field(
        f,
        [&](HeaderField, char type, std::string_view v) {
            len = align8(len) + 4 + (type == 'g' ? 1 : 4) + v.size() + 1;
        },
        [&](HeaderField, uint32_t) { len = align8(len) + 8; });
    return len;
}

class HeaderOut {
public:
    HeaderOut(uint8_t* p, Endian endian) : p_(p), swap_(endian != native_endian) {}
    void u8(uint8_t v) { p_[pos_++] = v; }
    void u32(uint32_t v) {
        if (swap_) v = __builtin_bswap32(v);
        std::memcpy(p_ + pos_, &v, 4);
        pos_ += 4;
    }
    void text(std::string_view s) {
        std::memcpy(p_ + pos_, s.data(), s.size());
        pos_ += s.size();
        u8(0);
    }
    void pad8() { while (pos_ % 8 != 0) u8(0); }
    void field_start(HeaderField code, char type) {
        pad8();
        u8(static_cast<uint8_t>(code));
        u8(1);
        u8(static_cast<uint8_t>(type));
        u8(0);
    }
    size_t pos() const { return pos_; }

private:
    uint8_t* p_;
    bool swap_;
    size_t pos_ = 0;
};

}  // namespace

size_t header_size(const HeaderFields& f) { return align8(fixed_header_size + fields_length(f)); }

namespace {

std::string_view* view_of(Header& h, HeaderField code) {
    switch (code) {
    case HeaderField::path: return &h.path;
    case HeaderField::interface: return &h.interface;
    case HeaderField::member: return &h.member;
    case HeaderField::error_name: return &h.error_name;
    case HeaderField::destination: return &h.destination;
    case HeaderField::sender: return &h.sender;
    case HeaderField::signature: return &h.signature;
    default: return nullptr;
    }
}

size_t write_header_impl(const HeaderFields& f, uint32_t body_length, std::span<uint8_t> out, Header* written) {
    size_t fields_len = fields_length(f);
    assert(out.size() >= align8(fixed_header_size + fields_len));
    HeaderOut w(out.data(), f.endian);
    w.u8(static_cast<uint8_t>(f.endian));
    w.u8(static_cast<uint8_t>(f.type));
    w.u8(f.flags);
    w.u8(protocol_version);
    w.u32(body_length);
    w.u32(f.serial);
    w.u32(static_cast<uint32_t>(fields_len));
    each_field(
        f,
        [&](HeaderField code, char type, std::string_view v) {
            w.field_start(code, type);
            if (type == 'g') {
                w.u8(static_cast<uint8_t>(v.size()));
            } else {
                w.u32(static_cast<uint32_t>(v.size()));
            }
            if (written) {
                if (std::string_view* view = view_of(*written, code)) {
                    *view = std::string_view(reinterpret_cast<const char*>(out.data() + w.pos()), v.size());
                }
            }
            w.text(v);
        },
        [&](HeaderField code, uint32_t v) {
            w.field_start(code, 'u');
            w.u32(v);
        });
    w.pad8();
    if (written) {
        Header& h = *written;
        h.endian = f.endian;
        h.type = f.type;
        h.flags = f.flags;
        h.body_length = body_length;
        h.serial = f.serial;
        h.reply_serial = f.reply_serial;
        h.unix_fds = f.unix_fds;
        h.body_offset = w.pos();
        h.has_unknown_fields = false;
    }
    return w.pos();
}

}  // namespace

size_t write_header(const HeaderFields& f, uint32_t body_length, std::span<uint8_t> out) {
    return write_header_impl(f, body_length, out, nullptr);
}

size_t write_header(const HeaderFields& f, uint32_t body_length, std::span<uint8_t> out, Header& written) {
    written = Header{};
    return write_header_impl(f, body_length, out, &written);
}

}  // namespace jetbus::wire
