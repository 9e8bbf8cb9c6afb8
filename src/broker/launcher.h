// Launcher: starts activated services as child processes of the broker and watches them until they exit.
// A child's stdout and stderr go to the broker's log, a line at a time, under the service's name; every
// child is reaped on SIGCHLD, so none is left behind as a zombie, whether it took its name or not.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>

#include "wire/expected.h"

namespace jetbus::broker {

class Launcher {
public:
    // Called once per child with its waitpid() status.
    using ExitHandler = std::function<void(pid_t pid, int status)>;

    explicit Launcher(boost::asio::io_context& io);
    ~Launcher();
    Launcher(const Launcher&) = delete;
    Launcher& operator=(const Launcher&) = delete;

    void on_exit(ExitHandler handler) { on_exit_ = std::move(handler); }
    // Children start with this soft RLIMIT_NOFILE (0: the broker's own).
    void set_child_fd_limit(rlim_t soft) { child_fd_limit_ = soft; }
    // Starts argv[0] (an absolute path, or found on PATH) with exactly env ("KEY=VALUE"). On failure the
    // value is the errno of the exec, and nothing is left running.
    Expected<pid_t, int> spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                                     const std::string& log_name);
    // SIGKILL: the child is still reaped (and reported) when it is gone.
    void kill(pid_t pid);
    size_t running() const { return children_.size(); }

private:
    struct Child {
        pid_t pid = 0;
        std::string log_name;
        std::unique_ptr<boost::asio::posix::stream_descriptor> output;
        std::array<char, 4096> buffer{};
        std::string partial;   // the start of a line not yet ended
    };
    void arm_sigchld();
    void reap();
    void read_output(const std::shared_ptr<Child>& child);
    void log_output(Child& child, const char* data, size_t n, bool flush);

    boost::asio::io_context& io_;
    boost::asio::signal_set sigchld_;
    std::map<pid_t, std::shared_ptr<Child>> children_;
    ExitHandler on_exit_;
    rlim_t child_fd_limit_ = 0;
};

}  // namespace jetbus::broker
