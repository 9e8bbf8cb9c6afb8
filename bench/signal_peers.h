// The bus-side cast of the signal workloads: the Tick signal the emitter sends, the match
// rules (the one that selects Tick and the K that must not), and the bodies of the forked
// helpers: subscribers that count Ticks, and holders of idle connections full of rules.
#pragma once

#include "link.h"
#include "options.h"
#include "shared_progress.h"

#include <cstdint>
#include <string>
#include <vector>

namespace jetbus::bench {

// What every Tick looks like: body (s "match", t sequence number).
struct Tick {
    static constexpr const char* path = "/org/jetbus/Bench/Signal";
    static constexpr const char* interface = "org.jetbus.Bench";
    static constexpr const char* member = "Tick";
    static constexpr const char* arg0 = "match";
};

// The rule that selects Tick, written the way rules of `kind` are (fanout uses member's).
std::string matching_rule(RuleKind kind);
// Non-matching rule number i: the matching rule with only the member, the path_namespace
// or the arg0 value changed.
std::string non_matching_rule(RuleKind kind, std::uint64_t i);
// Rules first..first+count-1 of that kind.
std::vector<std::string> non_matching_rules(RuleKind kind, std::uint64_t first, std::uint64_t count);

// Sends AddMatch for every rule (pipelined, straight to org.freedesktop.DBus, so sd-bus
// keeps no local filter per rule) and waits for every reply; throws on any error reply.
void add_matches(sd_bus* bus, const std::vector<std::string>& rules);

// Sends Tick number `sequence`; returns sd_bus_send's result.
int send_tick(sd_bus* bus, std::uint64_t sequence);

// Subscriber process body: connects, adds `extra_rules` and then `rule`, marks slot
// `index` ready, and records every Tick until the connection drops or it is killed.
int subscriber_main(const std::string& address, const std::string& rule,
                    const std::vector<std::string>& extra_rules, SharedProgress& progress, unsigned index);

// Rule holder body: opens `connections` idle connections, spreads `rules` over them, marks
// slot 0 of `progress` ready, then sleeps until killed.
int rule_holder_main(const std::string& address, unsigned connections, const std::vector<std::string>& rules,
                     SharedProgress& progress);

}  // namespace jetbus::bench
