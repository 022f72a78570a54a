// Rendezvous over abstract unix sockets (see rendezvous.hpp).
#include "shm/rendezvous.hpp"

#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace upio::shm {

std::string rendezvous_name(std::string_view kind, std::string_view key) {
    return fmt::format("upio/{}/{}/{}", ::getuid(), kind, key);
}

namespace {

socklen_t address(const std::string& name, sockaddr_un& a) {
    std::memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    const std::size_t n = std::min(name.size(), sizeof a.sun_path - 1);
    std::memcpy(a.sun_path + 1, name.data(), n); // sun_path[0] = 0: abstract
    return socklen_t(offsetof(sockaddr_un, sun_path) + 1 + n);
}

} // namespace

Result<PeerCred> peer_cred(int sock) {
    ucred c{};
    socklen_t len = sizeof c;
    if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &c, &len) != 0)
        return make_error(errno, fmt::format("cannot read the peer's credentials: {}", std::strerror(errno)));
    return PeerCred{c.pid, c.uid};
}

Result<Fd> listen_at(const std::string& name) {
    Fd s(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!s) return make_error(errno, fmt::format("{}: socket: {}", name, std::strerror(errno)));
    sockaddr_un a;
    const socklen_t len = address(name, a);
    if (::bind(s.get(), reinterpret_cast<sockaddr*>(&a), len) != 0)
        return make_error(errno, fmt::format("{}: bind: {}", name, std::strerror(errno)));
    if (::listen(s.get(), 16) != 0) return make_error(errno, fmt::format("{}: listen: {}", name, std::strerror(errno)));
    return s;
}

Result<Fd> connect_to(const std::string& name, int timeout_ms) {
    Fd s(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    if (!s) return make_error(errno, fmt::format("{}: socket: {}", name, std::strerror(errno)));
    sockaddr_un a;
    const socklen_t len = address(name, a);
    if (::connect(s.get(), reinterpret_cast<sockaddr*>(&a), len) != 0)
        return make_error(errno, fmt::format("{}: connect: {}", name, std::strerror(errno)));
    auto cred = peer_cred(s.get());
    if (!cred) return std::move(cred).error();
    if (cred.value().uid != ::getuid())
        return make_error(EACCES, fmt::format("the name is taken by another user: uid {} (process {}) listens on "
                                              "'{}', which belongs to uid {}; refusing to connect (choose another "
                                              "name, or ask that user to stop)",
                                              cred.value().uid, cred.value().pid, name, ::getuid()));
    timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    ::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(s.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return s;
}

Result<std::pair<Fd, PeerCred>> accept_from(int listener) {
    Fd c(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!c) return make_error(errno, fmt::format("accept: {}", std::strerror(errno)));
    auto cred = peer_cred(c.get());
    if (!cred) return std::move(cred).error();
    if (cred.value().uid != ::getuid())
        return make_error(EACCES, fmt::format("refused process {} of uid {}: only uid {} may connect",
                                              cred.value().pid, cred.value().uid, ::getuid()));
    return std::pair{std::move(c), cred.value()};
}

Status send_msg(int sock, const void* data, std::size_t len, const std::vector<int>& fds) {
    iovec iov{const_cast<void*>(data), len};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int) * 8)];
    if (fds.size() > 8) return make_error(EINVAL, "at most 8 descriptors per message");
    if (!fds.empty()) {
        std::memset(ctl, 0, sizeof ctl);
        m.msg_control = ctl;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
        cmsghdr* c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    ssize_t n;
    do n = ::sendmsg(sock, &m, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0) return make_error(errno, fmt::format("send: {}", std::strerror(errno)));
    if (std::size_t(n) != len) return make_error(EPROTO, "send: message cut short");
    return {};
}

Result<std::size_t> recv_msg(int sock, void* buf, std::size_t cap, std::vector<Fd>& fds, std::size_t max_fds) {
    fds.clear();
    iovec iov{buf, cap};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int) * 16)];
    m.msg_control = ctl;
    m.msg_controllen = sizeof ctl;
    ssize_t n;
    do n = ::recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0) return make_error(errno, fmt::format("receive: {}", std::strerror(errno)));
    // Take every descriptor that arrived, whatever else is wrong, so none leaks.
    for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        const std::size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < k; i++) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            fds.emplace_back(fd);
        }
    }
    if (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
        fds.clear();
        return make_error(EPROTO, "receive: a message larger than expected, or with too many descriptors");
    }
    if (fds.size() > max_fds) {
        const std::size_t got = fds.size();
        fds.clear();
        return make_error(EPROTO, fmt::format("receive: {} descriptors, at most {} expected", got, max_fds));
    }
    return std::size_t(n);
}

} // namespace upio::shm
