// The control thread: sockets, reading messages with their fds, replies.
#include "vhost/control.hpp"

#include <fmt/format.h>
#include <upio/log.hpp>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace upio::vhost {

namespace {

Result<sockaddr_un> unix_addr(const std::string& path) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof a.sun_path)
        return make_error(ENAMETOOLONG, fmt::format("socket path '{}' must be 1..{} characters", path,
                                                    sizeof a.sun_path - 1));
    std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
    return a;
}

} // namespace

Control::Control(Device& dev, std::string path, bool client) : dev_(dev), path_(std::move(path)), client_(client) {}

Control::~Control() {
    stopping_.store(true);
    if (stop_ >= 0) eventfd_write(stop_, 1);
    if (thread_.joinable()) thread_.join();
    if (listen_ >= 0) {
        ::close(listen_);
        ::unlink(path_.c_str());
    }
    if (stop_ >= 0) ::close(stop_);
}

std::string Control::last_error() const {
    std::lock_guard lk(err_mu_);
    return err_;
}

void Control::set_error(std::string why, bool print) {
    if (print) log(LogLevel::warn, fmt::format("vhost:{}: {}", path_, why));
    std::lock_guard lk(err_mu_);
    err_ = std::move(why);
}

Status Control::start() {
    auto addr = unix_addr(path_);
    if (!addr) return std::move(addr).error();
    stop_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (stop_ < 0) return make_error(errno, fmt::format("cannot create an eventfd: {}", std::strerror(errno)));
    if (!client_) {
        listen_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (listen_ < 0) return make_error(errno, fmt::format("cannot create a unix socket: {}", std::strerror(errno)));
        const sockaddr_un& a = addr.value();
        auto fail = [&](int e, std::string why) {
            ::close(listen_);
            listen_ = -1;
            return make_error(e, std::move(why));
        };
        if (::bind(listen_, reinterpret_cast<const sockaddr*>(&a), sizeof a) < 0) {
            const int e = errno;
            if (e != EADDRINUSE)
                return fail(e, fmt::format("cannot bind {}: {} (does its directory exist and is it writable?)", path_,
                                           std::strerror(e)));
            // A socket file left by a program that ended: nobody accepts on it.
            const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            const bool alive = probe >= 0 && ::connect(probe, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0;
            if (probe >= 0) ::close(probe);
            struct stat sb {};
            if (alive || ::stat(path_.c_str(), &sb) < 0 || !S_ISSOCK(sb.st_mode))
                return fail(e, fmt::format("{} is in use ({}); choose another path or end the program serving it",
                                           path_, alive ? "another program listens on it" : "not a socket"));
            ::unlink(path_.c_str());
            if (::bind(listen_, reinterpret_cast<const sockaddr*>(&a), sizeof a) < 0)
                return fail(errno, fmt::format("cannot bind {}: {}", path_, std::strerror(errno)));
        }
        if (::listen(listen_, 4) < 0)
            return fail(errno, fmt::format("cannot listen on {}: {}", path_, std::strerror(errno)));
    }
    thread_ = std::thread([this] { run(); });
    return {};
}

bool Control::wait_readable(int fd, int timeout_ms) noexcept {
    pollfd p[2] = {{stop_, POLLIN, 0}, {fd, POLLIN, 0}};
    for (;;) {
        const int n = ::poll(p, fd >= 0 ? 2 : 1, timeout_ms);
        if (n < 0 && errno == EINTR) continue;
        if (stopping_.load()) return false;
        return n > 0;
    }
}

void Control::run() noexcept {
    while (!stopping_.load()) {
        if (client_) {
            auto addr = unix_addr(path_);
            int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
            if (fd >= 0 && ::connect(fd, reinterpret_cast<const sockaddr*>(&addr.value()), sizeof(sockaddr_un)) == 0) {
                serve(fd);
            } else {
                if (fd >= 0) ::close(fd);
                wait_readable(-1, 1000); // no server yet: try again in a second
            }
            continue;
        }
        if (!wait_readable(listen_, -1)) continue;
        const int fd = ::accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd >= 0) serve(fd);
    }
}

// One front end, until it leaves or breaks the protocol.
void Control::serve(int fd) noexcept {
    connections_.fetch_add(1, std::memory_order_relaxed);
    connected_.store(true, std::memory_order_release);
    Message m;
    for (;;) {
        pollfd p[3] = {{stop_, POLLIN, 0}, {fd, POLLIN, 0}, {listen_, POLLIN, 0}};
        const int n = ::poll(p, listen_ >= 0 ? 3 : 2, -1);
        if (n < 0 && errno == EINTR) continue;
        if (stopping_.load()) break;
        if (listen_ >= 0 && (p[2].revents & POLLIN)) { // one front end at a time
            const int other = ::accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC);
            if (other >= 0) ::close(other);
        }
        if (!(p[1].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        const int r = read_message(fd, m);
        if (r == 0) {
            set_error("the front end closed the connection", false); // a guest shutting down: not worth a line
            break;
        }
        if (r < 0) break;
        auto reply = dev_.handle(m);
        if (!reply) {
            set_error(fmt::format("{}; connection closed", reply.error().message));
            break;
        }
        if (reply.value().send && !send_reply(fd, reply.value())) {
            set_error(fmt::format("cannot reply to {}: {}; connection closed", request_name(m.hdr.request),
                                  std::strerror(errno)));
            break;
        }
    }
    ::close(fd);
    connected_.store(false, std::memory_order_release);
    dev_.reset(); // rings stop, memory is unmapped, waiters wake to a link down
}

// Reads exactly `len` bytes; fds that come with them are added to `m`.
bool Control::read_full(int fd, void* buf, std::size_t len, Message& m, bool first) noexcept {
    auto* p = static_cast<char*>(buf);
    std::size_t got = 0;
    while (got < len) {
        iovec iov{p + got, len - got};
        alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * max_fds)];
        msghdr mh{};
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = cbuf;
        mh.msg_controllen = sizeof cbuf;
        const ssize_t n = ::recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (!wait_readable(fd, -1)) return false;
            continue;
        }
        if (n <= 0) {
            if (n == 0 && first && got == 0) errno = 0; // a clean close between messages
            else if (n == 0) errno = EPIPE;
            return false;
        }
        bool too_many = (mh.msg_flags & MSG_CTRUNC) != 0;
        for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
            const std::size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (std::size_t i = 0; i < k; i++) {
                int f;
                std::memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof f);
                if (m.nfds < max_fds)
                    m.fds[m.nfds++] = f;
                else {
                    ::close(f);
                    too_many = true;
                }
            }
        }
        if (too_many) {
            errno = E2BIG;
            return false;
        }
        got += std::size_t(n);
    }
    return true;
}

int Control::read_message(int fd, Message& m) noexcept {
    m.close_fds();
    m.hdr = {};
    if (!read_full(fd, &m.hdr, sizeof m.hdr, m, true)) {
        if (errno == 0) return 0;
        if (!stopping_.load())
            set_error(errno == E2BIG ? "a message carried more file descriptors than any request may; connection closed"
                                     : fmt::format("reading a message: {}; connection closed", std::strerror(errno)));
        m.close_fds();
        return -1;
    }
    if (!payload_size_ok(m.hdr.size)) {
        set_error(fmt::format("{} with a payload of {} bytes (at most {}); connection closed",
                              request_name(m.hdr.request), m.hdr.size, max_payload));
        m.close_fds();
        return -1;
    }
    if (m.hdr.size && !read_full(fd, m.payload, m.hdr.size, m, false)) {
        if (!stopping_.load())
            set_error(fmt::format("reading the payload of {}: {}; connection closed", request_name(m.hdr.request),
                                  std::strerror(errno ? errno : EPIPE)));
        m.close_fds();
        return -1;
    }
    return 1;
}

bool Control::send_reply(int fd, const Reply& r) noexcept {
    char buf[sizeof(MsgHeader) + sizeof r.payload];
    std::memcpy(buf, &r.hdr, sizeof r.hdr);
    std::memcpy(buf + sizeof r.hdr, r.payload, r.hdr.size);
    const std::size_t len = sizeof r.hdr + r.hdr.size;
    std::size_t sent = 0;
    while (sent < len) {
        const ssize_t n = ::send(fd, buf + sent, len - sent, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            pollfd p[2] = {{stop_, POLLIN, 0}, {fd, POLLOUT, 0}};
            if (::poll(p, 2, -1) < 0 && errno != EINTR) return false;
            if (stopping_.load()) return false;
            continue;
        }
        if (n <= 0) return false;
        sent += std::size_t(n);
    }
    return true;
}

} // namespace upio::vhost
