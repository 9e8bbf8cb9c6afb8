// The soak driver's client roles. Each runs in its own forked process with its own sd_bus,
// reads the phase from the board and writes its counters to its own record there:
//   service       owns org.jetbus.Soak.Service<slot>, answers Echo(t, ay) and EchoFd(t, h)
//   caller        keeps calls in flight to random services (small, large and fd-carrying ones)
//                 and checks every reply; a call that ends with neither reply nor error is lost
//   emitter       broadcasts Tick(s topic, u instance, t sequence) signals at a fixed rate
//   subscriber    holds match rules (and rules that never match) and counts the Ticks it is
//                 owed: those begun after its rule was in place and written by their emitter
//   name_churner  RequestName / ReleaseName on a few shared names, checked like calls
//   conn_churner  connects and leaves in several ways (clean, owning names and rules, with a
//                 call and an fd in flight, mid-authentication)
#pragma once

#include "board.h"

#include <cstdint>
#include <string>

namespace jetbus::soak {

inline constexpr const char* soak_interface = "org.jetbus.Soak";
inline constexpr const char* service_path = "/org/jetbus/Soak";
inline constexpr const char* emitter_path = "/org/jetbus/Soak/Emitter";
inline constexpr const char* tick_member = "Tick";

struct Settings {
    std::string address;
    double seconds = 60;
    unsigned services = 4;
    unsigned callers = 4;
    unsigned inflight = 16;      // calls in flight per caller
    double call_rate = 0;        // calls/s per caller; 0: as fast as the window allows
    unsigned emitters = 2;
    double signal_rate = 500;    // Ticks/s per emitter
    unsigned subscribers = 4;
    unsigned noise_rules = 20;   // rules per subscriber that never match
    unsigned name_churners = 1;
    double name_rate = 200;      // RequestName + ReleaseName calls/s per name churner
    unsigned conn_churners = 1;
    double conn_rate = 40;       // connections/s per connection churner
    double kill_every = 2;       // seconds between two rounds of SIGKILLs; 0: none
    unsigned kills = 2;          // clients killed per round
    double drain = 10;           // seconds the stop phase may take before what is owed is lost
    std::uint64_t seed = 0;

    unsigned count_of(Role r) const;
};

std::string service_name(unsigned slot);

// Runs `role` as instance `id` of the board; returns the process's exit code.
int run_role(Role role, const Settings& s, Board& board, unsigned id, std::uint64_t seed);

// Each role's body (calls.cpp, signals.cpp, churn.cpp).
int run_service(const Settings& s, Board& board, unsigned id);
int run_caller(const Settings& s, Board& board, unsigned id, std::uint64_t seed);
int run_name_churner(const Settings& s, Board& board, unsigned id, std::uint64_t seed);
int run_conn_churner(const Settings& s, Board& board, unsigned id, std::uint64_t seed);
int run_emitter(const Settings& s, Board& board, unsigned id);
int run_subscriber(const Settings& s, Board& board, unsigned id);

}  // namespace jetbus::soak
