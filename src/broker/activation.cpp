// Activation: pending starts and the callers waiting on them. See activation.h.
#include "broker/activation.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "broker/bus.h"
#include "wire/writer.h"

namespace jetbus::broker {

namespace {

constexpr std::string_view error_prefix = "org.freedesktop.DBus.Error.";

struct ExitError {
    std::string name;
    std::string text;
};

// The exit codes of dbus-daemon's launch helper (bus/activation-exit-codes.h) and what they mean.
ExitError servicehelper_error(int code) {
    const auto e = [](std::string_view name, std::string text) {
        return ExitError{fmt::format("{}{}", error_prefix, name), std::move(text)};
    };
    switch (code) {
    case 1: return e("NoMemory", "Launcher could not run (out of memory)");
    case 2: return e("Spawn.ConfigInvalid", "Invalid configuration (missing or empty <user>?)");
    case 3: return e("Spawn.FailedToSetup", "Failed to setup environment correctly");
    case 4: return e("Spawn.ServiceNotValid", "Bus name is not valid or missing");
    case 5: return e("Spawn.ServiceNotFound", "Bus name not found in system service directory");
    case 6: return e("Spawn.PermissionsInvalid", "The permission of the setuid helper is not correct");
    case 7: return e("Spawn.FileInvalid", "The service file is incorrect or does not have all required attributes");
    case 8: return e("Spawn.ExecFailed", "Cannot launch daemon, file not found or permissions invalid");
    case 9: return e("InvalidArgs", "Invalid arguments to command line");
    case 10: return e("Spawn.ChildSignaled", "Launched child was signaled, it probably crashed");
    default: return e("Spawn.ChildExited", fmt::format("Launch helper exited with unknown return code {}", code));
    }
}

}  // namespace

Activation::Activation(Bus& bus) : bus_(bus), launcher_(bus.io()) {
    launcher_.on_exit([this](pid_t pid, int status) { on_child_exit(pid, status); });
    launcher_.set_child_fd_limit(bus.options().child_fd_limit);
}

Activation::~Activation() = default;

bool Activation::set_services(std::vector<ServiceEntry> services, std::vector<std::string> dirs) {
    dirs_ = std::move(dirs);
    dir_times_ = dir_times();
    std::map<std::string, ServiceEntry, std::less<>> fresh;
    for (auto& s : services) {
        std::string name = s.name;
        fresh.emplace(std::move(name), std::move(s));  // the first entry for a name wins
    }
    bool changed = fresh.size() != services_.size();
    for (auto a = fresh.begin(), b = services_.begin(); !changed && a != fresh.end(); ++a, ++b) {
        changed = a->first != b->first;
    }
    services_ = std::move(fresh);
    return changed;
}

const ServiceEntry* Activation::find(std::string_view name) const {
    auto it = services_.find(name);
    return it == services_.end() ? nullptr : &it->second;
}

std::vector<std::pair<std::string, timespec>> Activation::dir_times() const {
    std::vector<std::pair<std::string, timespec>> out;
    for (const std::string& d : dirs_) {
        struct stat st {};
        if (::stat(d.c_str(), &st) != 0) st = {};
        out.emplace_back(d, st.st_mtim);
    }
    return out;
}

bool Activation::dirs_changed() const {
    const auto now = dir_times();
    for (size_t i = 0; i < now.size(); ++i) {
        if (now[i].second.tv_sec != dir_times_[i].second.tv_sec ||
            now[i].second.tv_nsec != dir_times_[i].second.tv_nsec) {
            return true;
        }
    }
    return false;
}

const ServiceEntry* Activation::lookup(std::string_view name) {
    if (const ServiceEntry* s = find(name)) return s;
    if (!options_.scan || !dirs_changed()) return nullptr;
    set_services(options_.scan(), dirs_);
    return find(name);
}

std::vector<std::string> Activation::names() const {
    std::vector<std::string> out;
    out.reserve(services_.size());
    for (const auto& [name, s] : services_) out.push_back(name);
    return out;
}

void Activation::update_environment(std::string_view key, std::string_view value) {
    environment_.insert_or_assign(std::string(key), std::string(value));
}

void Activation::forward_environment_to_systemd(
    const std::vector<std::pair<std::string_view, std::string_view>>& vars) {
    if (!options_.systemd_activation || vars.empty() || !bus_.find(systemd_name)) return;
    std::vector<uint8_t> body;
    wire::Writer w(body);
    const size_t start = w.begin_array(4);
    for (const auto& [k, v] : vars) w.string(fmt::format("{}={}", k, v));
    w.end_array(start);
    wire::HeaderFields f;
    f.type = wire::MessageType::method_call;
    f.flags = wire::flags::no_reply_expected;
    f.serial = bus_.next_serial();
    f.path = "/org/freedesktop/systemd1";
    f.interface = "org.freedesktop.systemd1.Manager";
    f.member = "SetEnvironment";
    f.destination = systemd_name;
    f.sender = driver_name;
    f.signature = "as";
    bus_.send_from_driver(Message::build(f, body));
}

void Activation::start(Connection& caller, const MessagePtr& call, const ServiceEntry& service) {
    enqueue(caller, Waiter{caller.id(), call, false}, service);
}

void Activation::auto_start(Connection& sender, MessagePtr m, const ServiceEntry& service) {
    enqueue(sender, Waiter{sender.id(), std::move(m), true}, service);
}

void Activation::enqueue(Connection& caller, Waiter w, const ServiceEntry& service) {
    const size_t max_pending = bus_.limits().max_pending_service_starts;
    if (waiting_ >= max_pending) {
        bus_.reply_error(caller, w.message->header(), "org.freedesktop.DBus.Error.LimitsExceeded",
                         fmt::format("The maximum number of pending activations has been reached, activation of "
                                     "{} failed (max_pending_service_starts={})",
                                     service.name, max_pending));
        return;
    }
    // One user may hold only a share of the pool, so another user's start is never refused for it.
    UserAccount& pool = bus_.accounts().bus_account();
    w.pool_slot = pool.actor_slot(caller.uid());
    if (!pool.try_charge(w.pool_slot, Resource::service_starts, 1)) {
        bus_.reply_error(caller, w.message->header(), "org.freedesktop.DBus.Error.LimitsExceeded",
                         fmt::format("The maximum number of pending activations for UID {} has been reached, "
                                     "activation of {} failed",
                                     caller.uid(), service.name));
        return;
    }
    ++waiting_;
    if (auto it = pending_.find(service.name); it != pending_.end()) {
        it->second->waiters.push_back(std::move(w));
        return;
    }
    Pending& p = add_pending(service.name);
    p.waiters.push_back(std::move(w));

    if (options_.systemd_activation) {
        if (service.name == systemd_name) {
            // systemd itself is not connected yet (early boot): wait for it to take its name.
            spdlog::info("Activating systemd to hand-off: service name='{}' requested by '{}' ({})", service.name,
                         caller.unique_name(), caller.loginfo());
            return;
        }
        if (!service.systemd_service.empty()) {
            spdlog::info("Activating via systemd: service name='{}' unit='{}' requested by '{}' ({})", service.name,
                         service.systemd_service, caller.unique_name(), caller.loginfo());
            p.systemd_unit = service.systemd_service;
            ask_systemd(service.systemd_service);
            return;
        }
    }
    spdlog::info("Activating service name='{}' requested by '{}' ({}){}", service.name, caller.unique_name(),
                 caller.loginfo(), options_.servicehelper.empty() ? "" : " (using servicehelper)");
    std::string error_name, text;
    if (!launch(p, service, error_name, text)) fail(service.name, error_name, text);
}

bool Activation::launch(Pending& p, const ServiceEntry& service, std::string& error_name, std::string& text) {
    std::vector<std::string> argv;
    if (!options_.servicehelper.empty()) {
        argv = {options_.servicehelper, service.name};
    } else {
        argv = service.argv;
    }
    if (argv.empty() && !service.exec_error.empty()) {
        error_name = fmt::format("{}InvalidArgs", error_prefix);
        text = service.exec_error;
        return false;
    }
    // An empty Exec= is a program that cannot be found, as for dbus-daemon.
    auto pid = argv.empty() ? Expected<pid_t, int>(unexpected(ENOENT))
                            : launcher_.spawn(argv, child_environment(), service.name);
    if (!pid) {
        error_name = fmt::format("{}Spawn.ExecFailed", error_prefix);
        text = fmt::format("Failed to execute program {}: {}", service.name, std::strerror(pid.error()));
        return false;
    }
    p.pid = *pid;
    return true;
}

std::vector<std::string> Activation::child_environment() const {
    std::map<std::string_view, std::string_view> vars;
    for (const std::string& e : options_.environment) {
        const size_t eq = e.find('=');
        if (eq != std::string::npos) vars.insert_or_assign(std::string_view(e).substr(0, eq), std::string_view(e).substr(eq + 1));
    }
    for (const auto& [k, v] : environment_) vars.insert_or_assign(k, v);
    // As dbus-daemon: the child can find the bus that started it, and the bus of its type.
    const std::string_view type = bus_.type();
    const std::string_view address = std::string_view(options_.bus_address).substr(0, options_.bus_address.find(';'));
    if (!address.empty()) {
        vars.insert_or_assign("DBUS_STARTER_ADDRESS", address);
        if (type == "session") vars.insert_or_assign("DBUS_SESSION_BUS_ADDRESS", address);
        if (type == "system") vars.insert_or_assign("DBUS_SYSTEM_BUS_ADDRESS", address);
    }
    if (type == "session" || type == "system") vars.insert_or_assign("DBUS_STARTER_BUS_TYPE", type);
    std::vector<std::string> env;
    env.reserve(vars.size());
    for (const auto& [k, v] : vars) env.push_back(fmt::format("{}={}", k, v));
    return env;
}

void Activation::ask_systemd(const std::string& unit) {
    std::vector<uint8_t> body;
    wire::Writer(body).string(unit);
    wire::HeaderFields f = bus_.driver_signal("ActivationRequest");
    f.interface = systemd_activator_interface;
    f.destination = systemd_name;
    f.signature = "s";
    MessagePtr request = Message::build(f, body);
    if (bus_.find(systemd_name)) return bus_.send_from_driver(std::move(request));
    // systemd has not connected yet: the request waits for it like any message for an activatable name.
    auto it = pending_.find(systemd_name);
    Pending& p = it != pending_.end() ? *it->second : add_pending(std::string(systemd_name));
    p.waiters.push_back(Waiter{0, std::move(request), true, UserAccount::self_slot});
    bus_.accounts().bus_account().charge(UserAccount::self_slot, Resource::service_starts, 1);
    ++waiting_;
}

Activation::Pending& Activation::add_pending(const std::string& name) {
    auto owned = std::make_unique<Pending>(bus_.io());
    Pending& p = *owned;
    p.name = name;
    pending_.emplace(name, std::move(owned));
    p.timer.expires_after(std::chrono::milliseconds(bus_.limits().service_start_timeout_ms));
    p.timer.async_wait([this, name](const boost::system::error_code& ec) {
        if (ec) return;
        on_timeout(name);
        bus_.flush_dirty();
    });
    return p;
}

void Activation::release_waiters(const Pending& p) {
    waiting_ -= p.waiters.size();
    UserAccount& pool = bus_.accounts().bus_account();
    for (const Waiter& w : p.waiters) pool.release(w.pool_slot, Resource::service_starts, 1);
}

void Activation::name_acquired(std::string_view name) {
    auto it = pending_.find(name);
    if (it == pending_.end()) return;
    std::unique_ptr<Pending> p = std::move(it->second);
    pending_.erase(it);
    p->timer.cancel();
    release_waiters(*p);
    spdlog::info("Successfully activated service '{}'", p->name);
    for (Waiter& w : p->waiters) {
        if (w.from == 0) {
            bus_.send_from_driver(std::move(w.message));
            continue;
        }
        Connection* from = bus_.find(w.from);
        if (!from || !from->is_open()) continue;  // the caller left while it waited
        if (w.auto_start) {
            bus_.deliver_activated(*from, std::move(w.message));
        } else {
            reply_started(*from, w);
        }
    }
}

void Activation::reply_started(Connection& to, const Waiter& w) {
    const wire::Header& call = w.message->header();
    if (call.flags & wire::flags::no_reply_expected) return;
    std::vector<uint8_t> body;
    wire::Writer(body).uint32(1);  // DBUS_START_REPLY_SUCCESS
    wire::HeaderFields f;
    f.type = wire::MessageType::method_return;
    f.flags = wire::flags::no_reply_expected;
    f.serial = bus_.next_serial();
    f.reply_serial = call.serial;
    f.destination = to.unique_name();
    f.sender = driver_name;
    f.signature = "u";
    bus_.send_from_driver(Message::build(f, body));
}

void Activation::on_child_exit(pid_t pid, int status) {
    auto it = std::find_if(pending_.begin(), pending_.end(), [pid](const auto& e) { return e.second->pid == pid; });
    if (it == pending_.end()) return;  // it took its name first, or its start already ended
    // As dbus-daemon: a child that ends well may have handed the work to another process (a daemon that
    // forks); only the timeout ends that start.
    if (options_.servicehelper.empty() && WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
    ExitError e;
    if (!options_.servicehelper.empty() && WIFEXITED(status)) {
        e = servicehelper_error(WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
        e = {fmt::format("{}Spawn.ChildSignaled", error_prefix),
             fmt::format("Process {} received signal {}", it->first, WTERMSIG(status))};
    } else {
        e = {fmt::format("{}Spawn.ChildExited", error_prefix),
             fmt::format("Process {} exited with status {}", it->first, WEXITSTATUS(status))};
    }
    const std::string name = it->first;
    fail(name, e.name, e.text);
    bus_.flush_dirty();
}

void Activation::on_timeout(const std::string& name) {
    auto it = pending_.find(name);
    if (it == pending_.end()) return;
    if (it->second->pid) launcher_.kill(it->second->pid);
    fail(name, "org.freedesktop.DBus.Error.TimedOut",
         fmt::format("Failed to activate service '{}': timed out (service_start_timeout={}ms)", name,
                     bus_.limits().service_start_timeout_ms));
}

void Activation::systemd_failure(std::string_view unit, std::string_view error_name, std::string_view text) {
    std::vector<std::string> failed;
    for (const auto& [name, p] : pending_) {
        if (p->systemd_unit == unit) failed.push_back(name);
    }
    for (const std::string& name : failed) {
        spdlog::warn("Activation via systemd failed for unit '{}': {}", unit, text);
        fail(name, error_name, text);
    }
}

void Activation::fail(const std::string& name, std::string_view error_name, std::string_view text) {
    auto it = pending_.find(name);
    if (it == pending_.end()) return;
    std::unique_ptr<Pending> p = std::move(it->second);
    pending_.erase(it);
    p->timer.cancel();
    release_waiters(*p);
    spdlog::warn("Activated service '{}' failed: {}", name, text);
    for (const Waiter& w : p->waiters) {
        Connection* to = w.from ? bus_.find(w.from) : nullptr;
        if (!to || !to->is_open()) continue;
        bus_.reply_error(*to, w.message->header(), error_name, text);
    }
}

}  // namespace jetbus::broker
