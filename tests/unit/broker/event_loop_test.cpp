#include "broker/event_loop.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <doctest/doctest.h>

#include <chrono>

using jetbus::broker::BusyYield;
using jetbus::broker::run_event_loop;

namespace {
int yields = 0;
int count_yield() {
    ++yields;
    return 0;
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
    auto yield_then_post = +[]() -> int {
        ++yields;
        boost::asio::post(*target, [] { ++*counter; });
        return 0;
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
