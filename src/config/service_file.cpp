// Reading service files: the key-file grammar dbus-daemon accepts (bus/desktop-file.c's rules, which are
// stricter than the desktop entry spec: keys are [A-Za-z0-9-], only spaces around '=', '#' only in the
// first column), the checks bus activation makes on the result, scanning the service directories, and
// the shell-like splitting of Exec= (the subset of sh quoting dbus-daemon implements, quirks included).
#include "config/service_file.h"

#include "wire/names.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <new>
#include <unordered_set>
#include <utility>

namespace jetbus::config {
namespace {

constexpr std::string_view kServiceGroup = "D-BUS Service";
constexpr std::string_view kServiceSuffix = ".service";
constexpr std::string_view kBusDriverName = "org.freedesktop.DBus";

// ---- The key file ----

struct KeyFileEntry {
    std::string key;
    std::string value;
};

struct KeyFileGroup {
    std::string name;
    std::vector<KeyFileEntry> entries;
};

bool is_key_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

// Group names: printable ASCII without brackets (the desktop entry spec; a space is allowed).
bool is_valid_group_name(std::string_view name) {
    return std::all_of(name.begin(), name.end(), [](char c) {
        auto b = static_cast<unsigned char>(c);
        return b > 0x1f && b < 0x7f && c != '[' && c != ']';
    });
}

// Value escapes: \s \t \n \r \\ and nothing else.
std::optional<std::string> unescape_value(std::string_view raw, std::string_view& problem) {
    std::string value;
    for (std::size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] != '\\') {
            value += raw[i];
            continue;
        }
        if (++i == raw.size()) {
            problem = "Text to be unescaped ended in \\";
            return std::nullopt;
        }
        switch (raw[i]) {
            case 's': value += ' '; break;
            case 't': value += '\t'; break;
            case 'n': value += '\n'; break;
            case 'r': value += '\r'; break;
            case '\\': value += '\\'; break;
            default: problem = "Text to be unescaped had invalid escape sequence"; return std::nullopt;
        }
    }
    return value;
}

// One pass over the text, line by line. A line ends at "\n", "\r\n" or a lone "\r".
class KeyFileParser {
public:
    explicit KeyFileParser(std::string_view text) : text_(text) {}

    std::optional<std::vector<KeyFileGroup>> parse(std::string& error) {
        while (pos_ < text_.size()) {
            bool ok = true;
            if (text_[pos_] == '[') {
                ok = parse_group_header(error);
            } else if (text_[pos_] == '#' || is_blank_line()) {
                next_line();
            } else if (groups_.empty()) {
                error = "invalid service file: key=value before [Section]";
                return std::nullopt;
            } else {
                ok = parse_key_value(error);
            }
            if (!ok) return std::nullopt;
        }
        return std::move(groups_);
    }

private:
    std::size_t line_end() const {
        auto end = text_.find_first_of("\r\n", pos_);
        return end == std::string_view::npos ? text_.size() : end;
    }

    void next_line() {
        auto end = line_end();
        if (end < text_.size()) end += text_.compare(end, 2, "\r\n") == 0 ? 2 : 1;
        pos_ = end;
        ++line_;
    }

    // Blank up to the next '\n' ('\r' and '\f' count as blank, as dbus-daemon counts them).
    bool is_blank_line() const {
        for (auto p = pos_; p < text_.size() && text_[p] != '\n'; ++p)
            if (std::strchr(" \t\r\f", text_[p]) == nullptr) return false;
        return true;
    }

    bool fail(std::string_view message, std::string& error) const {
        error = groups_.empty() ? fmt::format("Error at line {}: {}", line_, message)
                                : fmt::format("Error in section {} at line {}: {}", groups_.back().name, line_, message);
        return false;
    }

    bool parse_group_header(std::string& error) {
        auto end = line_end();
        if (end - pos_ <= 2 || text_[end - 1] != ']') return fail("Invalid syntax for section header", error);
        auto name = text_.substr(pos_ + 1, end - pos_ - 2);
        if (!is_valid_group_name(name)) return fail("Invalid characters in section name", error);
        groups_.push_back({std::string(name), {}});
        next_line();
        return true;
    }

    bool parse_key_value(std::string& error) {
        auto end = line_end();
        auto p = pos_;
        while (p < end && is_key_char(text_[p])) ++p;
        if (p == pos_) return fail("Empty key name", error);
        auto key = text_.substr(pos_, p - pos_);
        if (p < end && text_[p] == '[') {  // a localized key ("Name[de]=..."): ignored
            next_line();
            return true;
        }
        while (p < end && text_[p] == ' ') ++p;
        if (p < end && text_[p] != '=') return fail("Invalid characters in key name", error);
        if (p == end) return fail("No '=' in key/value pair", error);
        ++p;
        while (p < end && text_[p] == ' ') ++p;
        std::string_view problem;
        auto value = unescape_value(text_.substr(p, end - p), problem);
        if (!value) return fail(problem, error);
        groups_.back().entries.push_back({std::string(key), std::move(*value)});
        next_line();
        return true;
    }

    std::string_view text_;
    std::size_t pos_ = 0;
    int line_ = 1;
    std::vector<KeyFileGroup> groups_;
};

// Lookups take the first group of a name and the first entry of a key, later ones are never seen.
const KeyFileGroup* find_group(const std::vector<KeyFileGroup>& groups, std::string_view name) {
    auto it = std::find_if(groups.begin(), groups.end(), [&](const KeyFileGroup& g) { return g.name == name; });
    return it == groups.end() ? nullptr : &*it;
}

const std::string* find_value(const KeyFileGroup* group, std::string_view key) {
    if (group == nullptr) return nullptr;
    for (const auto& entry : group->entries)
        if (entry.key == key) return &entry.value;
    return nullptr;
}

bool check_activatable_name(const std::string& name, std::string& error) {
    if (!wire::is_valid_bus_name(name)) {
        error = fmt::format("Bus name was not valid: '{}'", name);
    } else if (name.front() == ':') {
        error = fmt::format("Bus name \"{}\" cannot be activatable because it starts with ':'", name);
    } else if (name == kBusDriverName) {
        error = fmt::format("Bus name \"{}\" cannot be activatable because it is reserved for the message bus", name);
    } else {
        return true;
    }
    return false;
}

// ---- Directories ----

std::string missing_key(std::string_view key) { return fmt::format("No \"{}\" key in .service file", key); }

std::string errno_text(int err) { return std::strerror(err); }

// The whole file, or nullopt with a reason. Symlinks are followed, as dbus-daemon follows them.
std::optional<std::string> read_service_text(const std::string& path, std::string& error) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        error = fmt::format("Failed to open \"{}\": {}", path, errno_text(errno));
        return std::nullopt;
    }
    struct stat st {};
    std::optional<std::string> text;
    if (::fstat(fd, &st) != 0) {
        error = fmt::format("Failed to stat \"{}\": {}", path, errno_text(errno));
    } else if (!S_ISREG(st.st_mode)) {
        error = fmt::format("\"{}\" is not a regular file", path);
    } else if (static_cast<std::size_t>(st.st_size) > kMaxServiceFileSize) {
        error = fmt::format("Desktop file size ({} bytes) is too large", static_cast<long>(st.st_size));
    } else {
        text.emplace();
        char buffer[4096];
        ssize_t n;
        while ((n = ::read(fd, buffer, sizeof buffer)) > 0 && text->size() <= kMaxServiceFileSize)
            text->append(buffer, static_cast<std::size_t>(n));
        if (n < 0) {
            error = fmt::format("Failed to read \"{}\": {}", path, errno_text(errno));
            text.reset();
        }
    }
    ::close(fd);
    return text;
}

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// The *.service names in a directory, sorted; nullopt when it cannot be read (a reason is added to
// errors unless the directory simply does not exist).
std::optional<std::vector<std::string>> list_service_files(const std::string& dir, std::vector<std::string>& errors) {
    DIR* handle = ::opendir(dir.c_str());
    if (handle == nullptr) {
        if (errno != ENOENT && errno != ENOTDIR)
            errors.push_back(fmt::format("{}: Failed to open directory: {}", dir, errno_text(errno)));
        return std::nullopt;
    }
    std::vector<std::string> names;
    while (const dirent* entry = ::readdir(handle)) {
        std::string_view name = entry->d_name;
        if (name != "." && name != ".." && ends_with(name, kServiceSuffix)) names.emplace_back(name);
    }
    ::closedir(handle);
    std::sort(names.begin(), names.end());
    return names;
}

struct Candidate {
    ServiceFile service;
    bool canonical;  // named NAME.service
};

std::optional<Candidate> load_candidate(const ServiceDir& dir, const std::string& file_name, std::string& error) {
    std::string path = dir.path + "/" + file_name;
    auto text = read_service_text(path, error);
    if (!text) return std::nullopt;
    auto service = parse_service_file(*text, path, error);
    if (!service) return std::nullopt;
    std::string expected = service->name + std::string(kServiceSuffix);
    if (dir.strict_naming && file_name != expected) {
        error = fmt::format("Service file \"{}\" should have been named \"{}\": not loading it", path, expected);
        return std::nullopt;
    }
    return Candidate{std::move(*service), file_name == expected};
}

void scan_one_dir(const ServiceDir& dir, ServiceCatalog& catalog, std::unordered_set<std::string>& taken) {
    auto files = list_service_files(dir.path, catalog.errors);
    if (!files) return;
    std::vector<Candidate> candidates;
    for (const auto& file_name : *files) {
        std::string error;
        if (auto candidate = load_candidate(dir, file_name, error))
            candidates.push_back(std::move(*candidate));
        else
            catalog.errors.push_back(fmt::format("{}/{}: {}", dir.path, file_name, error));
    }
    std::stable_partition(candidates.begin(), candidates.end(), [](const Candidate& c) { return c.canonical; });
    for (auto& candidate : candidates) {
        auto& service = candidate.service;
        if (taken.insert(service.name).second) {
            catalog.services.push_back(std::move(service));
        } else {
            catalog.errors.push_back(
                fmt::format("{}: Service {} already exists in activation entry list", service.path, service.name));
        }
    }
}

// ---- Exec= ----

// Cuts the line into words, keeping quotes and backslashes for unquote_word. Mirrors dbus-daemon: a
// newline always ends a word (even an empty one), the last word is always kept (even empty), and '#'
// outside quotes discards up to and including the next newline.
std::optional<std::vector<std::string>> tokenize_exec(std::string_view line, std::string& error) {
    std::vector<std::string> words;
    std::string word;
    char quote = 0;        // '\\', '#', '\'', '"' while one is open
    bool escaped = false;  // the previous character ends an odd run of backslashes
    for (std::size_t i = 0; i < line.size(); ++i) {
        char c = line[i];
        if (quote == '\\') {
            if (c != '\n') word.append({'\\', c});
            quote = 0;
        } else if (quote == '#') {
            quote = 0;
            i = line.find('\n', i);
            if (i == std::string_view::npos) break;
            c = '\n';
        } else if (quote != 0) {
            if (c == quote && !(quote == '"' && escaped)) quote = 0;
            word += c;
        } else if (c == '\n' || ((c == ' ' || c == '\t') && !word.empty())) {
            words.push_back(std::exchange(word, {}));
        } else if (c == '\'' || c == '"' || c == '#' || c == '\\') {
            if (c == '\'' || c == '"') word += c;
            quote = c;
        } else if (c != ' ' && c != '\t') {
            word += c;
        }
        escaped = c == '\\' && !escaped;
    }
    words.push_back(std::move(word));
    if (quote != 0) {
        error = "Unclosed quotes in command line";
        return std::nullopt;
    }
    return words;
}

// Inside "...": backslash escapes only " \ ` $ and newline; before anything else it stays.
std::size_t unquote_double(std::string_view word, std::size_t i, std::string& out) {
    while (i < word.size() && word[i] != '"') {
        if (word[i] == '\\' && i + 1 < word.size() && std::strchr("\"\\`$\n", word[i + 1]) != nullptr) {
            out += word[i + 1];
            i += 2;
        } else {
            out += word[i++];
        }
    }
    return i + 1;
}

std::string unquote_word(std::string_view word) {
    std::string out;
    std::size_t i = 0;
    while (i < word.size()) {
        char c = word[i];
        if (c == '\\') {  // outside quotes a backslash escapes anything; backslash-newline vanishes
            if (i + 1 < word.size() && word[i + 1] != '\n') out += word[i + 1];
            i += 2;
        } else if (c == '\'') {
            auto close = std::min(word.find('\'', i + 1), word.size());
            out.append(word.substr(i + 1, close - i - 1));
            i = close + 1;
        } else if (c == '"') {
            i = unquote_double(word, i + 1, out);
        } else {
            out += c;
            ++i;
        }
    }
    return out;
}

}  // namespace

std::optional<ServiceFile> parse_service_file(std::string_view text, const std::string& path, std::string& error) {
    if (text.size() > kMaxServiceFileSize) {
        error = fmt::format("Desktop file size ({} bytes) is too large", text.size());
        return std::nullopt;
    }
    if (!wire::is_valid_utf8(text) || text.find('\0') != std::string_view::npos) {
        error = "invalid UTF-8";
        return std::nullopt;
    }
    auto groups = KeyFileParser(text).parse(error);
    if (!groups) return std::nullopt;
    const KeyFileGroup* group = find_group(*groups, kServiceGroup);
    const std::string* name = find_value(group, "Name");
    if (name == nullptr) {
        error = missing_key("Name");
        return std::nullopt;
    }
    if (!check_activatable_name(*name, error)) return std::nullopt;
    const std::string* exec = find_value(group, "Exec");
    if (exec == nullptr) {
        error = missing_key("Exec");
        return std::nullopt;
    }
    auto optional_value = [&](std::string_view key) {
        const std::string* value = find_value(group, key);
        return value ? *value : std::string();
    };
    return ServiceFile{path, *name, *exec, optional_value("User"), optional_value("SystemdService"),
                       optional_value("AssumedAppArmorLabel")};
}

std::vector<ServiceDir> service_dirs_of(const BusConfig& config) {
    std::vector<ServiceDir> dirs;
    dirs.reserve(config.servicedirs.size());
    for (const auto& path : config.servicedirs)
        dirs.push_back({path, !config.runtime_servicedir.empty() && path == config.runtime_servicedir});
    return dirs;
}

ServiceCatalog scan_service_dirs(const std::vector<ServiceDir>& dirs) {
    ServiceCatalog catalog;
    std::unordered_set<std::string> taken;
    try {
        for (const auto& dir : dirs) scan_one_dir(dir, catalog, taken);
    } catch (const std::bad_alloc&) {
        catalog.errors.push_back("out of memory while reading service files");
    }
    return catalog;
}

std::optional<std::vector<std::string>> split_exec(std::string_view exec, std::string& error) {
    auto words = tokenize_exec(exec, error);
    if (!words) return std::nullopt;
    if (words->size() == 1 && words->front().empty()) {
        error = "No tokens found in command line";
        return std::nullopt;
    }
    std::vector<std::string> argv;
    argv.reserve(words->size());
    for (const auto& word : *words) argv.push_back(unquote_word(word));
    if (argv.front().empty()) {
        error = "Empty program name in command line";
        return std::nullopt;
    }
    return argv;
}

}  // namespace jetbus::config
