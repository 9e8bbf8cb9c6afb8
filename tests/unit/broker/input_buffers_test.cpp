// InputBuffers: buffers come back for the next reader, most recent first, and at most max_spare stay.
#include <doctest/doctest.h>

#include <vector>

#include "broker/input_buffers.h"

using jetbus::broker::InputBuffers;

TEST_CASE("a buffer given back is the next one taken") {
    InputBuffers pool;
    InputBuffers::Buffer a = pool.take();
    const uint8_t* where = a.get();
    pool.give(std::move(a));
    CHECK(pool.spare() == 1);
    InputBuffers::Buffer b = pool.take();
    CHECK(b.get() == where);
    CHECK(pool.spare() == 0);
}

TEST_CASE("at most max_spare buffers are kept; the rest are freed") {
    InputBuffers pool;
    std::vector<InputBuffers::Buffer> lent;
    for (size_t i = 0; i < InputBuffers::max_spare + 10; ++i) lent.push_back(pool.take());
    for (auto& b : lent) pool.give(std::move(b));
    CHECK(pool.spare() == InputBuffers::max_spare);
}

TEST_CASE("every buffer has room for a whole read") {
    InputBuffers pool;
    InputBuffers::Buffer b = pool.take();
    b[InputBuffers::buffer_size - 1] = 0x5a;  // ASan would flag a short buffer
    CHECK(b[InputBuffers::buffer_size - 1] == 0x5a);
}
