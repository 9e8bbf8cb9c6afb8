// RingQueue: FIFO order across wrap-around and growth, and capacity kept between uses.
#include <doctest/doctest.h>

#include <memory>

#include "broker/ring_queue.h"

using jetbus::broker::RingQueue;

TEST_CASE("A ring queue hands elements back in the order they came, across wrap-around and growth") {
    RingQueue<std::unique_ptr<int>> q;
    int next_in = 0, next_out = 0;
    for (int round = 0; round < 50; ++round) {
        for (int i = 0; i < round % 37 + 1; ++i) q.push_back(std::make_unique<int>(next_in++));
        for (int i = 0; i < round % 23 && !q.empty(); ++i) {
            CHECK(*q.front() == next_out++);
            q.pop_front();
        }
    }
    int expected = next_out;
    for (const auto& p : q) CHECK(*p == expected++);
    CHECK(expected == next_in);
    CHECK(q.size() == static_cast<size_t>(next_in - next_out));
    q.clear();
    CHECK(q.empty());
}

TEST_CASE("A ring queue keeps a modest capacity when drained and gives a large one back") {
    RingQueue<int> q;
    for (int i = 0; i < 100; ++i) q.push_back(i);
    const size_t used = q.capacity();
    while (!q.empty()) q.pop_front();
    CHECK(q.capacity() == used);
    for (int i = 0; i < 5000; ++i) q.push_back(i);
    CHECK(q.capacity() >= 5000);
    while (!q.empty()) q.pop_front();
    CHECK(q.capacity() == 0);
}
