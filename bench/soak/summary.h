// The soak driver's accounting: sums the board's records into the run's figures, judges them,
// and writes them as one JSON object and a few human lines.
#pragma once

#include "board.h"
#include "roles.h"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace jetbus::soak {

struct Totals {
    // Calls (callers and name churners). Lost: made by an instance that was not killed and
    // ended with neither reply nor error. Unjudged: outstanding when their caller was killed.
    std::uint64_t calls_sent = 0, replies = 0, errors = 0, lost_calls = 0, unjudged_calls = 0, bad_replies = 0;
    std::array<std::uint64_t, error_kind_count> errors_by_kind{};
    std::uint64_t name_calls = 0;  // of calls_sent: the name churners' RequestName/ReleaseName
    // Signals. Emitted: Ticks their emitter flushed. Owed, delivered, missing: over the
    // subscribers that were not killed. Received: every Tick any subscriber got.
    std::uint64_t ticks_emitted = 0, ticks_received = 0, ticks_owed = 0, ticks_delivered = 0, ticks_missing = 0,
                  ticks_extra = 0, ticks_out_of_order = 0, ticks_misrouted = 0, name_signals = 0;
    unsigned judged_callers = 0, judged_subscribers = 0;
    std::uint64_t handled = 0;  // calls the services answered
    std::uint64_t connections = 0, connect_failures = 0;
    std::uint64_t instances = 0;
    std::array<std::uint64_t, role_count> kills{}, deaths{};
    std::vector<std::string> notes;  // from instances that failed or died on their own

    std::uint64_t unexpected_errors() const;
    std::uint64_t messages_sent() const { return calls_sent + ticks_emitted; }
    std::uint64_t messages_delivered() const { return replies + ticks_received; }
    std::uint64_t messages_lost() const { return lost_calls + ticks_missing; }
};

// Live sums while the load runs (for progress lines): no judgement.
Totals live_totals(const Board& board);
// Final sums after the drain, with the supervisor's kill and death counts.
Totals final_totals(const Board& board, const std::array<std::uint64_t, role_count>& kills,
                    const std::array<std::uint64_t, role_count>& deaths);

// What makes the run fail; empty when it passed.
std::vector<std::string> problems(const Totals& t);

std::string progress_json(const Totals& t, double elapsed_s);
std::string summary_json(const Totals& t, const Settings& s, double load_s, double drain_s,
                         const std::vector<std::string>& problems);
std::string summary_text(const Totals& t, double load_s, double drain_s, const std::vector<std::string>& problems);

}  // namespace jetbus::soak
