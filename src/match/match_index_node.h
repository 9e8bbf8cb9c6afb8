// Inside the match index (private to src/match): the tree node, and the levels of the tree, one
// per key kind. A rule is stored at the end of the path made of its indexed keys in level order;
// a node therefore branches only on levels greater than the one it hangs from.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "match/match_index.h"

namespace jetbus::match {

// Levels, in tree order. Keys a message lookup can find by hashing come first; the two keyed by a
// name whose ownership must be asked (sender='well.known', destination=) come last, so that the
// callbacks run only for rules whose other keys already fit. argNpath is not indexed (its value
// may be longer than the message's, which no lookup can enumerate): matches() checks it.
constexpr uint8_t level_type = 0;
constexpr uint8_t level_sender_unique = 1;  // sender=':1.5': equal to the message's sender or nothing
constexpr uint8_t level_interface = 2;
constexpr uint8_t level_member = 3;
constexpr uint8_t level_path = 4;
constexpr uint8_t level_path_namespace = 5;  // looked up with each '/' prefix of the path
constexpr uint8_t level_arg0_namespace = 6;  // looked up with each '.' prefix of arg0
constexpr uint8_t level_arg_string = 7;      // argN='v' is level_arg_string + N
constexpr uint8_t level_sender_name = level_arg_string + max_match_rule_arg + 1;
constexpr uint8_t level_destination_unique = level_sender_name + 1;  // destination=':1.5'
constexpr uint8_t level_destination_name = level_destination_unique + 1;

struct StringHash {
    using is_transparent = void;  // find() by string_view, without building a std::string
    size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

using NodeMap = std::unordered_map<std::string, std::unique_ptr<MatchIndexNode>, StringHash, std::equal_to<>>;

struct Branch {
    uint8_t level = 0;
    NodeMap children;  // by key value; node-based, so node addresses and key strings never move
};

struct MatchIndexNode {
    MatchIndexNode* parent = nullptr;  // null for a root
    uint8_t level = 0;                 // the level of the parent's branch holding this node
    std::string_view key;              // its key there (the map's own string)
    std::vector<Branch> branches;      // ascending level, none empty
    std::vector<IndexedRule*> rules;   // rules whose key path ends here
};

}  // namespace jetbus::match
