// The match index: a decision tree over the keys of the rules, so that routing a message visits
// only the rules whose indexed keys all equal the message's (plus the few keys that can only be
// checked by asking who owns a name). Each candidate is then confirmed with matches(), which stays
// the single definition of what a rule means; the tree only decides what is worth asking.
// Modelled on the idea of systemd's sd-bus bus-match.c (one tree level per key kind, children
// hashed by value), with the keys that need name ownership kept at the bottom of the tree.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "match/match_input.h"
#include "match/match_rule.h"

namespace jetbus::match {

using MatchOwner = uint64_t;  // opaque id of a connection

// What the index knows of the owner of a rule. stamp marks the owner as already collected for the
// message being routed, so each owner is confirmed and listed once however many rules it has.
struct IndexedOwner {
    MatchOwner id = 0;
    uint64_t stamp = 0;
};

struct MatchIndexNode;

// One added rule as the index holds it. The caller owns it and keeps its address stable while it
// is in the index; rule may be re-pointed (same value) when the caller's storage moves.
struct IndexedRule {
    const MatchRule* rule = nullptr;
    IndexedOwner* owner = nullptr;
    MatchIndexNode* leaf = nullptr;  // set by MatchIndex::insert
    uint32_t slot = 0;               // position in the leaf's list, for O(1) removal
};

class MatchIndex {
public:
    MatchIndex();
    ~MatchIndex();
    MatchIndex(MatchIndex&&) noexcept;
    MatchIndex& operator=(MatchIndex&&) noexcept;

    void insert(IndexedRule& entry);  // may allocate
    void erase(IndexedRule& entry);   // frees the tree nodes it leaves empty

    // Appends the id of each owner with a matching candidate whose stamp is not yet `stamp`, then
    // stamps it. Unordered. Allocates nothing but what `out` may need to grow.
    void collect(const MatchInput& message, bool include_eavesdrop, uint64_t stamp,
                 std::vector<MatchOwner>& out) const;

    size_t node_count() const;  // tree nodes, roots included (tests check the tree shrinks back)

private:
    // Rules split first by how they treat the DESTINATION field, because a message either has one
    // or not: plain rules match only broadcasts, eavesdropping rules without destination= match
    // anything, and rules with destination= only addressed messages.
    enum class Root : uint8_t { broadcast_only, eavesdrop_any, addressed };
    static constexpr size_t root_count = 3;  // one per Root
    static Root root_of(const MatchRule& rule);
    const MatchIndexNode& root(Root r) const { return *roots_[static_cast<size_t>(r)]; }

    std::array<std::unique_ptr<MatchIndexNode>, root_count> roots_;
};

}  // namespace jetbus::match
