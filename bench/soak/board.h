// The soak driver's shared board: one anonymous MAP_SHARED mapping made before any fork, with
// one record per client instance (a process in one slot of one role; a restart is a new
// instance). Children write their counters here and the supervisor sums them, so the
// accounting survives a SIGKILL and adds no traffic to the bus under test.
#pragma once

#include <sys/types.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

namespace jetbus::soak {

enum class Role : std::uint32_t { service, caller, emitter, subscriber, name_churner, conn_churner };
inline constexpr std::size_t role_count = 6;
const char* role_name(Role r);

enum class Phase : std::uint32_t {
    run,    // load flows, the supervisor kills and restarts clients
    stop,   // no new calls or signals; callers and subscribers wait for what is owed to them
    exit,   // everyone disconnects cleanly and exits
};

enum class State : std::uint32_t {
    starting,  // connecting, owning its name, installing its rules
    running,
    drained,   // stop phase: nothing owed to it any more (callers: no call outstanding)
    failed,    // gave up on its own (note says why): a failure of the run
    exited,
};

// Error names a caller may see, counted per instance. The first two are what a killed or
// missing service causes and are expected; the rest are reported as unexpected.
enum class ErrorKind : std::uint32_t { service_unknown, no_reply, limits_exceeded, access_denied, other };
inline constexpr std::size_t error_kind_count = 5;
const char* error_kind_name(ErrorKind k);
ErrorKind classify_error(const char* name);

using Counter = std::atomic<std::uint64_t>;

struct alignas(64) Instance {
    std::atomic<std::uint32_t> role{0};
    std::atomic<std::uint32_t> slot{0};
    std::atomic<std::int32_t> pid{0};
    std::atomic<std::uint32_t> state{0};   // State
    std::atomic<std::uint32_t> killed{0};  // set by the supervisor just before its SIGKILL
    std::atomic<std::uint32_t> died{0};    // exited or was killed by something other than us

    // Method calls (callers and name churners): every call ends as a reply or an error.
    Counter sent{0}, replied{0}, errored{0}, bad_replies{0}, outstanding{0};
    std::array<Counter, error_kind_count> errors{};

    // Emitters: the sequence number of the last signal begun (stored before it is queued) and
    // of the last one sd_bus_flush returned for (written to the socket).
    Counter started{0}, flushed{0};

    // Subscribers: signals received in all, and after the drain: what was owed (emitted after
    // the rule was in place and flushed), what of that arrived, missed, extra, out of order,
    // and Ticks its rules do not match (misrouted).
    Counter received{0}, expected{0}, delivered{0}, missing{0}, extra{0}, out_of_order{0}, misrouted{0};
    Counter name_signals{0};  // NameOwnerChanged seen (not judged: they come and go with names)

    // Services: calls answered. Connection churners: connections made and failed.
    Counter handled{0}, connections{0}, connect_failures{0};

    char note[160]{};  // the first thing that went wrong, for the report
};

struct Header {
    std::atomic<std::uint32_t> phase{0};          // Phase
    std::atomic<std::uint32_t> emitters_done{0};  // stop phase: every emitter has flushed its last
    std::atomic<std::uint32_t> count{0};          // instances allocated so far
};

class Board {
public:
    explicit Board(unsigned capacity);
    ~Board();
    Board(const Board&) = delete;
    Board& operator=(const Board&) = delete;

    Header& header() { return *header_; }
    Phase phase() const { return static_cast<Phase>(header_->phase.load()); }
    void set_phase(Phase p) { header_->phase.store(static_cast<std::uint32_t>(p)); }

    unsigned count() const { return header_->count.load(); }
    unsigned capacity() const { return capacity_; }
    Instance& at(unsigned id) { return instances_[id]; }
    const Instance& at(unsigned id) const { return instances_[id]; }

    // Supervisor only: a fresh record for a new process in `slot` of `role`; throws when full.
    unsigned allocate(Role role, unsigned slot);

private:
    void* map_ = nullptr;
    std::size_t bytes_ = 0;
    Header* header_ = nullptr;
    Instance* instances_ = nullptr;
    unsigned capacity_ = 0;
};

// Child side helpers.
void set_state(Instance& in, State s);
State get_state(const Instance& in);
void note_once(Instance& in, const std::string& text);  // keeps the first note only

}  // namespace jetbus::soak
