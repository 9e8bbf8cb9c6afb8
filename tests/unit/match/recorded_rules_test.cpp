// Replays rules recorded against dbus-daemon 1.14.10 (generated rules plus edge cases, each sent
// with AddMatch): jetbus must accept the same ones, with the same canonical text, and refuse the
// rest with the same error name and text.
#include <doctest/doctest.h>

#include <fstream>
#include <string>

#include "match/match_rule.h"

using namespace jetbus::match;

namespace {

std::string escape_newlines(const std::string& s) {
    std::string out;
    for (char c : s) out += c == '\n' ? std::string("\\n") : std::string(1, c);
    return out;
}

std::string reply_of(const std::string& text) {
    auto parsed = parse_match_rule(text);
    if (parsed) return "OK " + to_string(*parsed);
    const char* name = parsed.error().kind == MatchRuleErrorKind::too_long
                           ? "org.freedesktop.DBus.Error.LimitsExceeded"
                           : "org.freedesktop.DBus.Error.MatchRuleInvalid";
    return std::string("ERR ") + name + ": " + escape_newlines(parsed.error().message);
}

}  // namespace

TEST_CASE("every recorded rule gets dbus-daemon's answer") {
    std::ifstream in(JETBUS_MATCH_RECORDED_RULES);
    REQUIRE(in.good());
    std::string rule_text, expected;
    while (std::getline(in, rule_text) && rule_text.starts_with("# ")) {
    }
    size_t count = 0;
    do {
        REQUIRE(std::getline(in, expected));
        INFO("rule: [", rule_text, "]");
        CHECK(reply_of(rule_text) == expected);
        ++count;
    } while (std::getline(in, rule_text));
    CHECK(count > 250);
}
