// Split virtqueues: translating the rings, walking chains, used entries and
// notifications in both directions.
#include "vhost/virtqueue.hpp"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>

namespace upio::vhost {

namespace {

// A descriptor, read once: the caller uses only this copy (the compiler
// barrier keeps it from reading the front end's memory again instead).
VringDesc read_desc(const char* p) noexcept {
    VringDesc d;
    std::memcpy(&d, p, sizeof d);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    return d;
}

void close_fd(int& fd) noexcept {
    if (fd >= 0) ::close(fd);
    fd = -1;
}

} // namespace

Vring::Vring() {
    ep = epoll_create1(EPOLL_CLOEXEC);
    timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (ep >= 0 && timer >= 0) {
        epoll_event e{};
        e.events = EPOLLIN;
        e.data.fd = timer;
        epoll_ctl(ep, EPOLL_CTL_ADD, timer, &e);
    }
}

Vring::~Vring() {
    reset();
    close_fd(timer);
    close_fd(ep);
}

Status Vring::translate(const GuestMemory& mem) {
    desc = nullptr;
    avail = nullptr;
    used = nullptr;
    auto fail = [&](const char* why) {
        mark_broken(why);
        return make_error(EINVAL, why);
    };
    if (num == 0) return fail("the queue size was never set (SET_VRING_NUM)");
    if (!addr_set) return fail("the ring addresses were never set (SET_VRING_ADDR)");
    // The sizes include EVENT_IDX's u16 at the end of each ring, whether
    // negotiated or not: enabling the feature later cannot reach past this.
    char* d = mem.uva_to_host(addr.desc, desc_bytes(num));
    char* a = mem.uva_to_host(addr.avail, avail_bytes(num));
    char* u = mem.uva_to_host(addr.used, used_bytes(num));
    if (!d || !a || !u) return fail("a ring address is outside the memory table");
    // virtio 1.x 2.7: descriptor table 16, available ring 2, used ring 4
    // bytes aligned; checked on our addresses, which the atomics need.
    if (reinterpret_cast<std::uintptr_t>(d) % 16 || reinterpret_cast<std::uintptr_t>(a) % 2 ||
        reinterpret_cast<std::uintptr_t>(u) % 4)
        return fail("a ring address is misaligned (descriptors 16, available 2, used 4 bytes)");
    desc = d;
    avail = reinterpret_cast<VringAvail*>(a);
    used = reinterpret_cast<VringUsed*>(u);
    broken = false;
    why_broken = "";
    return {};
}

void Vring::stop() noexcept {
    set_up = false;
    started = false;
    set_kick(-1);
    desc = nullptr;
    avail = nullptr;
    used = nullptr;
}

bool Vring::start_if_kicked() noexcept {
    if (set_up && !started && kick >= 0) {
        pollfd p{kick, POLLIN, 0};
        if (::poll(&p, 1, 0) == 1 && (p.revents & POLLIN)) {
            std::uint64_t junk; // readable: this read does not block, whatever the fd is
            [[maybe_unused]] auto r = ::read(kick, &junk, sizeof junk);
            started = true;
        }
    }
    return running();
}

void Vring::set_kick(int fd) noexcept {
    if (kick >= 0) epoll_ctl(ep, EPOLL_CTL_DEL, kick, nullptr);
    close_fd(kick);
    kick = fd;
    if (kick >= 0) {
        epoll_event e{};
        e.events = EPOLLIN;
        e.data.fd = kick;
        epoll_ctl(ep, EPOLL_CTL_ADD, kick, &e);
    }
}

void Vring::set_call(int fd) noexcept {
    close_fd(call);
    call = fd;
}

void Vring::set_err(int fd) noexcept {
    close_fd(err);
    err = fd;
}

void Vring::reset() noexcept {
    stop();
    set_call(-1);
    set_err(-1);
    num = 0;
    addr = {};
    addr_set = false;
    base = 0;
    enabled = false;
    event_idx = false;
    indirect = false;
    broken = false;
    why_broken = "";
    last_avail = last_used = 0;
}

Walk Vring::walk(const GuestMemory& mem, std::uint16_t pos, bool writable, Chain& c) noexcept {
    const std::uint16_t head = std::atomic_ref(avail->ring[pos & (num - 1)]).load(std::memory_order_relaxed);
    if (head >= num) [[unlikely]] {
        mark_broken("the front end made a descriptor index beyond the queue size available");
        return Walk::broken;
    }
    c.head = head;
    c.nsegs = 0;
    c.bytes = 0;
    const char* table = desc;
    std::uint32_t size = num, idx = head;
    std::uint32_t budget = num; // descriptors a chain may still visit: a cycle ends here
    bool in_indirect = false;
    for (;;) {
        if (budget-- == 0) return Walk::bad;
        const VringDesc d = read_desc(table + 16 * std::size_t(idx));
        if (d.flags & VRING_DESC_F_INDIRECT) {
            // One level only, never with NEXT (virtio 1.x 2.7.5.3.1), a
            // whole number of descriptors, no more than a queue holds.
            if (!indirect || in_indirect || (d.flags & VRING_DESC_F_NEXT) || d.len == 0 || d.len % 16 ||
                d.len / 16 > max_queue_size)
                return Walk::bad;
            table = mem.gpa_to_host(d.addr, d.len);
            if (!table) return Walk::bad;
            size = budget = d.len / 16;
            idx = 0;
            in_indirect = true;
            continue;
        }
        if (bool(d.flags & VRING_DESC_F_WRITE) != writable) return Walk::bad;
        std::uint64_t a = d.addr, left = d.len;
        while (left) { // a buffer may cross from one region into the next
            std::uint64_t n;
            char* p = mem.gpa_span(a, left, n);
            if (!p || c.nsegs == max_segs) return Walk::bad;
            c.seg[c.nsegs++] = Seg{p, std::uint32_t(n)};
            a += n;
            left -= n;
        }
        c.bytes += d.len;
        if (!(d.flags & VRING_DESC_F_NEXT)) return Walk::ok;
        idx = d.next;
        if (idx >= size) return Walk::bad;
    }
}

bool Vring::publish_used(std::uint16_t n) noexcept {
    if (n == 0) return false;
    const std::uint16_t old = last_used;
    last_used = std::uint16_t(old + n);
    std::atomic_ref(used->idx).store(last_used, std::memory_order_release);
    // Pairs with the driver's barrier between publishing used_event (or
    // the NO_INTERRUPT flag) and reading used->idx.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    bool want;
    if (event_idx) {
        const std::uint16_t ev = std::atomic_ref(avail->ring[num]).load(std::memory_order_relaxed);
        want = need_event(ev, last_used, old);
    } else {
        want = !(std::atomic_ref(avail->flags).load(std::memory_order_relaxed) & VRING_AVAIL_F_NO_INTERRUPT);
    }
    if (!want || call < 0) return false;
    eventfd_write(call, 1);
    return true;
}

void Vring::want_kicks(bool on) noexcept {
    if (event_idx) {
        // avail_event: kick once the driver makes entry last_avail available.
        // Off: left where it is; the driver kicks again only when its index
        // passes that stale value.
        auto* ev = reinterpret_cast<std::uint16_t*>(reinterpret_cast<char*>(used) + 4 + 8 * std::size_t(num));
        if (on) std::atomic_ref(*ev).store(last_avail, std::memory_order_relaxed);
    } else {
        std::atomic_ref(used->flags).store(on ? 0 : VRING_USED_F_NO_NOTIFY, std::memory_order_relaxed);
    }
}

} // namespace upio::vhost
