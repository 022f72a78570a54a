// drivers/common/nic_ring.hpp -- a NIC descriptor ring bound to a netmap ring.
//
// Shared by the e1000-family and ixgbe drivers. Descriptor i always serves
// netmap slot i, and the descriptor points straight at the slot's buffer
// (zero copy). The address is rewritten whenever a slot is handed to the
// device, so a slot whose buffer the application swapped (NS_BUF_CHANGED)
// is always picked up; the flag is cleared.
//
// Index bookkeeping, with N = num_slots:
//
//   tx:  [nr_hwtail+1, nr_hwcur)  descriptors the device owns (in flight)
//        [nr_hwcur, rhead)        new slots to send; TDT is set to rhead
//   rx:  [nr_hwtail, rhead-1)     descriptors the device may fill;
//        RDT = rhead - 1, so the device stops one short of the
//        application's first slot ("RDT == RDH" means the queue is full
//        from the device's side, and netmap keeps one slot empty)
//
// What the device writes back is not trusted (docs/architecture.md, "What
// the drivers do not trust"). An rx frame reaches the application only
// whole (a chain of descriptors up to EOP) and only when every descriptor
// of it has a length of 1..buf_size and its EOP descriptor no error bit;
// any other frame is dropped and counted in rx_errors, and so is a chain
// that fills every descriptor the device can have without an EOP (it can
// never end) or one longer than any frame (max_rx_frame). A dropped
// frame's buffers go back to the device at once: the slots after it take
// their successors' buffers (buf_idx moves, as with NS_BUF_CHANGED), the
// dropped buffers go to the descriptors after RDT and RDT moves on by as
// many. From then on rx slot s is served by descriptor
// (s + skew) mod N -- the slots the application sees stay contiguous -- and
// skew counts the descriptors dropped (mod N). With skew 0 (no drop since
// the ring started) descriptor i is slot i. No index the device writes is
// used: a tx completion is DD in a descriptor the driver wrote, rx
// progress DD in the next descriptor; head registers are read only for
// error messages.
//
// Slots the application hands over are read once each (read_tx_slot,
// read_rx_buf): the prologue checked them, but another thread of the
// application can rewrite a slot between that check and the driver's read
// in the same sync. What the driver uses is checked again where it reads
// it: an index that is not a buffer of the region becomes the reserved
// buffer 0, a length above a buffer is cut to one buffer (netmap's NMB does
// the same with a bad index), and the slot counts in the ring's drops. So
// no value written at that moment becomes a device address outside the
// region or an index outside its tables; the frame goes out with whatever
// buffer 0 holds.
//
// The hot path: no allocation, no logging, no exceptions; the tail register
// is written once per call (twice after a drop). `Fmt` supplies the
// descriptor layout (legacy or advanced, see adv_desc.hpp).
#pragma once

#include <upio/backend/adapter.hpp>
#include <upio/backend/device.hpp>
#include <upio/backend/memory_region.hpp>
#include <upio/netmap.h>
#include <upio/port.hpp>

#include <atomic>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <utility>

// GCC takes always_inline after a lambda's noexcept; clang (the fuzzing
// build) does not, and inlines the data path's step lambdas anyway.
#ifndef UPIO_INLINE_LAMBDA
#if defined(__clang__)
#define UPIO_INLINE_LAMBDA
#else
#define UPIO_INLINE_LAMBDA __attribute__((always_inline))
#endif
#endif

namespace upio::drivers {

struct HwQueue {
    void* desc = nullptr;         // num_slots descriptors in the adapter's region
    Device* dev = nullptr;
    MemoryRegion* mem = nullptr;
    std::uint32_t tail_reg = 0;   // TDT(n) or RDT(n)
    std::uint32_t index = 0;      // hardware queue number
    // tx hang detection: when reclaim first found no progress (0: not stalled)
    std::uint64_t stall_since_ns = 0;
    std::uint64_t hang_timeout_ns = 1'000'000'000;
    bool hung = false;
    bool mid_packet = false; // tx: the last batch ended inside a multi-slot packet
    std::uint32_t buf_size = 0; // the region's buffer size: no rx length may exceed it
    std::uint32_t skew = 0;     // rx: slot s is served by descriptor (s + skew) mod N (see above)

    template <class D>
    D* descs() const noexcept { return static_cast<D*>(desc); }
};

// What a slot is checked against, taken from the region once per sync
// (kept in locals: the descriptor stores in between could alias the
// region's fields and make the compiler reload them for every slot).
struct SlotBounds {
    std::uint32_t span; // buffers first_buf .. first_buf + span - 1 exist
    std::uint32_t bsz;  // bytes per buffer
    SlotBounds(const MemoryRegion& m, std::uint32_t buf_size) noexcept
        : span(m.num_bufs() - MemoryRegion::first_buf), bsz(buf_size) {}
    bool valid(std::uint32_t idx) const noexcept { return idx - MemoryRegion::first_buf < span; }
};

// Buffer addresses for the device. When the region's IOVA mapping is
// contiguous (VFIO and the models map a region in one piece) the IOVA of
// buffer i is base + i * size: two instructions instead of a page-table
// lookup per packet. Otherwise the page table (MemoryRegion::buf_iova).
struct BufIova {
    std::uint64_t base = 0; // IOVA of buffer 0 (linear only)
    std::uint32_t size = 0;
    bool linear = false;
};

// Whether the region's buffers lie at base + i * size in IOVA space, each
// contiguous; once, after the region is mapped.
inline BufIova buf_iova_of(const MemoryRegion& m) noexcept {
    BufIova bi{m.buf_iova(0).value, m.buf_size(), true};
    for (std::uint32_t b = 0; b < m.num_bufs() && bi.linear; b++)
        bi.linear = m.buf_iova(b).value == bi.base + std::uint64_t(b) * bi.size &&
                    m.iova(m.buf(b) + bi.size - 1).value == bi.base + std::uint64_t(b) * bi.size + bi.size - 1;
    return bi;
}

// A tx slot's buffer and length as the driver uses them: each read once,
// then checked (see the top of the file). `bad` says one was replaced.
struct TxSlot {
    std::uint32_t idx;
    std::uint32_t len;
    bool bad;
};
[[gnu::always_inline]] inline TxSlot read_tx_slot(const netmap_slot& s, const SlotBounds& b) noexcept {
    const std::uint32_t idx =
        std::atomic_ref<std::uint32_t>(const_cast<std::uint32_t&>(s.buf_idx)).load(std::memory_order_relaxed);
    const std::uint32_t len =
        std::atomic_ref<std::uint16_t>(const_cast<std::uint16_t&>(s.len)).load(std::memory_order_relaxed);
    const bool bad_idx = !b.valid(idx), bad_len = len > b.bsz;
    if (bad_idx | bad_len) [[unlikely]]
        return {bad_idx ? 0u : idx, bad_len ? b.bsz : len, true};
    return {idx, len, false};
}

// An rx slot's buffer as the driver arms a descriptor with it: read once,
// the reserved buffer 0 instead of an index outside the region (`bad` set).
[[gnu::always_inline]] inline std::uint32_t read_rx_buf(const netmap_slot& s, const SlotBounds& b,
                                                        std::uint32_t& bad) noexcept {
    const std::uint32_t idx =
        std::atomic_ref<std::uint32_t>(const_cast<std::uint32_t&>(s.buf_idx)).load(std::memory_order_relaxed);
    if (!b.valid(idx)) [[unlikely]] {
        bad++;
        return 0;
    }
    return idx;
}

// A length as a look-ahead over a chain reads it: once, at most a buffer.
[[gnu::always_inline]] inline std::uint32_t read_len(const netmap_slot& s, std::uint32_t bsz) noexcept {
    const std::uint32_t len =
        std::atomic_ref<std::uint16_t>(const_cast<std::uint16_t&>(s.len)).load(std::memory_order_relaxed);
    return len > bsz ? bsz : len;
}

inline std::uint64_t monotonic_ns() noexcept {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::uint64_t(ts.tv_sec) * 1'000'000'000u + std::uint64_t(ts.tv_nsec);
}

// -- control path (open, start)

// A NIC adapter's region for the queue pairs of `rc`: the rings and the
// netmap_ifs of up to 2 nq + 2 concurrent Ports plus slack for alignment
// (out of the device's reach), their descriptor rings (16-byte
// descriptors, each ring 128-byte aligned; device objects), and the buffers (o.memory.num_bufs, or enough for every slot and extras).
// The region goes on the device's NUMA node unless the user chose one
// (MemoryConfig::numa_node -1: unset) or the device reports none.
inline Result<std::shared_ptr<MemoryRegion>> create_nic_region(const std::string& name, const RingConfig& rc,
                                                               const PortOptions& o, const Device& dev) {
    const std::uint32_t nq = rc.tx_rings;
    const std::size_t desc_bytes = std::size_t(nq) * (rc.tx_slots + rc.rx_slots) * 16 + 2 * nq * 128;
    const std::size_t objects = ring_bytes(rc) + (2 * nq + 2) * nifp_bytes(2 * nq) + 4096;
    std::uint32_t nbufs = o.memory.num_bufs;
    if (nbufs == 0) nbufs = nq * (rc.tx_slots + rc.rx_slots) + 4 * o.extra_bufs + 64 + MemoryRegion::first_buf;
    MemoryConfig mc = o.memory;
    if (mc.numa_node < 0 && dev.numa_node() >= 0) mc.numa_node = dev.numa_node();
    return MemoryRegion::create(name, objects, nbufs, mc, desc_bytes);
}

// Binds a hardware queue: `slots` zeroed descriptors from the region's
// device objects (128-byte aligned), the device, its tail register and the TX hang timeout.
inline Status setup_hw_queue(HwQueue& q, MemoryRegion& mem, Device& dev, std::uint32_t slots, std::uint32_t tail_reg,
                             std::uint32_t index, std::chrono::milliseconds hang_timeout) {
    auto d = mem.alloc_device_object(std::size_t(slots) * 16);
    if (!d) return std::move(d).error();
    std::memset(d.value(), 0, std::size_t(slots) * 16);
    q.desc = d.value();
    q.dev = &dev;
    q.mem = &mem;
    q.tail_reg = tail_reg;
    q.index = index;
    q.buf_size = mem.buf_size();
    q.hang_timeout_ns = std::uint64_t(hang_timeout.count()) * 1'000'000u;
    return {};
}

// A ring restarts empty, as after open: tx with every slot free, rx with
// nothing received.
inline void restart_empty(KRing& k) noexcept {
    const std::uint32_t tail = k.dir == Direction::tx ? k.num_slots - 1 : 0;
    k.ring->head = k.ring->cur = 0;
    k.ring->tail = tail;
    k.rhead = k.rcur = 0;
    k.rtail = tail;
    k.nr_hwcur.store(0);
    k.nr_hwtail.store(tail);
}

// Wakes every ring's sleeping waiter, once the device is found gone
// (Regs::set_on_removed): each wakes, syncs, and gets ENODEV.
inline void wake_all(Adapter& a) noexcept {
    for (Direction d : {Direction::tx, Direction::rx})
        for (std::uint32_t i = 0; i < a.num_rings(d); i++) wake_if_sleeping(a.kring(d, i));
}

// -- data path

// Reclaim found descriptors in flight and none finished: a stall, or a hang
// once it has lasted hang_timeout_ns (-ETIMEDOUT; else 0).
inline int tx_no_progress(HwQueue& q) noexcept {
    const std::uint64_t now = monotonic_ns();
    if (q.stall_since_ns == 0) {
        q.stall_since_ns = now;
    } else if (now - q.stall_since_ns > q.hang_timeout_ns) [[unlikely]] {
        q.hung = true;
        return -ETIMEDOUT;
    }
    return 0;
}

// A TX hang's recovery, once the driver has reset the queue to restart at
// nr_hwcur (descriptor nr_hwcur: no tx skew): the descriptors that were in
// flight, [next(nr_hwtail), nr_hwcur), are given up and their slots go back
// to the application. Their frames (slots without NS_MOREFRAG: ends of
// frames) count as drops, the hang in tx_hangs. A frame the application had
// not finished (mid_packet) loses its first fragments; the rest goes out as
// a frame of its own. Returns the frames given up. Rare: O(slots).
inline std::uint32_t tx_abandon(KRing& k, HwQueue& q) noexcept {
    const std::uint32_t cur = k.nr_hwcur.load(std::memory_order_relaxed);
    std::uint32_t frames = 0;
    for (std::uint32_t i = k.next(k.nr_hwtail.load(std::memory_order_relaxed)); i != cur; i = k.next(i))
        frames += !(k.ring->slot[i].flags & NS_MOREFRAG);
    k.nr_hwtail.store(k.prev(cur), std::memory_order_release);
    q.stall_since_ns = 0;
    q.hung = false;
    q.mid_packet = false;
    RingCounters::add(k.stats.drops, frames);
    RingCounters::add(k.stats.tx_hangs, 1);
    return frames;
}

// Arms every descriptor of an rx ring with its slot's buffer, before the
// queue is enabled. The device gets N-1 of them (tail = N-1).
template <class Fmt>
void rx_arm_all(KRing& k, HwQueue& q) noexcept {
    auto* desc = q.descs<typename Fmt::Rx>();
    q.skew = 0;
    std::uint32_t bad = 0;
    const SlotBounds bounds(*q.mem, q.mem->buf_size());
    for (std::uint32_t i = 0; i < k.num_slots; i++) {
        netmap_slot& s = k.ring->slot[i];
        Fmt::rx_arm(desc[i], q.mem->buf_iova(read_rx_buf(s, bounds, bad)));
        s.flags &= std::uint16_t(~NS_BUF_CHANGED);
    }
}

// What a sync sent (tx) or found (bad: slots whose buffer or length was
// replaced).
struct TxCount {
    std::uint64_t bytes = 0, pkts = 0, bad = 0;
};

// Writes the descriptors of slots [i, head) one at a time (a multi-slot
// packet: PAYLEN, the whole length, on its first descriptor, found by
// looking ahead; q.mid_packet when the batch ends inside one), RS on each.
template <class Fmt>
void tx_fill(KRing& k, HwQueue& q, std::uint32_t i, std::uint32_t head, TxCount& c) noexcept {
    netmap_ring* ring = k.ring;
    const MemoryRegion& mem = *q.mem;
    auto* desc = q.descs<typename Fmt::Tx>();
    const std::uint32_t bsz = q.buf_size;
    const SlotBounds bounds(mem, bsz);
    bool first = !q.mid_packet;
    do {
        netmap_slot& s = ring->slot[i];
        const std::uint16_t fl = s.flags;
        const bool eop = !(fl & NS_MOREFRAG);
        const TxSlot v = read_tx_slot(s, bounds);
        c.bad += v.bad;
        std::uint32_t paylen = v.len;
        if (!eop && first) [[unlikely]] { // the first fragment carries the whole length
            for (std::uint32_t j = k.next(i); j != head; j = k.next(j)) {
                paylen += read_len(ring->slot[j], bsz);
                if (!(ring->slot[j].flags & NS_MOREFRAG)) break;
            }
        }
        Fmt::tx_write(desc[i], mem.buf_iova(v.idx), std::uint16_t(v.len), paylen, eop);
        s.flags = std::uint16_t(fl & ~NS_BUF_CHANGED);
        c.bytes += v.len;
        c.pkts += eop;
        first = eop;
        i = k.next(i);
    } while (i != head);
    q.mid_packet = !first;
}

// The descriptors up to `head` to the device (one tail write), and the counts.
[[gnu::always_inline]] inline void tx_publish(KRing& k, HwQueue& q, std::uint32_t head, const TxCount& c) noexcept {
    // descriptors must be visible before the doorbell
    std::atomic_thread_fence(std::memory_order_release);
    q.dev->write32(q.tail_reg, head);
    k.nr_hwcur.store(head, std::memory_order_release);
    RingCounters::add(k.stats.packets, c.pkts);
    RingCounters::add(k.stats.bytes, c.bytes);
    if (c.bad) [[unlikely]]
        RingCounters::add(k.stats.drops, c.bad);
}

// Reclaim: every descriptor is sent with RS, so DD marks each one done; the
// first not done ends it. Four descriptors a step while all four are done
// (each one's DD still read and tested), then one at a time.
template <class Fmt>
[[gnu::always_inline]] inline int tx_reclaim(KRing& k, HwQueue& q, std::uint32_t head) noexcept {
    auto* desc = q.descs<typename Fmt::Tx>();
    const std::uint32_t hwtail = k.nr_hwtail.load(std::memory_order_relaxed);
    std::uint32_t c = k.next(hwtail);
    if (c == head) { // nothing in flight
        q.stall_since_ns = 0;
        return 0;
    }
    const std::uint32_t start = c;
    // the done descriptors of [from, to), contiguous
    auto run = [desc](std::uint32_t from, std::uint32_t to) noexcept UPIO_INLINE_LAMBDA {
        const typename Fmt::Tx* d = desc + from;
        const typename Fmt::Tx* const end = desc + to;
        for (std::uint32_t g = (to - from) / 4;
             g && (Fmt::tx_status(d[0]) & Fmt::tx_status(d[1]) & Fmt::tx_status(d[2]) & Fmt::tx_status(d[3]) &
                   Fmt::TX_DD);
             g--)
            d += 4;
        while (d != end && Fmt::tx_done(*d)) ++d;
        return std::uint32_t(d - desc);
    };
    if (c < head) {
        c = run(c, head);
    } else {
        c = run(c, k.num_slots);
        if (c == k.num_slots) c = run(0, head);
    }
    if (c != start) {
        k.nr_hwtail.store(k.prev(c), std::memory_order_release);
        q.stall_since_ns = 0;
        q.hung = false;
        return 0;
    }
    return tx_no_progress(q);
}

// txsync: send [nr_hwcur, rhead), then reclaim completed descriptors by DD.
// Returns -ETIMEDOUT while descriptors stay unfinished for longer than
// hang_timeout_ns with no progress (a TX hang); the driver explains why on
// the control path.
template <class Fmt>
int tx_sync(KRing& k, HwQueue& q, unsigned flags) noexcept {
    (void)flags;
    const std::uint32_t head = k.rhead;
    const std::uint32_t i = k.nr_hwcur.load(std::memory_order_relaxed);
    if (i != head) {
        TxCount c;
        tx_fill<Fmt>(k, q, i, head, c);
        tx_publish(k, q, head, c);
    }
    return tx_reclaim<Fmt>(k, q, head);
}

// (a + b) mod n for a, b < n
inline std::uint32_t ring_add(std::uint32_t a, std::uint32_t b, std::uint32_t n) noexcept {
    a += b;
    return a >= n ? a - n : a;
}

// Reverses the buf_idx of slots t + [from, to) (mod N): three of these
// rotate a circular run in place.
inline void reverse_bufs(KRing& k, std::uint32_t t, std::uint32_t from, std::uint32_t to) noexcept {
    netmap_slot* slot = k.ring->slot;
    while (from + 1 < to) {
        to--;
        std::swap(slot[ring_add(t, from, k.num_slots)].buf_idx, slot[ring_add(t, to, k.num_slots)].buf_idx);
        from++;
    }
}

// Drops the bad frame in the `cnt` descriptors of slots [t, t + cnt): its
// buffers go back to the device, nothing reaches the application. The
// buffers of slots [t, head) (all the driver's: t is the first slot not
// shown to the application yet) rotate down by cnt, so slot t now has the
// buffer of the descriptor after the frame; the frame's buffers land in
// the last cnt slots, whose descriptors (after skew grows by cnt) are the
// cnt descriptors after RDT -- free: already read and handed on, or the
// frame's own. They are armed and RDT moves on over them. Rare (a device
// that misbehaves), so O(N). Every slot here is the driver's, but the
// application can write it: an index that is not a buffer of the region
// arms the descriptor with the reserved buffer 0 instead (as netmap does
// with a bad index), so no scribble becomes a device address.
template <class Fmt>
[[gnu::noinline]] void rx_drop(KRing& k, HwQueue& q, std::uint32_t t, std::uint32_t cnt,
                               std::uint32_t head) noexcept {
    const std::uint32_t n = k.num_slots;
    const std::uint32_t span = t == head ? n : k.distance(t, head);
    reverse_bufs(k, t, 0, cnt);
    reverse_bufs(k, t, cnt, span);
    reverse_bufs(k, t, 0, span);
    q.skew = ring_add(q.skew, cnt, n);
    auto* desc = q.descs<typename Fmt::Rx>();
    for (std::uint32_t i = 0, x = ring_add(head, n - cnt, n); i < cnt; i++, x = k.next(x)) {
        const std::uint32_t b = k.ring->slot[x].buf_idx;
        Fmt::rx_arm(desc[ring_add(x, q.skew, n)], q.mem->buf_iova(q.mem->valid_buf(b) ? b : 0));
    }
    std::atomic_thread_fence(std::memory_order_release);
    q.dev->write32(q.tail_reg, ring_add(k.prev(head), q.skew, n));
    RingCounters::add(k.stats.rx_errors, 1);
}

// A received slot's len, and flags 0, in one store.
inline void set_rx_len(netmap_slot& s, std::uint32_t len16) noexcept {
    static_assert(offsetof(netmap_slot, flags) == offsetof(netmap_slot, len) + 2 &&
                  std::endian::native == std::endian::little);
    std::memcpy(&s.len, &len16, 4);
}

struct RxProgress {
    std::uint32_t t;    // the first slot not received
    std::uint64_t bytes; // received
    std::uint64_t pkts;
};

// No NIC these drivers know takes a frame above 16 KiB (8254x with
// RCTL.LPE: 16128 bytes; 82576 and 82599 less): a chain that says more
// is two frames run together (an EOP the device never wrote).
inline constexpr std::uint32_t max_rx_frame = 16384;

// Receives whole, valid frames from slot t on (up to the slot RDT serves,
// prev(head)), dropping bad ones (rx_drop). A chain whose end has not
// been written back yet waits (unless it can never end).
template <class Fmt>
[[gnu::noinline]] RxProgress rx_receive(KRing& k, HwQueue& q, std::uint32_t t, std::uint32_t head) noexcept {
    std::uint64_t bytes = 0, pkts = 0;
    auto* desc = q.descs<typename Fmt::Rx>();
    netmap_slot* slot = k.ring->slot;
    const std::uint32_t n = k.num_slots, stop = k.prev(head), bsz = q.buf_size;
    while (t != stop) {
        const std::uint64_t w = Fmt::rx_word(desc[ring_add(t, q.skew, n)]);
        if (Fmt::rx_frame_ok(w, bsz)) [[likely]] {
            const std::uint32_t len = Fmt::rx_len(w);
            set_rx_len(slot[t], len);
            bytes += len;
            pkts++;
            t = k.next(t);
            continue;
        }
        if (!(w & Fmt::RX_DD)) break;
        // a chain, or a bad write-back: the whole frame first
        std::uint32_t j = t, total = 0;
        bool bad = false;
        for (;;) {
            const std::uint64_t x = Fmt::rx_word(desc[ring_add(j, q.skew, n)]);
            if (!(x & Fmt::RX_DD)) return {t, bytes, pkts}; // the rest is on its way
            const std::uint32_t len = Fmt::rx_len(x);
            total += len;
            bad |= len == 0 || len > bsz || total > max_rx_frame;
            j = k.next(j);
            if (x & Fmt::RX_EOP) {
                bad |= Fmt::rx_error(x);
                break;
            }
            if (j == stop) {
                // more descriptors may come once the application releases
                // slots -- unless the chain has every one the device can get
                if (t != head) return {t, bytes, pkts};
                bad = true;
                break;
            }
        }
        if (bad) [[unlikely]] {
            rx_drop<Fmt>(k, q, t, k.distance(t, j), head);
            continue; // slot t now has the buffer of the descriptor after the frame
        }
        for (std::uint32_t x = t; x != j; x = k.next(x)) {
            const std::uint32_t len = Fmt::rx_len(Fmt::rx_word(desc[ring_add(x, q.skew, n)]));
            slot[x].len = std::uint16_t(len);
            slot[x].flags = k.next(x) == j ? 0 : NS_MOREFRAG;
            bytes += len;
        }
        pkts++;
        t = j;
    }
    return {t, bytes, pkts};
}

// rxsync: give back [nr_hwcur, rhead) (re-armed with their current buffers),
// then advance nr_hwtail over the frames the device wrote back (checked,
// see rx_receive).
template <class Fmt>
int rx_sync(KRing& k, HwQueue& q, unsigned flags) noexcept {
    (void)flags;
    netmap_ring* ring = k.ring;
    const MemoryRegion& mem = *q.mem;
    auto* desc = q.descs<typename Fmt::Rx>();
    const std::uint32_t head = k.rhead, n = k.num_slots;
    std::uint32_t i = k.nr_hwcur.load(std::memory_order_relaxed);

    if (i != head) {
        std::uint32_t bad = 0;
        const SlotBounds bounds(mem, mem.buf_size());
        do {
            netmap_slot& s = ring->slot[i];
            Fmt::rx_arm(desc[ring_add(i, q.skew, n)], mem.buf_iova(read_rx_buf(s, bounds, bad)));
            s.flags &= std::uint16_t(~NS_BUF_CHANGED);
            i = k.next(i);
        } while (i != head);
        if (bad) [[unlikely]]
            k.stats.drops.fetch_add(bad, std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_release);
        q.dev->write32(q.tail_reg, ring_add(k.prev(head), q.skew, n));
        k.nr_hwcur.store(head, std::memory_order_release);
    }

    const std::uint32_t first = k.nr_hwtail.load(std::memory_order_relaxed);
    const RxProgress p = rx_receive<Fmt>(k, q, first, head);
    if (p.t != first) {
        k.nr_hwtail.store(p.t, std::memory_order_release);
        RingCounters::add(k.stats.packets, p.pkts);
        RingCounters::add(k.stats.bytes, p.bytes);
    }
    return 0;
}

} // namespace upio::drivers
