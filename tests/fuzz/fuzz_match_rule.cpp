// Fuzz target for the match-rule parser (src/match/match_rule.h): parse_match_rule on arbitrary text.
// A rule that parses must print (to_string) as text that parses back to the same rule, as the header
// promises and RemoveMatch relies on, whenever that text is within the 1024-byte limit. A refusal must
// carry a message, since the client sees it as the D-Bus error's text.
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "match/match_rule.h"

using namespace jetbus::match;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto rule = parse_match_rule(text);
    if (!rule) {
        FUZZ_CHECK(!rule.error().message.empty(), "a refused rule says why");
        if (size > max_match_rule_length)
            FUZZ_CHECK(rule.error().kind == MatchRuleErrorKind::too_long, "over-long rules are LimitsExceeded");
        return 0;
    }
    FUZZ_CHECK(size <= max_match_rule_length, "over-long rules are refused");
    FUZZ_CHECK(rule->args.size() <= max_match_rule_arg + 1, "argument numbers stop at 63");
    FUZZ_CHECK(rule->args.empty() || rule->args.back().kind != ArgKind::none, "args has no trailing none");
    const std::string canonical = to_string(*rule);
    if (canonical.size() > max_match_rule_length) return 0;
    auto again = parse_match_rule(canonical);
    if (!again) std::fprintf(stderr, "canonical text refused: %s\n", again.error().message.c_str());
    FUZZ_CHECK(again.has_value(), "the canonical text of a rule parses");
    FUZZ_CHECK(*again == *rule, "the canonical text parses to the same rule");
    FUZZ_CHECK(to_string(*again) == canonical, "canonical text is stable");
    return 0;
}
