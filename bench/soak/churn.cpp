// The connection churner: connections that come and go in the ways real clients leave, so the
// bus must release names, rules, pending replies and fds each time. A connection the bus
// refuses or a set-up call it fails is a failure of the run (counted, first one noted).
#include "client.h"
#include "roles.h"

#include <fmt/core.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <stdexcept>

namespace jetbus::soak {
namespace {

// A set-up call the bus does not answer within this is a failure (the bus is stuck).
constexpr std::uint64_t call_timeout_us = 10'000'000;

void call_driver(sd_bus* bus, const char* member, const char* types, const std::string& arg) {
    sd_bus_message* raw = nullptr;
    bench::check_sd(sd_bus_message_new_method_call(bus, &raw, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                                   "org.freedesktop.DBus", member), member);
    MessagePtr m(raw);
    if (std::strcmp(types, "su") == 0) bench::check_sd(sd_bus_message_append(raw, "su", arg.c_str(), 0u), member);
    else bench::check_sd(sd_bus_message_append(raw, "s", arg.c_str()), member);
    sd_bus_error err = SD_BUS_ERROR_NULL;
    sd_bus_message* reply = nullptr;
    const int r = sd_bus_call(bus, raw, call_timeout_us, &err, &reply);
    const std::string why = err.name ? fmt::format("{}: {}", err.name, err.message ? err.message : "") : "";
    sd_bus_message_unref(reply);
    sd_bus_error_free(&err);
    if (r < 0) throw std::runtime_error(fmt::format("{}: {}", member, why.empty() ? std::strerror(-r) : why));
}

// The socket path of a unix:path= address, or empty (then the raw variant is skipped).
std::string socket_path(const std::string& address) {
    const std::string key = "unix:path=";
    if (address.rfind(key, 0) != 0) return {};
    const std::string rest = address.substr(key.size());
    return rest.substr(0, rest.find(','));
}

// Connects and writes the start of a SASL exchange, then closes: the bus must drop a
// connection that never authenticated.
void half_authenticate(const std::string& path) {
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error("socket failed");
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, path.c_str(), sizeof(sa.sun_path) - 1);
    const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0;
    if (ok) {
        const std::string hello = fmt::format("{}AUTH EXTERNAL ", '\0');
        (void)!write(fd, hello.data(), hello.size());
    }
    close(fd);
    if (!ok) throw std::runtime_error(fmt::format("connect to {}: {}", path, std::strerror(errno)));
}

class ConnChurner {
public:
    ConnChurner(const Settings& s, unsigned id, std::uint64_t seed)
        : s_(s), id_(id), rng_(seed), path_(socket_path(s.address)),
          memfd_(memfd_create("jetbus-soak-churn", MFD_CLOEXEC)) {}
    ~ConnChurner() { if (memfd_ >= 0) close(memfd_); }

    void one() {
        const unsigned variants = path_.empty() ? 3 : 4;
        switch (rng_() % variants) {
            case 0: clean(); break;
            case 1: with_names_and_rules(); break;
            case 2: leave_with_call_in_flight(); break;
            default: half_authenticate(path_); break;
        }
    }

private:
    void clean() { connect_client(s_.address); }  // closed (flushed) when it goes out of scope

    void with_names_and_rules() {
        BusPtr bus = connect_client(s_.address);
        const std::string name = fmt::format("org.jetbus.Soak.Conn.I{}.N{}", id_, ++n_);
        call_driver(bus.get(), "RequestName", "su", name);
        call_driver(bus.get(), "AddMatch", "s",
                    fmt::format("type='signal',interface='{}',member='Tick',arg0='churn{}'", soak_interface, n_));
        // Closes without releasing either: the bus must drop both with the connection.
    }

    // An EchoFd call (with an fd) written to the bus, and the connection gone before the reply.
    void leave_with_call_in_flight() {
        BusPtr bus = connect_client(s_.address);
        const std::string dest = service_name(static_cast<unsigned>(rng_() % s_.services));
        sd_bus_message* raw = nullptr;
        bench::check_sd(sd_bus_message_new_method_call(bus.get(), &raw, dest.c_str(), service_path, soak_interface,
                                                       "EchoFd"), "EchoFd");
        MessagePtr m(raw);
        bench::check_sd(sd_bus_message_append(raw, "th", std::uint64_t{0}, memfd_), "EchoFd");
        bench::check_sd(sd_bus_send(bus.get(), raw, nullptr), "EchoFd");
        bench::check_sd(sd_bus_flush(bus.get()), "EchoFd");
    }

    const Settings& s_;
    unsigned id_;
    std::mt19937_64 rng_;
    std::string path_;
    int memfd_;
    std::uint64_t n_ = 0;
};

}  // namespace

int run_conn_churner(const Settings& s, Board& board, unsigned id, std::uint64_t seed) {
    Instance& self = board.at(id);
    ConnChurner churner(s, id, seed);
    set_state(self, State::running);
    Pacer pacer(s.conn_rate);
    while (board.phase() == Phase::run) {
        if (pacer.may_send()) {
            try {
                churner.one();
            } catch (const std::exception& e) {
                self.connect_failures.fetch_add(1, std::memory_order_relaxed);
                note_once(self, e.what());
            }
            self.connections.fetch_add(1, std::memory_order_relaxed);
            pacer.sent();
        }
        usleep(static_cast<useconds_t>(std::clamp<std::uint64_t>(pacer.wait_us(), 1000, 20'000)));
    }
    set_state(self, State::drained);
    while (board.phase() != Phase::exit) usleep(20'000);
    set_state(self, State::exited);
    return 0;
}

}  // namespace jetbus::soak
