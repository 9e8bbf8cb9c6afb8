// Connection helpers, the pacer and the call tracker shared by the soak roles.
#include "client.h"

#include <fmt/core.h>
#include <sys/stat.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <stdexcept>

namespace jetbus::soak {

BusPtr connect_client(const std::string& address) {
    BusPtr bus = bench::connect_to_bus(address);
    const char* unique = nullptr;
    bench::check_sd(sd_bus_get_unique_name(bus.get(), &unique), "Hello");
    return bus;
}

bool pump(sd_bus* bus, Instance& self, std::uint64_t wait_us) {
    for (;;) {
        const int r = sd_bus_process(bus, nullptr);
        if (r < 0) {
            note_once(self, fmt::format("connection lost: {}", std::strerror(-r)));
            set_state(self, State::failed);
            return false;
        }
        if (r == 0) break;
    }
    if (wait_us == 0) return true;
    const int r = sd_bus_wait(bus, wait_us);
    if (r < 0 && r != -EINTR) {
        note_once(self, fmt::format("waiting on the connection: {}", std::strerror(-r)));
        set_state(self, State::failed);
        return false;
    }
    return true;
}

int serve_until_exit(sd_bus* bus, Board& board, Instance& self) {
    while (board.phase() != Phase::exit)
        if (!pump(bus, self, 50'000)) return 1;
    set_state(self, State::exited);
    return 0;
}

bool Pacer::may_send() const {
    if (rate_ <= 0) return true;
    const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
    return static_cast<double>(count_) < elapsed * rate_;
}

std::uint64_t Pacer::wait_us() const {
    if (rate_ <= 0) return 0;
    const double due_s = static_cast<double>(count_) / rate_;
    const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
    return due_s <= elapsed ? 0 : static_cast<std::uint64_t>(std::ceil((due_s - elapsed) * 1e6));
}

void fill_payload(std::uint8_t* data, std::uint32_t size, std::uint64_t tag) {
    for (std::uint32_t i = 0; i < size; ++i) data[i] = static_cast<std::uint8_t>(tag * 151 + i * 7 + (i >> 8));
}

bool payload_matches(const std::uint8_t* data, std::uint32_t size, std::uint64_t tag) {
    for (std::uint32_t i = 0; i < size; ++i)
        if (data[i] != static_cast<std::uint8_t>(tag * 151 + i * 7 + (i >> 8))) return false;
    return true;
}

int CallTracker::send(sd_bus* bus, sd_bus_message* m, const Call& c) {
    std::uint64_t cookie = 0;
    const int r = sd_bus_send(bus, m, &cookie);
    if (r < 0) return r;
    calls_.emplace(cookie, c);
    self_.sent.fetch_add(1, std::memory_order_relaxed);
    self_.outstanding.store(calls_.size(), std::memory_order_relaxed);
    return r;
}

int CallTracker::filter(sd_bus_message* m, void* userdata, sd_bus_error*) {
    auto& t = *static_cast<CallTracker*>(userdata);
    std::uint8_t type = 0;
    std::uint64_t cookie = 0;
    sd_bus_message_get_type(m, &type);
    if (type != SD_BUS_MESSAGE_METHOD_RETURN && type != SD_BUS_MESSAGE_METHOD_ERROR) return 0;
    if (sd_bus_message_get_reply_cookie(m, &cookie) < 0) return 0;
    const auto it = t.calls_.find(cookie);
    if (it == t.calls_.end()) return 0;
    const Call c = it->second;
    t.calls_.erase(it);
    t.finish(m, c);
    t.self_.outstanding.store(t.calls_.size(), std::memory_order_relaxed);
    return 1;
}

void CallTracker::finish(sd_bus_message* m, const Call& c) {
    if (const sd_bus_error* e = sd_bus_message_get_error(m)) {
        const ErrorKind k = classify_error(e->name);
        self_.errors[static_cast<std::size_t>(k)].fetch_add(1, std::memory_order_relaxed);
        self_.errored.fetch_add(1, std::memory_order_relaxed);
        if (k != ErrorKind::service_unknown && k != ErrorKind::no_reply)
            note_once(self_, fmt::format("unexpected error {}: {}", e->name ? e->name : "?",
                                         e->message ? e->message : ""));
        return;
    }
    self_.replied.fetch_add(1, std::memory_order_relaxed);
    if (!check_return(m, c)) {
        self_.bad_replies.fetch_add(1, std::memory_order_relaxed);
        note_once(self_, fmt::format("a wrong reply to call tag {} (kind {})", c.tag, static_cast<int>(c.kind)));
    }
}

bool CallTracker::check_return(sd_bus_message* m, const Call& c) {
    std::uint64_t tag = 0;
    switch (c.kind) {
        case Kind::echo: {
            const void* data = nullptr;
            std::size_t size = 0;
            if (sd_bus_message_read(m, "t", &tag) < 0 || sd_bus_message_read_array(m, 'y', &data, &size) < 0)
                return false;
            return tag == c.tag && size == c.size &&
                   payload_matches(static_cast<const std::uint8_t*>(data), c.size, c.tag);
        }
        case Kind::echo_fd: {
            int fd = -1;
            struct stat st {};
            if (sd_bus_message_read(m, "th", &tag, &fd) < 0 || fstat(fd, &st) < 0) return false;
            return tag == c.tag && st.st_dev == c.dev && st.st_ino == c.ino;
        }
        case Kind::request_name: {  // primary owner, in queue, exists, already owner
            std::uint32_t code = 0;
            return sd_bus_message_read(m, "u", &code) >= 0 && code >= 1 && code <= 4;
        }
        case Kind::release_name: {  // released, non-existent, not owner
            std::uint32_t code = 0;
            return sd_bus_message_read(m, "u", &code) >= 0 && code >= 1 && code <= 3;
        }
    }
    return false;
}

}  // namespace jetbus::soak
