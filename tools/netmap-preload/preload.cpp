// libupio-netmap.so: netmap's /dev/netmap answered in the process by upio,
// for unmodified netmap programs (LD_PRELOAD=libupio-netmap.so prog ...).
//
// open("/dev/netmap") gives a real descriptor (an eventfd until the port is
// registered, then a duplicate of the Port's wait descriptor), so the
// program's fd sets, poll arrays and close() keep working. Everything the
// program does with that descriptor comes here first:
//   ioctl   NIOCCTRL (nmreq_header), NIOCREGIF/NIOCGINFO, NIOCTXSYNC/NIOCRXSYNC
//   mmap    the Port's region itself: netmap_if, rings and buffers at the
//           offsets netmap's programs use (nr_offset, ring_ofs, buf_ofs)
//   munmap  of that region: nothing (the region lives until close)
//   poll, ppoll, select: the rings synced as netmap's poll does, sleeping
//           on the Port's descriptor only when nothing is ready
//   epoll   the same for a netmap descriptor in an epoll set (epoll.cpp)
//   dup, dup2, dup3, fcntl(F_DUPFD): a copy is the same registration
//   close   closes the Port with the last descriptor naming it
// Any other descriptor goes to the C library's own call (dlsym RTLD_NEXT).
// See docs/netmap-compat.md.
#include "control.hpp"
#include "real.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/select.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <fcntl.h>

using namespace upio_netmap;

namespace {

using open_t = int (*)(const char*, int, ...);
using open2_t = int (*)(const char*, int);
using openat_t = int (*)(int, const char*, int, ...);
using close_t = int (*)(int);
using dup_t = int (*)(int);
using dup2_t = int (*)(int, int);
using dup3_t = int (*)(int, int, int);
using fcntl_t = int (*)(int, int, ...);
using ioctl_t = int (*)(int, unsigned long, ...);
using mmap_t = void* (*)(void*, size_t, int, int, int, off_t);
using munmap_t = int (*)(void*, size_t);
using poll_t = int (*)(struct pollfd*, nfds_t, int);
using ppoll_t = int (*)(struct pollfd*, nfds_t, const struct timespec*, const sigset_t*);
using select_t = int (*)(int, fd_set*, fd_set*, fd_set*, struct timeval*);

// The C library's calls (real.hpp), looked up when the library is loaded.
constinit struct {
    Real<open_t> open{"open"}, open64{"open64"};
    Real<open2_t> open_2{"__open_2"}, open64_2{"__open64_2"};
    Real<openat_t> openat{"openat"}, openat64{"openat64"};
    Real<close_t> close{"close"};
    Real<dup_t> dup{"dup"};
    Real<dup2_t> dup2{"dup2"};
    Real<dup3_t> dup3{"dup3"};
    Real<fcntl_t> fcntl{"fcntl"}, fcntl64{"fcntl64"};
    Real<ioctl_t> ioctl{"ioctl"};
    Real<mmap_t> mmap{"mmap"}, mmap64{"mmap64"};
    Real<munmap_t> munmap{"munmap"};
    Real<poll_t> poll{"poll"};
    Real<ppoll_t> ppoll{"ppoll"};
    Real<select_t> select{"select"};
} libc;

[[gnu::constructor]] void load_libc() noexcept {
    libc.open.load();
    libc.open64.load();
    libc.open_2.load();
    libc.open64_2.load();
    libc.openat.load();
    libc.openat64.load();
    libc.close.load();
    libc.dup.load();
    libc.dup2.load();
    libc.dup3.load();
    libc.fcntl.load();
    libc.fcntl64.load();
    libc.ioctl.load();
    libc.mmap.load();
    libc.mmap64.load();
    libc.munmap.load();
    libc.poll.load();
    libc.ppoll.load();
    libc.select.load();
}

// What an intercepted call returns when the C library has no call of its own.
int no_real_call() noexcept {
    errno = ENOSYS;
    return -1;
}

void real_close_fd(int fd) {
    if (const auto real_close = libc.close.get()) real_close(fd);
}

bool is_dev_netmap(const char* path) { return path && std::strcmp(path, "/dev/netmap") == 0; }

int open_netmap(int flags) {
    int fd = eventfd(0, (flags & O_CLOEXEC) ? EFD_CLOEXEC : 0);
    if (fd < 0) return -1;
    if (!adopt(fd)) {
        real_close_fd(fd);
        errno = EMFILE;
        return -1;
    }
    return fd;
}

mode_t mode_arg(int flags, va_list ap) {
    return (flags & (O_CREAT | O_TMPFILE)) ? mode_t(va_arg(ap, int)) : 0;
}

bool ring_ready(const upio::Port& p, upio::Direction d) {
    for (std::uint32_t r = p.first_ring(d); r < p.last_ring(d); r++) {
        const netmap_ring* ring = d == upio::Direction::tx ? p.tx_ring(r) : p.rx_ring(r);
        if (ring->cur != ring->tail) return true;
    }
    return false;
}

// poll over a mix of netmap and other descriptors. Netmap's poll: POLLIN
// syncs the rx rings, POLLOUT the tx rings; ready when a ring has slots for
// the application. Sleeps (real poll/ppoll) only when nothing is ready.
template <typename Sleep> int netmap_poll(struct pollfd* fds, nfds_t nfds, int timeout_ms, Sleep sleep) {
    // One netmap descriptor and one direction (pkt-gen's loop): the Port's
    // own wait, which spins briefly before it sleeps.
    if (nfds == 1 && timeout_ms != 0) {
        if (NetmapFd* e = lookup(fds[0].fd); e && e->port && !e->forked) {
            short ev = fds[0].events & (POLLIN | POLLOUT);
            if (ev == POLLIN || ev == POLLOUT) {
                auto d = ev == POLLIN ? upio::Direction::rx : upio::Direction::tx;
                if (d == upio::Direction::rx && !e->no_tx_poll) e->port->txsync();
                auto t = timeout_ms < 0 ? std::chrono::nanoseconds(-1)
                                        : std::chrono::nanoseconds(std::chrono::milliseconds(timeout_ms));
                int rc = e->port->wait(d, t);
                if (rc == -ENOTCONN && !ring_ready(*e->port, d)) {
                    // A pipe whose other end is closed is quiet, as in
                    // netmap (not an error): nothing comes until a process
                    // opens that end again.
                    e->report(rc, "poll");
                    sleep(nullptr, 0, timeout_ms);
                    fds[0].revents = 0;
                    return 0;
                }
                if (rc < 0) {
                    // What the rings hold stays the program's (frames that
                    // arrived before a peer went away): POLLIN/POLLOUT with it.
                    e->report(rc, "poll");
                    fds[0].revents = short(POLLERR | (ring_ready(*e->port, d) ? ev : 0));
                    return 1;
                }
                fds[0].revents = rc > 0 ? ev : 0;
                return rc > 0 ? 1 : 0;
            }
        }
    }
    bool ready_now = false;
    short small[64];
    std::unique_ptr<short[]> big(nfds > 64 ? new short[nfds] : nullptr);
    short* want = nfds > 64 ? big.get() : small;
    for (nfds_t i = 0; i < nfds; i++) {
        want[i] = fds[i].events;
        NetmapFd* e = lookup(fds[i].fd);
        if (!e || !e->port) continue;
        if (e->forked) {
            ready_now = true; // POLLERR below
            continue;
        }
        // netmap's poll syncs the tx rings whatever is asked (unless
        // NR_NO_TX_POLL): frames a program left there go out (bridge's loop)
        if (!(want[i] & POLLOUT) && !e->no_tx_poll) (void)e->port->txsync();
        if ((want[i] & POLLOUT) && arm_for_sleep(*e, upio::Direction::tx)) ready_now = true;
        if ((want[i] & POLLIN) && arm_for_sleep(*e, upio::Direction::rx)) ready_now = true;
        fds[i].events = POLLIN; // the Port's descriptor signals by becoming readable
    }
    int n = sleep(fds, nfds, ready_now ? 0 : timeout_ms);
    int saved = errno;
    int count = 0;
    for (nfds_t i = 0; i < nfds; i++) {
        NetmapFd* e = lookup(fds[i].fd);
        fds[i].events = want[i];
        if (!e || !e->port) {
            if (n >= 0 && fds[i].revents) count++;
            continue;
        }
        if (e->forked) { // the parent's port: an error, not a sleep without end
            (void)forked_error(*e, "poll");
            fds[i].revents = POLLERR;
            count++;
            continue;
        }
        short rev = 0;
        upio::Port& p = *e->port;
        if (want[i] & POLLOUT) {
            p.disarm(upio::Direction::tx);
            if (int rc = p.txsync(); rc < 0) {
                e->report(rc, "poll");
                if (rc != -ENOTCONN) rev |= POLLERR; // a closed pipe end is quiet, as in netmap
            }
            if (ring_ready(p, upio::Direction::tx)) rev |= POLLOUT;
        }
        if (!(want[i] & POLLOUT) && !e->no_tx_poll) (void)p.txsync();
        if (want[i] & POLLIN) {
            p.disarm(upio::Direction::rx);
            if (int rc = p.rxsync(); rc < 0) {
                e->report(rc, "poll");
                if (rc != -ENOTCONN) rev |= POLLERR;
            }
            if (ring_ready(p, upio::Direction::rx)) rev |= POLLIN;
        }
        fds[i].revents = rev;
        if (rev) count++;
    }
    if (n < 0 && count == 0) {
        errno = saved;
        return -1;
    }
    return count;
}

bool any_netmap(const struct pollfd* fds, nfds_t nfds) {
    for (nfds_t i = 0; i < nfds; i++)
        if (NetmapFd* e = lookup(fds[i].fd); e && e->port) return true;
    return false;
}

} // namespace

extern "C" {

int open(const char* path, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    if (is_dev_netmap(path)) return open_netmap(flags);
    const auto real_open = libc.open.get();
    if (!real_open) return no_real_call();
    return real_open(path, flags, mode);
}

int open64(const char* path, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    if (is_dev_netmap(path)) return open_netmap(flags);
    const auto real_open64 = libc.open64.get();
    if (!real_open64) return no_real_call();
    return real_open64(path, flags, mode);
}

int __open_2(const char* path, int flags) {
    if (is_dev_netmap(path)) return open_netmap(flags);
    const auto real_open_2 = libc.open_2.get();
    if (!real_open_2) return no_real_call();
    return real_open_2(path, flags);
}

int __open64_2(const char* path, int flags) {
    if (is_dev_netmap(path)) return open_netmap(flags);
    const auto real_open64_2 = libc.open64_2.get();
    if (!real_open64_2) return no_real_call();
    return real_open64_2(path, flags);
}

int openat(int dirfd, const char* path, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    if (is_dev_netmap(path)) return open_netmap(flags);
    const auto real_openat = libc.openat.get();
    if (!real_openat) return no_real_call();
    return real_openat(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char* path, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    if (is_dev_netmap(path)) return open_netmap(flags);
    const auto real_openat64 = libc.openat64.get();
    if (!real_openat64) return no_real_call();
    return real_openat64(dirfd, path, flags, mode);
}

int close(int fd) {
    const auto real_close = libc.close.get();
    if (!real_close) return no_real_call();
    epoll_forget(fd);
    if (lookup(fd)) release(fd);
    return real_close(fd);
}

// A copy of a netmap descriptor names the same registration, as a dup'd
// descriptor of netmap's is the same open file.
int dup(int fd) {
    const auto real_dup = libc.dup.get();
    if (!real_dup) return no_real_call();
    int nfd = real_dup(fd);
    if (nfd >= 0 && lookup(fd) && !share(fd, nfd)) {
        real_close_fd(nfd);
        errno = EMFILE; // beyond the table
        return -1;
    }
    return nfd;
}

int dup3(int oldfd, int newfd, int flags) {
    const auto real_dup3 = libc.dup3.get();
    if (!real_dup3) return no_real_call();
    const bool ours = lookup(newfd) != nullptr && oldfd != newfd;
    if (ours) epoll_forget(newfd);
    int rc = real_dup3(oldfd, newfd, flags);
    if (rc < 0) return rc;
    if (ours) release(newfd); // the C library closed it
    if (lookup(oldfd) && !share(oldfd, newfd)) {
        real_close_fd(newfd);
        errno = EBADF; // beyond the table
        return -1;
    }
    return rc;
}

int dup2(int oldfd, int newfd) {
    const auto real_dup2 = libc.dup2.get();
    if (!real_dup2) return no_real_call();
    if (oldfd == newfd) return real_dup2(oldfd, newfd); // nothing changes
    const bool ours = lookup(newfd) != nullptr;
    if (ours) epoll_forget(newfd);
    int rc = real_dup2(oldfd, newfd);
    if (rc < 0) return rc;
    if (ours) release(newfd);
    if (lookup(oldfd) && !share(oldfd, newfd)) {
        real_close_fd(newfd);
        errno = EBADF;
        return -1;
    }
    return rc;
}

// fcntl and fcntl64 (the C library's `real`): F_DUPFD and F_DUPFD_CLOEXEC
// as dup; every other command as it is. The argument is an int or a
// pointer, by command: passed on as a word.
int netmap_fcntl(const Real<fcntl_t>& real, int fd, int cmd, void* arg) {
    const auto real_fcntl = real.get();
    if (!real_fcntl) return no_real_call();
    int rc = real_fcntl(fd, cmd, arg);
    if (rc >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) && lookup(fd) && !share(fd, rc)) {
        real_close_fd(rc);
        errno = EMFILE;
        return -1;
    }
    return rc;
}

int fcntl(int fd, int cmd, ...) {
    va_list ap;
    va_start(ap, cmd);
    void* arg = va_arg(ap, void*);
    va_end(ap);
    return netmap_fcntl(libc.fcntl, fd, cmd, arg);
}

int fcntl64(int fd, int cmd, ...) {
    va_list ap;
    va_start(ap, cmd);
    void* arg = va_arg(ap, void*);
    va_end(ap);
    return netmap_fcntl(libc.fcntl64, fd, cmd, arg);
}

int ioctl(int fd, unsigned long req, ...) {
    va_list ap;
    va_start(ap, req);
    void* arg = va_arg(ap, void*);
    va_end(ap);
    if (NetmapFd* e = lookup(fd)) {
        // The syncs first: they are the data path.
        if (req == NIOCTXSYNC || req == NIOCRXSYNC) {
            if (e->forked) {
                errno = forked_error(*e, req == NIOCTXSYNC ? "NIOCTXSYNC" : "NIOCRXSYNC");
                return -1;
            }
            if (!e->port) {
                errno = ENXIO; // netmap: a sync before NIOCREGIF/REGISTER
                return -1;
            }
            int rc = req == NIOCTXSYNC ? e->port->txsync() : e->port->rxsync();
            if (rc < 0) {
                e->report(rc, req == NIOCTXSYNC ? "NIOCTXSYNC" : "NIOCRXSYNC");
                errno = -rc;
                return -1;
            }
            return 0;
        }
        return control(fd, *e, req, arg);
    }
    const auto real_ioctl = libc.ioctl.get();
    if (!real_ioctl) return no_real_call();
    return real_ioctl(fd, req, arg);
}

void* mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off) {
    if (NetmapFd* e = lookup(fd)) return map_region(*e, addr, len, flags, off);
    const auto real_mmap = libc.mmap.get();
    if (!real_mmap) {
        errno = ENOSYS;
        return MAP_FAILED;
    }
    return real_mmap(addr, len, prot, flags, fd, off);
}

void* mmap64(void* addr, size_t len, int prot, int flags, int fd, off_t off) {
    if (NetmapFd* e = lookup(fd)) return map_region(*e, addr, len, flags, off);
    const auto real_mmap64 = libc.mmap64.get();
    if (!real_mmap64) {
        errno = ENOSYS;
        return MAP_FAILED;
    }
    return real_mmap64(addr, len, prot, flags, fd, off);
}

int munmap(void* addr, size_t len) {
    if (is_mapped_region(addr)) return 0;
    const auto real_munmap = libc.munmap.get();
    if (!real_munmap) return no_real_call();
    return real_munmap(addr, len);
}

int poll(struct pollfd* fds, nfds_t nfds, int timeout) {
    const auto real_poll = libc.poll.get();
    if (!real_poll) return no_real_call();
    if (!any_netmap(fds, nfds)) return real_poll(fds, nfds, timeout);
    return netmap_poll(fds, nfds, timeout, real_poll);
}

int __poll_chk(struct pollfd* fds, nfds_t nfds, int timeout, size_t) { return poll(fds, nfds, timeout); }

int ppoll(struct pollfd* fds, nfds_t nfds, const struct timespec* ts, const sigset_t* mask) {
    const auto real_ppoll = libc.ppoll.get();
    if (!real_ppoll) return no_real_call();
    if (!any_netmap(fds, nfds)) return real_ppoll(fds, nfds, ts, mask);
    int ms = ts ? int(ts->tv_sec * 1000 + (ts->tv_nsec + 999999) / 1000000) : -1;
    const auto real_poll = libc.poll.get();
    if (!real_poll) return no_real_call();
    if (!mask) return netmap_poll(fds, nfds, ms, real_poll);
    return netmap_poll(fds, nfds, ms, [&](struct pollfd* f, nfds_t n, int t) {
        // the signal mask holds while asleep; timeouts of 0 stay 0
        struct timespec z{0, 0};
        return real_ppoll(f, n, t == 0 ? &z : ts, mask);
    });
}

int __ppoll_chk(struct pollfd* fds, nfds_t nfds, const struct timespec* ts, const sigset_t* mask, size_t) {
    return ppoll(fds, nfds, ts, mask);
}

// select() as poll() over the descriptors in the sets, when one is ours.
int select(int nfds, fd_set* rd, fd_set* wr, fd_set* ex, struct timeval* tv) {
    const auto real_select = libc.select.get();
    if (!real_select) return no_real_call();
    bool ours = false;
    for (int fd = 0; fd < nfds && fd < FD_SETSIZE && !ours; fd++)
        if ((rd && FD_ISSET(fd, rd)) || (wr && FD_ISSET(fd, wr)))
            if (NetmapFd* e = lookup(fd); e && e->port) ours = true;
    if (!ours) return real_select(nfds, rd, wr, ex, tv);
    struct pollfd pfd[FD_SETSIZE];
    nfds_t n = 0;
    for (int fd = 0; fd < nfds && fd < FD_SETSIZE; fd++) {
        short ev = short(((rd && FD_ISSET(fd, rd)) ? POLLIN : 0) | ((wr && FD_ISSET(fd, wr)) ? POLLOUT : 0) |
                         ((ex && FD_ISSET(fd, ex)) ? POLLPRI : 0));
        if (ev) pfd[n++] = pollfd{fd, ev, 0};
    }
    int ms = tv ? int(tv->tv_sec * 1000 + (tv->tv_usec + 999) / 1000) : -1;
    const auto real_poll = libc.poll.get();
    if (!real_poll) return no_real_call();
    int rc = netmap_poll(pfd, n, ms, real_poll);
    if (rc < 0) return -1;
    if (rd) FD_ZERO(rd);
    if (wr) FD_ZERO(wr);
    if (ex) FD_ZERO(ex);
    int count = 0;
    for (nfds_t i = 0; i < n; i++) {
        short r = pfd[i].revents;
        if (rd && (r & (POLLIN | POLLHUP | POLLERR)) && (pfd[i].events & POLLIN)) FD_SET(pfd[i].fd, rd), count++;
        if (wr && (r & (POLLOUT | POLLERR)) && (pfd[i].events & POLLOUT)) FD_SET(pfd[i].fd, wr), count++;
        if (ex && (r & POLLPRI)) FD_SET(pfd[i].fd, ex), count++;
    }
    if (tv) *tv = timeval{0, 0};
    return count;
}

} // extern "C"
