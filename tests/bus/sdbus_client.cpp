// sdbus_client: an independent client (systemd's sd-bus) for the black-box bus tests.
// Usage: sdbus_client ADDRESS. Connects (Hello happens inside sd_bus_start), checks ListNames,
// RequestName, a Peer.Ping to the driver, a method call to an object it exports itself, and a
// signal it emits and receives through a match. Prints one line per step; exits 1 on any failure.
#include <systemd/sd-bus.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

namespace {

constexpr const char* kDriver = "org.freedesktop.DBus";
constexpr const char* kDriverPath = "/org/freedesktop/DBus";
constexpr const char* kName = "org.jetbus.SdBusClient";
constexpr const char* kPath = "/org/jetbus/SdBus";
constexpr const char* kIface = "org.jetbus.SdBus";
// Each wait is bounded; the harness's own timeout is longer, so a hang reports which step hung.
constexpr uint64_t kStepTimeoutUsec = 10'000'000;

bool g_signal_seen = false;
std::string g_signal_text;

// RAII for the few sd-bus objects used here; errors are reported by the step that failed.
struct Bus {
    sd_bus* bus = nullptr;
    ~Bus() { sd_bus_flush_close_unref(bus); }
};
struct Msg {
    sd_bus_message* m = nullptr;
    ~Msg() { sd_bus_message_unref(m); }
};
struct Err {
    sd_bus_error e = SD_BUS_ERROR_NULL;
    ~Err() { sd_bus_error_free(&e); }
};

bool fail(const char* step, int r, const sd_bus_error* e = nullptr) {
    std::fprintf(stderr, "FAIL %s: %s%s%s\n", step, std::strerror(r < 0 ? -r : r),
                 e && e->name ? " / " : "", e && e->name ? e->name : "");
    return false;
}

bool ok(const char* step) {
    std::printf("ok %s\n", step);
    return true;
}

int method_double(sd_bus_message* m, void*, sd_bus_error*) {
    int32_t x = 0;
    int r = sd_bus_message_read(m, "i", &x);
    if (r < 0) return r;
    return sd_bus_reply_method_return(m, "i", x * 2);
}

const sd_bus_vtable kVtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD("Double", "i", "i", method_double, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_SIGNAL("Note", "s", 0),
    SD_BUS_VTABLE_END,
};

int on_signal(sd_bus_message* m, void*, sd_bus_error*) {
    const char* text = nullptr;
    if (sd_bus_message_read(m, "s", &text) >= 0 && text) {
        g_signal_seen = true;
        g_signal_text = text;
    }
    return 0;
}

bool connect(Bus& b, const char* address) {
    int r = sd_bus_new(&b.bus);
    if (r < 0) return fail("sd_bus_new", r);
    sd_bus_set_address(b.bus, address);
    sd_bus_set_bus_client(b.bus, 1);  // sends Hello during sd_bus_start
    sd_bus_set_method_call_timeout(b.bus, kStepTimeoutUsec);
    r = sd_bus_start(b.bus);
    if (r < 0) return fail("sd_bus_start", r);
    const char* unique = nullptr;
    r = sd_bus_get_unique_name(b.bus, &unique);
    if (r < 0) return fail("unique name after Hello", r);
    std::printf("unique name %s\n", unique);
    return ok("hello");
}

bool list_names_has_us(Bus& b) {
    Err err;
    Msg reply;
    int r = sd_bus_call_method(b.bus, kDriver, kDriverPath, kDriver, "ListNames", &err.e, &reply.m, "");
    if (r < 0) return fail("ListNames", r, &err.e);
    char** names = nullptr;
    r = sd_bus_message_read_strv(reply.m, &names);
    if (r < 0) return fail("ListNames reply", r);
    const char* unique = nullptr;
    sd_bus_get_unique_name(b.bus, &unique);
    bool found_us = false, found_driver = false;
    for (char** n = names; n && *n; ++n) {
        found_us |= std::strcmp(*n, unique) == 0;
        found_driver |= std::strcmp(*n, kDriver) == 0;
        std::free(*n);
    }
    std::free(names);
    if (!found_us || !found_driver) return fail("ListNames lacks our unique name or the driver", EINVAL);
    return ok("ListNames contains our unique name");
}

bool request_name(Bus& b) {
    int r = sd_bus_request_name(b.bus, kName, 0);
    if (r < 0) return fail("RequestName", r);
    Err err;
    Msg reply;
    r = sd_bus_call_method(b.bus, kDriver, kDriverPath, kDriver, "GetNameOwner", &err.e, &reply.m, "s", kName);
    if (r < 0) return fail("GetNameOwner", r, &err.e);
    const char* owner = nullptr;
    const char* unique = nullptr;
    sd_bus_message_read(reply.m, "s", &owner);
    sd_bus_get_unique_name(b.bus, &unique);
    if (!owner || std::strcmp(owner, unique) != 0) return fail("GetNameOwner is not us", EINVAL);
    return ok("RequestName");
}

bool ping_driver(Bus& b) {
    Err err;
    Msg reply;
    int r = sd_bus_call_method(b.bus, kDriver, kDriverPath, "org.freedesktop.DBus.Peer", "Ping", &err.e,
                               &reply.m, "");
    if (r < 0) return fail("Peer.Ping", r, &err.e);
    return ok("Peer.Ping to the driver");
}

bool run_until(Bus& b, bool& flag) {
    struct timespec start{};
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (!flag) {
        int r = sd_bus_process(b.bus, nullptr);
        if (r < 0) return fail("sd_bus_process", r);
        if (r > 0) continue;
        struct timespec now{};
        clock_gettime(CLOCK_MONOTONIC, &now);
        uint64_t spent = (now.tv_sec - start.tv_sec) * 1'000'000ULL + (now.tv_nsec - start.tv_nsec) / 1000;
        if (spent >= kStepTimeoutUsec) return fail("waiting for the signal timed out", ETIMEDOUT);
        sd_bus_wait(b.bus, kStepTimeoutUsec - spent);
    }
    return true;
}

struct CallState {
    bool done = false;
    int32_t result = 0;
};

int on_double_reply(sd_bus_message* m, void* data, sd_bus_error*) {
    auto* state = static_cast<CallState*>(data);
    if (!sd_bus_message_is_method_error(m, nullptr)) sd_bus_message_read(m, "i", &state->result);
    state->done = true;
    return 0;
}

// A call from one sd-bus connection to the object exported on the other, through the broker.
// Both live in this process, so the wait pumps both connections instead of blocking in sd_bus_call.
bool call_exported_object(Bus& service, Bus& client) {
    int r = sd_bus_add_object_vtable(service.bus, nullptr, kPath, kIface, kVtable, nullptr);
    if (r < 0) return fail("add vtable", r);
    Msg call;
    CallState state;
    r = sd_bus_message_new_method_call(client.bus, &call.m, kName, kPath, kIface, "Double");
    if (r >= 0) r = sd_bus_message_append(call.m, "i", 21);
    if (r >= 0) r = sd_bus_call_async(client.bus, nullptr, call.m, on_double_reply, &state, kStepTimeoutUsec);
    if (r < 0) return fail("Double call", r);
    struct timespec start{};
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (!state.done) {
        int a = sd_bus_process(service.bus, nullptr);
        int b = sd_bus_process(client.bus, nullptr);
        if (a < 0 || b < 0) return fail("sd_bus_process", a < 0 ? a : b);
        struct timespec now{};
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec > 10) return fail("Double timed out", ETIMEDOUT);
        if (a == 0 && b == 0) {
            struct timespec nap{0, 1'000'000};
            nanosleep(&nap, nullptr);
        }
    }
    if (state.result != 42) return fail("Double returned the wrong value", EINVAL);
    return ok("method call to an exported object");
}

bool signal_round_trip(Bus& emitter, Bus& listener) {
    int r = sd_bus_match_signal(listener.bus, nullptr, nullptr, kPath, kIface, "Note", on_signal, nullptr);
    if (r < 0) return fail("AddMatch", r);
    r = sd_bus_emit_signal(emitter.bus, kPath, kIface, "Note", "s", "sd-bus says hi");
    if (r < 0) return fail("emit", r);
    sd_bus_flush(emitter.bus);
    if (!run_until(listener, g_signal_seen)) return false;
    if (g_signal_text != "sd-bus says hi") return fail("signal payload differs", EINVAL);
    return ok("signal received through a match");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s ADDRESS\n", argv[0]);
        return 2;
    }
    Bus service, client;
    bool good = connect(service, argv[1]) && connect(client, argv[1]) && list_names_has_us(client) &&
                request_name(service) && ping_driver(client) && call_exported_object(service, client) &&
                signal_round_trip(service, client);
    std::printf("%s\n", good ? "sdbus_client: all passed" : "sdbus_client: FAILED");
    return good ? 0 : 1;
}
