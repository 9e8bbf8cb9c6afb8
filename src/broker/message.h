// Message: one D-Bus message as the broker holds it — a single refcounted allocation with the bytes as they
// will go out (header re-stamped by the broker, body untouched), the parsed header pointing into those
// bytes, and the unix fds that travel with it. A broadcast shares one Message among all its receivers;
// the fds are closed when the last reference goes.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include <boost/intrusive_ptr.hpp>

#include "wire/expected.h"
#include "wire/header.h"

namespace jetbus::broker {

class Message;
using MessagePtr = boost::intrusive_ptr<Message>;

// What a connection's received messages still hold in the broker (max_incoming_bytes and
// max_incoming_unix_fds, counted as dbus-daemon does: from receipt until the message is gone).
// Messages keep it alive; the connection detaches itself when it closes.
class IncomingCharge {
public:
    struct Listener {
        virtual void on_charge_released() = 0;
    };
    size_t bytes = 0;
    size_t fds = 0;
    Listener* owner = nullptr;

    friend void intrusive_ptr_add_ref(IncomingCharge* c) { ++c->refs_; }
    friend void intrusive_ptr_release(IncomingCharge* c) {
        if (--c->refs_ == 0) delete c;
    }

private:
    uint32_t refs_ = 0;
};
using IncomingChargePtr = boost::intrusive_ptr<IncomingCharge>;

// Room in front of a received message so the re-stamped header (with the bus-set sender field, at most
// 8 + 4 + 255 + 1 bytes plus padding) can be written ending exactly where the body already is.
constexpr size_t restamp_headroom = 512;

class Message {
public:
    // A buffer for a raw message of raw_size bytes, to be filled at raw_data() and then restamped.
    static MessagePtr create_for_raw(size_t raw_size);
    // A message built by the broker from header fields and a marshalled body.
    static MessagePtr build(const wire::HeaderFields& fields, std::span<const uint8_t> body,
                            std::vector<int> fds = {});

    uint8_t* raw_data() { return storage() + restamp_headroom; }
    size_t raw_size() const { return raw_size_; }

    // Parses the raw message and rewrites its header in place: sender stamped, unknown fields and any
    // client-supplied sender dropped. The body does not move.
    // recent: the sender's recently validated names (wire::RecentNames), or nullptr.
    wire::WireError restamp(std::string_view sender, wire::RecentNames* recent = nullptr);

    const wire::Header& header() const { return header_; }
    std::span<const uint8_t> bytes() const { return {storage() + begin_, end_ - begin_}; }
    std::span<const uint8_t> body() const {
        return {storage() + begin_ + header_.body_offset, header_.body_length};
    }
    const std::vector<int>& fds() const { return fds_; }
    std::vector<int>& fds() { return fds_; }
    // Counts this message against its sender's incoming limits until it is destroyed, at the size it
    // was received with (as dbus-daemon counts it; the sender field the bus adds is not the peer's).
    void charge(IncomingChargePtr c) {
        c->bytes += raw_size_;
        c->fds += fds_.size();
        charge_ = std::move(c);
    }
    bool expects_reply() const {
        return header_.type == wire::MessageType::method_call &&
               !(header_.flags & wire::flags::no_reply_expected);
    }

    friend void intrusive_ptr_add_ref(Message* m) { ++m->refs_; }
    friend void intrusive_ptr_release(Message* m) {
        if (--m->refs_ == 0) destroy(m);
    }

private:
    void append_sender(const wire::Header& old, std::string_view sender);
    explicit Message(size_t capacity) : capacity_(capacity) {}
    ~Message();
    static Message* allocate(size_t capacity);
    static void destroy(Message* m);
    uint8_t* storage() { return reinterpret_cast<uint8_t*>(this + 1); }
    const uint8_t* storage() const { return reinterpret_cast<const uint8_t*>(this + 1); }
    wire::WireError reparse();

    uint32_t refs_ = 0;          // single-threaded broker: a plain counter
    int pool_class_ = -1;        // which recycled size class the block came from (-1: heap)
    size_t capacity_ = 0;
    size_t raw_size_ = 0;
    size_t begin_ = 0;           // first byte of the message as it goes out
    size_t end_ = 0;
    wire::Header header_;
    std::vector<int> fds_;
    IncomingChargePtr charge_;
};

}  // namespace jetbus::broker
