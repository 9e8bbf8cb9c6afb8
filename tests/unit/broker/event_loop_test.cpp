#include "broker/event_loop.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <doctest/doctest.h>

#include <chrono>
#include <functional>

using jetbus::broker::BusyYield;
using jetbus::broker::run_event_loop;

namespace {
int yields = 0;
bool count_yield() {  // as if another task ran meanwhile
    ++yields;
    return true;
}
bool lonely_yield() {  // as if nobody else wanted the CPU
    ++yields;
    return false;
}
}  // namespace

TEST_CASE("a turn that dispatched one message goes to sleep without yielding") {
    boost::asio::io_context io;
    uint64_t dispatched = 0;
    yields = 0;
    int ran = 0;
    for (int i = 0; i < 5; ++i)
        boost::asio::post(io, [&] {
            ++dispatched;
            ++ran;
        });
    run_event_loop(io, dispatched, BusyYield{.yield = count_yield});
    CHECK(ran == 5);
    CHECK(yields == 0);
}

TEST_CASE("a busy turn yields before sleeping, at most `yields` times, and the loop still ends with its work") {
    boost::asio::io_context io;
    uint64_t dispatched = 0;
    yields = 0;
    boost::asio::steady_timer later(io);
    bool fired = false;
    boost::asio::post(io, [&] {
        dispatched += 30;  // one read that dispatched a batch
        later.expires_after(std::chrono::milliseconds(20));
        later.async_wait([&](const boost::system::error_code&) { fired = true; });
    });
    run_event_loop(io, dispatched, BusyYield{.batch = 2, .yields = 2, .yield = count_yield});
    CHECK(fired);        // the pending timer was still waited for: the loop slept, not spun
    CHECK(yields == 2);  // two polls found nothing, each followed by one yield
}

TEST_CASE("work that comes in while yielding ends the yields: the loop goes back to running handlers") {
    boost::asio::io_context io;
    uint64_t dispatched = 0;
    yields = 0;
    int follow_ups = 0;
    boost::asio::steady_timer later(io);  // outstanding work, as a bus always has
    later.expires_after(std::chrono::milliseconds(20));
    later.async_wait([](const boost::system::error_code&) {});
    boost::asio::post(io, [&] { dispatched += 10; });
    // The first yield makes work appear, as a peer sharing the CPU would by writing.
    static boost::asio::io_context* target = nullptr;
    static int* counter = nullptr;
    target = &io;
    counter = &follow_ups;
    auto yield_then_post = +[]() -> bool {
        ++yields;
        boost::asio::post(*target, [] { ++*counter; });
        return true;
    };
    run_event_loop(io, dispatched, BusyYield{.batch = 2, .yields = 2, .yield = yield_then_post});
    CHECK(yields == 1);
    CHECK(follow_ups == 1);
}

TEST_CASE("a stopped io_context ends the loop") {
    boost::asio::io_context io;
    uint64_t dispatched = 0;
    yields = 0;
    boost::asio::steady_timer never(io);
    never.expires_after(std::chrono::hours(1));
    never.async_wait([](const boost::system::error_code&) {});
    boost::asio::post(io, [&] {
        dispatched += 5;
        io.stop();
    });
    run_event_loop(io, dispatched, BusyYield{.yield = count_yield});
    CHECK(io.stopped());
    CHECK(yields == 0);
}

TEST_CASE("a yield that ran nobody else stops the yields for the next `backoff` busy turns") {
    boost::asio::io_context io;
    uint64_t dispatched = 0;
    yields = 0;
    boost::asio::steady_timer tick(io);
    int turns = 0;
    // Ten busy turns, each a timer expiry 1 ms after the last (so every poll after a turn finds nothing).
    std::function<void()> next = [&] {
        dispatched += 10;
        if (++turns == 10) return;
        tick.expires_after(std::chrono::milliseconds(1));
        tick.async_wait([&](const boost::system::error_code&) { next(); });
    };
    boost::asio::post(io, next);
    run_event_loop(io, dispatched, BusyYield{.batch = 2, .yields = 2, .backoff = 4, .yield = lonely_yield});
    CHECK(turns == 10);
    // Turn 1 yields once and backs off for turns 2-5; turn 6 yields once, backs off for 7-10.
    CHECK(yields == 2);
}
