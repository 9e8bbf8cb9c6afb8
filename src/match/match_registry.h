// Every connection's match rules, and the question the router asks per broadcast: which
// connections want this message? A plain map of per-owner lists, scanned in full; an indexed engine
// with this same interface is to replace it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <vector>

#include "match/match_input.h"
#include "match/match_rule.h"

namespace jetbus::match {

using MatchOwner = uint64_t;  // opaque id of a connection

class MatchRegistry {
public:
    void add(MatchOwner owner, MatchRule rule);  // a rule added twice needs two removals
    bool remove(MatchOwner owner, const MatchRule& rule);  // false: no such rule (MatchRuleNotFound)
    void remove_all(MatchOwner owner);
    size_t count(MatchOwner owner) const;  // for the per-connection limit (LimitsExceeded)
    size_t total() const { return total_; }
    std::span<const MatchRule> rules(MatchOwner owner) const;  // in the order added (Debug.Stats)

    // How many leading body arguments any rule inspects (0..64): the router need not decode more.
    size_t args_needed() const;

    // Appends each owner with at least one matching rule once to out, which the caller clears and
    // reuses (no allocation in steady state). With include_eavesdrop false, eavesdrop='true' rules
    // still match what an ordinary rule would (broadcasts, their named destination) but nothing
    // more. The addressed recipient and the sender may be among the owners; the router decides.
    void collect(const MatchInput& message, bool include_eavesdrop, std::vector<MatchOwner>& out) const;

private:
    std::map<MatchOwner, std::vector<MatchRule>> rules_;  // ordered: delivery follows connection age
    size_t total_ = 0;
    std::array<size_t, max_match_rule_arg + 2> by_args_inspected_{};  // rule count per args_inspected()
};

}  // namespace jetbus::match
