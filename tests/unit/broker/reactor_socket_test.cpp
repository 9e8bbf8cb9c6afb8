// ReactorSocket: what leaves the reactor's epoll set when a socket is closed. Asio removes an fd it
// was handed (EPOLL_CTL_DEL) before closing it, in case it is a dup; a SoleDescriptor skips that, and
// the kernel drops the registration itself when the socket's only descriptor closes.
#include <doctest/doctest.h>

#include <dirent.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "broker/reactor_read.h"

using jetbus::broker::ReactorSocket;

namespace {

// Whether an epoll set of this process still registers fd number `fd` (/proc/self/fdinfo lists
// each registration as "tfd: N").
bool epoll_registers(int fd) {
    DIR* dir = ::opendir("/proc/self/fd");
    REQUIRE(dir != nullptr);
    bool found = false;
    while (dirent* e = ::readdir(dir)) {
        const std::string path = std::string("/proc/self/fd/") + e->d_name;
        char target[64] = {};
        if (::readlink(path.c_str(), target, sizeof target - 1) <= 0) continue;
        if (std::string(target) != "anon_inode:[eventpoll]") continue;
        std::ifstream info(std::string("/proc/self/fdinfo/") + e->d_name);
        std::string word;
        while (info >> word) {
            if (word != "tfd:") continue;
            int n = -1;
            info >> n;
            if (n == fd) found = true;
        }
    }
    ::closedir(dir);
    return found;
}

struct Pair {
    int ours = -1, theirs = -1;
    Pair() {
        int sv[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
        ours = sv[0];
        theirs = sv[1];
    }
    ~Pair() { ::close(theirs); }
};

}  // namespace

TEST_CASE("a socket's registration is gone once a sole descriptor is closed") {
    boost::asio::io_context io;
    Pair p;
    const int fd = p.ours;
    {
        ReactorSocket s(io, fd, ReactorSocket::SoleDescriptor{});
        CHECK(epoll_registers(fd));
        s.close();
    }
    CHECK_FALSE(epoll_registers(fd));
}

TEST_CASE("an fd that may be shared is taken out of the set before it is closed") {
    boost::asio::io_context io;
    Pair p;
    const int fd = p.ours;
    const int dup = ::dup(fd);  // the socket outlives the close of fd
    REQUIRE(dup >= 0);
    {
        ReactorSocket s(io, fd);
        CHECK(epoll_registers(fd));
        s.close();
    }
    CHECK_FALSE(epoll_registers(fd));
    ::close(dup);
}

TEST_CASE("a sole descriptor is closed without EPOLL_CTL_DEL") {
    // Breaking the contract shows the syscall is skipped: with a dup alive the socket lives on, and
    // so does its registration. (The broker never dups a connection's fd: see Bus::accept.)
    boost::asio::io_context io;
    Pair p;
    const int fd = p.ours;
    const int dup = ::dup(fd);
    REQUIRE(dup >= 0);
    {
        ReactorSocket s(io, fd, ReactorSocket::SoleDescriptor{});
        s.close();
    }
    CHECK(epoll_registers(fd));
    ::close(dup);
    CHECK_FALSE(epoll_registers(fd));
}
