// Fuzz target for src/wire. Two kinds of input, told apart by the first byte:
// - 'l' or 'B' (a message): message_size and parse_header, then validate_body with the signature the
//   header names. A header that parses must also decode the same way through the Reader (the exact
//   path), whatever parse_header's fast path did, and survive a round trip: write_header(fields_of(h))
//   parses again to the same fields.
// - anything else (a bare body, so the fuzzer reaches the Reader without first building a valid
//   header): byte 0 is the signature's length, byte 1 bit 0 picks big-endian and bits 1-7 are the
//   UNIX_FDS count, then the signature, then the body, given to validate_body.
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "wire/header.h"
#include "wire/reader.h"
#include "wire/signature.h"

namespace {

using namespace jetbus::wire;

bool same_fields(const HeaderFields& a, const HeaderFields& b) {
    return a.type == b.type && a.flags == b.flags && a.serial == b.serial && a.path == b.path &&
           a.interface == b.interface && a.member == b.member && a.error_name == b.error_name &&
           a.destination == b.destination && a.sender == b.sender && a.signature == b.signature &&
           a.reply_serial == b.reply_serial && a.unix_fds == b.unix_fds;
}

// One known field's value through the Reader, by the type its variant carries.
bool read_value(Reader& r, std::string_view type, uint8_t code, HeaderFields& f) {
    std::string_view text;
    uint32_t number = 0;
    bool ok = type == "o"   ? r.object_path(text)
              : type == "s" ? r.string(text)
              : type == "g" ? r.signature(text)
              : type == "u" ? r.uint32(number)
                            : false;
    if (!ok) return false;
    switch (static_cast<HeaderField>(code)) {
    case HeaderField::path: f.path = text; break;
    case HeaderField::interface: f.interface = text; break;
    case HeaderField::member: f.member = text; break;
    case HeaderField::error_name: f.error_name = text; break;
    case HeaderField::reply_serial: f.reply_serial = number; break;
    case HeaderField::destination: f.destination = text; break;
    case HeaderField::sender: f.sender = text; break;
    case HeaderField::signature: f.signature = text; break;
    case HeaderField::unix_fds: f.unix_fds = number; break;
    default: return false;
    }
    return true;
}

// The header field array "a(yv)" read with the Reader alone (no fast path), into f.
bool read_fields_with_reader(std::span<const uint8_t> header, Endian endian, HeaderFields& f) {
    Reader r(header, endian);
    uint8_t fixed[4];
    uint32_t body_length, serial;
    for (uint8_t& b : fixed)
        if (!r.byte(b)) return false;
    size_t end = 0;
    if (!r.uint32(body_length) || !r.uint32(serial) || !r.enter_array(8, end)) return false;
    while (r.offset() < end) {
        uint8_t code;
        std::string_view type;
        if (!r.enter_struct() || !r.byte(code) || !r.enter_variant(type)) return false;
        bool ok = code > 9 ? r.skip(type) : read_value(r, type, code, f);
        if (!ok) return false;
    }
    return r.offset() == end;
}

void check_reader_agrees(std::span<const uint8_t> message, const Header& h) {
    HeaderFields f;
    f.type = h.type;
    f.flags = h.flags;
    f.serial = h.serial;
    bool ok = read_fields_with_reader(message.first(h.body_offset), h.endian, f);
    FUZZ_CHECK(ok, "a header parse_header accepts is readable with the Reader");
    FUZZ_CHECK(same_fields(f, fields_of(h)), "the Reader reads the same header fields");
}

void check_round_trip(std::span<const uint8_t> message, const Header& h) {
    HeaderFields f = fields_of(h);
    size_t size = header_size(f);
    FUZZ_CHECK(size % 8 == 0, "header_size is padded to 8");
    std::vector<uint8_t> copy(size + h.body_length);
    size_t written = write_header(f, h.body_length, copy);
    FUZZ_CHECK(written == size, "write_header writes header_size bytes");
    std::memcpy(copy.data() + size, message.data() + h.body_offset, h.body_length);

    auto again = parse_header(copy);
    FUZZ_CHECK(again.has_value(), "a re-written header parses");
    FUZZ_CHECK(same_fields(fields_of(*again), f), "a re-written header has the same fields");
    FUZZ_CHECK(!again->has_unknown_fields, "re-writing drops unknown fields");
    FUZZ_CHECK(again->body_offset == size && again->body_length == h.body_length, "same body placement");
    if (h.endian == native_endian) {
        auto body = std::span<const uint8_t>(copy).subspan(size);
        WireError before = validate_body(message.subspan(h.body_offset), h.endian, h.signature, h.unix_fds);
        WireError after = validate_body(body, again->endian, again->signature, again->unix_fds);
        FUZZ_CHECK(before == after, "the body validates the same after the header is re-written");
    }
}

void check_body(std::span<const uint8_t> input) {
    if (input.size() < 2 || input.size() - 2 < input[0]) return;
    const Endian endian = input[1] & 1 ? Endian::big : Endian::little;
    const uint32_t unix_fds = input[1] >> 1;
    std::string_view signature(reinterpret_cast<const char*>(input.data() + 2), input[0]);
    auto body = input.subspan(2 + input[0]);
    WireError e = validate_body(body, endian, signature, unix_fds);
    if (e == WireError::none) FUZZ_CHECK(is_valid_signature(signature), "a body validates only with a valid signature");
    if (e == WireError::none && unix_fds > 0)
        FUZZ_CHECK(validate_body(body, endian, signature, UINT32_MAX) == WireError::none, "more fds never hurt");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::span<const uint8_t> input(data, size);
    if (size > 0 && data[0] != 'l' && data[0] != 'B') {
        check_body(input);
        return 0;
    }
    auto total = message_size(input);
    if (!total) return 0;
    if (*total > input.size()) {
        FUZZ_CHECK(!parse_header(input).has_value(), "a truncated message never parses");
        return 0;
    }
    auto message = input.first(*total);
    auto h = parse_header(message);
    if (!h) return 0;
    FUZZ_CHECK(h->body_offset % 8 == 0 && h->body_offset + h->body_length == message.size(),
               "the body fills the rest of the message");
    (void)validate_body(message.subspan(h->body_offset), h->endian, h->signature, h->unix_fds);
    check_reader_agrees(message, *h);
    check_round_trip(message, *h);
    return 0;
}
