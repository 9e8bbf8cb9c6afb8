// What every soak role shares: connecting, running the connection for a while, pacing sends
// at a rate, and the tracker that makes every method call end as a reply or an error.
#pragma once

#include "../link.h"
#include "board.h"

#include <sys/types.h>
#include <systemd/sd-bus.h>

#include <chrono>
#include <cstdint>
#include <unordered_map>

namespace jetbus::soak {

using bench::BusPtr;
using bench::MessagePtr;
using Clock = std::chrono::steady_clock;

// Connects (SASL EXTERNAL, Hello) and waits for the unique name; throws on failure.
BusPtr connect_client(const std::string& address);

// Dispatches everything queued, then waits for input up to wait_us. False (with a note and
// the failed state) when the connection broke: the bus dropped us or died.
bool pump(sd_bus* bus, Instance& self, std::uint64_t wait_us);

// Keeps the connection served until the exit phase, then closes it cleanly.
int serve_until_exit(sd_bus* bus, Board& board, Instance& self);

// Allows `rate` events per second on average, from when it is made; rate 0: no limit.
class Pacer {
public:
    explicit Pacer(double rate) : rate_(rate), start_(Clock::now()) {}
    bool may_send() const;
    void sent() { ++count_; }
    // Microseconds until the next event is due (0 when one is due or there is no limit).
    std::uint64_t wait_us() const;

private:
    double rate_;
    Clock::time_point start_;
    std::uint64_t count_ = 0;
};

// The calls one connection has in flight, by cookie; sd-bus hands replies it has no slot for
// to the filter, which ends them here. No sd-bus timeout applies: a call the bus never answers
// stays outstanding, and at the end of the drain it is lost.
class CallTracker {
public:
    enum class Kind : std::uint8_t { echo, echo_fd, request_name, release_name };
    struct Call {
        Kind kind;
        std::uint64_t tag;
        std::uint32_t size;  // echo: payload bytes
        dev_t dev;           // echo_fd: the file sent
        ino_t ino;
    };

    explicit CallTracker(Instance& self) : self_(self) {}
    // Sends `m` and tracks it; <0 when sd-bus refused it (the connection is gone).
    int send(sd_bus* bus, sd_bus_message* m, const Call& c);
    // sd_bus filter: ends the call a reply or error answers (returns 1), else 0.
    static int filter(sd_bus_message* m, void* userdata, sd_bus_error*);
    std::size_t outstanding() const { return calls_.size(); }

private:
    void finish(sd_bus_message* m, const Call& c);
    bool check_return(sd_bus_message* m, const Call& c);

    Instance& self_;
    std::unordered_map<std::uint64_t, Call> calls_;
};

// Echo payloads are a pattern derived from the call's tag, so a reply is checked byte by byte.
void fill_payload(std::uint8_t* data, std::uint32_t size, std::uint64_t tag);
bool payload_matches(const std::uint8_t* data, std::uint32_t size, std::uint64_t tag);

}  // namespace jetbus::soak
