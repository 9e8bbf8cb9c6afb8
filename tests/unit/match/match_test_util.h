// Helpers shared by the match unit tests: parse a rule that must be valid, or get the error of one
// that must not be.
#pragma once

#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "match/match_rule.h"

namespace jetbus::match::test {

inline MatchRule rule(std::string_view text) {
    auto parsed = parse_match_rule(text);
    INFO("rule: ", std::string(text));
    REQUIRE(parsed.has_value());
    return *parsed;
}

// The MatchRuleInvalid text of a rule that must be refused.
inline std::string error_of(std::string_view text) {
    auto parsed = parse_match_rule(text);
    INFO("rule: ", std::string(text));
    REQUIRE_FALSE(parsed.has_value());
    CHECK(parsed.error().kind == MatchRuleErrorKind::invalid);
    return parsed.error().message;
}

}  // namespace jetbus::match::test
