// Launcher: child processes for activation. See launcher.h.
#include "broker/launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include <spdlog/spdlog.h>

namespace jetbus::broker {

namespace {

// The signals the broker handles or ignores go back to their defaults in the child: an ignored SIGPIPE
// would otherwise be inherited across exec.
void reset_signals(posix_spawnattr_t& attr) {
    sigset_t defaults;
    sigemptyset(&defaults);
    for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2}) sigaddset(&defaults, sig);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSID);
}

}  // namespace

Launcher::Launcher(boost::asio::io_context& io) : io_(io), sigchld_(io, SIGCHLD) { arm_sigchld(); }

Launcher::~Launcher() {
    sigchld_.cancel();
    // Children outlive the broker as dbus-daemon's do; their output pipes close with it.
    for (auto& [pid, child] : children_) {
        if (child->output) child->output->close();
    }
}

Expected<pid_t, int> Launcher::spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                                     const std::string& log_name) {
    if (argv.empty()) return unexpected(ENOENT);
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) return unexpected(errno);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, out[1], 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    reset_signals(attr);

    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    std::vector<char*> envp;
    for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);

    // posix_spawn has no rlimit attribute: the child inherits the limit in force while it is made, so the
    // broker's soft limit is lowered for that moment (nothing else runs meanwhile; its open fds stay valid).
    rlimit own{};
    const bool lower = child_fd_limit_ != 0 && getrlimit(RLIMIT_NOFILE, &own) == 0 && own.rlim_cur > child_fd_limit_;
    if (lower) {
        const rlimit child{child_fd_limit_, own.rlim_max};
        setrlimit(RLIMIT_NOFILE, &child);
    }
    pid_t pid = 0;
    // glibc's posix_spawn reports a failed exec as its result, so a missing program is known here.
    const int rc = argv[0].find('/') == std::string::npos
                       ? posix_spawnp(&pid, args[0], &actions, &attr, args.data(), envp.data())
                       : posix_spawn(&pid, args[0], &actions, &attr, args.data(), envp.data());
    if (lower) setrlimit(RLIMIT_NOFILE, &own);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    ::close(out[1]);
    if (rc != 0) {
        ::close(out[0]);
        return unexpected(rc);
    }
    auto child = std::make_shared<Child>();
    child->pid = pid;
    child->log_name = log_name;
    fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK);
    child->output = std::make_unique<boost::asio::posix::stream_descriptor>(io_, out[0]);
    children_.emplace(pid, child);
    read_output(child);
    return pid;
}

void Launcher::kill(pid_t pid) {
    if (children_.count(pid)) ::kill(pid, SIGKILL);
}

void Launcher::arm_sigchld() {
    sigchld_.async_wait([this](const boost::system::error_code& ec, int) {
        if (ec) return;
        reap();
        arm_sigchld();
    });
}

// Signals coalesce: one SIGCHLD may stand for several exits, so every child is asked.
void Launcher::reap() {
    std::vector<std::pair<pid_t, int>> exited;
    for (auto it = children_.begin(); it != children_.end();) {
        int status = 0;
        const pid_t r = ::waitpid(it->first, &status, WNOHANG);
        if (r == 0 || (r < 0 && errno == EINTR)) {
            ++it;
            continue;
        }
        Child& c = *it->second;
        if (c.output) {
            // What the child wrote last is still in the pipe: log it before reporting the exit.
            for (;;) {
                const ssize_t n = ::read(c.output->native_handle(), c.buffer.data(), c.buffer.size());
                if (n <= 0) break;
                log_output(c, c.buffer.data(), static_cast<size_t>(n), false);
            }
            log_output(c, nullptr, 0, true);
            c.output->close();
        }
        if (r > 0) exited.emplace_back(r, status);
        it = children_.erase(it);
    }
    for (const auto& [pid, status] : exited) {
        if (on_exit_) on_exit_(pid, status);
    }
}

void Launcher::read_output(const std::shared_ptr<Child>& child) {
    std::weak_ptr<Child> weak = child;
    child->output->async_read_some(boost::asio::buffer(child->buffer),
                                   [this, weak](const boost::system::error_code& ec, size_t n) {
                                       auto c = weak.lock();
                                       if (!c || !c->output || !c->output->is_open()) return;
                                       if (ec || n == 0) {
                                           log_output(*c, nullptr, 0, true);
                                           c->output->close();
                                           return;
                                       }
                                       log_output(*c, c->buffer.data(), n, false);
                                       read_output(c);
                                   });
}

void Launcher::log_output(Child& c, const char* data, size_t n, bool flush) {
    c.partial.append(data ? data : "", n);
    size_t start = 0;
    for (size_t nl; (nl = c.partial.find('\n', start)) != std::string::npos; start = nl + 1) {
        spdlog::info("{}[{}]: {}", c.log_name, c.pid, std::string_view(c.partial).substr(start, nl - start));
    }
    c.partial.erase(0, start);
    // A child that writes without newlines cannot grow the broker: long lines are logged in pieces.
    if ((flush && !c.partial.empty()) || c.partial.size() > 4096) {
        spdlog::info("{}[{}]: {}", c.log_name, c.pid, c.partial);
        c.partial.clear();
    }
}

}  // namespace jetbus::broker
