// Unix-socket transport: nonblocking recvmsg/sendmsg with fds carried by SCM_RIGHTS, and the peer's
// credentials as the kernel reports them (never as a client claims them).
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace jetbus::broker {

struct PeerCredentials {
    uid_t uid = static_cast<uid_t>(-1);
    gid_t gid = static_cast<gid_t>(-1);
    pid_t pid = 0;
    std::string security_label;    // SO_PEERSEC, empty when the kernel has none
};

PeerCredentials read_peer_credentials(int fd);

// The peer's supplementary groups (SO_PEERGROUPS). The kernel keeps them from connect() on, as it
// keeps the pid, so asking late gives what asking at accept would: the broker asks only when a group
// policy or GetConnectionCredentials needs them (one syscall less per connection otherwise).
std::vector<gid_t> read_peer_groups(int fd);

// A new pidfd (O_CLOEXEC, the caller's to close) for the process that connected `fd`, or -1 where the
// kernel has no SO_PEERPIDFD (before 6.5) or that process is gone. The socket holds the connecting
// process's pid from connect() on, so asking late names the same process as asking at accept; the
// broker asks only when a client wants ProcessFD, and holds no fd per peer for it.
int open_peer_pidfd(int fd);

// Result of one transfer: bytes moved (> 0), 0 for end of stream (receive only), or -errno.
// -EAGAIN means "try again when ready".
ssize_t receive_with_fds(int fd, std::span<uint8_t> buf, std::vector<int>& fds_out);
ssize_t send_with_fds(int fd, std::span<const iovec> iov, std::span<const int> fds);

// Most fds the broker accepts in one recvmsg (the kernel's SCM_MAX_FD).
constexpr size_t max_fds_per_receive = 253;

}  // namespace jetbus::broker
