// ScopedLogContext: which connection the lines logged meanwhile are about.
#include <doctest/doctest.h>

#include <string>

#include "logging/log_context.h"

using jetbus::logging::current_log_context;
using jetbus::logging::LogContext;
using jetbus::logging::ScopedLogContext;

TEST_CASE("Outside any scope no line is about a connection") {
    CHECK(current_log_context() == nullptr);
}

TEST_CASE("A scope makes its connection current until it ends") {
    const std::string name = ":1.7";
    {
        const ScopedLogContext scope({7, &name, 1234});
        const LogContext* c = current_log_context();
        REQUIRE(c != nullptr);
        CHECK(c->connection == 7);
        CHECK(*c->unique_name == ":1.7");
        CHECK(c->peer_pid == 1234);
    }
    CHECK(current_log_context() == nullptr);
}

TEST_CASE("An inner scope names its connection and the outer one is current again after it") {
    const std::string sender = ":1.1", receiver = ":1.2";
    const ScopedLogContext outer({1, &sender, 100});
    {
        const ScopedLogContext inner({2, &receiver, 200});
        CHECK(current_log_context()->connection == 2);
        CHECK(current_log_context()->peer_pid == 200);
    }
    CHECK(current_log_context()->connection == 1);
    CHECK(*current_log_context()->unique_name == ":1.1");
}

TEST_CASE("A unique name given during the scope is seen by lines logged after it") {
    std::string name;  // the connection's own string, empty until Hello
    const ScopedLogContext scope({3, &name, 0});
    CHECK(current_log_context()->unique_name->empty());
    name = ":1.3";
    CHECK(*current_log_context()->unique_name == ":1.3");
}

TEST_CASE("The scope keeps its own copy of the context it was given") {
    const std::string name = ":1.4";
    LogContext given{4, &name, 44};
    const ScopedLogContext scope(given);
    given.connection = 99;
    CHECK(current_log_context()->connection == 4);
}
