// Forked echo server: owns a name, replies to Echo(ay) with the same payload, counts
// Sink calls, answers Consume and TakeFd with what it got, and lives until the client
// process kills it (or dies: PR_SET_PDEATHSIG).
#include "echo_server.h"

#include <fmt/core.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>

namespace jetbus::bench {
namespace {

// How long the client waits for the server to connect and own its name; a healthy bus
// needs milliseconds, so this only bounds a broken one.
constexpr int ready_timeout_ms = 10000;
// How long the destructor waits for the server to exit after SIGTERM before SIGKILL.
constexpr int exit_timeout_ms = 2000;

int reply_echo(sd_bus_message* call) {
    const void* data = nullptr;
    std::size_t size = 0;
    if (sd_bus_message_read_array(call, 'y', &data, &size) < 0)
        return sd_bus_reply_method_errorf(call, SD_BUS_ERROR_INVALID_ARGS, "Echo wants ay");
    sd_bus_message* reply = nullptr;
    int r = sd_bus_message_new_method_return(call, &reply);
    if (r >= 0) r = sd_bus_message_append_array(reply, 'y', data, size);
    if (r >= 0) r = sd_bus_send(nullptr, reply, nullptr);
    sd_bus_message_unref(reply);
    return r < 0 ? r : 1;
}

// Sink(t sequence, ay): no reply; the sequence goes to the shared counter, which checks order.
int record_sink(sd_bus_message* call, SharedProgress* sink) {
    std::uint64_t sequence = UINT64_MAX;  // an unreadable body counts as out of order
    sd_bus_message_read(call, "t", &sequence);
    if (sink) sink->record(0, sequence);
    return 1;
}

// Consume(ay) -> t: the reply carries the number of bytes received, nothing else.
int reply_consume(sd_bus_message* call) {
    const void* data = nullptr;
    std::size_t size = 0;
    if (sd_bus_message_read_array(call, 'y', &data, &size) < 0)
        return sd_bus_reply_method_errorf(call, SD_BUS_ERROR_INVALID_ARGS, "Consume wants ay");
    return sd_bus_reply_method_return(call, "t", static_cast<std::uint64_t>(size));
}

// TakeFd(h) -> t: the inode of the received fd proves it arrived open and was the one sent.
int reply_take_fd(sd_bus_message* call) {
    int fd = -1;
    struct stat st {};
    if (sd_bus_message_read(call, "h", &fd) < 0 || fstat(fd, &st) < 0)
        return sd_bus_reply_method_errorf(call, SD_BUS_ERROR_INVALID_ARGS, "TakeFd wants an open fd");
    return sd_bus_reply_method_return(call, "t", static_cast<std::uint64_t>(st.st_ino));
}

int on_call(sd_bus_message* m, void* userdata, sd_bus_error*) {
    if (sd_bus_message_is_method_call(m, Target::interface, Target::method)) return reply_echo(m);
    if (sd_bus_message_is_method_call(m, Target::interface, Target::sink))
        return record_sink(m, static_cast<SharedProgress*>(userdata));
    if (sd_bus_message_is_method_call(m, Target::interface, Target::consume)) return reply_consume(m);
    if (sd_bus_message_is_method_call(m, Target::interface, Target::take_fd)) return reply_take_fd(m);
    return 0;
}

BusPtr connect_server(const ServerLink& link) {
    if (link.peer_fd >= 0) return open_peer(link.peer_fd, true);
    BusPtr bus = connect_to_bus(link.address);
    check_sd(sd_bus_request_name(bus.get(), link.name.c_str(), 0), "RequestName");
    return bus;
}

// Serves until the connection drops; returns the process exit code.
int serve(sd_bus* bus) {
    for (;;) {
        int r = sd_bus_process(bus, nullptr);
        if (r < 0) return (r == -ECONNRESET || r == -ENOTCONN) ? 0 : 1;
        if (r > 0) continue;
        r = sd_bus_wait(bus, UINT64_MAX);
        if (r < 0 && r != -EINTR) return 1;
    }
}

[[noreturn]] void server_main(const ServerLink& link, int ready_fd) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int code = 1;
    try {
        BusPtr bus = connect_server(link);
        sd_bus_slot* slot = nullptr;
        check_sd(sd_bus_add_object(bus.get(), &slot, Target::path, on_call, link.sink), "sd_bus_add_object");
        const char ok = 1;
        if (write(ready_fd, &ok, 1) != 1) _exit(1);
        close(ready_fd);
        code = serve(bus.get());
    } catch (const std::exception& e) {
        fmt::print(stderr, "jetbus-bench server: {}\n", e.what());
    }
    _exit(code);
}

}  // namespace

EchoServer::EchoServer(const ServerLink& link) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) throw std::runtime_error("pipe2 failed");
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
        close(fds[0]);
        if (link.client_fd >= 0) close(link.client_fd);
        server_main(link, fds[1]);
    }
    close(fds[1]);
    try {
        wait_ready(fds[0]);
    } catch (...) {
        close(fds[0]);
        terminate();
        throw;
    }
    close(fds[0]);
}

void EchoServer::wait_ready(int ready_fd) {
    pollfd p{ready_fd, POLLIN, 0};
    const int r = poll(&p, 1, ready_timeout_ms);
    char ok = 0;
    if (r == 1 && read(ready_fd, &ok, 1) == 1 && ok == 1) return;
    throw std::runtime_error(r == 0 ? "echo server did not become ready within 10 s"
                                    : "echo server failed to start (see its message above)");
}

EchoServer::~EchoServer() { terminate(); }

void EchoServer::terminate() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    for (int waited = 0; waited < exit_timeout_ms; waited += 10) {
        if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
            pid_ = -1;
            return;
        }
        usleep(10000);
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
}

}  // namespace jetbus::bench
