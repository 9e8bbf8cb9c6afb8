// The signature grammar (spec: "Type System", "Valid Signatures").
#pragma once

#include <cstddef>
#include <string_view>

#include "wire/wire_error.h"

namespace jetbus::wire {

// A whole signature: zero or more complete types, at most 255 bytes, nesting within the spec's limits.
bool is_valid_signature(std::string_view s);
WireError check_signature(std::string_view s);

// A single complete type (what a VARIANT carries).
bool is_single_complete_type(std::string_view s);

// Length in bytes of the complete type starting at s[0], or 0 if s does not start with one.
size_t complete_type_length(std::string_view s);

// Alignment on the wire of a value whose type code is c (1, 2, 4 or 8).
size_t alignment_of(char type_code);

// The deepest container nesting inside a signature: arrays, structs, and all containers together
// (dict entries count only in the total). A variant's contents add to the depth around the variant.
struct SignatureDepth {
    unsigned arrays = 0;
    unsigned structs = 0;
    unsigned total = 0;
};

// check_signature that also reports the signature's deepest nesting (filled only on success).
WireError check_signature(std::string_view s, SignatureDepth& depth);

// True for the basic type codes (the only ones allowed as dict-entry keys).
bool is_basic_type(char type_code);

}  // namespace jetbus::wire
