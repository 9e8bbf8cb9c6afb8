// Match rule parser, a faithful reading of dbus-daemon 1.14 bus/signals.c (bus_match_rule_parse):
// the text is first cut into at most 16 key=value tokens (quoting resolved), then each token is
// checked and applied in order. Doing it in these two passes keeps dbus-daemon's error precedence
// (an unbalanced quote anywhere is reported before a bad value earlier in the rule).
#include "match/match_rule.h"

#include <cerrno>
#include <cstdlib>

#include "wire/names.h"

namespace jetbus::match {

namespace {

struct Token {
    std::string key;
    std::string value;
};

struct KeyScan {
    std::string_view key;  // empty: nothing here (end of text, or a stray '=')
    size_t value_pos = 0;
};

Unexpected<MatchRuleError> invalid(std::string message) {
    return unexpected(MatchRuleError{MatchRuleErrorKind::invalid, std::move(message)});
}

// dbus-daemon's ISWHITE: only these four separate keys; other bytes are part of a key or value.
constexpr bool is_white(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

constexpr bool is_bus_name_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

constexpr bool is_initial_bus_name_char(char c) { return is_bus_name_char(c) && !(c >= '0' && c <= '9'); }

// libdbus _dbus_validate_bus_name_full. dbus-daemon accepts ":" and ":1" as unique names in rules
// and namespaces without a '.', so the spec-strict wire validator would refuse rules it accepts.
bool unique_name_ok(std::string_view s) {
    for (size_t i = 1; i < s.size(); ++i) {
        if (s[i] == '.') {
            if (i + 1 == s.size() || !is_bus_name_char(s[i + 1])) return false;
            ++i;
        } else if (!is_bus_name_char(s[i])) {
            return false;
        }
    }
    return true;
}

bool bus_name_ok(std::string_view s, bool is_namespace) {
    if (s.empty() || s.size() > wire::max_name_length) return false;
    if (s[0] == ':') return unique_name_ok(s);
    if (!is_initial_bus_name_char(s[0])) return false;
    bool has_dot = false;
    for (size_t i = 1; i < s.size(); ++i) {
        if (s[i] == '.') {
            if (i + 1 == s.size() || !is_initial_bus_name_char(s[i + 1])) return false;
            has_dot = true;
            ++i;
        } else if (!is_bus_name_char(s[i])) {
            return false;
        }
    }
    return has_dot || is_namespace;
}

// bus/signals.c find_key: whitespace may surround the key and the '='.
Expected<KeyScan, MatchRuleError> find_key(std::string_view text, size_t pos) {
    while (pos < text.size() && is_white(text[pos])) ++pos;
    size_t key_start = pos;
    while (pos < text.size() && text[pos] != '=' && !is_white(text[pos])) ++pos;
    size_t key_end = pos;
    while (pos < text.size() && is_white(text[pos])) ++pos;
    if (key_start == key_end) return KeyScan{{}, pos};  // does not step over a stray '=' (dbus-daemon neither)
    if (pos == text.size() || text[pos] != '=')
        return invalid("Match rule has a key with no subsequent '=' character");
    return KeyScan{text.substr(key_start, key_end - key_start), pos + 1};
}

// bus/signals.c find_value: '...' quotes anything but an apostrophe; outside quotes \' is an
// apostrophe and any other backslash is itself. The value runs to an unquoted ',' or the end,
// whitespace included. Returns the position after the value (and its comma).
Expected<size_t, MatchRuleError> find_value(std::string_view text, size_t pos, std::string& value) {
    char quote = '\0';
    for (; pos < text.size(); ++pos) {
        char c = text[pos];
        if (quote == '\'') {
            if (c == '\'') quote = '\0';
            else value += c;
        } else if (quote == '\\') {
            if (c != '\'') value += '\\';
            value += c;
            quote = '\0';
        } else if (c == '\'' || c == '\\') {
            quote = c;
        } else if (c == ',') {
            return pos + 1;
        } else {
            value += c;
        }
    }
    if (quote == '\\') value += '\\';
    if (quote == '\'') return invalid("Unbalanced quotation marks in match rule");
    return pos;
}

// bus/signals.c tokenize_rule: an empty key still uses up one of the 16 token slots.
Expected<std::vector<Token>, MatchRuleError> tokenize(std::string_view text) {
    std::vector<Token> tokens;
    size_t pos = 0;
    for (size_t slot = 0; slot < max_match_rule_tokens && pos < text.size(); ++slot) {
        auto key = find_key(text, pos);
        if (!key) return unexpected(key.error());
        pos = key->value_pos;
        if (key->key.empty()) continue;
        Token token{std::string(key->key), {}};
        auto end = find_value(text, pos, token.value);
        if (!end) return unexpected(end.error());
        pos = *end;
        tokens.push_back(std::move(token));
    }
    return tokens;
}

wire::MessageType message_type_from_string(std::string_view s) {
    if (s == "method_call") return wire::MessageType::method_call;
    if (s == "method_return") return wire::MessageType::method_return;
    if (s == "signal") return wire::MessageType::signal;
    if (s == "error") return wire::MessageType::error;
    return wire::MessageType::invalid;
}

std::string twice(const std::string& key) { return "Key " + key + " specified twice in match rule\n"; }

using Applied = Expected<void, MatchRuleError>;

Applied apply_type(MatchRule& rule, const Token& t) {
    if (rule.type != wire::MessageType::invalid) return invalid(twice(t.key));
    rule.type = message_type_from_string(t.value);
    if (rule.type == wire::MessageType::invalid)
        return invalid("Invalid message type (" + t.value + ") in match rule\n");
    return {};
}

// sender, interface, member, destination: a string that must pass a name check, once.
Applied apply_name(std::string& field, const Token& t, bool valid, const char* what) {
    if (!field.empty()) return invalid(twice(t.key));
    if (!valid) return invalid(std::string(what) + " name '" + t.value + "' is invalid\n");
    field = t.value;
    return {};
}

Applied apply_path(MatchRule& rule, const Token& t, PathKind kind) {
    if (rule.path_kind != PathKind::none)
        return invalid("path or path_namespace specified twice in match rule\n");
    if (!wire::is_valid_object_path(t.value)) return invalid("Path '" + t.value + "' is invalid\n");
    rule.path = t.value;
    rule.path_kind = kind;
    return {};
}

// eavesdrop may repeat; the last one wins (dbus-monitor appends eavesdrop='true' to user rules).
Applied apply_eavesdrop(MatchRule& rule, const Token& t) {
    if (t.value != "true" && t.value != "false")
        return invalid("eavesdrop='" + t.value + "' is invalid, it should be 'true' or 'false'\n");
    rule.eavesdrop = t.value == "true";
    return {};
}

// The argument number as dbus-daemon reads it: strtoul with base 0 (so arg0x1 is arg1, arg010 is
// arg8, arg-1 wraps to ULONG_MAX). The key is NUL-terminated as a std::string.
bool parse_arg_number(const std::string& key, unsigned long& number, size_t& end) {
    const char* start = key.c_str() + 3;
    char* stop = nullptr;
    errno = 0;
    number = std::strtoul(start, &stop, 0);
    if (stop == nullptr || stop == start || errno != 0) return false;
    end = static_cast<size_t>(stop - key.c_str());
    return true;
}

// bus/signals.c bus_match_rule_parse_arg_match: argN, argNpath, arg0namespace.
Expected<ArgKind, MatchRuleError> arg_kind(const Token& t, unsigned long number, size_t end) {
    const std::string& key = t.key;
    if (end == key.size()) return ArgKind::string;
    if (end + 4 == key.size() && key.ends_with("path")) return ArgKind::path;
    if (key == "arg0namespace") {
        if (!bus_name_ok(t.value, true))
            return invalid("arg0namespace='" + t.value + "' is not a valid prefix of a bus name");
        return ArgKind::namespace_prefix;
    }
    std::string n = std::to_string(static_cast<unsigned>(number));  // dbus-daemon prints it with %u
    return invalid("Key '" + key + "' in match rule contains junk after argument number (" + n +
                   "). Only 'arg" + n + "path' (for example) or 'arg0namespace' are valid");
}

Applied apply_arg(MatchRule& rule, const Token& t) {
    const std::string& key = t.key;
    if (key.size() < 4)
        return invalid("Key '" + key + "' in match rule starts with 'arg' but lacks an arg number. "
                       "Should be 'arg0' or 'arg7' for example.\n");
    unsigned long number = 0;
    size_t end = 0;
    if (!parse_arg_number(key, number, end))
        return invalid("Key '" + key + "' in match rule starts with 'arg' but could not parse arg number. "
                       "Should be 'arg0' or 'arg7' for example.\n");
    auto kind = arg_kind(t, number, end);
    if (!kind) return unexpected(kind.error());
    if (number > max_match_rule_arg)
        return invalid("Key '" + key + "' in match rule has arg number " + std::to_string(number) +
                       " but the maximum is " + std::to_string(max_match_rule_arg) + ".\n");
    if (number < rule.args.size() && rule.args[number].kind != ArgKind::none)
        return invalid("Argument " + key + " matched more than once in match rule\n");
    if (number >= rule.args.size()) rule.args.resize(number + 1);
    rule.args[number] = ArgMatch{*kind, t.value};
    return {};
}

Applied apply_token(MatchRule& rule, const Token& t) {
    const std::string& k = t.key;
    const std::string& v = t.value;
    if (k == "type") return apply_type(rule, t);
    if (k == "sender") return apply_name(rule.sender, t, bus_name_ok(v, false), "Sender");
    if (k == "interface") return apply_name(rule.interface, t, wire::is_valid_interface_name(v), "Interface");
    if (k == "member") return apply_name(rule.member, t, wire::is_valid_member_name(v), "Member");
    if (k == "path") return apply_path(rule, t, PathKind::exact);
    if (k == "path_namespace") return apply_path(rule, t, PathKind::namespace_prefix);
    if (k == "destination") return apply_name(rule.destination, t, bus_name_ok(v, false), "Destination");
    if (k == "eavesdrop") return apply_eavesdrop(rule, t);
    if (k.starts_with("arg")) return apply_arg(rule, t);
    return invalid("Unknown key \"" + k + "\" in match rule");
}

const char* message_type_name(wire::MessageType type) {
    switch (type) {
    case wire::MessageType::method_call: return "method_call";
    case wire::MessageType::method_return: return "method_return";
    case wire::MessageType::error: return "error";
    case wire::MessageType::signal: return "signal";
    case wire::MessageType::invalid: break;
    }
    return "";
}

// key='value', with each apostrophe written as '\'' (leave the quotes, escape it, re-enter).
void append_pair(std::string& out, std::string_view key, std::string_view value) {
    if (!out.empty()) out += ',';
    out += key;
    out += "='";
    for (char c : value) {
        if (c == '\'') out += "'\\''";
        else out += c;
    }
    out += '\'';
}

const char* arg_suffix(ArgKind kind) {
    switch (kind) {
    case ArgKind::path: return "path";
    case ArgKind::namespace_prefix: return "namespace";
    case ArgKind::none:
    case ArgKind::string: break;
    }
    return "";
}

}  // namespace

Expected<MatchRule, MatchRuleError> parse_match_rule(std::string_view text) {
    if (text.size() > max_match_rule_length)
        return unexpected(MatchRuleError{MatchRuleErrorKind::too_long,
                                         "Match rule text is " + std::to_string(text.size()) +
                                             " bytes, maximum is " + std::to_string(max_match_rule_length)});
    // dbus-daemon reads the rule as a C string; D-Bus strings never hold NUL, but stop there too.
    text = text.substr(0, text.find('\0'));
    auto tokens = tokenize(text);
    if (!tokens) return unexpected(tokens.error());
    MatchRule rule;
    for (const Token& t : *tokens) {
        auto applied = apply_token(rule, t);
        if (!applied) return unexpected(applied.error());
    }
    return rule;
}

std::string to_string(const MatchRule& rule) {
    std::string out;
    if (rule.type != wire::MessageType::invalid) append_pair(out, "type", message_type_name(rule.type));
    if (!rule.interface.empty()) append_pair(out, "interface", rule.interface);
    if (!rule.member.empty()) append_pair(out, "member", rule.member);
    if (rule.path_kind == PathKind::exact) append_pair(out, "path", rule.path);
    if (rule.path_kind == PathKind::namespace_prefix) append_pair(out, "path_namespace", rule.path);
    if (!rule.sender.empty()) append_pair(out, "sender", rule.sender);
    if (!rule.destination.empty()) append_pair(out, "destination", rule.destination);
    if (rule.eavesdrop) append_pair(out, "eavesdrop", "true");
    for (size_t i = 0; i < rule.args.size(); ++i) {
        if (rule.args[i].kind == ArgKind::none) continue;
        append_pair(out, "arg" + std::to_string(i) + arg_suffix(rule.args[i].kind), rule.args[i].value);
    }
    return out;
}

}  // namespace jetbus::match
