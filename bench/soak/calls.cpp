// Method-call roles: the echo services, the callers that keep calls in flight to them, and the
// name churner. Set-up failures throw (the process then exits as failed); the loops do not.
#include "client.h"
#include "roles.h"

#include <fmt/core.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <random>
#include <stdexcept>
#include <vector>

namespace jetbus::soak {
namespace {

using Kind = CallTracker::Kind;

// The call mix, in parts per 10,000: most calls are small, some carry an fd, a few are
// medium and a very few large (a 1 MiB body both ways is a lot of copying on 2 cores).
constexpr unsigned mix_small = 8500;
constexpr unsigned mix_fd = 1200;
constexpr unsigned mix_medium = 280;  // the rest (20) are large
constexpr std::uint32_t small_max = 512;
constexpr std::uint32_t medium_min = 4 << 10, medium_max = 64 << 10;
constexpr std::uint32_t large_min = 256 << 10, large_max = 1 << 20;
// Files the callers pass; the reply must carry the same file back (device and inode).
constexpr unsigned caller_files = 4;
// Names the name churners fight over (shared, so RequestName also meets queues and owners).
constexpr unsigned churn_names = 8;
constexpr unsigned name_inflight = 4;

int reply_echo(sd_bus_message* call) {
    std::uint64_t tag = 0;
    const void* data = nullptr;
    std::size_t size = 0;
    if (sd_bus_message_read(call, "t", &tag) < 0 || sd_bus_message_read_array(call, 'y', &data, &size) < 0)
        return sd_bus_reply_method_errorf(call, SD_BUS_ERROR_INVALID_ARGS, "Echo wants (t, ay)");
    sd_bus_message* raw = nullptr;
    int r = sd_bus_message_new_method_return(call, &raw);
    if (r < 0) return r;
    MessagePtr reply(raw);
    r = sd_bus_message_append(raw, "t", tag);
    if (r >= 0) r = sd_bus_message_append_array(raw, 'y', data, size);
    if (r >= 0) r = sd_bus_send(nullptr, raw, nullptr);
    return r < 0 ? r : 1;
}

int reply_echo_fd(sd_bus_message* call) {
    std::uint64_t tag = 0;
    int fd = -1;
    if (sd_bus_message_read(call, "th", &tag, &fd) < 0)
        return sd_bus_reply_method_errorf(call, SD_BUS_ERROR_INVALID_ARGS, "EchoFd wants (t, h)");
    return sd_bus_reply_method_return(call, "th", tag, fd);  // sd-bus duplicates the fd into the reply
}

int on_service_call(sd_bus_message* m, void* userdata, sd_bus_error*) {
    auto& self = *static_cast<Instance*>(userdata);
    int r = 0;
    if (sd_bus_message_is_method_call(m, soak_interface, "Echo")) r = reply_echo(m);
    else if (sd_bus_message_is_method_call(m, soak_interface, "EchoFd")) r = reply_echo_fd(m);
    else return 0;
    self.handled.fetch_add(1, std::memory_order_relaxed);
    return r < 0 ? 1 : r;  // a reply the bus cannot take (caller gone) is not our failure
}

struct CallerFile {
    int fd;
    dev_t dev;
    ino_t ino;
};

std::vector<CallerFile> open_caller_files() {
    std::vector<CallerFile> files;
    for (unsigned i = 0; i < caller_files; ++i) {
        const int fd = memfd_create("jetbus-soak", MFD_CLOEXEC);
        struct stat st {};
        if (fd < 0 || fstat(fd, &st) < 0) throw std::runtime_error("memfd_create failed");
        files.push_back({fd, st.st_dev, st.st_ino});
    }
    return files;
}

class Caller {
public:
    Caller(const Settings& s, Instance& self, std::uint64_t seed)
        : s_(s), tracker_(self), rng_(seed), files_(open_caller_files()),
          payload_(large_max) {}

    // Sends one call of the mix to a random service; <0 when the connection is gone.
    int send_one(sd_bus* bus) {
        const std::string dest = service_name(pick(s_.services));
        const unsigned roll = pick(10000);
        const bool with_fd = roll >= mix_small && roll < mix_small + mix_fd;
        sd_bus_message* raw = nullptr;
        int r = sd_bus_message_new_method_call(bus, &raw, dest.c_str(), service_path, soak_interface,
                                               with_fd ? "EchoFd" : "Echo");
        if (r < 0) return r;
        MessagePtr m(raw);
        CallTracker::Call c{with_fd ? Kind::echo_fd : Kind::echo, ++tag_, 0, 0, 0};
        if (with_fd) {
            const CallerFile& f = files_[pick(caller_files)];
            c.dev = f.dev;
            c.ino = f.ino;
            r = sd_bus_message_append(raw, "th", c.tag, f.fd);
        } else {
            c.size = size_for(roll);
            fill_payload(payload_.data(), c.size, c.tag);
            r = sd_bus_message_append(raw, "t", c.tag);
            if (r >= 0) r = sd_bus_message_append_array(raw, 'y', payload_.data(), c.size);
        }
        return r < 0 ? r : tracker_.send(bus, raw, c);
    }

    CallTracker& tracker() { return tracker_; }

private:
    unsigned pick(unsigned n) { return std::uniform_int_distribution<unsigned>(0, n - 1)(rng_); }
    std::uint32_t between(std::uint32_t lo, std::uint32_t hi) {
        return std::uniform_int_distribution<std::uint32_t>(lo, hi)(rng_);
    }
    std::uint32_t size_for(unsigned roll) {
        if (roll < mix_small) return between(0, small_max);
        if (roll < mix_small + mix_fd + mix_medium) return between(medium_min, medium_max);
        return between(large_min, large_max);
    }

    const Settings& s_;
    CallTracker tracker_;
    std::mt19937_64 rng_;
    std::vector<CallerFile> files_;
    std::vector<std::uint8_t> payload_;
    std::uint64_t tag_ = 0;
};

// The loop callers and name churners share: keep the window full while running, then wait
// until nothing is outstanding (drained) and serve until the exit phase.
template <typename SendOne>
int call_loop(sd_bus* bus, Board& board, Instance& self, CallTracker& tracker, unsigned window, Pacer& pacer,
              SendOne send_one) {
    for (;;) {
        const Phase phase = board.phase();
        if (phase == Phase::exit) break;
        if (phase == Phase::run) {
            while (tracker.outstanding() < window && pacer.may_send()) {
                const int r = send_one();
                if (r < 0) {
                    note_once(self, fmt::format("sending a call failed: {}", std::strerror(-r)));
                    set_state(self, State::failed);
                    return 1;
                }
                pacer.sent();
            }
        } else if (tracker.outstanding() == 0 && get_state(self) == State::running) {
            set_state(self, State::drained);
        }
        const std::uint64_t wait = std::min<std::uint64_t>(pacer.wait_us() ? pacer.wait_us() : 20'000, 20'000);
        if (!pump(bus, self, wait)) return 1;
    }
    set_state(self, State::exited);
    return 0;
}

}  // namespace

std::string service_name(unsigned slot) { return fmt::format("org.jetbus.Soak.Service{}", slot); }

int run_service(const Settings& s, Board& board, unsigned id) {
    Instance& self = board.at(id);
    BusPtr bus = connect_client(s.address);
    bench::check_sd(sd_bus_add_object(bus.get(), nullptr, service_path, on_service_call, &self),
                    "sd_bus_add_object");
    // Queue for the name: the killed predecessor may still own it until the bus sees it gone.
    bench::check_sd(sd_bus_request_name(bus.get(), service_name(board.at(id).slot.load()).c_str(), 0),
                    "RequestName");
    set_state(self, State::running);
    return serve_until_exit(bus.get(), board, self);
}

int run_caller(const Settings& s, Board& board, unsigned id, std::uint64_t seed) {
    Instance& self = board.at(id);
    BusPtr bus = connect_client(s.address);
    Caller caller(s, self, seed);
    bench::check_sd(sd_bus_add_filter(bus.get(), nullptr, CallTracker::filter, &caller.tracker()),
                    "sd_bus_add_filter");
    set_state(self, State::running);
    Pacer pacer(s.call_rate);
    return call_loop(bus.get(), board, self, caller.tracker(), s.inflight, pacer,
                     [&] { return caller.send_one(bus.get()); });
}

int run_name_churner(const Settings& s, Board& board, unsigned id, std::uint64_t seed) {
    Instance& self = board.at(id);
    BusPtr bus = connect_client(s.address);
    CallTracker tracker(self);
    bench::check_sd(sd_bus_add_filter(bus.get(), nullptr, CallTracker::filter, &tracker), "sd_bus_add_filter");
    set_state(self, State::running);
    std::mt19937_64 rng(seed);
    std::uint64_t tag = 0;
    Pacer pacer(s.name_rate);
    // RequestName flags: none (queue), ALLOW_REPLACEMENT|REPLACE_EXISTING, DO_NOT_QUEUE.
    constexpr std::array<std::uint32_t, 3> flags{0, 0x3, 0x4};
    return call_loop(bus.get(), board, self, tracker, name_inflight, pacer, [&] {
        const std::string name = fmt::format("org.jetbus.Soak.Churn.N{}", rng() % churn_names);
        const bool request = rng() % 2 == 0;
        sd_bus_message* raw = nullptr;
        int r = sd_bus_message_new_method_call(bus.get(), &raw, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                               "org.freedesktop.DBus", request ? "RequestName" : "ReleaseName");
        if (r < 0) return r;
        MessagePtr m(raw);
        r = request ? sd_bus_message_append(raw, "su", name.c_str(), flags[rng() % flags.size()])
                    : sd_bus_message_append(raw, "s", name.c_str());
        if (r < 0) return r;
        return tracker.send(bus.get(), raw,
                            {request ? Kind::request_name : Kind::release_name, ++tag, 0, 0, 0});
    });
}

}  // namespace jetbus::soak
