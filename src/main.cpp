// jetbus: the dbus-daemon-compatible command line. Loads the config, binds the listeners (or takes the
// sockets systemd hands over), hands the address to whoever started the bus, optionally daemonizes and
// drops privileges, then runs the single-threaded event loop until SIGTERM/SIGINT. SIGHUP reloads.
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-login.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <spdlog/cfg/env.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "broker/address.h"
#include "broker/bus.h"
#include "broker/directory_watch.h"
#include "broker/event_loop.h"
#include "broker/listener.h"
#include "config/bus_config.h"
#include "config/command_line.h"
#include "config/service_file.h"
#include "driver/driver.h"
#include "logging/journal_sink.h"

extern "C" char** environ;

namespace {

using jetbus::config::CommandLine;

struct StartupError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// fds 0-2 must be open before any socket is created, or a listener could land on "stdout".
void ensure_standard_fds() {
    for (int fd = 0; fd <= 2; ++fd) {
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
            const int n = open("/dev/null", O_RDWR);
            if (n >= 0 && n != fd) {
                dup2(n, fd);
                close(n);
            }
        }
    }
}

void setup_logging(bool to_journal) {
    std::shared_ptr<spdlog::logger> logger;
    if (to_journal) {
        logger = std::make_shared<spdlog::logger>("jetbus", std::make_shared<jetbus::logging::JournalSink>());
    } else {
        logger = std::make_shared<spdlog::logger>("jetbus", std::make_shared<spdlog::sinks::stderr_sink_st>());
        logger->set_pattern("jetbus[%P]: %l: %v");
    }
    spdlog::set_default_logger(logger);
    spdlog::set_level(spdlog::level::info);
    spdlog::cfg::load_env_levels();  // SPDLOG_LEVEL=debug for connection-level detail
}

std::string read_machine_id() {
    for (const char* path : {"/etc/machine-id", "/var/lib/dbus/machine-id"}) {
        std::ifstream in(path);
        std::string id;
        if (in >> id && id.size() == 32) return id;
    }
    return jetbus::broker::generate_guid();  // no machine id: stable for this run at least
}

std::string config_path(const CommandLine& cl) {
    switch (cl.config_source) {
    case CommandLine::ConfigSource::session: return std::string(jetbus::config::kSessionConfigFile);
    case CommandLine::ConfigSource::system: return std::string(jetbus::config::kSystemConfigFile);
    case CommandLine::ConfigSource::file: break;
    }
    if (cl.config_file.empty()) throw StartupError("No configuration file specified.");
    return cl.config_file;
}

jetbus::broker::BusLimits limits_from(const jetbus::config::BusConfig& c) {
    jetbus::broker::BusLimits l;
    const auto sz = [&](const char* n) { return static_cast<size_t>(std::max<int64_t>(c.limit(n), 0)); };
    l.max_incoming_bytes = sz("max_incoming_bytes");
    l.max_incoming_unix_fds = sz("max_incoming_unix_fds");
    l.max_outgoing_bytes = sz("max_outgoing_bytes");
    l.max_outgoing_unix_fds = sz("max_outgoing_unix_fds");
    l.max_message_size = sz("max_message_size");
    l.max_message_unix_fds = sz("max_message_unix_fds");
    l.auth_timeout_ms = static_cast<uint32_t>(sz("auth_timeout"));
    l.pending_fd_timeout_ms = static_cast<uint32_t>(sz("pending_fd_timeout"));
    l.max_completed_connections = sz("max_completed_connections");
    l.max_incomplete_connections = sz("max_incomplete_connections");
    l.max_connections_per_user = sz("max_connections_per_user");
    l.max_pending_service_starts = sz("max_pending_service_starts");
    l.service_start_timeout_ms = static_cast<uint32_t>(sz("service_start_timeout"));
    l.max_names_per_connection = sz("max_names_per_connection");
    l.max_match_rules_per_connection = sz("max_match_rules_per_connection");
    l.max_replies_per_connection = sz("max_replies_per_connection");
    l.reply_timeout_ms = static_cast<uint32_t>(sz("reply_timeout"));  // -1 (never) becomes 0
    l.max_bytes_per_user = sz("max_bytes_per_user");
    l.max_fds_per_user = sz("max_fds_per_user");
    l.max_match_rules_per_user = sz("max_match_rules_per_user");
    l.max_names_per_user = sz("max_names_per_user");
    l.max_replies_per_user = sz("max_replies_per_user");
    return l;
}

// The activatable services of a configuration; files that cannot be used are logged and skipped.
std::vector<jetbus::broker::ServiceEntry> read_services(const std::vector<jetbus::config::ServiceDir>& dirs) {
    auto catalog = jetbus::config::scan_service_dirs(dirs);
    for (const auto& e : catalog.errors) spdlog::warn("{}", e);
    std::vector<jetbus::broker::ServiceEntry> out;
    out.reserve(catalog.services.size());
    for (auto& s : catalog.services) {
        jetbus::broker::ServiceEntry e;
        e.name = std::move(s.name);
        e.path = std::move(s.path);
        e.user = std::move(s.user);
        e.systemd_service = std::move(s.systemd_service);
        std::string error;
        if (auto argv = jetbus::config::split_exec(s.exec, error)) {
            e.argv = std::move(*argv);
        } else if (error.find("Unclosed") != std::string::npos) {
            e.exec_error = std::move(error);  // nothing to run otherwise: starting it fails as ExecFailed
        }
        out.push_back(std::move(e));
    }
    return out;
}

std::vector<std::string> dir_paths(const std::vector<jetbus::config::ServiceDir>& dirs) {
    std::vector<std::string> out;
    for (const auto& d : dirs) out.push_back(d.path);
    return out;
}

// What dbus-daemon watches to reload by itself: the service directories and the config's includedirs.
std::vector<std::string> watched_dirs(const jetbus::config::BusConfig& c) {
    std::vector<std::string> dirs;
    for (const auto& d : jetbus::config::service_dirs_of(c)) dirs.push_back(d.path);
    dirs.insert(dirs.end(), c.included_dirs.begin(), c.included_dirs.end());
    return dirs;
}

// As Debian's dbus-daemon decides at_console: where logind keeps seats (/run/systemd/seats/), a user
// with a seat; elsewhere nobody (it is built without pam_console's /var/run/console).
bool user_at_console(uid_t uid) {
    if (::access("/run/systemd/seats/", F_OK) != 0) return false;
    return sd_uid_get_seats(uid, 0, nullptr) > 0;
}

struct Bound {
    std::vector<jetbus::broker::BoundListener> listeners;
    std::string address;  // what clients use, guid included, ';'-separated
};

// What clients use to reach a socket systemd handed over (dbus-daemon prints it too); empty if unnamed.
std::string systemd_socket_address(int fd) {
    sockaddr_un sa{};
    socklen_t len = sizeof sa;
    using jetbus::broker::escape_address_value;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) return {};
    if (len <= offsetof(sockaddr_un, sun_path)) return {};
    const size_t n = len - offsetof(sockaddr_un, sun_path);
    if (sa.sun_path[0] == '\0') return "unix:abstract=" + escape_address_value({sa.sun_path + 1, n - 1});
    return "unix:path=" + escape_address_value({sa.sun_path, strnlen(sa.sun_path, n)});
}

Bound bind_all(const std::string& addresses, const std::string& guid) {
    using jetbus::broker::ListenAddress;
    Bound b;
    for (const ListenAddress& a : jetbus::broker::parse_listen_addresses(addresses)) {
        if (a.kind == ListenAddress::Kind::systemd) {
            const int n = sd_listen_fds(1);
            if (n <= 0) throw StartupError("--address=systemd: but systemd handed over no sockets (LISTEN_FDS)");
            for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + n; ++fd) {
                if (sd_is_socket_unix(fd, SOCK_STREAM, 1, nullptr, 0) <= 0) {
                    throw StartupError(fmt::format("socket {} from systemd is not a listening unix stream socket", fd));
                }
                fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
                fcntl(fd, F_SETFD, FD_CLOEXEC);
                b.listeners.push_back({fd, systemd_socket_address(fd), ""});  // systemd owns the file
            }
            continue;
        }
        b.listeners.push_back(jetbus::broker::bind_listener(a));
    }
    for (const auto& l : b.listeners) {
        if (l.address.empty()) continue;
        if (!b.address.empty()) b.address += ';';
        b.address += fmt::format("{},guid={}", l.address, guid);
    }
    return b;
}

// Writes one line in a single write() (readers on packet-mode pipes take exactly one read).
void write_line(int fd, const std::string& text) {
    const std::string line = text + "\n";
    ssize_t n;
    do {
        n = write(fd, line.data(), line.size());
    } while (n < 0 && errno == EINTR);
    if (n < 0) spdlog::warn("could not write to fd {}: {}", fd, std::strerror(errno));
}

// Readers wait for end-of-file: close the fd, or point stdout/stderr at /dev/null so they stay valid.
void release_fd(int fd) {
    if (fd > 2) {
        close(fd);
        return;
    }
    const int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null_fd >= 0) {
        dup2(null_fd, fd);
        close(null_fd);
    }
}

void hand_over(const CommandLine& cl, const std::string& address) {
    if (cl.print_address_fd) write_line(*cl.print_address_fd, address);
    if (cl.print_pid_fd) write_line(*cl.print_pid_fd, std::to_string(getpid()));
    if (cl.print_address_fd) release_fd(*cl.print_address_fd);
    if (cl.print_pid_fd && cl.print_pid_fd != cl.print_address_fd) release_fd(*cl.print_pid_fd);
}

// Forks; the parent waits until the child reports that it is listening and has handed over the address,
// then exits with the child's verdict. Returns in the child only.
void daemonize(int& ready_fd) {
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) throw StartupError(fmt::format("pipe: {}", std::strerror(errno)));
    const pid_t pid = fork();
    if (pid < 0) throw StartupError(fmt::format("fork: {}", std::strerror(errno)));
    if (pid > 0) {
        close(pipefd[1]);
        char status = 1;
        const ssize_t n = read(pipefd[0], &status, 1);
        _exit(n == 1 && status == 0 ? 0 : 1);
    }
    close(pipefd[0]);
    ready_fd = pipefd[1];
    setsid();
    if (chdir("/") != 0) { /* keep going: only the cwd is affected */ }
}

void detach_stdio() {
    const int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd < 0) return;
    for (int fd = 0; fd <= 2; ++fd) dup2(null_fd, fd);
    close(null_fd);
}

// As dbus-daemon: an existing pid file means another bus may be running, so start-up stops.
void refuse_existing_pidfile(const std::string& path) {
    if (::access(path.c_str(), F_OK) == 0) {
        throw StartupError(fmt::format(
            "The pid file \"{}\" exists, if the message bus is not running, remove this file", path));
    }
}

void write_pidfile(const std::string& path) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) throw StartupError(fmt::format("Failed to write pid file {}: {}", path, std::strerror(errno)));
    const std::string line = fmt::format("{}\n", getpid());
    const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
    ::close(fd);
    if (!ok) throw StartupError(fmt::format("Failed to write pid file {}", path));
}

void switch_user(const std::string& user) {
    if (user.empty() || geteuid() != 0) return;
    const passwd* pw = getpwnam(user.c_str());
    if (!pw) throw StartupError(fmt::format("Could not get UID and GID for username \"{}\"", user));
    if (pw->pw_uid == 0) return;
    // As dbus-daemon: no supplementary groups, only the user's own group.
    if (setgroups(0, nullptr) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
        throw StartupError(fmt::format("Failed to switch to user \"{}\": {}", user, std::strerror(errno)));
    }
}

// As dbus-daemon tells systemd around every reload (SIGHUP or ReloadConfig, failed or not).
struct ReloadNotice {
    ReloadNotice() { sd_notify(0, "RELOADING=1\nSTATUS=Reloading configuration..."); }
    ~ReloadNotice() { sd_notify(0, "READY=1\nSTATUS=Processing requests..."); }
};

// As dbus-daemon: the soft fd limit goes up to the hard one, and root (which may raise the hard one) gets
// at least 65536, so thousands of peers fit; each takes two here (its socket and its pidfd).
// Returns the soft limit it started with (0 when unknown), for activated services.
rlim_t raise_fd_limit() {
    constexpr rlim_t enough_fds = 65536;  // dbus-daemon's number
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
    const rlim_t original = rl.rlim_cur;
    const rlim_t hard = rl.rlim_max;
    if (::getuid() == 0 && rl.rlim_max != RLIM_INFINITY && rl.rlim_max < enough_fds) rl.rlim_max = enough_fds;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 && rl.rlim_max != hard) {
        rl.rlim_cur = rl.rlim_max = hard;  // no CAP_SYS_RESOURCE (a container): the hard limit it is
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    return original;
}

int run(const CommandLine& cl) {
    const bool under_systemd = getenv("JOURNAL_STREAM") != nullptr;
    setup_logging((under_systemd && cl.syslog != CommandLine::Syslog::never) ||
                  (cl.syslog == CommandLine::Syslog::only && sd_booted() > 0));

    const std::string path = config_path(cl);
    jetbus::config::BusConfig config = jetbus::config::load_bus_config(path);
    for (const auto& w : config.warnings) spdlog::warn("{}", w);

    const std::string guid = jetbus::broker::generate_guid();
    const std::string addresses = cl.address.empty() ? fmt::format("{}", fmt::join(config.listen, ";")) : cl.address;
    if (addresses.empty()) throw StartupError(fmt::format("{}: no <listen> address and no --address", path));

    const bool use_pidfile = cl.write_pidfile && !config.pidfile.empty();
    if (use_pidfile) refuse_existing_pidfile(config.pidfile);
    const rlim_t original_fd_limit = raise_fd_limit();
    Bound bound = bind_all(addresses, guid);

    const bool fork_wanted = cl.fork == CommandLine::Fork::always ||
                             (cl.fork == CommandLine::Fork::as_configured && config.fork);
    int ready_fd = -1;
    if (fork_wanted) daemonize(ready_fd);
    if (use_pidfile) write_pidfile(config.pidfile);
    switch_user(config.user);

    boost::asio::io_context io(1);
    jetbus::broker::BusOptions options;
    options.guid = guid;
    options.type = config.type;
    options.auth_mechanisms = config.auth;
    options.allow_anonymous = config.allow_anonymous;
    options.limits = limits_from(config);
    options.at_console = user_at_console;
    options.child_fd_limit = original_fd_limit;
    jetbus::broker::Bus bus(io, options);
    bus.set_policy(jetbus::policy::CompiledPolicy::compile(config, getuid()));

    jetbus::broker::ActivationOptions activation;
    activation.bus_address = bound.address;
    activation.servicehelper = config.servicehelper;
    activation.systemd_activation = cl.systemd_activation;
    for (char** e = environ; e && *e; ++e) activation.environment.emplace_back(*e);
    std::vector<jetbus::config::ServiceDir> service_dirs = jetbus::config::service_dirs_of(config);
    activation.scan = [&service_dirs] { return read_services(service_dirs); };
    bus.activation().configure(std::move(activation));
    bus.activation().set_services(read_services(service_dirs), dir_paths(service_dirs));

    jetbus::driver::DriverOptions driver_options;
    driver_options.machine_id = read_machine_id();
    std::unique_ptr<jetbus::broker::DirectoryWatch> watch;
    driver_options.reload_config = [&path, &bus, &watch, &service_dirs](std::string& error_name, std::string& error) {
        const ReloadNotice notice;
        try {
            const auto fresh = jetbus::config::load_bus_config(path);
            for (const auto& w : fresh.warnings) spdlog::warn("{}", w);
            bus.set_limits(limits_from(fresh));
            bus.set_policy(jetbus::policy::CompiledPolicy::compile(fresh, getuid()));
            service_dirs = jetbus::config::service_dirs_of(fresh);
            if (bus.activation().set_services(read_services(service_dirs), dir_paths(service_dirs))) {
                bus.announce_activatable_services_changed();
            }
            if (watch) watch->watch(watched_dirs(fresh));
            spdlog::info("reloaded configuration from {}", path);
            return true;
        } catch (const jetbus::config::ConfigFileNotFound& e) {
            error_name = "org.freedesktop.DBus.Error.FileNotFound";
            error = e.what();
            spdlog::warn("reload failed, keeping the running configuration: {}", e.what());
            return false;
        } catch (const std::exception& e) {
            error_name = "org.freedesktop.DBus.Error.Failed";
            error = e.what();
            spdlog::warn("reload failed, keeping the running configuration: {}", e.what());
            return false;
        }
    };
    jetbus::driver::Driver driver(bus, driver_options);
    bus.set_driver(&driver);
    // A new or removed .service file (or config snippet) takes effect by itself, as with dbus-daemon.
    watch = std::make_unique<jetbus::broker::DirectoryWatch>(io, [&] {
        std::string error_name, error;
        driver_options.reload_config(error_name, error);
        bus.flush_dirty();
    });
    watch->watch(watched_dirs(config));

    std::vector<std::unique_ptr<jetbus::broker::Listener>> listeners;
    for (auto& l : bound.listeners) {
        listeners.push_back(std::make_unique<jetbus::broker::Listener>(bus, l.fd, l.unlink_path));
        listeners.back()->start();
    }

    boost::asio::signal_set stop(io, SIGTERM, SIGINT);
    stop.async_wait([&](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        spdlog::debug("signal {}: shutting down", sig);
        sd_notify(0, "STOPPING=1\nSTATUS=Shutting down...");
        io.stop();
    });
    boost::asio::signal_set hup(io, SIGHUP);
    std::function<void()> arm_hup = [&] {
        hup.async_wait([&](const boost::system::error_code& ec, int) {
            if (ec) return;
            std::string error_name, error;
            driver_options.reload_config(error_name, error);
            arm_hup();
        });
    };
    arm_hup();
    signal(SIGPIPE, SIG_IGN);

    hand_over(cl, bound.address);
    if (ready_fd >= 0) {
        const char ok = 0;
        if (write(ready_fd, &ok, 1) != 1) { /* the parent is gone: nothing to tell */ }
        close(ready_fd);
        detach_stdio();
    }
    sd_notify(0, "READY=1\nSTATUS=Processing requests...");
    spdlog::debug("listening on {}", bound.address);

    jetbus::broker::run_event_loop(io, bus.dispatched());
    listeners.clear();  // removes the socket files
    if (use_pidfile) ::unlink(config.pidfile.c_str());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    ensure_standard_fds();
    CommandLine cl;
    try {
        cl = jetbus::config::parse_command_line(argc, argv);
    } catch (const jetbus::config::UsageError& e) {
        std::fprintf(stderr, "%s\n%s", e.what(), jetbus::config::usage_text(argv[0]).c_str());
        return 1;
    }
    switch (cl.action) {
    case CommandLine::Action::help:
        std::fputs(jetbus::config::usage_text(argv[0]).c_str(), stdout);
        return 0;
    case CommandLine::Action::version:
        // As dbus-daemon --version: the version ends the first line; then what this binary is built of.
        std::printf("jetbus D-Bus Message Bus %s\nBuilt from git %s (%s)\n"
                    "Features: +systemd +journal +inotify +unix-fd-passing -selinux -apparmor -audit -tcp\n"
                    "A drop-in for dbus-daemon 1.14: the same command line, configuration files and bus.\n",
                    JETBUS_VERSION, JETBUS_GIT_REVISION, JETBUS_BUILD);
        return 0;
    case CommandLine::Action::introspect:
        std::fputs(jetbus::driver::introspection_xml("/org/freedesktop/DBus").c_str(), stdout);
        return 0;
    case CommandLine::Action::run:
        break;
    }
    try {
        return run(cl);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "Failed to start message bus: %s\n", e.what());
        return 1;
    }
}
