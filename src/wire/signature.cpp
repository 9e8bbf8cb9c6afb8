// The signature grammar: a recursive-descent check of complete types with the spec's nesting limits.
// Recursion is bounded by those limits (at most 64 nested containers), so no heap and no explicit stack.
#include "wire/signature.h"

#include <algorithm>

#include "wire/protocol.h"

namespace jetbus::wire {

bool is_basic_type(char c) {
    switch (c) {
    case 'y': case 'b': case 'n': case 'q': case 'i': case 'u': case 'x': case 't':
    case 'd': case 's': case 'o': case 'g': case 'h':
        return true;
    default:
        return false;
    }
}

size_t alignment_of(char c) {
    switch (c) {
    case 'n': case 'q':
        return 2;
    case 'b': case 'i': case 'u': case 'h': case 's': case 'o': case 'a':
        return 4;
    case 'x': case 't': case 'd': case '(': case '{': case 'r': case 'e':
        return 8;
    default:  // y, g, v
        return 1;
    }
}

namespace {

// Walks complete types from p, tracking the current and deepest nesting.
class Parser {
public:
    Parser(std::string_view s) : p_(s.data()), end_(s.data() + s.size()) {}

    WireError complete_type() {
        if (p_ == end_) return WireError::bad_signature;
        char c = *p_++;
        if (is_basic_type(c) || c == 'v') return WireError::none;
        if (c == 'a') return array();
        if (c == '(') return structure();
        return WireError::bad_signature;  // ')', '{' outside an array, '}', reserved codes, NUL, ...
    }

    const char* position() const { return p_; }
    bool done() const { return p_ == end_; }
    const SignatureDepth& deepest() const { return deepest_; }

private:
    WireError array() {
        if (++cur_.arrays > max_array_depth) return WireError::nesting_too_deep;
        if (WireError e = enter(); e != WireError::none) return e;
        WireError e = (p_ != end_ && *p_ == '{') ? dict_entry() : complete_type();
        --cur_.arrays;
        --cur_.total;
        return e;
    }

    WireError structure() {
        if (++cur_.structs > max_struct_depth) return WireError::nesting_too_deep;
        if (WireError e = enter(); e != WireError::none) return e;
        if (p_ != end_ && *p_ == ')') return WireError::bad_signature;  // empty structs are not allowed
        while (p_ != end_ && *p_ != ')') {
            if (WireError e = complete_type(); e != WireError::none) return e;
        }
        if (p_ == end_) return WireError::bad_signature;  // unclosed
        ++p_;
        --cur_.structs;
        --cur_.total;
        return WireError::none;
    }

    // Only reached right after 'a': exactly two types inside, the first basic.
    WireError dict_entry() {
        ++p_;  // '{'
        if (WireError e = enter(); e != WireError::none) return e;
        if (p_ == end_ || !is_basic_type(*p_)) return WireError::bad_signature;
        ++p_;
        if (WireError e = complete_type(); e != WireError::none) return e;
        if (p_ == end_ || *p_ != '}') return WireError::bad_signature;
        ++p_;
        --cur_.total;
        return WireError::none;
    }

    // Counts one more container in the total and records the deepest point.
    WireError enter() {
        if (++cur_.total > max_total_depth) return WireError::nesting_too_deep;
        deepest_.arrays = std::max(deepest_.arrays, cur_.arrays);
        deepest_.structs = std::max(deepest_.structs, cur_.structs);
        deepest_.total = std::max(deepest_.total, cur_.total);
        return WireError::none;
    }

    const char* p_;
    const char* end_;
    SignatureDepth cur_;
    SignatureDepth deepest_;
};

}  // namespace

WireError check_signature(std::string_view s, SignatureDepth& depth) {
    if (s.size() > max_signature_length) return WireError::bad_signature;
    Parser parser(s);
    while (!parser.done()) {
        if (WireError e = parser.complete_type(); e != WireError::none) return e;
    }
    depth = parser.deepest();
    return WireError::none;
}

WireError check_signature(std::string_view s) {
    SignatureDepth unused;
    return check_signature(s, unused);
}

bool is_valid_signature(std::string_view s) {
    return check_signature(s) == WireError::none;
}

size_t complete_type_length(std::string_view s) {
    Parser parser(s);
    if (parser.complete_type() != WireError::none) return 0;
    return static_cast<size_t>(parser.position() - s.data());
}

bool is_single_complete_type(std::string_view s) {
    return !s.empty() && s.size() <= max_signature_length && complete_type_length(s) == s.size();
}

}  // namespace jetbus::wire
