// Supervisor: fork, kill rounds, restarts, the drain and the bounded exit.
#include "supervisor.h"

#include <fmt/core.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <thread>

namespace jetbus::soak {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Every client connects, owns its name and installs its rules in milliseconds on a healthy bus.
constexpr auto start_timeout = 20s;
// Clients close their connection and exit at once in the exit phase; this bounds a stuck one.
constexpr auto exit_timeout = 5s;
// How often the supervisor looks at its children between kill rounds.
constexpr auto tick = 10ms;
// Clients that die on their own are restarted, but this many deaths mean the bus is not serving
// (gone, or refusing everyone): the load ends there rather than restart clients in a loop.
constexpr std::uint64_t max_deaths = 100;

constexpr std::array<Role, role_count> all_roles{Role::service, Role::caller, Role::emitter, Role::subscriber,
                                                 Role::name_churner, Role::conn_churner};

[[noreturn]] void child_main(pid_t parent, Role role, const Settings& s, Board& board, unsigned id,
                             std::uint64_t seed) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);  // the supervisor died before prctl took effect
    int code = 1;
    Instance& self = board.at(id);
    try {
        code = run_role(role, s, board, id, seed);
    } catch (const std::exception& e) {
        note_once(self, e.what());
        set_state(self, State::failed);
    }
    _exit(code);
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

}  // namespace

unsigned Settings::count_of(Role r) const {
    switch (r) {
        case Role::service: return services;
        case Role::caller: return callers;
        case Role::emitter: return emitters;
        case Role::subscriber: return subscribers;
        case Role::name_churner: return name_churners;
        case Role::conn_churner: return conn_churners;
    }
    return 0;
}

int run_role(Role role, const Settings& s, Board& board, unsigned id, std::uint64_t seed) {
    switch (role) {
        case Role::service: return run_service(s, board, id);
        case Role::caller: return run_caller(s, board, id, seed);
        case Role::emitter: return run_emitter(s, board, id);
        case Role::subscriber: return run_subscriber(s, board, id);
        case Role::name_churner: return run_name_churner(s, board, id, seed);
        case Role::conn_churner: return run_conn_churner(s, board, id, seed);
    }
    return 1;
}

Supervisor::Supervisor(const Settings& s, Board& board) : s_(s), board_(board), rng_(s.seed) {}

Supervisor::~Supervisor() {
    for (const Child& c : children_) kill(c.pid, SIGKILL);
    for (const Child& c : children_) waitpid(c.pid, nullptr, 0);
}

void Supervisor::spawn(Role role, unsigned slot) {
    const unsigned id = board_.allocate(role, slot);
    const std::uint64_t seed = s_.seed ^ (0x9E3779B97F4A7C15ull * (id + 1));
    std::fflush(stdout);
    std::fflush(stderr);
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) child_main(parent, role, s_, board_, id, seed);
    board_.at(id).pid.store(pid);
    children_.push_back({id, pid});
}

bool Supervisor::start_all(std::string& why) {
    for (Role r : all_roles)
        for (unsigned slot = 0; slot < s_.count_of(r); ++slot) spawn(r, slot);
    const auto deadline = Clock::now() + start_timeout;
    for (;;) {
        unsigned running = 0;
        for (const Child& c : children_) {
            const State st = get_state(board_.at(c.id));
            if (st == State::failed) {
                why = fmt::format("{} {} failed to start: {}", role_name(static_cast<Role>(board_.at(c.id).role.load())),
                                  board_.at(c.id).slot.load(), board_.at(c.id).note);
                return false;
            }
            running += st == State::running;
        }
        if (running == children_.size()) return true;
        if (Clock::now() > deadline) {
            why = fmt::format("only {} of {} clients were running after {} s", running, children_.size(),
                              std::chrono::duration_cast<std::chrono::seconds>(start_timeout).count());
            return false;
        }
        std::this_thread::sleep_for(tick);
    }
}

std::vector<Supervisor::Child>::iterator Supervisor::find(pid_t pid) {
    return std::find_if(children_.begin(), children_.end(), [&](const Child& c) { return c.pid == pid; });
}

// A child that exits without our SIGKILL died on its own: a failure of the run (its note says
// why). While the load runs its slot gets a new instance, as a killed one's does.
void Supervisor::reap(bool respawn) {
    int status = 0;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        const auto it = find(pid);
        if (it == children_.end()) continue;
        Instance& in = board_.at(it->id);
        const auto role = static_cast<Role>(in.role.load());
        const unsigned slot = in.slot.load();
        const bool clean_exit = WIFEXITED(status) && WEXITSTATUS(status) == 0 && board_.phase() == Phase::exit;
        if (!clean_exit) {
            in.died.store(1);
            ++deaths_[static_cast<std::size_t>(role)];
            if (in.note[0] == '\0')
                note_once(in, WIFSIGNALED(status) ? fmt::format("killed by signal {}", WTERMSIG(status))
                                                  : fmt::format("exited with status {}", WEXITSTATUS(status)));
        }
        children_.erase(it);
        std::uint64_t deaths = 0;
        for (auto d : deaths_) deaths += d;
        if (deaths >= max_deaths && ended_early_.empty())
            ended_early_ = fmt::format("{} clients died on their own (last: {})", deaths, in.note);
        if (respawn) this->respawn(role, slot);
    }
}

void Supervisor::respawn(Role role, unsigned slot) {
    if (!ended_early_.empty()) return;
    if (board_.count() >= board_.capacity()) {
        ended_early_ = "too many restarts for the board's records";
        return;
    }
    spawn(role, slot);
}

void Supervisor::kill_round() {
    for (unsigned k = 0; k < s_.kills && !children_.empty(); ++k) {
        const auto i = std::uniform_int_distribution<std::size_t>(0, children_.size() - 1)(rng_);
        const Child victim = children_[i];
        Instance& in = board_.at(victim.id);
        in.killed.store(1);
        kill(victim.pid, SIGKILL);
        waitpid(victim.pid, nullptr, 0);
        children_.erase(children_.begin() + static_cast<std::ptrdiff_t>(i));
        const auto role = static_cast<Role>(in.role.load());
        ++kills_[static_cast<std::size_t>(role)];
        respawn(role, in.slot.load());
    }
}

double Supervisor::run(const std::function<void(double)>& progress) {
    const auto start = Clock::now();
    const auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s_.seconds));
    const auto kill_period = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s_.kill_every));
    auto next_kill = start + kill_period;
    auto next_progress = start + 1s;
    while (Clock::now() < end && ended_early_.empty()) {
        reap(true);
        const auto now = Clock::now();
        if (s_.kill_every > 0 && now >= next_kill) {
            kill_round();
            next_kill += kill_period;
        }
        if (now >= next_progress) {
            progress(seconds_since(start));
            next_progress += 1s;
        }
        std::this_thread::sleep_for(tick);
    }
    const double ran = seconds_since(start);
    progress(ran);
    return ran;
}

bool Supervisor::all_of(Role role, State wanted) {
    for (const Child& c : children_) {
        const Instance& in = board_.at(c.id);
        if (static_cast<Role>(in.role.load()) != role) continue;
        const State st = get_state(in);
        if (st != wanted && st != State::failed) return false;
    }
    return true;
}

double Supervisor::drain() {
    const auto start = Clock::now();
    const auto deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s_.drain));
    board_.set_phase(Phase::stop);
    while (!all_of(Role::emitter, State::drained) && Clock::now() < deadline) {
        reap(false);
        std::this_thread::sleep_for(1ms);
    }
    // From here the emitters' `flushed` counts are final: subscribers can tell what they are owed.
    board_.header().emitters_done.store(1);
    for (;;) {
        reap(false);
        const bool done = all_of(Role::caller, State::drained) && all_of(Role::name_churner, State::drained) &&
                          all_of(Role::subscriber, State::drained) && all_of(Role::conn_churner, State::drained);
        if (done || Clock::now() >= deadline) break;
        std::this_thread::sleep_for(1ms);
    }
    return seconds_since(start);
}

void Supervisor::finish() {
    board_.set_phase(Phase::exit);
    const auto deadline = Clock::now() + exit_timeout;
    while (!children_.empty() && Clock::now() < deadline) {
        reap(false);
        std::this_thread::sleep_for(tick);
    }
    for (const Child& c : children_) {
        Instance& in = board_.at(c.id);
        note_once(in, "did not exit in the exit phase");
        in.died.store(1);
        ++stragglers_;
        kill(c.pid, SIGKILL);
        waitpid(c.pid, nullptr, 0);
    }
    children_.clear();
}

}  // namespace jetbus::soak
