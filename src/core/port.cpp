// Port: opening, the validation prologue, syncs and blocking waits.
#include <upio/backend/adapter.hpp>
#include <upio/backend/port_type.hpp>
#include <upio/port.hpp>

#include <fmt/format.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/time.h>
#include <unistd.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <mutex>

namespace upio {

namespace {

std::mutex registry_mu; // adapter open/close bookkeeping (Adapter::users_)

const char* dir_name(Direction d) { return d == Direction::tx ? "tx" : "rx"; }

} // namespace

Result<std::unique_ptr<Port>> Port::open(std::string_view name, const PortOptions& opts) {
    auto parsed = PortName::parse(name);
    if (!parsed) return std::move(parsed).error();
    PortName pn = std::move(parsed.value());

    const AdapterFactory factory = pn.port_type()->open;
    if (!factory)
        return make_error(EPROTONOSUPPORT, fmt::format("{}: port type '{}' has no factory", name, pn.type_name()));
    auto ad = factory(pn, opts);
    if (!ad) return std::move(ad).error();

    std::unique_ptr<Port> p(new Port());
    p->name_ = std::move(pn);
    p->adapter_ = std::move(ad.value());
    Adapter& a = *p->adapter_;
    const std::uint32_t ntx = a.num_rings(Direction::tx), nrx = a.num_rings(Direction::rx);
    for (Direction d : {Direction::tx, Direction::rx})
        for (std::uint32_t i = 0; i < a.num_rings(d); i++) p->rings_[int(d)].push_back(a.kring(d, i).ring);

    // Ring selection: all rings, or one pair; optionally one direction only.
    for (Direction d : {Direction::tx, Direction::rx}) {
        std::uint32_t n = a.num_rings(d);
        std::uint32_t first = 0, last = n;
        if (p->name_.ring >= 0) {
            if (std::uint32_t(p->name_.ring) >= n) {
                const std::string has = n == 0   ? fmt::format("no {} rings", dir_name(d))
                                        : n == 1 ? fmt::format("1 {} ring: 0", dir_name(d))
                                                 : fmt::format("{} {} rings: 0..{}", n, dir_name(d), n - 1);
                return make_error(EINVAL, fmt::format("{}: ring {} does not exist ({} has {})", name, p->name_.ring,
                                                      a.name(), has));
            }
            first = std::uint32_t(p->name_.ring);
            last = first + 1;
        }
        if ((d == Direction::tx && p->name_.dir == PortName::Dir::rx_only) ||
            (d == Direction::rx && p->name_.dir == PortName::Dir::tx_only))
            last = first;
        p->first_[int(d)] = first;
        p->last_[int(d)] = last;
    }

    p->spin_ = a.spin_pays() ? std::chrono::nanoseconds(opts.wait_spin) : std::chrono::nanoseconds(0);
    p->evfd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    p->epfd_ = epoll_create1(EPOLL_CLOEXEC);
    if (p->evfd_ < 0 || p->epfd_ < 0)
        return make_error(errno, fmt::format("{}: cannot create its wake-up descriptors: {}", name, std::strerror(errno)));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = p->evfd_;
    epoll_ctl(p->epfd_, EPOLL_CTL_ADD, p->evfd_, &ev);

    // Bind the selected rings to this Port: one owner per ring.
    std::vector<KRing*> bound;
    auto unbind = [&] {
        for (KRing* k : bound) {
            release_wake_fd(*k);
            k->bound.store(false);
        }
    };
    for (Direction d : {Direction::tx, Direction::rx}) {
        for (std::uint32_t i = p->first_[int(d)]; i < p->last_[int(d)]; i++) {
            KRing& k = a.kring(d, i);
            if (k.bound.exchange(true)) {
                unbind();
                return make_error(EBUSY, fmt::format("{}: {} ring {} is already open in another Port; open one ring "
                                                     "pair per Port with ',ring=N' (or '-N')",
                                                     name, dir_name(d), i));
            }
            bound.push_back(&k);
            // A ring outlives its Ports (a pipe end while its peer is open, a
            // VALE port opened again): show the new owner the ring as the
            // framework knows it, not what the previous owner left in the
            // header (a head it never synced, a scribbled num_slots), which
            // the new owner could neither use nor repair.
            netmap_ring* r = k.ring;
            r->buf_ofs = a.memory().buf_ofs_from(r);
            r->num_slots = k.num_slots;
            r->nr_buf_size = a.memory().buf_size();
            r->ringid = k.ring_id;
            r->dir = d == Direction::tx ? NR_TX : NR_RX;
            r->head = r->cur = k.rhead;
            r->tail = k.rtail;
            r->flags = 0;
            k.rcur = k.rhead;
            k.wake_fd = p->evfd_;
            for (int fd : a.wait_fds(k)) {
                auto w = std::find_if(p->wait_fds_.begin(), p->wait_fds_.end(),
                                      [fd](const WaitFd& x) { return x.fd == fd; });
                if (w == p->wait_fds_.end()) {
                    epoll_event e{};
                    e.events = EPOLLIN;
                    e.data.fd = fd;
                    if (epoll_ctl(p->epfd_, EPOLL_CTL_ADD, fd, &e) < 0) {
                        unbind();
                        return make_error(errno, fmt::format("{}: cannot wait on its interrupt descriptor: {}", name,
                                                             std::strerror(errno)));
                    }
                    w = p->wait_fds_.insert(p->wait_fds_.end(), WaitFd{fd, true, {}});
                }
                w->rings.emplace_back(d, i);
            }
        }
    }

    // netmap_if: the name and every ring's offset, in the adapter's region.
    auto obj = a.memory().alloc_object(nifp_bytes(ntx + nrx));
    if (!obj) {
        unbind();
        return std::move(obj).error();
    }
    p->nifp_ = static_cast<netmap_if*>(obj.value());
    std::memset(p->nifp_, 0, sizeof(netmap_if));
    // netmap's ni_name holds IFNAMSIZ-1 characters: a longer name is cut
    // there, and whole in name().full.
    std::snprintf(p->nifp_->ni_name, sizeof p->nifp_->ni_name, "%s", p->name_.full.c_str());
    p->nifp_->ni_version = NETMAP_API;
    p->nifp_->ni_tx_rings = ntx;
    p->nifp_->ni_rx_rings = nrx;
    // As in netmap, only the rings this Port opened have an offset; the
    // others' are 0 (libnetmap finds the first and last ring so).
    auto ofs = [&](Direction d, std::uint32_t i) -> ssize_t {
        if (i < p->first_[int(d)] || i >= p->last_[int(d)]) return 0;
        return reinterpret_cast<char*>(a.kring(d, i).ring) - reinterpret_cast<char*>(p->nifp_);
    };
    for (std::uint32_t i = 0; i < ntx; i++) p->nifp_->ring_ofs[i] = ofs(Direction::tx, i);
    for (std::uint32_t i = 0; i < nrx; i++) p->nifp_->ring_ofs[ntx + i] = ofs(Direction::rx, i);

    // Extra buffers: a list threaded through each buffer's first 4 bytes.
    if (opts.extra_bufs) {
        if (Status s = a.memory().add_extra_list(&p->nifp_->ni_bufs_head, opts.extra_bufs); !s) {
            a.memory().free_object(p->nifp_);
            unbind();
            return make_error(ENOMEM, fmt::format("{}: cannot get {} extra buffers: {}", name, opts.extra_bufs,
                                                  s.error().message));
        }
        p->extra_bufs_ = opts.extra_bufs;
    }

    {
        std::lock_guard lk(registry_mu);
        if (a.users_++ == 0) {
            if (Status s = a.register_port(true); !s) {
                a.users_--;
                p->release_extra_bufs();
                a.memory().free_object(p->nifp_);
                unbind();
                return std::move(s).error();
            }
        }
    }
    p->opened_ = true;
    return p;
}

MemoryRegion& Port::memory() const noexcept { return adapter_->memory(); }
Port::RegionView Port::region() const noexcept {
    MemoryRegion& m = memory();
    return RegionView{m.base(), m.size(), std::size_t(m.buf(0) - m.base()), m.num_bufs(), m.buf_size(),
                      reinterpret_cast<std::uintptr_t>(&m)};
}
std::uint32_t Port::buf_size() const noexcept { return adapter_->memory().buf_size(); }
bool Port::shares_memory_with(const Port& other) const noexcept {
    return &adapter_->memory() == &other.adapter_->memory();
}
bool Port::link_up() const noexcept { return adapter_->link_up(); }
Status Port::set_vnet_hdr_len(std::uint32_t len) { return adapter_->set_vnet_hdr_len(len); }
std::uint32_t Port::vnet_hdr_len() const noexcept { return adapter_->vnet_hdr_len(); }

void Port::release_extra_bufs() noexcept {
    if (!nifp_) return;
    // The list is the application's memory: the region frees at most as
    // many buffers as this Port took, and none that is free, listed twice,
    // or held by a ring or another Port (see MemoryRegion::release_extra_list).
    if (extra_bufs_) (void)memory().release_extra_list(&nifp_->ni_bufs_head, extra_bufs_);
    extra_bufs_ = 0;
    nifp_->ni_bufs_head = 0;
}

Port::~Port() {
    // A Port that failed to open has undone its own steps already; the
    // rings it named may belong to another Port.
    if (adapter_ && opened_) {
        Adapter& a = *adapter_;
        {
            std::lock_guard lk(registry_mu);
            if (--a.users_ == 0) (void)a.register_port(false);
        }
        for (Direction d : {Direction::tx, Direction::rx})
            for (std::uint32_t i = first_[int(d)]; i < last_[int(d)]; i++) {
                KRing& k = a.kring(d, i);
                k.sleeping.store(0);
                release_wake_fd(k);
                k.bound.store(false);
            }
        release_extra_bufs();
        if (nifp_) a.memory().free_object(nifp_);
    }
    if (epfd_ >= 0) ::close(epfd_);
    if (evfd_ >= 0) ::close(evfd_);
}

// The validation prologue, then the backend, then tail for the application.
namespace {

// Whether every slot of slot[0..n) holds a buf_idx in [first_buf,
// first_buf + span) and a len of at most maxlen (0xffff: any). Branch-free:
// the culprit is named by a slow loop only after a failure. With SSE2,
// four slots at a time: their buf_idx words and their len/flags words are
// gathered into one register each and compared together.
bool slots_ok(const netmap_slot* sl, std::uint32_t n, std::uint32_t span, std::uint32_t maxlen) noexcept {
    if (span == 0) return n == 0; // a region without packet buffers
    std::uint32_t i = 0;
    std::uint32_t bad = 0;
#if defined(__SSE2__)
    const __m128i bias = _mm_set1_epi32(INT32_MIN); // unsigned compares through signed ones
    const __m128i first = _mm_set1_epi32(MemoryRegion::first_buf);
    const __m128i span_hi = _mm_set1_epi32(std::int32_t((span - 1) ^ 0x80000000u)); // idx - first > span - 1: bad
    const __m128i len_mask = _mm_set1_epi32(0xffff);
    const __m128i max_len = _mm_set1_epi32(std::int32_t(maxlen));
    __m128i acc = _mm_setzero_si128();
    for (; i + 4 <= n; i += 4) {
        const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(sl + i));
        const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(sl + i + 1));
        const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(sl + i + 2));
        const __m128i d = _mm_loadu_si128(reinterpret_cast<const __m128i*>(sl + i + 3));
        const __m128i ab = _mm_unpacklo_epi32(a, b); // a.idx b.idx a.len b.len
        const __m128i cd = _mm_unpacklo_epi32(c, d);
        const __m128i idx = _mm_sub_epi32(_mm_unpacklo_epi64(ab, cd), first);
        const __m128i len = _mm_and_si128(_mm_unpackhi_epi64(ab, cd), len_mask);
        acc = _mm_or_si128(acc, _mm_cmpgt_epi32(_mm_xor_si128(idx, bias), span_hi));
        acc = _mm_or_si128(acc, _mm_cmpgt_epi32(len, max_len));
    }
    bad = std::uint32_t(_mm_movemask_epi8(acc));
#endif
    for (; i < n; i++)
        bad |= std::uint32_t(sl[i].buf_idx - MemoryRegion::first_buf >= span) | std::uint32_t(sl[i].len > maxlen);
    return bad == 0;
}

} // namespace

int Port::sync_one(KRing& k, unsigned flags) noexcept {
    netmap_ring* r = k.ring;
    const std::uint32_t head = r->head, cur = r->cur; // read once
    const std::uint32_t hwcur = k.nr_hwcur.load(std::memory_order_relaxed);
    const std::uint32_t tail = k.rtail;
    const char* dir = dir_name(k.dir);
    auto reject = [&](const char* what, std::uint32_t a, std::uint32_t b) {
        std::snprintf(errbuf_, sizeof errbuf_, "%s %s ring %u: %s (%u, %u); ring left unchanged", name_.full.c_str(),
                      dir, unsigned(k.ring_id), what, a, b);
        RingCounters::add(k.stats.prologue_errors, 1);
        r->tail = tail;
        return -EINVAL;
    };
    if (head >= k.num_slots || cur >= k.num_slots) [[unlikely]]
        return reject("head/cur beyond the ring", head, cur);
    // head may only move forward from where the last sync left it (k.rhead),
    // which can be ahead of hwcur: slots handed over but not yet consumed
    // (a full pipe peer, a busy NIC) are the port's, not the application's.
    if (k.distance(k.rhead, head) > k.distance(k.rhead, tail)) [[unlikely]]
        return reject("head outside [previous head, tail]", head, tail);
    if (k.distance(head, cur) > k.distance(head, tail)) [[unlikely]]
        return reject("cur outside [head, tail]", cur, tail);
    // Slots returned to the framework: valid buffers, and (tx) lengths that
    // fit. Checked branch-free over at most two contiguous runs; the slow
    // loop below only runs to name the culprit.
    const MemoryRegion& mem = k.adapter->memory();
    const std::uint32_t maxlen = k.dir == Direction::tx ? mem.buf_size() : 0xffff;
    const std::uint32_t span = mem.num_bufs() - MemoryRegion::first_buf;
    auto run_ok = [&](std::uint32_t from, std::uint32_t to) {
        return slots_ok(r->slot + from, to - from, span, maxlen);
    };
    const bool ok = hwcur <= head ? run_ok(hwcur, head) : run_ok(hwcur, k.num_slots) && run_ok(0, head);
    if (!ok) [[unlikely]] {
        for (std::uint32_t i = hwcur; i != head; i = k.next(i)) {
            const netmap_slot& s = r->slot[i];
            if (!mem.valid_buf(s.buf_idx))
                return reject("slot has a buf_idx outside the region (slot, buf_idx)", i, s.buf_idx);
            if (s.len > maxlen) return reject("slot len larger than a buffer (slot, len)", i, s.len);
        }
    }
    // A tx ring whose every slot the port holds, none of them the end of a
    // packet: the application has no slot left for the last fragment, and
    // every port sends whole packets only, so the ring would stall for good.
    // Costs one compare unless the ring is full; then the walk back from
    // head usually stops at once, on the end of the last packet.
    if (k.dir == Direction::tx && k.distance(hwcur, head) == k.num_slots - 1 &&
        (r->slot[k.prev(head)].flags & NS_MOREFRAG)) [[unlikely]] {
        std::uint32_t i = k.prev(head);
        while (i != hwcur && (r->slot[k.prev(i)].flags & NS_MOREFRAG)) i = k.prev(i);
        if (i == hwcur)
            return reject("an NS_MOREFRAG chain fills the ring and can never end; clear NS_MOREFRAG on its "
                          "last slot (first slot, last slot)",
                          hwcur, k.prev(head));
    }
    k.rhead = head;
    k.rcur = cur;
    int rc = k.dir == Direction::tx ? k.adapter->txsync(k, flags) : k.adapter->rxsync(k, flags);
    if (rc < 0) [[unlikely]]
        std::snprintf(errbuf_, sizeof errbuf_, "%s %s ring %u: %s", name_.full.c_str(), dir, unsigned(k.ring_id),
                      k.adapter->explain(k, rc));
    k.rtail = k.nr_hwtail.load(std::memory_order_acquire);
    r->tail = k.rtail;
    if (r->flags & NR_TIMESTAMP) [[unlikely]]
        gettimeofday(&r->ts, nullptr);
    return rc;
}

int Port::txsync(unsigned flags) noexcept {
    int rc = 0;
    for (std::uint32_t i = first_[0]; i < last_[0]; i++)
        if (int e = sync_one(adapter_->kring(Direction::tx, i), flags); e < 0) rc = e;
    return rc;
}

int Port::rxsync(unsigned flags) noexcept {
    int rc = 0;
    for (std::uint32_t i = first_[1]; i < last_[1]; i++)
        if (int e = sync_one(adapter_->kring(Direction::rx, i), flags); e < 0) rc = e;
    return rc;
}

int Port::txsync_ring(std::uint32_t ring, unsigned flags) noexcept {
    if (ring < first_[0] || ring >= last_[0]) return -EINVAL;
    return sync_one(adapter_->kring(Direction::tx, ring), flags);
}

int Port::rxsync_ring(std::uint32_t ring, unsigned flags) noexcept {
    if (ring < first_[1] || ring >= last_[1]) return -EINVAL;
    return sync_one(adapter_->kring(Direction::rx, ring), flags);
}

// The shortest KRing::max_sleep_ns of the selected rings (0: none bounds a
// sleep).
std::chrono::nanoseconds Port::sleep_bound(Direction d) const noexcept {
    std::uint64_t ns = 0;
    for (std::uint32_t i = first_[int(d)]; i < last_[int(d)]; i++) {
        const std::uint64_t m = adapter_->kring(d, i).max_sleep_ns;
        if (m && (ns == 0 || m < ns)) ns = m;
    }
    return std::chrono::nanoseconds(ns);
}

bool Port::ready(Direction d) const noexcept {
    for (std::uint32_t i = first_[int(d)]; i < last_[int(d)]; i++) {
        const netmap_ring* r = adapter_->kring(d, i).ring;
        if (r->cur != r->tail) return true;
    }
    return false;
}

// evfd_ is drained by disarm(), so arm() makes no system call for it: a
// wake-up written after that drain makes the next sleep return at once,
// which the caller's re-sync absorbs.
bool Port::arm(Direction d) noexcept {
    for (std::uint32_t i = first_[int(d)]; i < last_[int(d)]; i++) {
        KRing& k = adapter_->kring(d, i);
        k.sleeping.store(1, std::memory_order_relaxed);
        adapter_->set_interrupts(k, true);
    }
    // Pairs with wake_if_sleeping(): publish "asleep", then re-check.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    // A failed sync (a removed device, a bad ring) is not a reason to sleep:
    // the caller's next sync reports it.
    if ((d == Direction::tx ? txsync() : rxsync()) < 0) return false;
    if (ready(d)) return false;
    select_wait_fds(d);
    return true;
}

// Keeps in epfd_ the wait fds that can report progress on a ring of `d`:
// those of another direction, and those of rx rings whose every slot the
// application holds (nothing can arrive there), leave it. A system call
// only when a descriptor's state changes; removing (not masking) it, since
// epoll reports errors and hang-ups even on a descriptor that asks for
// nothing.
void Port::select_wait_fds(Direction d) noexcept {
    for (WaitFd& w : wait_fds_) {
        bool want = false;
        for (auto [dir, ring] : w.rings)
            if (dir == d && !(d == Direction::rx && rx_all_held(ring))) {
                want = true;
                break;
            }
        if (want == w.polled) continue;
        epoll_event e{};
        e.events = EPOLLIN;
        e.data.fd = w.fd;
        if (epoll_ctl(epfd_, want ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, w.fd, &e) == 0 || errno == EEXIST ||
            errno == ENOENT)
            w.polled = want;
    }
}

void Port::disarm(Direction d) noexcept {
    for (std::uint32_t i = first_[int(d)]; i < last_[int(d)]; i++) {
        KRing& k = adapter_->kring(d, i);
        k.sleeping.store(0, std::memory_order_relaxed);
        adapter_->set_interrupts(k, false);
    }
    if (wait_fds_.empty()) { // only our eventfd: one read drains it
        std::uint64_t junk;
        [[maybe_unused]] auto r = ::read(evfd_, &junk, sizeof junk);
        return;
    }
    epoll_event evs[8];
    int n = epoll_wait(epfd_, evs, 8, 0);
    for (int i = 0; i < n; i++) {
        if (evs[i].data.fd == evfd_) {
            std::uint64_t junk;
            [[maybe_unused]] auto r = ::read(evfd_, &junk, sizeof junk);
        } else {
            adapter_->ack_wait_fd(evs[i].data.fd);
        }
    }
}

// Whether the application holds every slot of rx ring `ring` (tail just
// before head): then nothing can arrive there until it releases some, and
// a descriptor of that ring that stays readable (frames queued in a
// socket, a level-triggered interrupt) must not end a wait, or the wait
// would spin.
bool Port::rx_all_held(std::uint32_t ring) const noexcept {
    const KRing& k = adapter_->kring(Direction::rx, ring);
    return k.next(k.ring->tail) == k.ring->head;
}

int Port::wait(Direction d, std::chrono::nanoseconds timeout) noexcept {
    using clock = std::chrono::steady_clock;
    if (first_[int(d)] == last_[int(d)]) [[unlikely]] { // nothing could ever make it ready
        std::snprintf(errbuf_, sizeof errbuf_, "%s: a wait for %s, but the port has no %s rings (opened %s)",
                      name_.full.c_str(), dir_name(d), dir_name(d), d == Direction::tx ? "/R" : "/T");
        return -EINVAL;
    }
    const bool forever = timeout.count() < 0;
    const auto deadline = forever ? clock::time_point::max() : clock::now() + timeout;
    bool spun = false;
    for (;;) {
        int rc = d == Direction::tx ? txsync() : rxsync();
        if (rc < 0) return rc;
        if (ready(d)) return 1;
        if (!forever && clock::now() >= deadline) return 0;
        if (!spun && spin_.count() > 0) { // poll briefly before paying for a sleep
            spun = true;
            const auto until = std::min(deadline, clock::now() + spin_);
            for (unsigned i = 0;; i++) {
                __builtin_ia32_pause();
                if ((i & 15) != 15) continue;
                if ((d == Direction::tx ? txsync() : rxsync()) < 0) break;
                if (ready(d)) return 1;
                if (clock::now() >= until) break;
            }
            continue;
        }
        if (arm(d)) {
            pollfd pfd{wait_fds_.empty() ? evfd_ : epfd_, POLLIN, 0};
            timespec ts{}, *tsp = nullptr;
            const std::chrono::nanoseconds cap = sleep_bound(d);
            if (!forever || cap.count() > 0) {
                auto left = forever ? cap : std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - clock::now());
                if (left.count() < 0) left = {};
                if (cap.count() > 0 && left > cap) left = cap; // wake to sync: the ring's hang check
                ts.tv_sec = time_t(left.count() / 1000000000);
                ts.tv_nsec = long(left.count() % 1000000000);
                tsp = &ts;
            }
            int n = ppoll(&pfd, 1, tsp, nullptr);
            if (n < 0 && errno != EINTR) {
                disarm(d);
                return -errno;
            }
        }
        disarm(d);
    }
}

RingStats Port::counters(Direction d) const noexcept {
    RingStats t;
    for (std::uint32_t i = first_[int(d)]; i < last_[int(d)]; i++) {
        RingStats s = adapter_->kring(d, i).stats.snapshot();
        t.packets += s.packets;
        t.bytes += s.bytes;
        t.drops += s.drops;
        t.prologue_errors += s.prologue_errors;
        t.rx_errors += s.rx_errors;
        t.tx_hangs += s.tx_hangs;
        t.wakeups += adapter_->kring(d, i).wakeups.load(std::memory_order_relaxed);
    }
    return t;
}

} // namespace upio
