// Loading a busconfig document with expat (the only user of expat in jetbus). One DocumentParser per
// file walks the elements with a stack, as dbus-daemon's config-parser.c does; <include> and
// <includedir> parse the named files into the same BusConfig at that point, so document order is
// kept. Errors inside expat callbacks are stored and rethrown after XML_Parse returns: an exception
// must not unwind through expat's C frames.
#include "config/bus_config.h"

#include "config/parse_support.h"

#include <expat.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <memory>

#include <fcntl.h>
#include <unistd.h>

namespace jetbus::config {
namespace {

using detail::Attributes;
using detail::Reason;
namespace fs = std::filesystem;

// Elements (and element variants) jetbus parses but does not act on yet. Loading one records a
// warning so nothing is dropped silently; remove an entry when the feature lands.
constexpr std::array<std::string_view, 2> kNotYetEnforced{"selinux", "apparmor"};

// Elements whose text is their value; the others must hold only whitespace.
constexpr std::array<std::string_view, 10> kTextElements{
    "include", "user", "type", "listen", "pidfile", "auth", "servicedir", "servicehelper", "includedir", "limit"};

// Elements directly under <busconfig> that take no attributes.
constexpr std::array<std::string_view, 15> kPlainChildren{
    "user", "type", "fork", "syslog", "keep_umask", "pidfile", "listen", "auth", "servicehelper", "includedir",
    "standard_session_servicedirs", "standard_system_servicedirs", "allow_anonymous", "servicedir", "selinux"};

template <std::size_t N>
bool contains(const std::array<std::string_view, N>& list, std::string_view name) {
    return std::find(list.begin(), list.end(), name) != list.end();
}

bool all_whitespace(std::string_view text) { return text.find_first_not_of(" \t\r\n") == std::string_view::npos; }

// Shared by every file of one load: the result and the chain of files being parsed.
struct LoadState {
    BusConfig& config;
    std::vector<std::string> include_stack;  // canonical paths, outermost first
};

void load_document(LoadState& state, const std::string& path, bool ignore_missing);

struct Frame {
    std::string name;
    unsigned long line = 0;
    std::string text;
    bool ignore_missing = false;  // <include>
    bool if_selinux_enabled = false;
    bool selinux_root_relative = false;
    std::string limit_name;  // <limit>
};

void no_attributes(std::string_view element, const Attributes& attributes) {
    if (!attributes.empty())
        throw Reason(fmt::format("Attribute \"{}\" is invalid on <{}> element in this context", attributes[0].first,
                                 element));
}

bool yes_no(const Attributes& attributes, std::string_view name) {
    for (const auto& [key, value] : attributes) {
        if (key != name) continue;
        if (value != "yes" && value != "no")
            throw Reason(fmt::format("{} attribute must have value \"yes\" or \"no\"", name));
        return value == "yes";
    }
    return false;
}

const std::string* find_attribute(const Attributes& attributes, std::string_view name) {
    for (const auto& [key, value] : attributes)
        if (key == name) return &value;
    return nullptr;
}

void only_attributes(std::string_view element, const Attributes& attributes,
                     std::initializer_list<std::string_view> allowed) {
    for (const auto& [key, value] : attributes)
        if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
            throw Reason(fmt::format("Attribute \"{}\" is invalid on <{}> element in this context", key, element));
}

void add_unique(std::vector<std::string>& list, const std::string& item) {
    if (std::find(list.begin(), list.end(), item) == list.end()) list.push_back(item);
}

class DocumentParser {
public:
    DocumentParser(LoadState& state, std::string path) : state_(state), path_(std::move(path)) {
        auto slash = path_.rfind('/');
        basedir_ = slash == std::string::npos ? "." : slash == 0 ? "/" : path_.substr(0, slash);
    }

    void parse(const std::string& text) {
        std::unique_ptr<XML_ParserStruct, decltype(&XML_ParserFree)> parser(XML_ParserCreate(nullptr), XML_ParserFree);
        if (!parser) throw ConfigError(path_ + ": out of memory creating the XML parser");
        parser_ = parser.get();
        XML_SetUserData(parser_, this);
        XML_SetElementHandler(parser_, &DocumentParser::on_start, &DocumentParser::on_end);
        XML_SetCharacterDataHandler(parser_, &DocumentParser::on_text);
        auto status = XML_Parse(parser_, text.data(), static_cast<int>(text.size()), XML_TRUE);
        if (error_) std::rethrow_exception(error_);
        if (status != XML_STATUS_OK)
            throw ConfigError(fmt::format("Error in file {}, line {}, column {}: {}", path_,
                                          XML_GetCurrentLineNumber(parser_), XML_GetCurrentColumnNumber(parser_),
                                          XML_ErrorString(XML_GetErrorCode(parser_))));
    }

private:
    static void XMLCALL on_start(void* self, const XML_Char* name, const XML_Char** atts) {
        auto* p = static_cast<DocumentParser*>(self);
        p->guarded([&] {
            Attributes attributes;
            for (int i = 0; atts[i]; i += 2) attributes.emplace_back(atts[i], atts[i + 1]);
            p->line_ = XML_GetCurrentLineNumber(p->parser_);
            p->start(name, attributes);
        });
    }

    static void XMLCALL on_end(void* self, const XML_Char*) {
        auto* p = static_cast<DocumentParser*>(self);
        p->guarded([&] {
            p->line_ = p->stack_.back().line;
            p->end(p->stack_.back());
            p->stack_.pop_back();
        });
    }

    static void XMLCALL on_text(void* self, const XML_Char* text, int len) {
        auto* p = static_cast<DocumentParser*>(self);
        if (!p->stack_.empty()) p->stack_.back().text.append(text, static_cast<std::size_t>(len));
    }

    // Runs a handler; a refusal is kept (with its location) and expat is stopped.
    template <typename F>
    void guarded(F&& handler) {
        if (error_) return;
        try {
            handler();
        } catch (const Reason& reason) {
            error_ = std::make_exception_ptr(ConfigError(fmt::format("{}: {}", location(), reason.what())));
        } catch (...) {
            error_ = std::current_exception();
        }
        if (error_) XML_StopParser(parser_, XML_FALSE);
    }

    std::string location() const { return fmt::format("{}:{}", path_, line_); }

    void warn(const std::string& text) { state_.config.warnings.push_back(location() + ": " + text); }

    void not_yet_enforced(std::string_view what) {
        if (contains(kNotYetEnforced, what)) warn(fmt::format("<{}> is parsed but not yet enforced", what));
    }

    void warn_all(const std::vector<std::string>& reasons) {
        for (const auto& reason : reasons) warn(reason);
    }

    void start(std::string_view name, const Attributes& attributes) {
        Frame frame;
        frame.name = std::string(name);
        frame.line = line_;
        std::string parent = stack_.empty() ? std::string() : stack_.back().name;
        if (parent.empty())
            start_root(name, attributes);
        else if (parent == "busconfig")
            start_busconfig_child(frame, attributes);
        else if (parent == "policy")
            start_policy_child(name, attributes);
        else if (parent == "selinux")
            start_selinux_child(name, attributes);
        else
            throw Reason(fmt::format("Element <{}> is not allowed in this context", name));
        stack_.push_back(std::move(frame));
    }

    void start_root(std::string_view name, const Attributes& attributes) {
        if (name != "busconfig")
            throw Reason(fmt::format("Unknown element <{}> at root of configuration file", name));
        no_attributes(name, attributes);
    }

    void start_busconfig_child(Frame& frame, const Attributes& attributes) {
        const std::string& name = frame.name;
        auto& config = state_.config;
        if (contains(kPlainChildren, name)) {
            no_attributes(name, attributes);
            start_flag(name);
        } else if (name == "include") {
            only_attributes(name, attributes, {"ignore_missing", "if_selinux_enabled", "selinux_root_relative"});
            frame.ignore_missing = yes_no(attributes, "ignore_missing");
            frame.if_selinux_enabled = yes_no(attributes, "if_selinux_enabled");
            frame.selinux_root_relative = yes_no(attributes, "selinux_root_relative");
        } else if (name == "policy") {
            std::vector<std::string> warnings;
            config.policies.push_back(detail::parse_policy(attributes, warnings));
            config.policies.back().origin = location();
            warn_all(warnings);
        } else if (name == "limit") {
            only_attributes(name, attributes, {"name"});
            const std::string* limit = find_attribute(attributes, "name");
            if (!limit) throw Reason("<limit> element must have a \"name\" attribute");
            frame.limit_name = *limit;
        } else if (name == "apparmor") {
            start_apparmor(attributes);
        } else {
            throw Reason(fmt::format("Element <{}> not allowed inside <busconfig> in configuration file", name));
        }
    }

    // Empty elements take effect where they start.
    void start_flag(const std::string& name) {
        auto& config = state_.config;
        if (name == "fork") config.fork = true;
        if (name == "syslog") config.syslog = true;
        if (name == "keep_umask") config.keep_umask = true;
        if (name == "allow_anonymous") config.allow_anonymous = true;
        if (name == "standard_session_servicedirs") add_standard_session_dirs();
        if (name == "standard_system_servicedirs") add_standard_system_dirs();
        not_yet_enforced(name);
    }

    void add_standard_session_dirs() {
        auto& config = state_.config;
        config.standard_session_servicedirs = true;
        if (const char* runtime = std::getenv("XDG_RUNTIME_DIR"); runtime && *runtime)
            config.runtime_servicedir = std::string(runtime) + "/dbus-1/services";
        for (const auto& dir : standard_session_servicedirs()) add_unique(config.servicedirs, dir);
    }

    void add_standard_system_dirs() {
        state_.config.standard_system_servicedirs = true;
        for (const auto& dir : standard_system_servicedirs()) add_unique(state_.config.servicedirs, dir);
    }

    void start_apparmor(const Attributes& attributes) {
        only_attributes("apparmor", attributes, {"mode"});
        const std::string* mode = find_attribute(attributes, "mode");
        std::string value = mode ? *mode : "enabled";  // dbus-daemon(1): the default mode is "enabled"
        if (value != "required" && value != "enabled" && value != "disabled")
            throw Reason(fmt::format(
                "Mode attribute on <apparmor> must have value \"required\", \"enabled\" or \"disabled\", not \"{}\"",
                value));
        state_.config.apparmor_mode = value;
        if (value != "disabled") not_yet_enforced("apparmor");
    }

    void start_policy_child(std::string_view name, const Attributes& attributes) {
        if (name != "allow" && name != "deny")
            throw Reason(fmt::format("Element <{}> not allowed inside <policy> in configuration file", name));
        Policy& policy = state_.config.policies.back();
        std::vector<std::string> warnings;
        policy.rules.push_back(detail::parse_rule(name, attributes, policy, warnings));
        policy.rules.back().origin = location();
        warn_all(warnings);
    }

    void start_selinux_child(std::string_view name, const Attributes& attributes) {
        if (name != "associate")
            throw Reason(fmt::format("Element <{}> not allowed inside <selinux> in configuration file", name));
        only_attributes(name, attributes, {"own", "context"});
        const std::string* own = find_attribute(attributes, "own");
        const std::string* context = find_attribute(attributes, "context");
        if (!own || !context)
            throw Reason("Element <associate> must have attributes own=\"<servicename>\" and context=\"<selinux "
                         "context>\"");
        state_.config.selinux_associations.push_back({*own, *context});
    }

    void end(const Frame& frame) {
        if (!contains(kTextElements, frame.name)) {
            if (!all_whitespace(frame.text))
                throw Reason(fmt::format("No text content expected inside XML element {} in configuration file",
                                         frame.name));
            return;
        }
        if (frame.text.empty())
            throw Reason(fmt::format("XML element <{}> was expected to have content inside it", frame.name));
        end_text_element(frame);
    }

    // Values are taken verbatim, whitespace included, as dbus-daemon takes them.
    void end_text_element(const Frame& frame) {
        auto& config = state_.config;
        const std::string& name = frame.name;
        const std::string& text = frame.text;
        if (name == "user") config.user = text;
        if (name == "type") config.type = text;
        if (name == "pidfile") config.pidfile = text;
        if (name == "listen") config.listen.push_back(text);
        if (name == "auth") config.auth.push_back(text);
        if (name == "servicedir") add_unique(config.servicedirs, full_path(text));
        if (name == "servicehelper") config.servicehelper = full_path(text);
        if (name == "limit") config.limits[frame.limit_name] = detail::parse_limit(frame.limit_name, text);
        if (name == "include") include_file(frame);
        if (name == "includedir") include_dir(full_path(text));
    }

    std::string full_path(const std::string& name) const { return name[0] == '/' ? name : basedir_ + "/" + name; }

    void include_file(const Frame& frame) {
        if (frame.if_selinux_enabled) {
            // Without SELinux this include does not apply (dbus-daemon skips it too).
            if (detail::selinux_enabled()) warn("<include if_selinux_enabled=\"yes\"> is parsed but not yet enforced");
            return;
        }
        if (frame.selinux_root_relative) throw Reason("Could not determine SELinux policy root for relative inclusion");
        load_document(state_, full_path(frame.text), frame.ignore_missing);
    }

    // Every *.conf in the directory, sorted. As in dbus-daemon, a missing directory is fine and a
    // broken file in it is reported and skipped: one bad package file must not stop the bus.
    void include_dir(const std::string& dir) {
        std::error_code ec;
        fs::directory_iterator it(dir, ec);
        if (ec == std::errc::no_such_file_or_directory) return;
        if (ec) throw Reason(fmt::format("Failed to open directory \"{}\": {}", dir, ec.message()));
        std::vector<std::string> files;
        for (const auto& entry : it)
            if (entry.path().extension() == ".conf") files.push_back(dir + "/" + entry.path().filename().string());
        std::sort(files.begin(), files.end());
        state_.config.included_dirs.push_back(dir);
        for (const auto& file : files) include_dir_file(file);
    }

    void include_dir_file(const std::string& file) {
        BusConfig before = state_.config;
        try {
            load_document(state_, file, true);
        } catch (const std::exception& e) {
            state_.config = std::move(before);
            warn(fmt::format("Encountered error '{}' while parsing '{}'; the file is ignored", e.what(), file));
        }
    }

    LoadState& state_;
    std::string path_;
    std::string basedir_;
    XML_Parser parser_ = nullptr;
    std::vector<Frame> stack_;
    unsigned long line_ = 0;
    std::exception_ptr error_;
};

// Reads a whole file; returns the errno on failure.
int read_file(const std::string& path, std::string& out) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    std::array<char, 8192> buffer;
    ssize_t n;
    while ((n = ::read(fd, buffer.data(), buffer.size())) != 0) {
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int err = errno;
            ::close(fd);
            return err;
        }
        out.append(buffer.data(), static_cast<std::size_t>(n));
    }
    ::close(fd);
    return 0;
}

// Pops the include chain even when the included file throws.
struct IncludeScope {
    std::vector<std::string>& stack;
    IncludeScope(std::vector<std::string>& s, std::string canonical) : stack(s) { stack.push_back(std::move(canonical)); }
    ~IncludeScope() { stack.pop_back(); }
    IncludeScope(const IncludeScope&) = delete;
    IncludeScope& operator=(const IncludeScope&) = delete;
};

void load_document(LoadState& state, const std::string& path, bool ignore_missing) {
    std::string text;
    if (int err = read_file(path, text)) {
        if (err == ENOENT && ignore_missing) return;
        throw Reason(fmt::format("Failed to open \"{}\": {}", path, std::strerror(err)));
    }
    std::error_code ec;
    std::string canonical = fs::weakly_canonical(path, ec).string();
    if (ec) canonical = path;
    auto& stack = state.include_stack;
    if (std::find(stack.begin(), stack.end(), canonical) != stack.end())
        throw Reason(fmt::format("Circular inclusion of file '{}'", path));
    IncludeScope scope(stack, canonical);
    add_unique(state.config.included_files, path);
    DocumentParser(state, path).parse(text);
}

}  // namespace

BusConfig load_bus_config(const std::string& path) {
    BusConfig config;
    config.source_path = path;
    LoadState state{config, {}};
    if (::access(path.c_str(), F_OK) != 0 && errno == ENOENT) {
        throw ConfigFileNotFound(fmt::format("Failed to open \"{}\": {}", path, std::strerror(ENOENT)));
    }
    try {
        load_document(state, path, false);
    } catch (const Reason& reason) {
        throw ConfigError(reason.what());
    }
    if (config.listen.empty())
        throw ConfigError(path + ": Configuration file needs one or more <listen> elements giving addresses");
    return config;
}

const std::vector<LimitInfo>& known_limits() {
    // dbus-daemon 1.14's built-in defaults (bus/config-parser.c, listed in Debian's system.conf).
    static const std::vector<LimitInfo> limits{
        {"max_incoming_bytes", 133169152, false},  // 127 MiB
        {"max_incoming_unix_fds", 64, false},
        {"max_outgoing_bytes", 133169152, false},
        {"max_outgoing_unix_fds", 64, false},
        {"max_message_size", 33554432, false},  // 32 MiB
        {"max_message_unix_fds", 16, false},
        {"service_start_timeout", 25000, true},  // milliseconds
        {"auth_timeout", 5000, true},
        {"pending_fd_timeout", 150000, true},
        {"max_completed_connections", 2048, true},
        {"max_incomplete_connections", 64, true},
        {"max_connections_per_user", 256, true},
        {"max_pending_service_starts", 512, true},
        {"max_names_per_connection", 512, true},
        {"max_match_rules_per_connection", 512, true},
        {"max_replies_per_connection", 128, true},
        {"reply_timeout", -1, true},  // -1: method calls never time out in the bus
        // jetbus's own (dbus-daemon refuses these names): what all of one user's connections may make
        // the bus hold; other users get a share of it (see README, "Limits and quotas").
        {"max_bytes_per_user", 268435456, false},  // 256 MiB
        {"max_fds_per_user", 4096, false},
        {"max_match_rules_per_user", 16384, false},
        {"max_names_per_user", 4096, false},
        {"max_replies_per_user", 8192, false},
    };
    return limits;
}

std::int64_t BusConfig::limit(std::string_view name) const {
    if (auto it = limits.find(std::string(name)); it != limits.end()) return it->second;
    for (const auto& info : known_limits())
        if (info.name == name) return info.default_value;
    throw std::out_of_range(fmt::format("no limit called \"{}\"", name));
}

}  // namespace jetbus::config
