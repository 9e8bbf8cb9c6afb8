// StringMap: an unordered_map keyed by std::string that can be searched with a string_view without
// building a std::string (C++20 heterogeneous lookup), so lookups on the message path do not allocate.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace jetbus::broker {

struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

template <class V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

}  // namespace jetbus::broker
