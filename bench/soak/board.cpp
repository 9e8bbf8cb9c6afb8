// Board: the shared mapping, instance allocation, and the names the report uses.
#include "board.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string_view>

namespace jetbus::soak {
namespace {

constexpr std::size_t header_bytes = 64;  // keeps the records on their own cache lines

}  // namespace

const char* role_name(Role r) {
    switch (r) {
        case Role::service: return "service";
        case Role::caller: return "caller";
        case Role::emitter: return "emitter";
        case Role::subscriber: return "subscriber";
        case Role::name_churner: return "name_churner";
        case Role::conn_churner: return "conn_churner";
    }
    return "?";
}

const char* error_kind_name(ErrorKind k) {
    switch (k) {
        case ErrorKind::service_unknown: return "org.freedesktop.DBus.Error.ServiceUnknown";
        case ErrorKind::no_reply: return "org.freedesktop.DBus.Error.NoReply";
        case ErrorKind::limits_exceeded: return "org.freedesktop.DBus.Error.LimitsExceeded";
        case ErrorKind::access_denied: return "org.freedesktop.DBus.Error.AccessDenied";
        case ErrorKind::other: return "other";
    }
    return "?";
}

ErrorKind classify_error(const char* name) {
    const std::string_view n = name ? name : "";
    for (auto k : {ErrorKind::service_unknown, ErrorKind::no_reply, ErrorKind::limits_exceeded,
                   ErrorKind::access_denied})
        if (n == error_kind_name(k)) return k;
    return ErrorKind::other;
}

Board::Board(unsigned capacity) : capacity_(capacity) {
    static_assert(sizeof(Header) <= header_bytes);
    bytes_ = header_bytes + sizeof(Instance) * capacity;
    map_ = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (map_ == MAP_FAILED) throw std::runtime_error("mmap of the shared board failed");
    header_ = new (map_) Header;
    instances_ = reinterpret_cast<Instance*>(static_cast<char*>(map_) + header_bytes);
    for (unsigned i = 0; i < capacity; ++i) new (&instances_[i]) Instance;
}

Board::~Board() { munmap(map_, bytes_); }

unsigned Board::allocate(Role role, unsigned slot) {
    const unsigned id = header_->count.load();
    if (id >= capacity_) throw std::runtime_error("the board is full: too many restarts for its capacity");
    Instance& in = instances_[id];
    in.role.store(static_cast<std::uint32_t>(role));
    in.slot.store(slot);
    // Published last: a subscriber that sees the count sees a complete record.
    header_->count.store(id + 1);
    return id;
}

void set_state(Instance& in, State s) { in.state.store(static_cast<std::uint32_t>(s)); }
State get_state(const Instance& in) { return static_cast<State>(in.state.load()); }

void note_once(Instance& in, const std::string& text) {
    if (in.note[0] != '\0') return;
    const std::size_t n = std::min(text.size(), sizeof(in.note) - 1);
    std::memcpy(in.note, text.data(), n);
    in.note[n] = '\0';
}

}  // namespace jetbus::soak
