// RingQueue: a FIFO in one array that keeps its capacity, for the queues every message passes through
// (a connection's output, the reply deadlines). std::deque allocates and frees a block every few dozen
// elements as a queue moves; this allocates only when the queue grows past anything it held before, and
// gives memory back only once a burst has drained (empty, and far larger than it needs to be).
#pragma once

#include <cstddef>
#include <memory>
#include <utility>

namespace jetbus::broker {

template <class T>
class RingQueue {
public:
    RingQueue() = default;
    RingQueue(const RingQueue&) = delete;
    RingQueue& operator=(const RingQueue&) = delete;
    ~RingQueue() { clear(); }

    bool empty() const { return size_ == 0; }
    size_t size() const { return size_; }
    size_t capacity() const { return capacity_; }

    T& front() { return slot(0); }
    const T& front() const { return slot(0); }
    T& operator[](size_t i) { return slot(i); }
    const T& operator[](size_t i) const { return slot(i); }

    void push_back(T value) {
        if (size_ == capacity_) grow();
        new (&slot(size_)) T(std::move(value));
        ++size_;
    }

    void pop_front() {
        slot(0).~T();
        head_ = (head_ + 1) & (capacity_ - 1);
        if (--size_ == 0) after_drain();
    }

    void clear() {
        while (size_ > 0) pop_front();
    }

    // Forward iteration from the front, for gather writes.
    class const_iterator {
    public:
        const_iterator(const RingQueue* q, size_t i) : q_(q), i_(i) {}
        const T& operator*() const { return (*q_)[i_]; }
        const_iterator& operator++() {
            ++i_;
            return *this;
        }
        bool operator!=(const const_iterator& o) const { return i_ != o.i_; }

    private:
        const RingQueue* q_;
        size_t i_;
    };
    const_iterator begin() const { return {this, 0}; }
    const_iterator end() const { return {this, size_}; }

private:
    static constexpr size_t initial_capacity = 16;
    static constexpr size_t keep_capacity = 1024;  // kept after draining; above it, memory goes back

    T& slot(size_t i) { return reinterpret_cast<T*>(storage_.get())[(head_ + i) & (capacity_ - 1)]; }
    const T& slot(size_t i) const {
        return reinterpret_cast<const T*>(storage_.get())[(head_ + i) & (capacity_ - 1)];
    }

    void grow() {
        const size_t capacity = capacity_ ? capacity_ * 2 : initial_capacity;  // stays a power of two
        auto storage = std::make_unique<std::byte[]>(capacity * sizeof(T));
        T* to = reinterpret_cast<T*>(storage.get());
        for (size_t i = 0; i < size_; ++i) {
            new (&to[i]) T(std::move(slot(i)));
            slot(i).~T();
        }
        storage_ = std::move(storage);
        capacity_ = capacity;
        head_ = 0;
    }

    void after_drain() {
        head_ = 0;
        if (capacity_ > keep_capacity) {
            storage_.reset();
            capacity_ = 0;
        }
    }

    std::unique_ptr<std::byte[]> storage_;
    size_t capacity_ = 0;
    size_t head_ = 0;
    size_t size_ = 0;
};

}  // namespace jetbus::broker
