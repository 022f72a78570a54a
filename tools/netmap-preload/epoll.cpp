// epoll on netmap descriptors: a registered descriptor in an epoll set is
// armed as poll() arms it (netmap's poll: readable when an rx ring has
// frames after an rxsync, writable when a tx ring has room after a txsync).
//
// The set holds the Port's wait descriptor (the program's netmap
// descriptor is one) for EPOLLIN, with a tag of the preload's as its data;
// what the program asked for (events, data) is kept here. epoll_wait arms
// the Ports of the set's netmap descriptors, sleeps in the C library's
// epoll_wait (at once when a ring is ready), then disarms and syncs them and
// reports those ready with the program's data. The set's other descriptors
// are the kernel's business, untouched. Level-triggered: EPOLLET on a netmap
// descriptor is taken as level (a report more than netmap's edge would
// give); EPOLLONESHOT holds until EPOLL_CTL_MOD.
#include "control.hpp"
#include "real.hpp"

#include <sys/epoll.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <mutex>
#include <unordered_map>
#include <vector>

using namespace upio_netmap;

namespace {

using ctl_t = int (*)(int, int, int, struct epoll_event*);
using wait_t = int (*)(int, struct epoll_event*, int, int);
using pwait_t = int (*)(int, struct epoll_event*, int, int, const sigset_t*);
using pwait2_t = int (*)(int, struct epoll_event*, int, const struct timespec*, const sigset_t*);

// A tag no program's data is: a kernel-half address (never a user pointer)
// with the preload's mark, and a number.
constexpr std::uint64_t tag_mark = 0xffff6e6d00000000ull, tag_mask = 0xffffffff00000000ull;

struct Entry {
    int fd;
    std::uint32_t events; // what the program asked for
    epoll_data_t data;    // and what it gets back
    std::uint64_t tag;
    bool spent = false; // EPOLLONESHOT, reported
};

constexpr int max_sets = 1 << 16;
std::array<std::atomic<bool>, max_sets> has_netmap{}; // epfd -> it holds a netmap descriptor: read without lock
std::mutex mu;
std::unordered_map<int, std::vector<Entry>> sets; // epfd -> its netmap descriptors
std::uint32_t next_tag = 1;

// The C library's calls (real.hpp), looked up when the library is loaded.
constinit struct {
    Real<ctl_t> ctl{"epoll_ctl"};
    Real<wait_t> wait{"epoll_wait"};
    Real<pwait_t> pwait{"epoll_pwait"};
    Real<pwait2_t> pwait2{"epoll_pwait2"};
} libc;

[[gnu::constructor]] void load_libc() noexcept {
    libc.ctl.load();
    libc.wait.load();
    libc.pwait.load();
    libc.pwait2.load();
}

ctl_t real_ctl() noexcept { return libc.ctl.get(); }

// The netmap descriptor `fd` may be registered with epoll set `epfd`.
bool ours(int epfd, int fd) {
    if (epfd < 0 || epfd >= max_sets) return false;
    NetmapFd* e = lookup(fd);
    return e && e->port; // before REGISTER the descriptor is an eventfd that the register replaces
}

int set_ctl(int epfd, int op, int fd, struct epoll_event* ev) {
    std::lock_guard lk(mu);
    std::vector<Entry>& s = sets[epfd];
    auto it = std::find_if(s.begin(), s.end(), [&](const Entry& x) { return x.fd == fd; });
    if (op == EPOLL_CTL_DEL) {
        int rc = real_ctl()(epfd, op, fd, ev);
        if (it != s.end()) s.erase(it);
        if (s.empty()) has_netmap[std::size_t(epfd)].store(false, std::memory_order_release);
        return rc;
    }
    if (!ev) {
        errno = EFAULT;
        return -1;
    }
    if (op == EPOLL_CTL_ADD) {
        if (it != s.end()) {
            errno = EEXIST;
            return -1;
        }
        Entry x{fd, ev->events, ev->data, tag_mark | next_tag++};
        if (next_tag == 0) next_tag = 1;
        struct epoll_event k{};
        k.events = EPOLLIN; // the Port's descriptor becomes readable when an armed ring may have moved
        k.data.u64 = x.tag;
        if (real_ctl()(epfd, op, fd, &k) < 0) return -1;
        s.push_back(x);
        has_netmap[std::size_t(epfd)].store(true, std::memory_order_release);
        return 0;
    }
    if (op == EPOLL_CTL_MOD) {
        if (it == s.end()) return real_ctl()(epfd, op, fd, ev); // the kernel's answer (ENOENT)
        it->events = ev->events;
        it->data = ev->data;
        it->spent = false;
        return 0;
    }
    errno = EINVAL;
    return -1;
}

// What `e` is ready for (of `want`), after the syncs netmap's poll does.
std::uint32_t settle(NetmapFd& e, std::uint32_t want) {
    if (e.forked) {
        (void)forked_error(e, "epoll_wait");
        return EPOLLERR;
    }
    upio::Port& p = *e.port;
    std::uint32_t rev = 0;
    auto ready = [&](upio::Direction d) {
        for (std::uint32_t r = p.first_ring(d); r < p.last_ring(d); r++) {
            const netmap_ring* ring = d == upio::Direction::tx ? p.tx_ring(r) : p.rx_ring(r);
            if (ring->cur != ring->tail) return true;
        }
        return false;
    };
    if (want & EPOLLOUT) {
        p.disarm(upio::Direction::tx);
        if (int rc = p.txsync(); rc < 0) {
            e.report(rc, "epoll_wait");
            if (rc != -ENOTCONN) rev |= EPOLLERR; // a closed pipe end is quiet, as in netmap
        }
        if (ready(upio::Direction::tx)) rev |= EPOLLOUT;
    }
    if (!(want & EPOLLOUT) && !e.no_tx_poll) (void)p.txsync(); // as netmap's poll
    if (want & EPOLLIN) {
        p.disarm(upio::Direction::rx);
        if (int rc = p.rxsync(); rc < 0) {
            e.report(rc, "epoll_wait");
            if (rc != -ENOTCONN) rev |= EPOLLERR;
        }
        if (ready(upio::Direction::rx)) rev |= EPOLLIN;
    }
    return rev;
}

// epoll_wait over a set holding netmap descriptors; `sleep(events, max,
// timeout_ms)` is the C library's wait (epoll_wait, epoll_pwait, ...).
template <typename Sleep> int netmap_epoll(int epfd, struct epoll_event* events, int maxevents, int timeout_ms,
                                           Sleep sleep) {
    if (maxevents <= 0 || !events) return sleep(events, maxevents, timeout_ms); // the kernel's EINVAL/EFAULT
    using clock = std::chrono::steady_clock;
    const auto deadline = clock::now() + std::chrono::milliseconds(timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        thread_local std::vector<Entry> mine; // its capacity stays: no allocation per wait
        mine.clear();
        {
            std::lock_guard lk(mu);
            if (auto it = sets.find(epfd); it != sets.end()) mine.assign(it->second.begin(), it->second.end());
        }
        bool ready_now = false;
        for (const Entry& x : mine) {
            NetmapFd* e = lookup(x.fd);
            if (x.spent || !e || !e->port) continue;
            if (e->forked) ready_now = true;
            else {
                if (!(x.events & EPOLLOUT) && !e->no_tx_poll) (void)e->port->txsync(); // as netmap's poll
                if ((x.events & EPOLLOUT) && arm_for_sleep(*e, upio::Direction::tx)) ready_now = true;
                if ((x.events & EPOLLIN) && arm_for_sleep(*e, upio::Direction::rx)) ready_now = true;
            }
        }
        // Room for the netmap descriptors after what the kernel reports:
        // nothing the kernel reports is dropped (an edge-triggered
        // descriptor's event would be lost).
        const int room = std::max(1, maxevents - int(mine.size()));
        int wait_ms = timeout_ms;
        if (ready_now) wait_ms = 0;
        else if (timeout_ms > 0)
            wait_ms = int(std::max<long long>(
                0, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count()));
        int n = sleep(events, room, wait_ms);
        const int saved = errno;
        int count = 0;
        bool woken = false;
        for (int i = 0; i < std::max(n, 0); i++) {
            if ((events[i].data.u64 & tag_mask) == tag_mark) {
                woken = true;
                continue;
            }
            events[count++] = events[i];
        }
        for (const Entry& x : mine) {
            NetmapFd* e = lookup(x.fd);
            if (x.spent || !e || !e->port) continue;
            const std::uint32_t rev = settle(*e, x.events) & (x.events | EPOLLERR);
            if (!rev || count >= maxevents) continue;
            events[count].events = rev;
            events[count].data = x.data;
            count++;
            if (x.events & EPOLLONESHOT) {
                std::lock_guard lk(mu);
                if (auto it = sets.find(epfd); it != sets.end())
                    for (Entry& y : it->second)
                        if (y.tag == x.tag) y.spent = true;
            }
        }
        if (n < 0 && count == 0) {
            errno = saved;
            return -1;
        }
        // A wake-up for a ring that another sync took first: sleep again,
        // for what is left of the timeout (0 is a timeout, not a wake-up).
        if (count == 0 && woken && timeout_ms != 0 && (timeout_ms < 0 || clock::now() < deadline)) continue;
        return count;
    }
}

bool any(int epfd) { return epfd >= 0 && epfd < max_sets && has_netmap[std::size_t(epfd)].load(std::memory_order_acquire); }

} // namespace

namespace upio_netmap {

void epoll_forget(int fd) noexcept {
    if (fd < 0) return;
    if (fd < max_sets && has_netmap[std::size_t(fd)].load(std::memory_order_acquire)) {
        std::lock_guard lk(mu);
        sets.erase(fd);
        has_netmap[std::size_t(fd)].store(false, std::memory_order_release);
    }
    if (!lookup(fd)) return;
    // Out of every set while the number still names it (a copy of the
    // descriptor would keep the kernel's entry alive after close).
    std::lock_guard lk(mu);
    for (auto& [epfd, s] : sets) {
        auto it = std::find_if(s.begin(), s.end(), [&](const Entry& x) { return x.fd == fd; });
        if (it == s.end()) continue;
        (void)real_ctl()(epfd, EPOLL_CTL_DEL, fd, nullptr);
        s.erase(it);
        if (s.empty()) has_netmap[std::size_t(epfd)].store(false, std::memory_order_release);
    }
}

} // namespace upio_netmap

extern "C" {

int epoll_ctl(int epfd, int op, int fd, struct epoll_event* ev) {
    if (!real_ctl()) {
        errno = ENOSYS;
        return -1;
    }
    if (!ours(epfd, fd)) {
        if (op == EPOLL_CTL_DEL && any(epfd)) return set_ctl(epfd, op, fd, ev); // forget it if it was ours
        return real_ctl()(epfd, op, fd, ev);
    }
    return set_ctl(epfd, op, fd, ev);
}

int epoll_wait(int epfd, struct epoll_event* events, int maxevents, int timeout) {
    const auto real_wait = libc.wait.get();
    if (!real_wait) {
        errno = ENOSYS;
        return -1;
    }
    if (!any(epfd)) return real_wait(epfd, events, maxevents, timeout);
    return netmap_epoll(epfd, events, maxevents, timeout,
                        [&](struct epoll_event* ev, int max, int ms) { return real_wait(epfd, ev, max, ms); });
}

int epoll_pwait(int epfd, struct epoll_event* events, int maxevents, int timeout, const sigset_t* mask) {
    const auto real_pwait = libc.pwait.get();
    if (!real_pwait) {
        errno = ENOSYS;
        return -1;
    }
    if (!any(epfd)) return real_pwait(epfd, events, maxevents, timeout, mask);
    return netmap_epoll(epfd, events, maxevents, timeout,
                        [&](struct epoll_event* ev, int max, int ms) { return real_pwait(epfd, ev, max, ms, mask); });
}

int epoll_pwait2(int epfd, struct epoll_event* events, int maxevents, const struct timespec* ts,
                 const sigset_t* mask) {
    const auto real_pwait2 = libc.pwait2.get();
    if (!real_pwait2) {
        errno = ENOSYS;
        return -1;
    }
    if (!any(epfd)) return real_pwait2(epfd, events, maxevents, ts, mask);
    if (ts && (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000)) {
        errno = EINVAL;
        return -1;
    }
    // to milliseconds, rounded up (a wait of 1 ns is not a poll), capped
    int ms = -1;
    if (ts) {
        const long long v = ts->tv_sec > 2000000 ? 2000000000LL : ts->tv_sec * 1000LL + (ts->tv_nsec + 999999) / 1000000;
        ms = int(v);
    }
    return netmap_epoll(epfd, events, maxevents, ms, [&](struct epoll_event* ev, int max, int t) {
        struct timespec w{t / 1000, long(t % 1000) * 1000000L};
        return real_pwait2(epfd, ev, max, t < 0 ? nullptr : &w, mask);
    });
}

} // extern "C"
