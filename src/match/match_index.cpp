// Building and shrinking the match index: a rule's key path, insertion along it, and removal that
// frees the nodes it leaves empty (so a bus whose clients come and go keeps a tree its live rules
// need, and collect never walks dead branches).
#include "match/match_index.h"

#include <algorithm>
#include <utility>

#include "match/match_index_node.h"

namespace jetbus::match {

namespace {

using KeyPath = std::vector<std::pair<uint8_t, std::string_view>>;

// The type key is the message type's number as a one-byte string.
std::string_view type_key(const wire::MessageType& type) {
    return {reinterpret_cast<const char*>(&type), 1};
}

void add_arg_keys(const MatchRule& rule, KeyPath& path) {
    for (size_t i = 0; i < rule.args.size(); ++i) {
        const ArgMatch& arg = rule.args[i];
        if (arg.kind == ArgKind::string) path.emplace_back(level_arg_string + i, arg.value);
        if (arg.kind == ArgKind::namespace_prefix && i == 0) path.emplace_back(level_arg0_namespace, arg.value);
    }
}

// Every key the tree can index, in ascending level order.
KeyPath key_path(const MatchRule& rule) {
    static_assert(sizeof(wire::MessageType) == 1);
    KeyPath path;
    if (rule.type != wire::MessageType::invalid) path.emplace_back(level_type, type_key(rule.type));
    bool unique_sender = !rule.sender.empty() && rule.sender[0] == ':';
    if (unique_sender) path.emplace_back(level_sender_unique, rule.sender);
    if (!rule.interface.empty()) path.emplace_back(level_interface, rule.interface);
    if (!rule.member.empty()) path.emplace_back(level_member, rule.member);
    if (rule.path_kind == PathKind::exact) path.emplace_back(level_path, rule.path);
    if (rule.path_kind == PathKind::namespace_prefix) path.emplace_back(level_path_namespace, rule.path);
    add_arg_keys(rule, path);  // arg0namespace, then argN by N: ascending already
    if (!rule.sender.empty() && !unique_sender) path.emplace_back(level_sender_name, rule.sender);
    if (!rule.destination.empty()) {
        bool unique = rule.destination[0] == ':';
        path.emplace_back(unique ? level_destination_unique : level_destination_name, rule.destination);
    }
    return path;
}

MatchIndexNode* child(MatchIndexNode& node, uint8_t level, std::string_view key) {
    auto& branches = node.branches;
    auto it = std::lower_bound(branches.begin(), branches.end(), level,
                               [](const Branch& b, uint8_t l) { return b.level < l; });
    if (it == branches.end() || it->level != level) it = branches.insert(it, Branch{level, {}});
    auto [pos, added] = it->children.try_emplace(std::string(key));
    if (added) {
        pos->second = std::make_unique<MatchIndexNode>();
        pos->second->parent = &node;
        pos->second->level = level;
        pos->second->key = pos->first;
    }
    return pos->second.get();
}

// Unhooks empty nodes from the leaf upwards; roots stay.
void prune(MatchIndexNode* node) {
    while (node->parent != nullptr && node->rules.empty() && node->branches.empty()) {
        MatchIndexNode* parent = node->parent;
        auto branch = std::find_if(parent->branches.begin(), parent->branches.end(),
                                   [&](const Branch& b) { return b.level == node->level; });
        branch->children.erase(branch->children.find(node->key));  // frees node
        if (branch->children.empty()) parent->branches.erase(branch);
        node = parent;
    }
}

size_t count_nodes(const MatchIndexNode& node) {
    size_t n = 1;
    for (const Branch& b : node.branches)
        for (const auto& [key, child] : b.children) n += count_nodes(*child);
    return n;
}

}  // namespace

MatchIndex::MatchIndex() {
    for (auto& root : roots_) root = std::make_unique<MatchIndexNode>();
}

MatchIndex::~MatchIndex() = default;
MatchIndex::MatchIndex(MatchIndex&&) noexcept = default;
MatchIndex& MatchIndex::operator=(MatchIndex&&) noexcept = default;

MatchIndex::Root MatchIndex::root_of(const MatchRule& rule) {
    if (!rule.destination.empty()) return Root::addressed;
    return rule.eavesdrop ? Root::eavesdrop_any : Root::broadcast_only;
}

void MatchIndex::insert(IndexedRule& entry) {
    MatchIndexNode* node = roots_[static_cast<size_t>(root_of(*entry.rule))].get();
    for (const auto& [level, key] : key_path(*entry.rule)) node = child(*node, level, key);
    entry.leaf = node;
    entry.slot = static_cast<uint32_t>(node->rules.size());
    node->rules.push_back(&entry);
}

void MatchIndex::erase(IndexedRule& entry) {
    MatchIndexNode* leaf = entry.leaf;
    auto& rules = leaf->rules;
    rules[entry.slot] = rules.back();
    rules[entry.slot]->slot = entry.slot;
    rules.pop_back();
    entry.leaf = nullptr;
    prune(leaf);
}

size_t MatchIndex::node_count() const {
    size_t n = 0;
    for (const auto& root : roots_) n += count_nodes(*root);
    return n;
}

}  // namespace jetbus::match
