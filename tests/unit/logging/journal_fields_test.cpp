// journal_fields: the fields of one journal entry, built without a journal.
#include <doctest/doctest.h>

#include <syslog.h>

#include <string>
#include <vector>

#include "logging/journal_sink.h"

using jetbus::logging::journal_fields;
using jetbus::logging::journal_priority;
using jetbus::logging::LogContext;
using Fields = std::vector<std::string>;

TEST_CASE("A line about no connection has the message, its priority and the jetbus identifier") {
    CHECK(journal_fields("bus started", spdlog::level::info, nullptr) ==
          Fields{"MESSAGE=bus started", "PRIORITY=6", "SYSLOG_IDENTIFIER=jetbus"});
}

TEST_CASE("A line about a connection names its id, unique name and peer pid") {
    const std::string name = ":1.42";
    const LogContext context{42, &name, 4242};
    CHECK(journal_fields("disconnected", spdlog::level::warn, &context) ==
          Fields{"MESSAGE=disconnected", "PRIORITY=4", "SYSLOG_IDENTIFIER=jetbus", "JETBUS_CONNECTION=42",
                 "JETBUS_UNIQUE_NAME=:1.42", "JETBUS_PEER_PID=4242"});
}

TEST_CASE("A connection that has not said Hello yet is named by its id and pid only") {
    const std::string no_name;
    const LogContext context{5, &no_name, 77};
    CHECK(journal_fields("authentication failed", spdlog::level::debug, &context) ==
          Fields{"MESSAGE=authentication failed", "PRIORITY=7", "SYSLOG_IDENTIFIER=jetbus", "JETBUS_CONNECTION=5",
                 "JETBUS_PEER_PID=77"});
}

TEST_CASE("A peer whose pid is unknown gets no JETBUS_PEER_PID field") {
    const std::string name = ":1.9";
    const LogContext context{9, &name, 0};
    const Fields f = journal_fields("x", spdlog::level::info, &context);
    CHECK(f.back() == "JETBUS_UNIQUE_NAME=:1.9");
    CHECK(f.size() == 5);
}

TEST_CASE("A multi-line message is one MESSAGE field, newlines kept") {
    const Fields f = journal_fields("line one\nline two", spdlog::level::err, nullptr);
    CHECK(f[0] == "MESSAGE=line one\nline two");
    CHECK(f[1] == "PRIORITY=3");
}

TEST_CASE("spdlog levels map onto syslog priorities") {
    CHECK(journal_priority(spdlog::level::trace) == LOG_DEBUG);
    CHECK(journal_priority(spdlog::level::debug) == LOG_DEBUG);
    CHECK(journal_priority(spdlog::level::info) == LOG_INFO);
    CHECK(journal_priority(spdlog::level::warn) == LOG_WARNING);
    CHECK(journal_priority(spdlog::level::err) == LOG_ERR);
    CHECK(journal_priority(spdlog::level::critical) == LOG_CRIT);
}
