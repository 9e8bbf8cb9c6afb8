// Expected<T, E>: a value or an error, for the data path where errors are values, not exceptions.
// A small stand-in for C++23 std::expected (g++ 12 in C++20 mode does not have it).
#pragma once

#include <cassert>
#include <type_traits>
#include <utility>
#include <variant>

namespace jetbus {

template <class E>
struct Unexpected {
    E error;
};

template <class E>
Unexpected<E> unexpected(E e) { return Unexpected<E>{std::move(e)}; }

template <class T, class E>
class [[nodiscard]] Expected {
public:
    Expected(T value) : v_(std::in_place_index<0>, std::move(value)) {}
    Expected(Unexpected<E> e) : v_(std::in_place_index<1>, std::move(e.error)) {}

    bool has_value() const { return v_.index() == 0; }
    explicit operator bool() const { return has_value(); }
    T& value() { assert(has_value()); return std::get<0>(v_); }
    const T& value() const { assert(has_value()); return std::get<0>(v_); }
    T& operator*() { return value(); }
    const T& operator*() const { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    const E& error() const { assert(!has_value()); return std::get<1>(v_); }

private:
    std::variant<T, E> v_;
};

template <class E>
class [[nodiscard]] Expected<void, E> {
public:
    Expected() = default;
    Expected(Unexpected<E> e) : ok_(false), e_(std::move(e.error)) {}
    bool has_value() const { return ok_; }
    explicit operator bool() const { return ok_; }
    const E& error() const { assert(!ok_); return e_; }

private:
    bool ok_ = true;
    E e_{};
};

}  // namespace jetbus
