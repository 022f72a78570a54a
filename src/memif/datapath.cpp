// The memif data path of the server role: one copy each way between the
// client's buffers and the port's netmap buffers.
//
//   rxsync  C2S ring: frames in [pos, head) the client published. Each
//           frame's descriptors (NEXT chains) are read once into a local
//           array and checked -- region index, offset + length inside the
//           region, chain length -- before any byte is copied; the frame is
//           copied into as many netmap slots as it needs (NS_MOREFRAG on all
//           but the last), and tail tells the client its buffers are free.
//   txsync  S2C ring: empty buffers in [pos, head) the client offered, each
//           descriptor read once and checked before it is written; a frame
//           (one slot or an NS_MOREFRAG chain) is spread over as many
//           descriptors as it needs (NEXT on all but the last), and tail
//           publishes it. A frame that does not fit in the offered buffers
//           waits in the tx ring, whole.
// Interrupts: the rx ring's MASK_INT is ours. It stays set (no eventfd
// writes from the peer) until a waiter sleeps, which clears it
// (set_interrupts); after sending we write the S2C eventfd only when the
// client cleared its MASK_INT.
// Nothing here allocates, logs or throws.
#include "memif/adapter.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <sys/timerfd.h>

namespace upio::memif {
namespace {

template <class T>
std::atomic_ref<T> shared(T& v) noexcept {
    return std::atomic_ref<T>(v);
}

struct Tally {
    std::uint64_t packets = 0, bytes = 0, drops = 0, errors = 0;
};

void count(KRing& k, const Tally& t) noexcept {
    if (t.packets) {
        RingCounters::add(k.stats.packets, t.packets);
        RingCounters::add(k.stats.bytes, t.bytes);
    }
    if (t.drops) RingCounters::add(k.stats.drops, t.drops);
    if (t.errors) RingCounters::add(k.stats.rx_errors, t.errors);
}

} // namespace

void MemifAdapter::fault(Fault f, std::uint32_t ring, std::uint32_t a, std::uint32_t b) noexcept {
    int none = 0;
    if (fault_.load(std::memory_order_relaxed)) return;
    fault_ring_.store(ring, std::memory_order_relaxed);
    fault_a_.store(a, std::memory_order_relaxed);
    fault_b_.store(b, std::memory_order_relaxed);
    if (fault_.compare_exchange_strong(none, int(f), std::memory_order_acq_rel)) {
        std::uint64_t one = 1;
        [[maybe_unused]] auto r = ::write(kick_.get(), &one, sizeof one);
    }
}

int MemifAdapter::rxsync(KRing& k, unsigned) noexcept {
    if (k.nr_hwcur.load(std::memory_order_relaxed) != k.rhead) k.nr_hwcur.store(k.rhead, std::memory_order_release);
    RingState& rs = *rx_state_[k.ring_id];
    Connection* c = enter(rs);
    if (!c || k.ring_id >= c->rx_count() || fault_.load(std::memory_order_relaxed)) [[unlikely]] {
        leave(rs);
        return 0;
    }
    if (c->client) {
        const int rc = c->zero_copy ? zc_rxsync(k, *c) : client_rxsync(k, *c);
        leave(rs);
        return rc;
    }
    SharedRing& r = c->c2s[k.ring_id];
    const std::uint16_t head = shared(r.hdr->head).load(std::memory_order_acquire);
    std::uint16_t pos = r.pos;
    std::uint32_t avail = std::uint16_t(head - pos);
    if (avail > r.size) [[unlikely]] {
        fault(Fault::c2s_head, k.ring_id, head, pos);
        leave(rs);
        return 0;
    }
    const MemoryRegion& mem = memory();
    const std::uint32_t bufsz = mem.buf_size();
    netmap_slot* slot = k.ring->slot;
    std::uint32_t j = k.nr_hwtail.load(std::memory_order_relaxed);
    std::uint32_t space = k.distance(j, k.prev(k.rhead));
    Tally t;
    Desc chain[max_chain];
    while (avail && space) {
        // 1. read the frame's descriptors once, check them all
        std::uint32_t n = 0;
        std::uint64_t total = 0;
        bool bad = false, ends = false;
        while (n < avail && n < max_chain) {
            const Desc d = r.desc[std::uint16_t(pos + n) & r.mask];
            chain[n++] = d;
            if (!c->buffer(d.region, d.offset, d.length)) bad = true;
            total += d.length;
            if (!(d.flags & desc_flag_next)) {
                ends = true;
                break;
            }
        }
        if (!ends) {
            if (n < avail && n == max_chain) [[unlikely]] { // longer than any frame
                fault(Fault::c2s_chain, k.ring_id, pos, n);
                break;
            }
            if (avail == r.size) [[unlikely]] { // a full ring that is one unfinished frame
                fault(Fault::c2s_chain, k.ring_id, pos, n);
                break;
            }
            break; // the rest of the frame is not published yet
        }
        if (bad) [[unlikely]] {
            fault(Fault::c2s_desc, k.ring_id, pos, n);
            break;
        }
        // 2. room for it in the netmap ring
        const std::uint32_t need = total == 0 ? 1 : std::uint32_t((total + bufsz - 1) / bufsz);
        if (need > space) {
            if (need < k.num_slots) break; // wait until the application releases slots
            t.drops++;                     // can never fit
            pos = std::uint16_t(pos + n);
            avail -= n;
            continue;
        }
        // 3. copy, splitting into buffers as needed
        std::uint32_t first = j, doff = 0;
        bool lost = false;
        char* dst = nullptr;
        std::uint32_t idx = slot[j].buf_idx; // read once
        if (mem.valid_buf(idx)) dst = mem.buf(idx); else lost = true;
        for (std::uint32_t q = 0; q < n; q++) {
            const char* src = c->buffer(chain[q].region, chain[q].offset, chain[q].length);
            std::uint32_t left = chain[q].length;
            while (left) {
                if (doff == bufsz) { // next netmap slot
                    slot[j].len = std::uint16_t(bufsz);
                    slot[j].flags = NS_MOREFRAG;
                    j = k.next(j);
                    doff = 0;
                    idx = slot[j].buf_idx;
                    dst = mem.valid_buf(idx) ? mem.buf(idx) : nullptr;
                    if (!dst) lost = true;
                }
                const std::uint32_t take = std::min(left, bufsz - doff);
                if (dst) std::memcpy(dst + doff, src, take);
                src += take;
                left -= take;
                doff += take;
            }
        }
        slot[j].len = std::uint16_t(doff);
        slot[j].flags = 0;
        j = k.next(j);
        if (lost) [[unlikely]] { // a slot the application broke: the frame arrives as empty slots
            for (std::uint32_t s = first; s != j; s = k.next(s)) {
                slot[s].len = 0;
                slot[s].flags = 0;
            }
            t.drops++;
        } else {
            t.packets++;
            t.bytes += total;
        }
        space -= need;
        pos = std::uint16_t(pos + n);
        avail -= n;
    }
    if (pos != r.pos) {
        r.pos = pos;
        shared(r.hdr->tail).store(pos, std::memory_order_release);
    }
    leave(rs);
    k.nr_hwtail.store(j, std::memory_order_release);
    count(k, t);
    return 0;
}

int MemifAdapter::txsync(KRing& k, unsigned) noexcept {
    RingState& rs = *tx_state_[k.ring_id];
    Connection* c = enter(rs);
    if (!c || k.ring_id >= c->tx_count() || fault_.load(std::memory_order_relaxed)) [[unlikely]] {
        leave(rs); // link down: the frames wait in [nr_hwcur, head)
        return 0;
    }
    if (c->client) {
        const int rc = c->zero_copy ? zc_txsync(k, *c) : client_txsync(k, *c);
        leave(rs);
        return rc;
    }
    SharedRing& r = c->s2c[k.ring_id];
    const std::uint16_t head = shared(r.hdr->head).load(std::memory_order_acquire);
    std::uint16_t pos = r.pos;
    std::uint32_t room = std::uint16_t(head - pos);
    if (room > r.size) [[unlikely]] {
        fault(Fault::s2c_head, k.ring_id, head, pos);
        leave(rs);
        return 0;
    }
    const MemoryRegion& mem = memory();
    const std::uint32_t bufsz = mem.buf_size();
    const netmap_slot* slot = k.ring->slot;
    std::uint32_t i = k.nr_hwcur.load(std::memory_order_relaxed);
    const std::uint32_t rhead = k.rhead;
    Tally t;
    bool stop = false;
    while (i != rhead && !stop) {
        // one frame: slots [i, after), spread over descriptors [pos, pos + used)
        std::uint32_t s = i, used = 0, doff = 0, cap = 0;
        std::uint64_t total = 0;
        bool bad = false, fits = true, ends = false;
        Desc* d = nullptr;
        char* dst = nullptr;
        auto next_desc = [&]() noexcept -> bool {
            if (d) {
                shared(d->length).store(doff, std::memory_order_relaxed);
                shared(d->flags).store(desc_flag_next, std::memory_order_relaxed);
            }
            if (used == room) return false;
            d = &r.desc[std::uint16_t(pos + used) & r.mask];
            used++;
            const std::uint16_t region = shared(d->region).load(std::memory_order_relaxed);
            const std::uint32_t offset = shared(d->offset).load(std::memory_order_relaxed);
            cap = shared(d->length).load(std::memory_order_relaxed);
            dst = c->buffer(region, offset, cap);
            doff = 0;
            if (!dst || cap == 0) {
                fault(Fault::s2c_desc, k.ring_id, std::uint16_t(pos + used - 1), cap);
                stop = true;
                return false;
            }
            return true;
        };
        if (!next_desc()) {
            fits = false;
        } else {
            while (s != rhead) {
                const netmap_slot sl = slot[s]; // read once
                s = k.next(s);
                const bool ok = mem.valid_buf(sl.buf_idx) && sl.len <= bufsz;
                if (!ok) bad = true;
                const char* src = ok ? mem.buf(sl.buf_idx) : nullptr;
                std::uint32_t left = ok ? sl.len : 0;
                total += left;
                while (left && fits) {
                    if (doff == cap && !next_desc()) {
                        fits = false;
                        break;
                    }
                    const std::uint32_t take = std::min(left, cap - doff);
                    std::memcpy(dst + doff, src, take);
                    src += take;
                    left -= take;
                    doff += take;
                }
                if (!(sl.flags & NS_MOREFRAG)) {
                    ends = true;
                    break;
                }
            }
        }
        if (stop) break;
        if (!ends) break; // the application has not finished the frame
        if (!fits) {
            if (room < r.size) break; // wait for the client to offer more
            t.drops++;                // larger than the whole ring
            i = s;
            continue;
        }
        shared(d->length).store(doff, std::memory_order_relaxed);
        shared(d->flags).store(std::uint16_t(0), std::memory_order_relaxed);
        i = s;
        if (bad) [[unlikely]] { // a slot re-written after the prologue: the frame is lost, nothing published
            t.drops++;
            continue;
        }
        pos = std::uint16_t(pos + used);
        room -= used;
        t.packets++;
        t.bytes += total;
    }
    if (pos != r.pos) {
        r.pos = pos;
        shared(r.hdr->tail).store(pos, std::memory_order_release);
        // Pairs with the client's clearing MASK_INT before it re-checks tail.
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (!(shared(r.hdr->flags).load(std::memory_order_relaxed) & ring_flag_mask_int)) {
            std::uint64_t one = 1;
            [[maybe_unused]] auto w = ::write(r.evfd.get(), &one, sizeof one);
        }
    }
    leave(rs);
    k.nr_hwcur.store(i, std::memory_order_relaxed);
    k.nr_hwtail.store(k.prev(i), std::memory_order_relaxed);
    count(k, t);
    return 0;
}

void MemifAdapter::set_interrupts(KRing& k, bool on) noexcept {
    if (k.dir == Direction::tx) {
        // The client does not signal the buffers it offers: poll for room
        // while frames wait. Link up is signalled by the control thread.
        itimerspec its{};
        if (on && k.nr_hwcur.load(std::memory_order_relaxed) != k.rhead && link_up()) {
            its.it_value.tv_nsec = 200'000;
            its.it_interval.tv_nsec = 200'000;
        }
        timerfd_settime(tx_state_[k.ring_id]->timer.get(), 0, &its, nullptr);
        return;
    }
    RingState& rs = *rx_state_[k.ring_id];
    Connection* c = enter(rs);
    if (c && k.ring_id < c->rx_count()) {
        auto f = shared(c->rx(k.ring_id).hdr->flags);
        f.store(on ? 0 : ring_flag_mask_int, std::memory_order_relaxed);
    }
    leave(rs);
    // The client reads MASK_INT after publishing head, with no fence in
    // between: it may miss our clearing it and not write the eventfd. A slow
    // tick while asleep bounds that (rare) delay; idle, it costs 10 wake-ups
    // a second.
    itimerspec its{};
    if (on) {
        its.it_value.tv_nsec = 100'000'000;
        its.it_interval.tv_nsec = 100'000'000;
    }
    timerfd_settime(rs.timer.get(), 0, &its, nullptr);
}

void MemifAdapter::ack_wait_fd(int fd) noexcept {
    for (std::uint32_t i = 0; i < rings_; i++) {
        RingState& rs = *rx_state_[i];
        if (rs.wait.get() != fd) continue;
        std::uint64_t n;
        epoll_event evs[2];
        const int got = epoll_wait(fd, evs, 2, 0);
        for (int e = 0; e < got; e++) {
            if (evs[e].data.u32 == 0) {
                [[maybe_unused]] auto r = ::read(rs.timer.get(), &n, sizeof n);
                continue;
            }
            Connection* c = enter(rs);
            if (c && i < c->rx_count() && ::read(c->rx(i).evfd.get(), &n, sizeof n) == sizeof n)
                interrupts_.fetch_add(1, std::memory_order_relaxed);
            leave(rs);
        }
        return;
    }
    for (std::uint32_t i = 0; i < rings_; i++) {
        if (tx_state_[i]->wait.get() != fd) continue; // the timer's duplicate: reading it drains the timer
        std::uint64_t n;
        [[maybe_unused]] auto r = ::read(fd, &n, sizeof n);
        return;
    }
}

std::vector<int> MemifAdapter::wait_fds(const KRing& k) const {
    const auto& v = k.dir == Direction::rx ? rx_state_ : tx_state_;
    return {v[k.ring_id]->wait.get()};
}

} // namespace upio::memif
