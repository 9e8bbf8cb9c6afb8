// ChildGroup: fork, die-with-parent, and a bounded stop (SIGTERM, grace, SIGKILL).
#include "child_group.h"

#include <fmt/core.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <exception>
#include <stdexcept>

namespace jetbus::bench {
namespace {

// How long children get to exit after SIGTERM before SIGKILL; they hold no state worth saving.
constexpr int stop_grace_ms = 2000;

[[noreturn]] void child_main(pid_t parent, const std::function<int()>& body) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);  // the parent died before prctl took effect
    int code = 1;
    try {
        code = body();
    } catch (const std::exception& e) {
        fmt::print(stderr, "jetbus-bench helper {}: {}\n", getpid(), e.what());
    }
    _exit(code);
}

}  // namespace

ChildGroup::~ChildGroup() { stop_all(); }

void ChildGroup::spawn(const std::function<int()>& body) {
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) child_main(parent, body);
    pids_.push_back(pid);
}

void ChildGroup::stop_all() {
    for (const pid_t pid : pids_) kill(pid, SIGTERM);
    for (int waited = 0; !pids_.empty() && waited < stop_grace_ms; waited += 10) {
        std::erase_if(pids_, [](pid_t pid) { return waitpid(pid, nullptr, WNOHANG) == pid; });
        if (!pids_.empty()) usleep(10000);
    }
    for (const pid_t pid : pids_) kill(pid, SIGKILL);
    for (const pid_t pid : pids_) waitpid(pid, nullptr, 0);
    pids_.clear();
}

}  // namespace jetbus::bench
