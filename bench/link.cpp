// sd-bus connection set-up for the benchmark (exceptions are fine here: start-up only).
#include "link.h"

#include <fmt/core.h>
#include <systemd/sd-id128.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>

namespace jetbus::bench {

int check_sd(int r, const char* what) {
    if (r < 0) throw std::runtime_error(fmt::format("{}: {}", what, std::strerror(-r)));
    return r;
}

BusPtr connect_to_bus(const std::string& address) {
    sd_bus* raw = nullptr;
    check_sd(sd_bus_new(&raw), "sd_bus_new");
    BusPtr bus(raw);
    check_sd(sd_bus_set_address(raw, address.c_str()), "sd_bus_set_address");
    check_sd(sd_bus_set_bus_client(raw, 1), "sd_bus_set_bus_client");
    check_sd(sd_bus_start(raw), "connecting to the bus");
    return bus;
}

BusPtr open_peer(int fd, bool as_server) {
    sd_bus* raw = nullptr;
    check_sd(sd_bus_new(&raw), "sd_bus_new");
    BusPtr bus(raw);
    check_sd(sd_bus_set_fd(raw, fd, fd), "sd_bus_set_fd");
    if (as_server) {
        sd_id128_t id;
        check_sd(sd_id128_randomize(&id), "sd_id128_randomize");
        check_sd(sd_bus_set_server(raw, 1, id), "sd_bus_set_server");
    }
    check_sd(sd_bus_start(raw), "starting the peer-to-peer link");
    return bus;
}

bool flush_writes(sd_bus* bus, std::chrono::steady_clock::time_point until) {
    for (;;) {
        std::uint64_t queued = 0;
        if (sd_bus_get_n_queued_write(bus, &queued) < 0) return false;
        if (queued == 0) return true;
        if (sd_bus_process(bus, nullptr) < 0 || std::chrono::steady_clock::now() > until) return false;
        if (sd_bus_get_n_queued_write(bus, &queued) >= 0 && queued > 0) sd_bus_wait(bus, 10'000);
    }
}

}  // namespace jetbus::bench
