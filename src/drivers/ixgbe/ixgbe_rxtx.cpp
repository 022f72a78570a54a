// The ixgbe data path (txsync/rxsync on advanced descriptors) and MSI-X for
// blocking waits.
//
// The descriptor layouts are the ones shared with igb (drivers/common/
// adv_desc.hpp) and the index bookkeeping is that of drivers/common/
// nic_ring.hpp; the loops are the driver's own, for four reasons:
//   - buffer addresses by arithmetic when the mapping is linear (BufIova);
//   - RS only on the last descriptor of a batch (and on a packet whose slot
//     has NS_REPORT, as netmap asks): the device then writes back one
//     descriptor per batch instead of one per packet, and completion is
//     found by looking at one descriptor per batch (7.2.3.5.1);
//   - reclaim only when the application is short of free slots (fewer than
//     reclaim_thresh), asks for it (SYNC_FORCE_RECLAIM) or syncs with
//     nothing new to send (it is waiting for completions);
//   - per-ring drop counts: rxsync reads the queue's QPRDC only when the
//     device ran out of descriptors, which it tells with one comparison.
// A multi-slot packet (NS_MOREFRAG) goes to the device only whole: PAYLEN in
// its first descriptor must be the length of the entire packet (7.2.3.2.4),
// so trailing fragments wait for the next txsync.
#include "drivers/ixgbe/ixgbe.hpp"
#include "drivers/ixgbe/ixgbe_regs.hpp"

#include "drivers/common/adv_desc.hpp"
#include "drivers/common/adv_vec.hpp"
#include "drivers/common/nic_ring.hpp"

#include <fmt/format.h>
#include <type_traits>
#include <unistd.h>

namespace upio::ixgbe {
namespace {

namespace adv = drivers::adv;

// The advanced layout with the 82599's frame errors (ixgbe_regs.hpp).
using RxFormat = adv::FormatOf<RXDADV_ERR_FRAME>;

// DTYP data, DEXT, IFCS: every data descriptor carries these (7.2.3.2.4).
constexpr std::uint32_t TXD_CMD = adv::TXD_DTYP_DATA | adv::TXD_DCMD_DEXT | adv::TXD_DCMD_IFCS;

// Buffer index -> IOVA, the two ways (see BufIova).
struct LinearIova {
    std::uint64_t base;
    std::uint64_t size;
    std::uint64_t operator()(std::uint32_t idx) const noexcept { return base + idx * size; }
};
struct TableIova {
    const MemoryRegion* mem;
    std::uint64_t operator()(std::uint32_t idx) const noexcept { return mem->buf_iova(idx).value; }
};

#if UPIO_ADV_VEC
// The constants of the four-at-a-time steps (adv_vec.hpp); with a page
// table they are not used.
template <class IovaOf>
[[gnu::always_inline]] inline adv::Vec4 vec4_of(const drivers::SlotBounds& b, const IovaOf& io) noexcept {
    if constexpr (std::is_same_v<IovaOf, LinearIova>)
        return adv::Vec4(b.span, io.base, std::uint32_t(io.size));
    else
        return adv::Vec4(b.span, 0, 0);
}
#endif

inline void tx_desc(adv::TxDesc& d, std::uint64_t buf, std::uint32_t len, std::uint32_t eop,
                    std::uint32_t paylen) noexcept {
    d.addr = buf;
    d.cmd_type_len = TXD_CMD | eop | len;
    d.olinfo_status = paylen << adv::TXD_PAYLEN_SHIFT; // also clears DD
}

// Queues descriptor `x` (one with RS) for reclaim.
inline void push_rs(TxQueue& tq, std::uint32_t x, std::uint32_t n) noexcept {
    tq.rs[tq.rs_tail] = x;
    tq.rs_tail = tq.rs_tail + 1 == n ? 0 : tq.rs_tail + 1;
}

// Writes the descriptors of the multi-slot packet starting at `i`; returns
// the slot after it, or `i` when the packet is not complete before `head`.
// NS_REPORT on any of its slots: RS on its last (EOP) descriptor.
template <class IovaOf>
std::uint32_t tx_chain(KRing& k, TxQueue& tq, adv::TxDesc* desc, IovaOf iova_of, std::uint32_t i,
                       std::uint32_t head, std::uint64_t& bytes, std::uint32_t& reported) noexcept {
    netmap_slot* slot = k.ring->slot;
    const drivers::SlotBounds bounds(*tq.hw.mem, tq.hw.buf_size);
    std::uint32_t j = i;
    bool report = false;
    for (;;) {
        const std::uint16_t fl = slot[j].flags;
        report |= (fl & NS_REPORT) != 0;
        j = k.next(j);
        if (!(fl & NS_MOREFRAG)) break;
        if (j == head) return i; // the rest of the packet is not there yet
    }
    // The chain's end is where that walk found it (flags are not read
    // again); each slot's buffer and length are read once, here, and the
    // first descriptor gets the sum of what the others use.
    std::uint32_t paylen = 0, bad = 0;
    for (std::uint32_t x = i; x != j; x = k.next(x)) {
        const drivers::TxSlot v = drivers::read_tx_slot(slot[x], bounds);
        bad += v.bad;
        tx_desc(desc[x], iova_of(v.idx), v.len, k.next(x) == j ? adv::TXD_DCMD_EOP : 0, 0);
        slot[x].flags &= std::uint16_t(~NS_BUF_CHANGED);
        paylen += v.len;
    }
    desc[i].olinfo_status = paylen << adv::TXD_PAYLEN_SHIFT;
    if (bad) [[unlikely]]
        RingCounters::add(k.stats.drops, bad);
    if (report) {
        reported = k.prev(j);
        desc[reported].cmd_type_len |= adv::TXD_DCMD_RS;
        push_rs(tq, reported, k.num_slots);
    }
    bytes += paylen;
    return j;
}

// Reclaim, lazily: when the application runs short of slots, asks for it,
// or syncs without sending anything (it waits for completions); tx_sync
// tells when (not inline: most syncs that send do not reclaim).
[[gnu::noinline]] int tx_reclaim(KRing& k, TxQueue& tq, adv::TxDesc* desc) noexcept {
    drivers::HwQueue& q = tq.hw;
    const std::uint32_t n = k.num_slots;
    const std::uint32_t hwtail = k.nr_hwtail.load(std::memory_order_relaxed);
    std::uint32_t done = hwtail, r = tq.rs_head;
    while (r != tq.rs_tail && adv::Format::tx_done(desc[tq.rs[r]])) {
        done = tq.rs[r];
        r = r + 1 == n ? 0 : r + 1;
    }
    tq.rs_head = r;
    if (done != hwtail) {
        k.nr_hwtail.store(done, std::memory_order_release);
        q.stall_since_ns = 0;
        q.hung = false;
        return 0;
    }
    if (r == tq.rs_tail) { // nothing in flight
        q.stall_since_ns = 0;
        return 0;
    }
    return drivers::tx_no_progress(q);
}

// The loops below walk contiguous runs of slots and descriptors with
// pointers (a ring is at most two runs), so the per-packet work is the
// descriptor itself: no index wrap-around test per slot.

template <class IovaOf>
[[gnu::always_inline]] inline int tx_sync(KRing& k, TxQueue& tq, unsigned flags, IovaOf iova_of) noexcept {
    drivers::HwQueue& q = tq.hw;
    auto* const desc = q.descs<adv::TxDesc>();
    netmap_slot* const slot = k.ring->slot;
    const std::uint32_t head = k.rhead, n = k.num_slots;
    const std::uint32_t cur = k.nr_hwcur.load(std::memory_order_relaxed);

    if (cur != head) {
        std::uint64_t bytes = 0;
        std::uint32_t pkts = 0, i = cur;
        std::uint32_t reported = n; // the last NS_REPORT descriptor (n: none)
        // single-slot packets from `from` up to `to` or the first NS_MOREFRAG
        const drivers::SlotBounds bounds(*q.mem, q.buf_size);
        std::uint32_t bad = 0;
#if UPIO_ADV_VEC
        // four at a time (adv_vec.hpp) with a linear mapping; a group that
        // does not pass is done one slot at a time
        constexpr bool vec = std::is_same_v<IovaOf, LinearIova>;
        const adv::Vec4 v4 = vec4_of(bounds, iova_of);
        const __m128i lim = _mm_set1_epi32(int(bounds.bsz < 0xffff ? bounds.bsz : 0xffff));
        const __m128i cmd = _mm_set1_epi32(int(TXD_CMD | adv::TXD_DCMD_EOP));
        __m128i vbytes = _mm_setzero_si128();
#endif
        auto run = [&](std::uint32_t from, std::uint32_t to) noexcept UPIO_INLINE_LAMBDA {
            adv::TxDesc* d = desc + from;
            netmap_slot* s = slot + from;
            adv::TxDesc* const end = desc + to;
            while (d != end) {
#if UPIO_ADV_VEC
                if constexpr (vec) {
                    for (std::size_t g = std::size_t(end - d) / 4; g && adv::tx_fill4(v4, lim, cmd, s, d, vbytes);
                         g--) {
                        d += 4;
                        s += 4;
                    }
                    if (d == end) break;
                }
#endif
                bool frag = false;
                for (adv::TxDesc* const g = end - d >= 4 ? d + 4 : end; d != g; ++d, ++s) {
                    const std::uint16_t fl = s->flags;
                    if (fl & NS_MOREFRAG) [[unlikely]] {
                        frag = true;
                        break;
                    }
                    // buffer and length read once and checked (nic_ring.hpp)
                    const drivers::TxSlot v = drivers::read_tx_slot(*s, bounds);
                    bad += v.bad;
                    s->flags = std::uint16_t(fl & ~NS_BUF_CHANGED); // the address is rewritten anyway
                    bytes += v.len;
                    if (fl & NS_REPORT) [[unlikely]] {
                        // the application wants this one reported: RS here too
                        tx_desc(*d, iova_of(v.idx), v.len, adv::TXD_DCMD_EOP | adv::TXD_DCMD_RS, v.len);
                        reported = std::uint32_t(d - desc);
                        push_rs(tq, reported, n);
                    } else {
                        tx_desc(*d, iova_of(v.idx), v.len, adv::TXD_DCMD_EOP, v.len);
                    }
                }
                if (frag) break;
            }
            return std::uint32_t(d - desc);
        };
        while (i != head) {
            const std::uint32_t x = run(i, i < head ? head : n);
            pkts += x - i;
            i = x;
            if (i == n) {
                i = 0;
                continue;
            }
            if (i == head) break;
            const std::uint32_t j = tx_chain(k, tq, desc, iova_of, i, head, bytes, reported); // NS_MOREFRAG at i
            if (j == i) break; // incomplete: the fragments wait
            pkts++;
            i = j;
        }
        if (i != cur) {
            // report status on the batch's last descriptor (an EOP one), and
            // on those of NS_REPORT slots (above)
            const std::uint32_t last = i == 0 ? n - 1 : i - 1;
            if (last != reported) {
                desc[last].cmd_type_len |= adv::TXD_DCMD_RS;
                push_rs(tq, last, n);
            }
#if UPIO_ADV_VEC
            if constexpr (vec) bytes += adv::lanes_sum(vbytes);
#endif
            RingCounters::add(k.stats.packets, pkts);
            RingCounters::add(k.stats.bytes, bytes);
            // descriptors visible before the doorbell; one tail write per batch
            std::atomic_thread_fence(std::memory_order_release);
            q.dev->write32(q.tail_reg, i);
            k.nr_hwcur.store(i, std::memory_order_release);
        }
        if (bad) [[unlikely]]
            RingCounters::add(k.stats.drops, bad);
        if (!(flags & SYNC_FORCE_RECLAIM) &&
            k.distance(head, k.nr_hwtail.load(std::memory_order_relaxed)) >= tq.reclaim_thresh)
            return 0; // enough free slots: reclaim later
    }
    return tx_reclaim(k, tq, desc);
}

// Adds the queue's QPRDC (clear on read, so each drop once) to the ring's
// drops. Atomic: stats() may add too, from the control path. All-ones is
// no count: the device may be gone (false then).
[[gnu::noinline]] bool count_drops(KRing& k, const RxQueue& rq, const drivers::Regs& r) noexcept {
    const std::uint32_t d = rq.hw.dev->read32(rq.drop_reg);
    if (d == 0xffffffffu) return r.present();
    if (d) k.stats.drops.fetch_add(d, std::memory_order_relaxed);
    return true;
}

// The drop counting of rx_sync below after drivers::rx_receive ran: a drop
// there made slot s descriptor s + skew (first was descriptor first: skew
// was 0 when the sync began).
[[gnu::noinline]] int count_after_check(KRing& k, RxQueue& rq, const drivers::Regs& r, std::uint32_t first,
                                        std::uint32_t t, std::uint32_t stop) noexcept {
    const std::uint32_t n = k.num_slots, old = rq.rdt, td = drivers::ring_add(t, rq.hw.skew, n);
    if (!((td >= old) ^ (td < first) ^ (first <= old)))
        if (!count_drops(k, rq, r)) return -ENODEV;
    rq.rdt = drivers::ring_add(stop, rq.hw.skew, n);
    return 0;
}

// Arms descriptors [from, to) with the buffers of their slots, each read
// once and checked (nic_ring.hpp); returns how many were not buffers of the
// region (armed with buffer 0). Four at a time with a linear mapping.
template <class IovaOf>
[[gnu::always_inline]] inline std::uint32_t rx_arm(adv::RxDesc* desc, const netmap_slot* slot, std::uint32_t from,
                                                   std::uint32_t to, const drivers::SlotBounds& bounds,
                                                   IovaOf iova_of) noexcept {
    std::uint32_t bad = 0, i = from;
#if UPIO_ADV_VEC
    if constexpr (std::is_same_v<IovaOf, LinearIova>) {
        const adv::Vec4 v4 = vec4_of(bounds, iova_of);
        adv::RxDesc* d = desc + i;
        const netmap_slot* s = slot + i;
        for (std::uint32_t g = (to - i) / 4; g; g--, d += 4, s += 4) bad += adv::rx_arm4(v4, s, d);
        i = std::uint32_t(d - desc);
    }
#endif
    for (; i != to; i++) {
        desc[i].lo = iova_of(drivers::read_rx_buf(slot[i], bounds, bad));
        desc[i].hi = 0; // clears DD
    }
    return bad;
}

// As drivers::rx_sync (nic_ring.hpp), with the address arithmetic of
// BufIova, while no frame was dropped since the ring started (skew 0:
// descriptor i serves slot i). Released slots keep their flags until they
// are filled again (then flags are rewritten: NS_BUF_CHANGED needs nothing
// more, the descriptor always gets the slot's current buffer). Single-
// descriptor frames that pass RxFormat::rx_frame_ok (DD, EOP, no error,
// length 1..buf_size: one compare) are taken here; at the first other
// descriptor written back (a chain, a bad write-back) the checked loop of
// drivers::rx_receive takes over for the rest of the sync.
template <bool Counting, class IovaOf>
[[gnu::always_inline]] inline int rx_sync(KRing& k, RxQueue& rq, IovaOf iova_of, const drivers::Regs& r) noexcept {
    drivers::HwQueue& q = rq.hw;
    auto* const desc = q.descs<adv::RxDesc>();
    netmap_slot* const slot = k.ring->slot;
    const std::uint32_t head = k.rhead, n = k.num_slots, bsz = q.buf_size;
    const std::uint32_t cur = k.nr_hwcur.load(std::memory_order_relaxed);
    // the descriptor RDT points at: the device stops one short of head
    const std::uint32_t stop = head == 0 ? n - 1 : head - 1;

    if (cur != head) {
        const drivers::SlotBounds bounds(*q.mem, q.mem->buf_size());
        std::uint32_t bad = 0;
        if (cur < head) {
            bad = rx_arm(desc, slot, cur, head, bounds, iova_of);
        } else {
            bad = rx_arm(desc, slot, cur, n, bounds, iova_of);
            bad += rx_arm(desc, slot, 0, head, bounds, iova_of);
        }
        std::atomic_thread_fence(std::memory_order_release);
        q.dev->write32(q.tail_reg, stop);
        k.nr_hwcur.store(head, std::memory_order_release);
        if (bad) [[unlikely]]
            k.stats.drops.fetch_add(bad, std::memory_order_relaxed);
    }

    const std::uint32_t first = k.nr_hwtail.load(std::memory_order_relaxed);
    std::uint64_t bytes = 0, pkts = 0;
#if UPIO_ADV_VEC
    const adv::RxTake take(RXDADV_ERR_FRAME, bsz);
    __m128i vbytes = _mm_setzero_si128();
#endif
    // whole, valid single-descriptor frames from `from` up to `to`: four
    // at a time (adv_vec.hpp), then one at a time through the group that
    // did not pass (it has the first descriptor that does not: not written
    // back yet, usually) unless that is its first
    auto run = [&](std::uint32_t from, std::uint32_t to) noexcept UPIO_INLINE_LAMBDA {
        std::uint32_t i = from;
#if UPIO_ADV_VEC
        const adv::RxDesc* d = desc + i;
        netmap_slot* s = slot + i;
        int m = 0xffff;
        __m128i acc = _mm_setzero_si128();
        for (std::uint32_t g = (to - i) / 4; g && (m = adv::rx_take4(take, d, s, acc)) == 0xffff; g--) {
            d += 4;
            s += 4;
        }
        vbytes = _mm_add_epi32(vbytes, acc);
        i = std::uint32_t(d - desc);
        if ((m & 0xf) != 0xf) return i;
#endif
        for (; i != to; i++) {
            const std::uint64_t hi = std::atomic_ref<std::uint64_t>(desc[i].hi).load(std::memory_order_acquire);
            if (!RxFormat::rx_frame_ok(hi, bsz)) break;
            const std::uint64_t len = std::uint16_t(hi >> adv::RXD_LEN_SHIFT);
            drivers::set_rx_len(slot[i], std::uint32_t(len));
            bytes += len;
        }
        return i;
    };
    std::uint32_t t = first;
    bool checked = false; // rx_receive took over (skew may have grown)
    for (;;) {
        const std::uint32_t x = run(t, t <= stop ? stop : n);
        pkts += x - t;
        t = x;
        if (t == n) {
            t = 0;
            continue;
        }
        if (t == stop) break;
        // stopped early: not written back yet (the common case), or a chain,
        // or a write-back that fails the check
        if (std::atomic_ref<std::uint64_t>(desc[t].hi).load(std::memory_order_acquire) & adv::RXD_STAT_DD) {
            const drivers::RxProgress p = drivers::rx_receive<RxFormat>(k, q, t, head);
            t = p.t;
            bytes += p.bytes;
            pkts += p.pkts;
            checked = true;
        }
        break;
    }
#if UPIO_ADV_VEC
    bytes += adv::lanes_sum(vbytes);
#endif
    if (t != first) {
        k.nr_hwtail.store(t, std::memory_order_release);
        RingCounters::add(k.stats.packets, pkts);
        RingCounters::add(k.stats.bytes, bytes);
    }
    // Counting (the queue has its own QPRDC, SRRCTL.DROP_EN): when the
    // device wrote back every descriptor up to the RDT of the previous sync
    // (rq.rdt), frames may have been dropped for lack of one; QPRDC says how
    // many. One MMIO read, only then. Drops happen only while the device
    // waits at that RDT, before this sync's tail write, so the loop above
    // has seen it get there: none is missed. "t has reached rq.rdt going
    // forward from first", without a division: of t >= rdt, t < first and
    // first <= rdt, an even number hold exactly then.
    if constexpr (Counting) {
        if (checked) [[unlikely]]
            return count_after_check(k, rq, r, first, t, stop);
        const std::uint32_t old = rq.rdt;
        if (!((t >= old) ^ (t < first) ^ (first <= old))) [[unlikely]]
            if (!count_drops(k, rq, r)) return -ENODEV;
        rq.rdt = stop;
    }
    return 0;
}

// After a drop (skew != 0): the shared loops, which map slot s to
// descriptor s + skew; drops counted on every sync (a device that has
// misbehaved already is not worth the arithmetic).
[[gnu::noinline]] int rx_sync_skewed(KRing& k, RxQueue& rq, unsigned flags, const drivers::Regs& r) noexcept {
    (void)drivers::rx_sync<RxFormat>(k, rq.hw, flags);
    rq.rdt = drivers::ring_add(k.prev(k.rhead), rq.hw.skew, k.num_slots);
    if (rq.drop_reg && !count_drops(k, rq, r)) return -ENODEV;
    return 0;
}

// The less common variants: a page-table IOVA mapping, or a queue sharing
// its statistics set (no drop counting).
[[gnu::noinline]] int rx_sync_other(KRing& k, RxQueue& rq, unsigned flags, const drivers::Regs& r) noexcept {
    if (rq.hw.skew) return rx_sync_skewed(k, rq, flags, r);
    switch (rq.path) {
    case RxQueue::linear: return rx_sync<false>(k, rq, LinearIova{rq.iova.base, rq.iova.size}, r);
    case RxQueue::table: return rx_sync<false>(k, rq, TableIova{rq.hw.mem}, r);
    default: return rx_sync<true>(k, rq, TableIova{rq.hw.mem}, r);
    }
}

// The paths by mapping, out of line: the entry points stay small.
[[gnu::noinline]] int tx_sync_linear(KRing& k, TxQueue& tq, unsigned flags) noexcept {
    return tx_sync(k, tq, flags, LinearIova{tq.iova.base, tq.iova.size});
}
[[gnu::noinline]] int tx_sync_table(KRing& k, TxQueue& tq, unsigned flags) noexcept {
    return tx_sync(k, tq, flags, TableIova{tq.hw.mem});
}
[[gnu::noinline]] int rx_sync_counting(KRing& k, RxQueue& rq, const drivers::Regs& r) noexcept {
    return rx_sync<true>(k, rq, LinearIova{rq.iova.base, rq.iova.size}, r);
}

#if UPIO_ADV_VEC
// The common paths again with VEX encodings, where the CPU has AVX: the
// same SSE2 steps, but three-operand instructions need no register copies.
[[gnu::target("avx"), gnu::noinline]] int tx_sync_linear_avx(KRing& k, TxQueue& tq, unsigned flags) noexcept {
    return tx_sync(k, tq, flags, LinearIova{tq.iova.base, tq.iova.size});
}
[[gnu::target("avx"), gnu::noinline]] int rx_sync_counting_avx(KRing& k, RxQueue& rq, const drivers::Regs& r) noexcept {
    return rx_sync<true>(k, rq, LinearIova{rq.iova.base, rq.iova.size}, r);
}
// The common paths: the SSE2 ones from the start (constant-initialised, so
// a port opened from another static constructor finds working code), the
// AVX ones once a constructor that runs before the program's own has seen
// the CPU. UPIO_NO_AVX=1 keeps the SSE2 code (for tests and comparisons).
int (*tx_sync_linear_best)(KRing&, TxQueue&, unsigned) noexcept = tx_sync_linear;
int (*rx_sync_counting_best)(KRing&, RxQueue&, const drivers::Regs&) noexcept = rx_sync_counting;
[[gnu::constructor(101)]] void pick_avx_paths() noexcept {
    if (!adv::avx_wanted()) return;
    tx_sync_linear_best = tx_sync_linear_avx;
    rx_sync_counting_best = rx_sync_counting_avx;
}
#else
constexpr auto tx_sync_linear_best = tx_sync_linear;
constexpr auto rx_sync_counting_best = rx_sync_counting;
#endif

} // namespace

// A device found gone (drivers::Regs::present) fails every sync with
// ENODEV. A TX hang is when the driver looks: a device that stopped
// completing anything may have left the bus; if it has not, recover_tx
// reports the hang and resets the queue.
int IxgbeAdapter::txsync(KRing& k, unsigned flags) noexcept {
    if (r_.gone()) [[unlikely]]
        return -ENODEV;
    TxQueue& tq = *static_cast<TxQueue*>(k.priv);
    const int rc = tq.iova.linear ? tx_sync_linear_best(k, tq, flags) : tx_sync_table(k, tq, flags);
    if (rc == -ETIMEDOUT) [[unlikely]]
        return r_.present() ? recover_tx(k, tq) : -ENODEV;
    return rc;
}

int IxgbeAdapter::rxsync(KRing& k, unsigned flags) noexcept {
    if (r_.gone()) [[unlikely]]
        return -ENODEV;
    RxQueue& rq = *static_cast<RxQueue*>(k.priv);
    // one test on the common path, as for tx (skew is 0 until a drop)
    if (rq.path == RxQueue::linear_counting && rq.hw.skew == 0) [[likely]]
        return rx_sync_counting_best(k, rq, r_);
    return rx_sync_other(k, rq, flags, r_);
}

// -- interrupts (7.3)
//
// MSI-X only: vector v serves queue pairs q with q % nvec_queues == v (rx and
// tx causes of a pair on the same vector), the last vector the "other"
// causes (link status change). GPIE.EIAME with EIAM_EX masks a queue vector
// when it fires, so an idle queue costs nothing and a busy-polling one
// raises no interrupts at all; a waiter unmasks its vector (EIMS_EX) before
// it sleeps.

Status IxgbeAdapter::setup_interrupts() {
    nvec_queues_ = std::min<unsigned>(nq_, max_msix_vectors - 1);
    auto fds = dev_->enable_interrupts(IrqKind::msix, nvec_queues_ + 1);
    if (!fds) {
        // busy polling still works; blocking waits then only time out
        irq_error_ = fmt::format("{}: no MSI-X, busy polling only ({})", name(), fds.error().message);
        nvec_queues_ = 1;
        return {};
    }
    irq_fds_ = std::move(fds.value());
    r_.set(GPIE, GPIE_MSIX_MODE | GPIE_PBA_SUPPORT | GPIE_EIAME);
    for (std::uint32_t q = 0; q < nq_; q++) {
        // IVAR[q / 2]: queue 2n in bytes 0 (rx) and 1 (tx), 2n + 1 in bytes 2, 3 (8.2.3.5.16)
        const std::uint32_t v = vector_of(q) | IVAR_ALLOC_VAL;
        const unsigned shift = (q % 2) * 16;
        r_.set_field(IVAR[q / 2], 0xffffu << shift, (v | v << 8) << shift);
    }
    r_.set(IVAR_MISC, (nvec_queues_ | IVAR_ALLOC_VAL) << 8);
    std::uint64_t qbits = nvec_queues_ == 64 ? ~0ull : (std::uint64_t(1) << nvec_queues_) - 1;
    r_.set(EIAC, std::uint32_t(qbits) & EICR_RTXQ_MASK);
    r_.set(EIAM_EX[0], std::uint32_t(qbits));
    r_.set(EIAM_EX[1], std::uint32_t(qbits >> 32));
    set_itr(opt_.itr_us);
    r_.set(EIMS, EICR_LSC); // link changes always reach the other vector
    return {};
}

void IxgbeAdapter::set_itr(std::uint32_t us) noexcept {
    opt_.itr_us = us;
    if (irq_fds_.empty()) return;
    // 11:3 in 2.048 us units at 1 and 10 GbE (8.2.3.5.12), rounded to the
    // nearest; at most 0x1ff units (1046 us), not wrapped to 0 (no moderation)
    const std::uint64_t units = std::min<std::uint64_t>((std::uint64_t(us) * 1000 + EITR_UNIT_NS / 2) / EITR_UNIT_NS,
                                                        EITR_INTERVAL_MASK >> EITR_INTERVAL_SHIFT);
    for (unsigned v = 0; v <= nvec_queues_; v++) r_.set(EITR(v), std::uint32_t(units) << EITR_INTERVAL_SHIFT);
}

// The queue's vector, and the host's request for the device (VFIO's
// request interrupt), which wakes every waiter to ENODEV.
std::vector<int> IxgbeAdapter::wait_fds(const KRing& k) const {
    std::vector<int> fds;
    if (!irq_fds_.empty()) fds.push_back(irq_fds_[vector_of(k.ring_id)]);
    if (const int req = dev_->request_fd(); req >= 0) fds.push_back(req);
    return fds;
}

void IxgbeAdapter::set_interrupts(KRing& k, bool on) noexcept {
    if (irq_fds_.empty()) return;
    const unsigned v = vector_of(k.ring_id);
    const std::uint64_t bit = std::uint64_t(1) << v;
    auto& mine = k.dir == Direction::rx ? rx_armed_ : tx_armed_;
    auto& other = k.dir == Direction::rx ? tx_armed_ : rx_armed_;
    if (on) {
        mine.fetch_or(bit, std::memory_order_relaxed);
        r_.set(EIMS_EX[v / 32], 1u << (v % 32));
    } else {
        mine.fetch_and(~bit, std::memory_order_relaxed);
        if (!(other.load(std::memory_order_relaxed) & bit)) r_.set(EIMC_EX[v / 32], 1u << (v % 32));
    }
}

void IxgbeAdapter::ack_wait_fd(int fd) noexcept {
    std::uint64_t n;
    const bool got = ::read(fd, &n, sizeof n) == sizeof n; // EIAC/EIAM already cleared and masked a queue vector
    if (got && fd == dev_->request_fd()) r_.mark_gone(); // the host wants the device back
}

} // namespace upio::ixgbe
