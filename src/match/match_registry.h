// Every connection's match rules, and the question the router asks per broadcast: which
// connections want this message? Rules are kept per owner (for counting, listing and removal)
// and in a MatchIndex (for routing), so a message costs only the rules that could match it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "match/match_index.h"
#include "match/match_input.h"
#include "match/match_rule.h"

namespace jetbus::match {

class MatchRegistry {
public:
    void add(MatchOwner owner, MatchRule rule);  // a rule added twice needs two removals
    bool remove(MatchOwner owner, const MatchRule& rule);  // false: no such rule (MatchRuleNotFound)
    void remove_all(MatchOwner owner);  // cost proportional to that owner's rules
    size_t count(MatchOwner owner) const;  // for the per-connection limit (LimitsExceeded)
    size_t total() const { return total_; }
    std::span<const MatchRule> rules(MatchOwner owner) const;  // in the order added (Debug.Stats)

    // How many leading body arguments any rule inspects (0..64): the router need not decode more.
    size_t args_needed() const;

    // Appends each owner with at least one matching rule once to out, in ascending owner id (the
    // delivery order: connection age), which the caller clears and reuses (no allocation in steady
    // state). With include_eavesdrop false, eavesdrop='true' rules still match what an ordinary
    // rule would (broadcasts, their named destination) but nothing more. The addressed recipient
    // and the sender may be among the owners; the router decides.
    void collect(const MatchInput& message, bool include_eavesdrop, std::vector<MatchOwner>& out) const;

private:
    struct OwnerRules {
        IndexedOwner owner;
        std::vector<MatchRule> rules;                       // in the order added
        std::vector<std::unique_ptr<IndexedRule>> indexed;  // indexed[i] is rules[i] in the index
    };
    static void repoint(OwnerRules& o, size_t from);

    std::unordered_map<MatchOwner, OwnerRules> owners_;  // node-based: IndexedOwner addresses stay
    MatchIndex index_;
    mutable uint64_t stamp_ = 0;  // one per collect, see IndexedOwner::stamp
    size_t total_ = 0;
    std::array<size_t, max_match_rule_arg + 2> by_args_inspected_{};  // rule count per args_inspected()
};

}  // namespace jetbus::match
