// Activation: starting services on demand, as dbus-daemon does (spec: "Message Bus Starting Services").
// It knows the activatable names (from .service files, which main reads), and for each name being started
// the callers waiting on it: StartServiceByName calls, answered when the name is taken, and auto-started
// messages, delivered in the order they came once it is. A service is started as a child process (or
// through the system bus's servicehelper), or, with systemd activation, by asking systemd to start its unit.
// Whatever ends a start — the child exits, the timeout, systemd's ActivationFailure — every waiting caller
// gets dbus-daemon's error for it.
#pragma once

#include <sys/types.h>

#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "broker/launcher.h"
#include "broker/message.h"
#include "broker/name_registry.h"
#include "wire/header.h"

namespace jetbus::broker {

class Bus;
class Connection;

// One activatable name, from its .service file.
struct ServiceEntry {
    std::string name;
    std::string path;                 // the .service file, for log lines
    std::vector<std::string> argv;    // Exec= split into arguments; empty when there is nothing to run
    std::string exec_error;           // why Exec= could not be split (unclosed quotes), if it could not
    std::string user;                 // User=: for the system bus's servicehelper
    std::string systemd_service;      // SystemdService=
};

struct ActivationOptions {
    std::string bus_address;               // DBUS_STARTER_ADDRESS for the children
    std::string servicehelper;             // system bus: the helper is run as HELPER NAME instead of Exec=
    bool systemd_activation = false;       // --systemd-activation
    std::vector<std::string> environment;  // the broker's own environment when it started
    // Reads the service directories again. As dbus-daemon, a name not found is looked for once more
    // when a directory changed since the last reading, so a file just written is found at once.
    std::function<std::vector<ServiceEntry>()> scan;
};

constexpr std::string_view systemd_name = "org.freedesktop.systemd1";
constexpr std::string_view systemd_activator_interface = "org.freedesktop.systemd1.Activator";

class Activation {
public:
    explicit Activation(Bus& bus);
    ~Activation();

    void configure(ActivationOptions options) { options_ = std::move(options); }
    // Start-up and reload: the names that can be activated from now on. Starts already under way go
    // on. True when the set of names changed.
    // dirs: where they came from, watched for the next lookup().
    bool set_services(std::vector<ServiceEntry> services, std::vector<std::string> dirs);
    const ServiceEntry* find(std::string_view name) const;
    // find(), reading the directories again first if the name is unknown and one of them changed.
    const ServiceEntry* lookup(std::string_view name);
    std::vector<std::string> names() const;
    // UpdateActivationEnvironment: children started from now on see these variables.
    void update_environment(std::string_view key, std::string_view value);
    const std::map<std::string, std::string, std::less<>>& environment() const { return environment_; }
    // With systemd activation, systemd starts the services, so it is told too (Manager.SetEnvironment).
    void forward_environment_to_systemd(const std::vector<std::pair<std::string_view, std::string_view>>& vars);
    bool uses_servicehelper() const { return !options_.servicehelper.empty(); }
    bool systemd_activation() const { return options_.systemd_activation; }

    // StartServiceByName for a name with a .service file and no owner: answered with 1 once the name is
    // taken, or with the error that ended the start.
    void start(Connection& caller, const MessagePtr& call, const ServiceEntry& service);
    // A message for an unowned activatable name: it waits, and is routed once the name is taken.
    void auto_start(Connection& sender, MessagePtr m, const ServiceEntry& service);
    // The bus reports each well-known name that gets a primary owner.
    void name_acquired(std::string_view name);
    // org.freedesktop.systemd1.Activator.ActivationFailure, from the owner of org.freedesktop.systemd1.
    void systemd_failure(std::string_view unit, std::string_view error_name, std::string_view text);
    size_t pending() const { return pending_.size(); }
    // Callers waiting on a start, the number max_pending_service_starts bounds (as in dbus-daemon, each
    // waiting message counts, not each service).
    size_t waiting() const { return waiting_; }

private:
    struct Waiter {
        ConnectionId from = 0;   // 0: the bus itself (an ActivationRequest waiting for systemd)
        MessagePtr message;
        bool auto_start = false;
        uint32_t pool_slot = 0;  // its user's slot in the bus account's pool of service starts
    };
    struct Pending {
        explicit Pending(boost::asio::io_context& io) : timer(io) {}
        std::string name;
        std::string systemd_unit;   // set while systemd is asked to start it
        pid_t pid = 0;              // the child started for it, if any
        std::vector<Waiter> waiters;
        boost::asio::steady_timer timer;
    };
    void release_waiters(const Pending& p);

    // Adds w to the start of service.name, beginning it if it is not already under way; a refusal
    // (too many starts, a program that cannot run) is the caller's error.
    void enqueue(Connection& caller, Waiter w, const ServiceEntry& service);
    // A new start of `name`, its service_start_timeout running.
    Pending& add_pending(const std::string& name);
    bool launch(Pending& p, const ServiceEntry& service, std::string& error_name, std::string& text);
    void ask_systemd(const std::string& unit);
    std::vector<std::string> child_environment() const;
    void on_child_exit(pid_t pid, int status);
    void on_timeout(const std::string& name);
    // Ends the start of `name` with an error to every waiting caller.
    void fail(const std::string& name, std::string_view error_name, std::string_view text);
    void reply_started(Connection& to, const Waiter& w);

    Bus& bus_;
    ActivationOptions options_;
    Launcher launcher_;
    bool dirs_changed() const;
    std::vector<std::pair<std::string, timespec>> dir_times() const;

    std::map<std::string, ServiceEntry, std::less<>> services_;
    std::vector<std::string> dirs_;
    std::vector<std::pair<std::string, timespec>> dir_times_;   // mtimes when the services were read
    std::map<std::string, std::string, std::less<>> environment_;
    std::map<std::string, std::unique_ptr<Pending>, std::less<>> pending_;
    size_t waiting_ = 0;
};

}  // namespace jetbus::broker
