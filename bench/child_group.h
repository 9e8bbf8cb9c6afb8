// Forked helper processes of the signal workloads (subscribers, the idle rule holders),
// each with its own sd_bus. The group stops every child it started by pid: SIGTERM, then
// SIGKILL after a grace period; children also die with the parent (PR_SET_PDEATHSIG).
#pragma once

#include <sys/types.h>

#include <functional>
#include <vector>

namespace jetbus::bench {

class ChildGroup {
public:
    ChildGroup() = default;
    ~ChildGroup();
    ChildGroup(const ChildGroup&) = delete;
    ChildGroup& operator=(const ChildGroup&) = delete;

    // Forks a child that runs body and exits with its return value (1 if it throws).
    // Call before the parent opens any sd_bus: a forked sd_bus is unusable in the child.
    void spawn(const std::function<int()>& body);

    // Stops and reaps every child still running; safe to call twice.
    void stop_all();

private:
    std::vector<pid_t> pids_;
};

}  // namespace jetbus::bench
