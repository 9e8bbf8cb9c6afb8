// forward-probe: what it costs a middle process to pass large messages between two unix sockets, by
// each way a broker could do it. A sender writes MESSAGE bytes and waits for a one-byte answer; the
// middle forwards to a receiver, which reads them all and answers. Modes:
//   direct        no middle: sender to receiver (the floor)
//   copy          middle reads the whole message into memory, then writes it (store and forward)
//   pipe-chain    middle splices the whole message into pipes, then out of them (store and forward,
//                 no copy through user memory)
//   cut-copy      middle writes each 1 MiB as it arrives (cut-through, through user memory)
//   cut-splice    middle splices each piece on through a pipe as it arrives (cut-through, zero-copy)
// Prints MB/s per mode: the median of REPEATS rounds of COUNT messages, modes interleaved.
// Usage: forward-probe [MESSAGE_BYTES [COUNT [REPEATS]]]   (default 16777216 20 5)
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

namespace {

constexpr size_t piece = 1 << 20;

[[noreturn]] void die(const char* what) {
    std::perror(what);
    std::exit(1);
}

void write_all(int fd, const char* p, size_t n) {
    while (n > 0) {
        const ssize_t k = ::write(fd, p, n);
        if (k <= 0) die("write");
        p += k;
        n -= static_cast<size_t>(k);
    }
}

void read_exactly(int fd, char* p, size_t n) {
    while (n > 0) {
        const ssize_t k = ::read(fd, p, n);
        if (k <= 0) die("read");
        p += k;
        n -= static_cast<size_t>(k);
    }
}

void splice_exactly(int from, int to, size_t n) {
    while (n > 0) {
        const ssize_t k = ::splice(from, nullptr, to, nullptr, n, SPLICE_F_MOVE);
        if (k <= 0) die("splice");
        n -= static_cast<size_t>(k);
    }
}

int pipe_of(size_t size, int ends[2]) {
    if (::pipe(ends) != 0) die("pipe");
    if (::fcntl(ends[1], F_SETPIPE_SZ, static_cast<int>(size)) < 0) die("F_SETPIPE_SZ");
    return 0;
}

void sender(int fd, size_t size, int count) {
    std::vector<char> msg(size, 'x');
    for (int i = 0; i < count; ++i) {
        write_all(fd, msg.data(), size);
        char c;
        read_exactly(fd, &c, 1);
    }
}

void receiver(int fd, size_t size, int count) {
    std::vector<char> buf(piece);
    for (int i = 0; i < count; ++i) {
        for (size_t left = size; left > 0;) {
            const size_t n = std::min(left, buf.size());
            read_exactly(fd, buf.data(), n);
            left -= n;
        }
        write_all(fd, "r", 1);
    }
}

void middle(const std::string& mode, int in, int out, size_t size, int count) {
    std::vector<char> buf(mode == "copy" ? size : piece);
    int through[2];
    pipe_of(piece, through);
    std::vector<std::pair<int, int>> chain;
    if (mode == "pipe-chain") {
        for (size_t have = 0; have < size; have += piece) {
            int ends[2];
            pipe_of(piece, ends);
            chain.emplace_back(ends[0], ends[1]);
        }
    }
    for (int i = 0; i < count; ++i) {
        if (mode == "copy") {
            read_exactly(in, buf.data(), size);
            write_all(out, buf.data(), size);
        } else if (mode == "pipe-chain") {
            size_t left = size;
            for (auto& [r, w] : chain) {
                splice_exactly(in, w, std::min(left, piece));
                left -= std::min(left, piece);
            }
            left = size;
            for (auto& [r, w] : chain) {
                splice_exactly(r, out, std::min(left, piece));
                left -= std::min(left, piece);
            }
        } else {
            for (size_t left = size; left > 0;) {
                if (mode == "cut-copy") {
                    const ssize_t k = ::read(in, buf.data(), std::min(left, piece));
                    if (k <= 0) die("read");
                    write_all(out, buf.data(), static_cast<size_t>(k));
                    left -= static_cast<size_t>(k);
                } else {
                    const ssize_t k = ::splice(in, nullptr, through[1], nullptr, std::min(left, piece), SPLICE_F_MOVE);
                    if (k <= 0) die("splice");
                    splice_exactly(through[0], out, static_cast<size_t>(k));
                    left -= static_cast<size_t>(k);
                }
            }
        }
        char c;
        read_exactly(out, &c, 1);
        write_all(in, &c, 1);
    }
}

double run(const std::string& mode, size_t size, int count) {
    int a[2], b[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, a) != 0 || ::socketpair(AF_UNIX, SOCK_STREAM, 0, b) != 0) die("socketpair");
    const auto start = std::chrono::steady_clock::now();
    const pid_t s = ::fork();
    if (s == 0) {
        sender(a[0], size, count);
        std::_Exit(0);
    }
    const pid_t r = ::fork();
    if (r == 0) {
        receiver(mode == "direct" ? a[1] : b[1], size, count);
        std::_Exit(0);
    }
    if (mode != "direct") middle(mode, a[1], b[0], size, count);
    int status = 0;
    ::waitpid(s, &status, 0);
    ::waitpid(r, &status, 0);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (int fd : {a[0], a[1], b[0], b[1]}) ::close(fd);
    return static_cast<double>(size) * count / seconds / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
    const size_t size = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 16u << 20;
    const int count = argc > 2 ? std::atoi(argv[2]) : 20;
    const int repeats = argc > 3 ? std::atoi(argv[3]) : 5;
    const std::vector<std::string> modes{"direct", "copy", "pipe-chain", "cut-copy", "cut-splice"};
    std::vector<std::vector<double>> rates(modes.size());
    for (int rep = 0; rep < repeats; ++rep)
        for (size_t m = 0; m < modes.size(); ++m) rates[m].push_back(run(modes[m], size, count));
    std::printf("%zu-byte messages, %d per round, median of %d rounds\n", size, count, repeats);
    for (size_t m = 0; m < modes.size(); ++m) {
        auto v = rates[m];
        std::sort(v.begin(), v.end());
        std::printf("%-11s %8.0f MB/s  (%.2f x direct)\n", modes[m].c_str(), v[v.size() / 2],
                    v[v.size() / 2] / [&] { auto d = rates[0]; std::sort(d.begin(), d.end()); return d[d.size() / 2]; }());
    }
}
