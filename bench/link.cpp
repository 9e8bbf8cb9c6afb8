// sd-bus connection set-up for the benchmark (exceptions are fine here: start-up only).
#include "link.h"

#include <fmt/core.h>
#include <systemd/sd-id128.h>

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

}  // namespace jetbus::bench
