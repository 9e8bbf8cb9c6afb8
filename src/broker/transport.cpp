// Unix-socket transport. See transport.h.
#include "broker/transport.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77  // Linux 6.5; older headers lack it
#endif

namespace jetbus::broker {

PeerCredentials read_peer_credentials(int fd) {
    PeerCredentials c;
    ucred uc{};
    socklen_t len = sizeof uc;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == 0) {
        c.uid = uc.uid;
        c.gid = uc.gid;
        c.pid = uc.pid;
    }

    // Without an LSM that labels sockets the kernel answers ENOPROTOOPT, and always will: asked once.
    static bool labels_supported = true;
    if (labels_supported) {
        char label[256];
        len = sizeof label;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERSEC, label, &len) == 0) {
            if (len > 0) c.security_label.assign(label, strnlen(label, len));
        } else if (errno == ENOPROTOOPT) {
            labels_supported = false;
        }
    }
    return c;
}

std::vector<gid_t> read_peer_groups(int fd) {
    std::vector<gid_t> groups(64);
    auto len = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) != 0) {
        if (errno != ERANGE) return {};
        groups.resize(len / sizeof(gid_t));
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) != 0) return {};
    }
    groups.resize(len / sizeof(gid_t));
    return groups;
}

int open_peer_pidfd(int fd) {
    int pidfd = -1;
    socklen_t len = sizeof pidfd;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) != 0) return -1;
    return pidfd;
}

ssize_t receive_with_fds(int fd, std::span<uint8_t> buf, std::vector<int>& fds_out) {
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * max_fds_per_receive)];
    iovec iov{buf.data(), buf.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n;
    do {
        n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return -errno;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const auto* fds = reinterpret_cast<const int*>(CMSG_DATA(c));
        for (size_t i = 0; i < count; ++i) {
            int f;
            std::memcpy(&f, fds + i, sizeof f);
            fds_out.push_back(f);
        }
    }
    if (msg.msg_flags & MSG_CTRUNC) return -EMSGSIZE;  // fds lost: the stream can no longer be trusted
    return n;
}

ssize_t send_with_fds(int fd, std::span<const iovec> iov, std::span<const int> fds) {
    msghdr msg{};
    msg.msg_iov = const_cast<iovec*>(iov.data());
    msg.msg_iovlen = iov.size();
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * max_fds_per_receive)];
    if (!fds.empty()) {
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    ssize_t n;
    do {
        n = sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

}  // namespace jetbus::broker
