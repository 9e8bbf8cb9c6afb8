// DirectoryWatch: tells when files appear, change or go in a set of directories (inotify), so that new or
// removed .service files and config snippets take effect without a SIGHUP, as with dbus-daemon.
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

namespace jetbus::broker {

class DirectoryWatch {
public:
    explicit DirectoryWatch(boost::asio::io_context& io, std::function<void()> on_change);
    ~DirectoryWatch();
    // Watches exactly these directories from now on; missing ones are skipped.
    void watch(const std::vector<std::string>& dirs);

private:
    void read();
    void changed();

    boost::asio::io_context& io_;
    std::function<void()> on_change_;
    std::unique_ptr<boost::asio::posix::stream_descriptor> fd_;
    std::vector<int> watches_;
    std::array<char, 4096> buffer_{};
    // An editor or package manager writes several files at once: one call after they settle.
    boost::asio::steady_timer settle_;
    bool settling_ = false;
};

}  // namespace jetbus::broker
