// Routing one message through the match index: from each root that can hold matching rules,
// follow only the children whose key the message has (one hash lookup per key kind present at a
// node, a few for path_namespace and arg0namespace prefixes), confirm the rules met on the way
// with matches(), and list each owner once. Nothing here allocates (but the caller's out may grow).
#include "match/match_index.h"
#include "match/match_index_node.h"

namespace jetbus::match {

namespace {

class Walk {
public:
    Walk(const MatchInput& m, bool include_eavesdrop, uint64_t stamp, std::vector<MatchOwner>& out)
        : m_(m), eavesdrop_(include_eavesdrop), stamp_(stamp), out_(out) {}

    void node(const MatchIndexNode& n) const {
        for (IndexedRule* rule : n.rules) confirm(*rule);
        for (const Branch& b : n.branches) branch(b);
    }

private:
    void confirm(const IndexedRule& rule) const {
        if (rule.owner->stamp == stamp_) return;  // listed already: skip its other rules
        if (!matches(*rule.rule, m_, eavesdrop_)) return;
        rule.owner->stamp = stamp_;
        out_.push_back(rule.owner->id);
    }

    void lookup(const NodeMap& children, std::string_view key) const {
        auto it = children.find(key);
        if (it != children.end()) node(*it->second);
    }

    void branch(const Branch& b) const {
        const NodeMap& c = b.children;
        switch (b.level) {
        case level_type: return lookup(c, {reinterpret_cast<const char*>(&m_.type), 1});
        case level_sender_unique: return lookup(c, m_.sender);
        case level_interface: return lookup(c, m_.interface);
        case level_member: return lookup(c, m_.member);
        case level_path: return lookup(c, m_.path);
        case level_path_namespace: return path_prefixes(c);
        case level_arg0_namespace: return arg0_prefixes(c);
        case level_sender_name: return sender_names(c);
        case level_destination_unique: return unique_destinations(c);
        case level_destination_name: return destinations(c);
        default: return arg_string(c, b.level - level_arg_string);
        }
    }

    // path_namespace='/' holds every path; a longer one holds itself and the paths below it.
    void path_prefixes(const NodeMap& c) const {
        std::string_view path = m_.path;
        if (path.empty()) return;
        lookup(c, path.substr(0, 1));
        for (size_t i = 2; i <= path.size(); ++i)
            if (i == path.size() || path[i] == '/') lookup(c, path.substr(0, i));
    }

    // arg0namespace='a.b' holds the string "a.b" and the names below it, "a.b.c".
    void arg0_prefixes(const NodeMap& c) const {
        if (m_.args.empty() || m_.args[0].type != 's') return;
        std::string_view arg = m_.args[0].value;
        for (size_t i = 0; i < arg.size(); ++i)
            if (arg[i] == '.') lookup(c, arg.substr(0, i));
        lookup(c, arg);
    }

    void arg_string(const NodeMap& c, size_t n) const {
        if (n < m_.args.size() && m_.args[n].type == 's') lookup(c, m_.args[n].value);
    }

    // A well-known sender name matches by ownership. Given the sender's names, look them up;
    // otherwise only the callback knows: ask once per distinct name at this node (the level sits
    // below every hashed key, so few names reach it).
    void sender_names(const NodeMap& c) const {
        if (m_.sender_owns == nullptr) return lookup(c, m_.sender);
        if (m_.sender_names_known) {
            lookup(c, m_.sender);  // the bus's own name, sent as the sender
            for (const std::string& name : m_.sender_names)
                if (name != m_.sender) lookup(c, name);
            return;
        }
        for (const auto& [name, child] : c)
            if (name == m_.sender || m_.sender_owns(m_.ctx, name)) node(*child);
    }

    // A unique name is owned by its connection alone: a message addressed to ':1.5' goes to the
    // owner of ':1.5' and nobody else, so equality finds every match. Addressed to a well-known
    // name, only the callback knows whose unique name it is.
    void unique_destinations(const NodeMap& c) const {
        if (m_.destination.starts_with(':')) return lookup(c, m_.destination);
        destinations(c);
    }

    void destinations(const NodeMap& c) const {
        if (m_.destination.empty()) return;
        if (m_.recipient_owns == nullptr) return lookup(c, m_.destination);
        for (const auto& [name, child] : c)
            if (name == m_.destination || m_.recipient_owns(m_.ctx, name)) node(*child);
    }

    const MatchInput& m_;
    bool eavesdrop_;
    uint64_t stamp_;
    std::vector<MatchOwner>& out_;
};

}  // namespace

void MatchIndex::collect(const MatchInput& message, bool include_eavesdrop, uint64_t stamp,
                         std::vector<MatchOwner>& out) const {
    Walk walk(message, include_eavesdrop, stamp, out);
    if (message.destination.empty()) {
        walk.node(root(Root::broadcast_only));
        walk.node(root(Root::eavesdrop_any));
        return;
    }
    walk.node(root(Root::addressed));
    if (include_eavesdrop) walk.node(root(Root::eavesdrop_any));
}

}  // namespace jetbus::match
