// DirectoryWatch: inotify on a few directories. See directory_watch.h.
#include "broker/directory_watch.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

namespace jetbus::broker {

namespace {
constexpr auto settle_time = std::chrono::milliseconds(100);
constexpr uint32_t interesting = IN_CLOSE_WRITE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
                                 IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB;
}  // namespace

DirectoryWatch::DirectoryWatch(boost::asio::io_context& io, std::function<void()> on_change)
    : io_(io), on_change_(std::move(on_change)), settle_(io) {
    const int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) {
        spdlog::warn("cannot watch service and config directories (inotify: {}); use SIGHUP to reload",
                     std::strerror(errno));
        return;
    }
    fd_ = std::make_unique<boost::asio::posix::stream_descriptor>(io_, fd);
    read();
}

DirectoryWatch::~DirectoryWatch() {
    settle_.cancel();
    if (fd_) fd_->close();
}

void DirectoryWatch::watch(const std::vector<std::string>& dirs) {
    if (!fd_) return;
    for (int wd : watches_) inotify_rm_watch(fd_->native_handle(), wd);
    watches_.clear();
    for (const std::string& dir : dirs) {
        const int wd = inotify_add_watch(fd_->native_handle(), dir.c_str(), interesting | IN_ONLYDIR);
        if (wd >= 0) {
            watches_.push_back(wd);
        } else if (errno != ENOENT && errno != ENOTDIR) {
            spdlog::warn("cannot watch {}: {}", dir, std::strerror(errno));
        }
    }
}

void DirectoryWatch::read() {
    fd_->async_read_some(boost::asio::buffer(buffer_), [this](const boost::system::error_code& ec, size_t n) {
        if (ec == boost::asio::error::operation_aborted) return;
        if (ec) {
            spdlog::warn("directory watch stopped: {}", ec.message());
            return;
        }
        // Events on a removed watch (IN_IGNORED) alone are not changes.
        bool relevant = false;
        for (size_t off = 0; off + sizeof(inotify_event) <= n;) {
            const auto* ev = reinterpret_cast<const inotify_event*>(buffer_.data() + off);
            if (ev->mask & interesting) relevant = true;
            off += sizeof(inotify_event) + ev->len;
        }
        if (relevant) changed();
        read();
    });
}

void DirectoryWatch::changed() {
    if (settling_) return;
    settling_ = true;
    settle_.expires_after(settle_time);
    settle_.async_wait([this](const boost::system::error_code& ec) {
        settling_ = false;
        if (ec) return;
        on_change_();
    });
}

}  // namespace jetbus::broker
