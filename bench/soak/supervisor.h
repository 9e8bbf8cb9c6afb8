// The soak supervisor: forks every client, SIGKILLs a few at random every round and starts a
// new instance in their slot, then stops the load, lets what is owed drain, and ends every
// client by its pid. It holds no bus connection itself (children are forked from it).
#pragma once

#include "board.h"
#include "roles.h"

#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace jetbus::soak {

class Supervisor {
public:
    Supervisor(const Settings& s, Board& board);
    ~Supervisor();
    Supervisor(const Supervisor&) = delete;
    Supervisor& operator=(const Supervisor&) = delete;

    // Starts one instance per slot of every role; false (with why) if they were not all running
    // within the start timeout.
    bool start_all(std::string& why);
    // Runs the load for the configured time (less if it ends early), calling `progress` about once
    // a second; returns the seconds it ran.
    double run(const std::function<void(double elapsed_s)>& progress);
    // Stop phase: waits for the emitters' last flush, then for callers and subscribers to be owed
    // nothing, at most `drain` seconds; returns the seconds it took.
    double drain();
    // Exit phase: every client disconnects and exits; stragglers get SIGKILL.
    void finish();

    // Why the load ended before its time (clients kept dying, e.g. the bus is gone), or empty.
    const std::string& ended_early() const { return ended_early_; }
    const std::array<std::uint64_t, role_count>& kills() const { return kills_; }
    const std::array<std::uint64_t, role_count>& deaths() const { return deaths_; }
    unsigned stragglers() const { return stragglers_; }

private:
    struct Child {
        unsigned id;
        pid_t pid;
    };

    void spawn(Role role, unsigned slot);
    void respawn(Role role, unsigned slot);  // unless the run is ending early
    void reap(bool respawn);
    void kill_round();
    bool all_of(Role role, State wanted);
    std::vector<Child>::iterator find(pid_t pid);

    const Settings& s_;
    Board& board_;
    std::mt19937_64 rng_;
    std::vector<Child> children_;
    std::array<std::uint64_t, role_count> kills_{}, deaths_{};
    unsigned stragglers_ = 0;
    std::string ended_early_;
};

}  // namespace jetbus::soak
