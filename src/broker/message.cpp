// Message storage and header re-stamping. See message.h.
#include "broker/message.h"

#include <unistd.h>

#include <array>
#include <cstring>
#include <new>
#include <vector>

namespace jetbus::broker {

namespace {

// Recycled message blocks in a few size classes, so the steady state of a busy bus allocates nothing
// per message. Each class keeps a bounded free list; bigger messages go straight to the heap.
class MessagePool {
public:
    static constexpr std::array<size_t, 5> class_sizes = {1024, 4096, 16384, 65536, 262144};
    static constexpr size_t max_cached_bytes_per_class = 4 * 1024 * 1024;

    ~MessagePool() {
        for (auto& list : free_) {
            for (void* p : list) ::operator delete(p);
        }
    }
    // Returns a block of at least `bytes` and the class it belongs to (-1: not pooled).
    void* take(size_t bytes, int& cls) {
        cls = class_of(bytes);
        if (cls < 0) return ::operator new(bytes);
        auto& list = free_[static_cast<size_t>(cls)];
        if (!list.empty()) {
            void* p = list.back();
            list.pop_back();
            return p;
        }
        return ::operator new(class_sizes[static_cast<size_t>(cls)]);
    }
    void give(void* p, int cls) {
        if (cls >= 0) {
            auto& list = free_[static_cast<size_t>(cls)];
            if (list.size() * class_sizes[static_cast<size_t>(cls)] < max_cached_bytes_per_class) {
                list.push_back(p);
                return;
            }
        }
        ::operator delete(p);
    }

private:
    static int class_of(size_t bytes) {
#if defined(__SANITIZE_ADDRESS__)
        // Under AddressSanitizer every message gets its own heap block, so a use after the last
        // reference is caught instead of hidden by recycling.
        if (bytes) return -1;
#endif
        for (size_t i = 0; i < class_sizes.size(); ++i) {
            if (bytes <= class_sizes[i]) return static_cast<int>(i);
        }
        return -1;
    }
    std::array<std::vector<void*>, class_sizes.size()> free_;
};

thread_local MessagePool pool;

}  // namespace

Message* Message::allocate(size_t capacity) {
    int cls = -1;
    void* p = pool.take(sizeof(Message) + capacity, cls);
    Message* m = new (p) Message(capacity);
    m->pool_class_ = cls;
    return m;
}

void Message::destroy(Message* m) {
    const int cls = m->pool_class_;
    m->~Message();
    pool.give(m, cls);
}

Message::~Message() {
    for (int fd : fds_) ::close(fd);
    if (charge_) {
        charge_->bytes -= raw_size_;
        charge_->fds -= fds_.size();
        if (charge_->owner) charge_->owner->on_charge_released();
    }
}

MessagePtr Message::create_for_raw(size_t raw_size) {
    Message* m = allocate(restamp_headroom + raw_size);
    m->raw_size_ = raw_size;
    return MessagePtr(m);
}

MessagePtr Message::build(const wire::HeaderFields& fields, std::span<const uint8_t> body,
                          std::vector<int> fds) {
    const size_t hsize = wire::header_size(fields);
    Message* m = allocate(hsize + body.size());
    MessagePtr ptr(m);
    wire::write_header(fields, static_cast<uint32_t>(body.size()), {m->storage(), hsize});
    if (!body.empty()) std::memcpy(m->storage() + hsize, body.data(), body.size());
    m->begin_ = 0;
    m->end_ = hsize + body.size();
    m->fds_ = std::move(fds);
    [[maybe_unused]] auto err = m->reparse();
    return ptr;
}

wire::WireError Message::reparse() {
    auto parsed = wire::parse_header({storage() + begin_, end_ - begin_});
    if (!parsed) return parsed.error();
    header_ = *parsed;
    return wire::WireError::none;
}

namespace {

void put_u32(uint8_t* p, uint32_t v, wire::Endian endian) {
    if (endian != wire::native_endian) v = __builtin_bswap32(v);
    std::memcpy(p, &v, 4);
}

constexpr size_t align8(size_t n) { return (n + 7) & ~size_t{7}; }

}  // namespace

// The common case: no sender field yet and nothing to drop. The fields are kept byte for byte, moved
// down into the headroom, and the sender field is appended after them: no field is re-marshalled.
void Message::append_sender(const wire::Header& old, std::string_view sender) {
    uint8_t* raw = raw_data();
    uint32_t fields_len;
    std::memcpy(&fields_len, raw + 12, 4);
    if (old.endian != wire::native_endian) fields_len = __builtin_bswap32(fields_len);
    const size_t fields_end = wire::fixed_header_size + fields_len;
    const size_t sender_at = align8(fields_end);  // each field is an 8-aligned struct
    const size_t new_fields_end = sender_at + 8 + sender.size() + 1;
    const size_t new_header = align8(new_fields_end);
    const size_t body_at = restamp_headroom + old.body_offset;
    const size_t new_begin = body_at - new_header;
    uint8_t* out = storage() + new_begin;
    std::memmove(out, raw, fields_end);
    std::memset(out + fields_end, 0, sender_at - fields_end);
    uint8_t* field = out + sender_at;
    field[0] = static_cast<uint8_t>(wire::HeaderField::sender);
    field[1] = 1;
    field[2] = 's';
    field[3] = 0;
    put_u32(field + 4, static_cast<uint32_t>(sender.size()), old.endian);
    std::memcpy(field + 8, sender.data(), sender.size());
    std::memset(field + 8 + sender.size(), 0, new_header - (new_fields_end - 1));
    put_u32(out + 12, static_cast<uint32_t>(new_fields_end - wire::fixed_header_size), old.endian);

    header_ = old;
    const char* from = reinterpret_cast<const char*>(raw);
    const char* to = reinterpret_cast<const char*>(out);
    for (std::string_view* v : {&header_.path, &header_.interface, &header_.member, &header_.error_name,
                                &header_.destination, &header_.signature}) {
        if (!v->empty()) *v = std::string_view(to + (v->data() - from), v->size());
    }
    header_.sender = std::string_view(reinterpret_cast<const char*>(field + 8), sender.size());
    header_.body_offset = new_header;
    begin_ = new_begin;
    end_ = body_at + old.body_length;
}

wire::WireError Message::restamp(std::string_view sender, wire::RecentNames* recent) {
    const uint8_t* raw = raw_data();
    auto parsed = wire::parse_header({raw, raw_size_}, recent);
    if (!parsed) return parsed.error();
    const wire::Header& old = *parsed;
    if (old.sender.empty() && !old.has_unknown_fields) {
        append_sender(old, sender);
        return wire::WireError::none;
    }

    wire::HeaderFields f = wire::fields_of(old);
    f.sender = sender;
    const size_t new_size = wire::header_size(f);
    const size_t body_at = restamp_headroom + old.body_offset;
    // The new header ends where the body starts; the headroom guarantees it fits.
    if (new_size > body_at) return wire::WireError::bad_header_field;
    const size_t new_begin = body_at - new_size;
    // The field values still point into the old header, which the new one may overlap: write to a
    // scratch buffer first when the header is small (always, in practice), else to a heap copy.
    uint8_t scratch[1024];
    std::vector<uint8_t> big;
    uint8_t* out = scratch;
    if (new_size > sizeof scratch) {
        big.resize(new_size);
        out = big.data();
    }
    wire::Header written;
    wire::write_header(f, old.body_length, {out, new_size}, written);
    std::memmove(storage() + new_begin, out, new_size);
    begin_ = new_begin;
    end_ = body_at + old.body_length;
    // The header just written is valid by construction: move its views to where the bytes now are
    // instead of parsing them again.
    const char* from = reinterpret_cast<const char*>(out);
    const char* to = reinterpret_cast<const char*>(storage() + new_begin);
    for (std::string_view* v : {&written.path, &written.interface, &written.member, &written.error_name,
                                &written.destination, &written.sender, &written.signature}) {
        if (!v->empty()) *v = std::string_view(to + (v->data() - from), v->size());
    }
    header_ = written;
    return wire::WireError::none;
}

}  // namespace jetbus::broker
