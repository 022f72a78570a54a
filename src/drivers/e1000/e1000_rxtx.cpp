// The e1000 family's data path (txsync/rxsync on the shared ring code) and
// interrupts for blocking waits.
//
// When the region is mapped in one piece (BufIova linear, as VFIO and the
// models map it) the common paths take four slots and four descriptors a
// step (drivers/common/adv_vec.hpp), for both layouts: the advanced one of
// the 82576/I350 and the legacy one of the 8254x/82574 (the same steps with
// no PAYLEN, and status and length the other way round in the write-back).
// Every check of the one-at-a-time code stays: each slot read once, its
// buffer index, length and flags checked; each write-back checked (DD, EOP,
// errors, length 1..buffer size) before it is used; a group that fails is
// done one slot at a time, with only what that code reads. What is not a
// whole single-slot packet (tx), or not a whole valid frame in one
// descriptor (rx), goes to the shared loops of nic_ring.hpp for the rest of
// the sync, and so does everything after an rx drop (skew) or with a
// page-table mapping. RS stays on every tx descriptor (reclaim by DD, four
// descriptors a step while all four are done).
#include "drivers/e1000/e1000.hpp"
#include "drivers/e1000/e1000_regs.hpp"

#include "drivers/common/adv_desc.hpp"
#include "drivers/common/adv_vec.hpp"
#include "drivers/common/nic_ring.hpp"

#include <fmt/format.h>
#include <unistd.h>

namespace upio::e1000 {
namespace {

namespace adv = drivers::adv;
using drivers::HwQueue;

// A tx fallback: the shared one-at-a-time loop, out of line (a fragment, or
// a slot the steps refused, ends the steps for the sync).
template <class Fmt>
[[gnu::noinline]] void tx_rest(KRing& k, HwQueue& q, std::uint32_t i, std::uint32_t head,
                               drivers::TxCount& c) noexcept {
    drivers::tx_fill<Fmt>(k, q, i, head, c);
}

// The shared rx loops (nic_ring.hpp), out of line: a chain, a bad
// write-back, or a ring with skew.
template <class Fmt>
[[gnu::noinline]] drivers::RxProgress rx_rest(KRing& k, HwQueue& q, std::uint32_t t, std::uint32_t head) noexcept {
    return drivers::rx_receive<Fmt>(k, q, t, head);
}

#if UPIO_ADV_VEC

// What the four-descriptor steps need to know of a layout.
template <class Fmt>
struct Layout;
template <>
struct Layout<adv::Format> {
    static constexpr bool legacy = false;
    // DTYP data, DEXT, IFCS, RS (reclaim by DD on every descriptor), EOP
    static constexpr std::uint32_t tx_cmd =
        adv::TXD_DTYP_DATA | adv::TXD_DCMD_DEXT | adv::TXD_DCMD_IFCS | adv::TXD_DCMD_RS | adv::TXD_DCMD_EOP;
    static constexpr std::uint32_t rx_errs = adv::IGB_RXD_ERR_FRAME;
};
template <>
struct Layout<LegacyFormat> {
    static constexpr bool legacy = true;
    // CMD (31:24) as LegacyFormat::tx_write sets it; CSO 0, status 0
    static constexpr std::uint32_t tx_cmd = std::uint32_t(LTXD_CMD_IFCS | LTXD_CMD_RS | LTXD_CMD_EOP);
    // the errors byte as it sits in the write-back's second dword
    static constexpr std::uint32_t rx_errs = std::uint32_t(LRXD_ERR_FRAME >> 32);
    static_assert(LRXD_STAT_DD >> 32 == adv::RXD_STAT_DD && LRXD_STAT_EOP >> 32 == adv::RXD_STAT_EOP);
    static_assert(LTXD_CMD_EOP == adv::TXD_DCMD_EOP && LTXD_CMD_IFCS == adv::TXD_DCMD_IFCS &&
                  LTXD_CMD_RS == adv::TXD_DCMD_RS);
};

// txsync with a linear mapping: single-slot packets four at a time, a group
// the step refuses one slot at a time (the checked read of nic_ring.hpp),
// a fragment and all after it in the shared loop.
template <class Fmt>
[[gnu::always_inline]] inline int tx_sync_vec(KRing& k, HwQueue& q, const drivers::BufIova& io) noexcept {
    using L = Layout<Fmt>;
    using Tx = typename Fmt::Tx;
    const std::uint32_t head = k.rhead, n = k.num_slots;
    const std::uint32_t cur = k.nr_hwcur.load(std::memory_order_relaxed);
    if (cur != head) {
        drivers::TxCount c;
        std::uint32_t i = cur;
        if (!q.mid_packet) [[likely]] {
            Tx* const desc = q.descs<Tx>();
            netmap_slot* const slot = k.ring->slot;
            const drivers::SlotBounds bounds(*q.mem, q.buf_size);
            const adv::Vec4 v4(bounds.span, io.base, io.size);
            const __m128i lim = _mm_set1_epi32(int(bounds.bsz < 0xffff ? bounds.bsz : 0xffff));
            const __m128i cmd = _mm_set1_epi32(int(L::tx_cmd));
            __m128i vbytes = _mm_setzero_si128();
            std::uint64_t bytes = 0, bad = 0;
            auto run = [&](std::uint32_t from, std::uint32_t to) noexcept UPIO_INLINE_LAMBDA {
                Tx* d = desc + from;
                netmap_slot* s = slot + from;
                Tx* const end = desc + to;
                while (d != end) {
                    for (std::size_t g = std::size_t(end - d) / 4;
                         g && adv::tx_fill4<!L::legacy>(v4, lim, cmd, s, d, vbytes); g--) {
                        d += 4;
                        s += 4;
                    }
                    if (d == end) break;
                    bool frag = false;
                    for (Tx* const g = end - d >= 4 ? d + 4 : end; d != g; ++d, ++s) {
                        const std::uint16_t fl = s->flags;
                        if (fl & NS_MOREFRAG) [[unlikely]] {
                            frag = true;
                            break;
                        }
                        // buffer and length read once and checked (nic_ring.hpp)
                        const drivers::TxSlot v = drivers::read_tx_slot(*s, bounds);
                        bad += v.bad;
                        s->flags = std::uint16_t(fl & ~NS_BUF_CHANGED);
                        bytes += v.len;
                        Fmt::tx_write(*d, Iova{io.base + std::uint64_t(v.idx) * io.size}, std::uint16_t(v.len),
                                      v.len, true);
                    }
                    if (frag) break;
                }
                return std::uint32_t(d - desc);
            };
            if (i < head) i = run(i, head);
            else if ((i = run(i, n)) == n) i = run(0, head);
            c.pkts = k.distance(cur, i);
            c.bytes = bytes + adv::lanes_sum(vbytes);
            c.bad = bad;
        }
        if (i != head) [[unlikely]]
            tx_rest<Fmt>(k, q, i, head, c);
        drivers::tx_publish(k, q, head, c);
    }
    return drivers::tx_reclaim<Fmt>(k, q, head);
}

// rxsync with a linear mapping and no skew (descriptor i serves slot i):
// re-arm four at a time, take whole valid single-descriptor frames four at
// a time; the group with the first other descriptor one at a time, and
// from a descriptor written back that is not such a frame (a chain, a bad
// write-back) the shared loop (it drops and counts bad frames).
template <class Fmt>
[[gnu::always_inline]] inline int rx_sync_vec(KRing& k, HwQueue& q, const drivers::BufIova& io) noexcept {
    using L = Layout<Fmt>;
    using Rx = typename Fmt::Rx;
    Rx* const desc = q.descs<Rx>();
    netmap_slot* const slot = k.ring->slot;
    const std::uint32_t head = k.rhead, n = k.num_slots, bsz = q.buf_size;
    const std::uint32_t cur = k.nr_hwcur.load(std::memory_order_relaxed);
    // the descriptor RDT points at: the device stops one short of head
    const std::uint32_t stop = head == 0 ? n - 1 : head - 1;

    if (cur != head) {
        // Released slots keep their flags (NS_BUF_CHANGED needs nothing
        // more: the descriptor always gets the slot's current buffer) until
        // a frame rewrites them.
        const drivers::SlotBounds bounds(*q.mem, q.mem->buf_size());
        const adv::Vec4 v4(bounds.span, io.base, io.size);
        std::uint32_t bad = 0;
        auto arm = [&](std::uint32_t from, std::uint32_t to) noexcept UPIO_INLINE_LAMBDA {
            Rx* d = desc + from;
            const netmap_slot* s = slot + from;
            for (std::uint32_t g = (to - from) / 4; g; g--, d += 4, s += 4) bad += adv::rx_arm4(v4, s, d);
            for (; d != desc + to; ++d, ++s)
                Fmt::rx_arm(*d, Iova{io.base + std::uint64_t(drivers::read_rx_buf(*s, bounds, bad)) * io.size});
        };
        if (cur < head) {
            arm(cur, head);
        } else {
            arm(cur, n);
            arm(0, head);
        }
        std::atomic_thread_fence(std::memory_order_release);
        q.dev->write32(q.tail_reg, stop);
        k.nr_hwcur.store(head, std::memory_order_release);
        if (bad) [[unlikely]]
            k.stats.drops.fetch_add(bad, std::memory_order_relaxed);
    }

    const std::uint32_t first = k.nr_hwtail.load(std::memory_order_relaxed);
    const adv::RxTake take(L::rx_errs, bsz);
    __m128i vbytes = _mm_setzero_si128();
    std::uint64_t bytes = 0;
    auto run = [&](std::uint32_t from, std::uint32_t to) noexcept UPIO_INLINE_LAMBDA {
        const Rx* d = desc + from;
        netmap_slot* s = slot + from;
        int m = 0xffff;
        for (std::uint32_t g = (to - from) / 4; g && (m = adv::rx_take4<L::legacy>(take, d, s, vbytes)) == 0xffff;
             g--) {
            d += 4;
            s += 4;
        }
        std::uint32_t i = std::uint32_t(d - desc);
        if ((m & 0xf) != 0xf) return i; // the group's first is not such a frame
        for (; i != to; i++) {
            const std::uint64_t w = Fmt::rx_word(desc[i]);
            if (!Fmt::rx_frame_ok(w, bsz)) break;
            const std::uint32_t len = Fmt::rx_len(w);
            drivers::set_rx_len(slot[i], len);
            bytes += len;
        }
        return i;
    };
    std::uint32_t t = first;
    if (first <= stop) t = run(first, stop);
    else if ((t = run(first, n)) == n) t = run(0, stop);
    std::uint64_t pkts = k.distance(first, t);
    bytes += adv::lanes_sum(vbytes);
    // stopped early: not written back yet (the common case), or a chain, or
    // a write-back that fails the check
    if (t != stop && (Fmt::rx_word(desc[t]) & Fmt::RX_DD)) [[unlikely]] {
        const drivers::RxProgress p = rx_rest<Fmt>(k, q, t, head);
        t = p.t;
        bytes += p.bytes;
        pkts += p.pkts;
    }
    if (t != first) {
        k.nr_hwtail.store(t, std::memory_order_release);
        RingCounters::add(k.stats.packets, pkts);
        RingCounters::add(k.stats.bytes, bytes);
    }
    return 0;
}

// The steps' paths, out of line, SSE2 and (where the CPU has it) AVX
// encodings: the same steps, three-operand instructions.
template <class Fmt>
[[gnu::noinline]] int tx_vec(KRing& k, HwQueue& q, const drivers::BufIova& io) noexcept {
    return tx_sync_vec<Fmt>(k, q, io);
}
template <class Fmt>
[[gnu::noinline]] int rx_vec(KRing& k, HwQueue& q, const drivers::BufIova& io) noexcept {
    return rx_sync_vec<Fmt>(k, q, io);
}
template <class Fmt>
[[gnu::target("avx"), gnu::noinline]] int tx_vec_avx(KRing& k, HwQueue& q, const drivers::BufIova& io) noexcept {
    return tx_sync_vec<Fmt>(k, q, io);
}
template <class Fmt>
[[gnu::target("avx"), gnu::noinline]] int rx_vec_avx(KRing& k, HwQueue& q, const drivers::BufIova& io) noexcept {
    return rx_sync_vec<Fmt>(k, q, io);
}

using VecPath = int (*)(KRing&, HwQueue&, const drivers::BufIova&) noexcept;
// [advanced?]: the SSE2 paths from the start (constant-initialised: a port
// opened from another static constructor finds working code), the AVX ones
// once a constructor that runs before the program's own has seen the CPU.
// UPIO_NO_AVX=1 keeps the SSE2 code.
VecPath tx_best[2] = {tx_vec<LegacyFormat>, tx_vec<adv::Format>};
VecPath rx_best[2] = {rx_vec<LegacyFormat>, rx_vec<adv::Format>};
[[gnu::constructor(101)]] void pick_avx_paths() noexcept {
    if (!adv::avx_wanted()) return;
    tx_best[0] = tx_vec_avx<LegacyFormat>;
    tx_best[1] = tx_vec_avx<adv::Format>;
    rx_best[0] = rx_vec_avx<LegacyFormat>;
    rx_best[1] = rx_vec_avx<adv::Format>;
}

#endif

} // namespace

// A device found gone (drivers::Regs::present) fails every sync with
// ENODEV. A TX hang is when the driver looks: a device that stopped
// completing anything may have left the bus; if it has not, recover_tx
// reports the hang and resets the queue.
int E1000Adapter::txsync(KRing& k, unsigned flags) noexcept {
    if (r_.gone()) [[unlikely]]
        return -ENODEV;
    auto& q = *static_cast<HwQueue*>(k.priv);
    int rc;
#if UPIO_ADV_VEC
    if (iova_.linear) [[likely]]
        rc = tx_best[advanced()](k, q, iova_);
    else
#endif
        rc = advanced() ? drivers::tx_sync<adv::Format>(k, q, flags) : drivers::tx_sync<LegacyFormat>(k, q, flags);
    if (rc == -ETIMEDOUT) [[unlikely]]
        return r_.present() ? recover_tx(k, q) : -ENODEV;
    return rc;
}

// The write-backs are checked (drivers::rx_receive, or the same checks four
// at a time): bad frames are dropped and counted in rx_errors.
int E1000Adapter::rxsync(KRing& k, unsigned flags) noexcept {
    if (r_.gone()) [[unlikely]]
        return -ENODEV;
    auto& q = *static_cast<HwQueue*>(k.priv);
#if UPIO_ADV_VEC
    if (iova_.linear && q.skew == 0) [[likely]]
        return rx_best[advanced()](k, q, iova_);
#endif
    return advanced() ? drivers::rx_sync<adv::Format>(k, q, flags) : drivers::rx_sync<LegacyFormat>(k, q, flags);
}

// -- interrupts
//
// Sources: 8254x SDM 13.4.17 ICR, 13.4.18 ITR, 13.4.20 IMS, 13.4.21 IMC;
// 82574 datasheet 7.4 (interrupts, MSI-X) and 10.2.4 (ICR, ITR, IMS, IMC,
// EIAC, IAM, IVAR, EITR); 82576 datasheet 7.3 (interrupt modes, EITR
// moderation) and 8.8 (EICR, EIMS, EIMC, EIAC, EIAM, EITR, IVAR, IVAR_MISC,
// GPIE); CTRL_EXT.PBA_SUPPORT/EIAME: 82574 10.2.2.3. The layouts were
// checked against Linux's e1000e and igb ([L] E1000_IVAR_*, igb_assign_vector).
//
// 8254x: one vector (MSI, else INTx). Causes are in ICR (cleared on read); a
// waiter enables RXT0 (rx) or TXDW (tx) in IMS while it sleeps.
// 82574L: MSI-X (82574 7.4.2): RxQ0 and TxQ0 on vector 0,
// other causes on vector 1. A write-back sets the queue's own ICR bit; EIAC
// clears it and IAM (CTRL_EXT.EIAME) masks it when the message is sent, so an
// idle queue costs nothing; a waiter sets its bit (RxQ0 or TxQ0) in IMS.
// Without MSI-X the 82574 runs as an 8254x (MSI, else INTx).
// 82576 / I350: MSI-X, vector q for queue pair q, vector nq for other causes
// (82576 7.3). EIAC clears and EIAM masks a vector's EICR/EIMS bit when it
// fires; a waiter sets its bit in EIMS.
// Without MSI-X the 82576 / I350 run on one vector (MSI, else INTx) with
// GPIE.Multiple_MSIX clear: a write-back sets ICR.RXDW / ICR.TXDW whatever
// the queue, so every queue's waiter shares RXDW (rx) or TXDW (tx) in IMS,
// enabled while any of them sleeps. The interrupt wakes every waiter that
// sleeps on the vector (ack_wait_fd): a waiter whose queue had nothing
// re-syncs and sleeps again.
//
// Every mode: waiters of several rings may share a vector (rx and tx of a
// pair; every queue on one vector) and sleep in different threads, each
// polling the vector's eventfd. The one that consumes an interrupt wakes
// the others through their Ports' eventfds, so none misses it.

namespace {
const char* kind_name(IrqKind k) {
    return k == IrqKind::msix ? "MSI-X" : k == IrqKind::msi ? "MSI" : "INTx";
}
} // namespace

Status E1000Adapter::setup_interrupts() {
    struct Try {
        IrqKind kind;
        unsigned vectors;
    };
    // MSI-X where the family has it (82574: two vectors; 82576/I350: one per
    // queue pair and one for other causes), else MSI, else INTx
    std::vector<Try> tries;
    switch (t_->msix) {
    case FamilyTraits::Msix::i82574: tries.push_back({IrqKind::msix, 2}); break;
    case FamilyTraits::Msix::per_queue: tries.push_back({IrqKind::msix, nq_ + 1}); break;
    case FamilyTraits::Msix::none: break;
    }
    tries.push_back({IrqKind::msi, 1});
    tries.push_back({IrqKind::intx, 1});
    std::string why;
    for (const Try& t : tries) {
        auto fds = dev_->enable_interrupts(t.kind, t.vectors);
        if (fds) {
            irq_fds_ = std::move(fds.value());
            irq_kind_ = t.kind;
            break;
        }
        why += (why.empty() ? "" : "; ") + fds.error().message;
    }
    if (irq_fds_.empty()) {
        // Busy polling still works; blocking waits then only time out.
        irq_error_ = fmt::format("{}: no interrupts, busy polling only ({}); check that vfio-pci offers the "
                                 "device's interrupts (dmesg)",
                                 name(), why);
        return {};
    }
    if (irq_kind_ != tries.front().kind) {
        const char* want = kind_name(tries.front().kind);
        irq_error_ = fmt::format("{}: interrupts on {}, one vector ({} unavailable: {}); for {} the device needs "
                                 "the capability (lspci -v) and the IOMMU and vfio-pci must offer it (dmesg)",
                                 name(), kind_name(irq_kind_), want, why, want);
    }
    if (irq_kind_ == IrqKind::msix) {
        if (t_->msix == FamilyTraits::Msix::per_queue) setup_msix_82576();
        else setup_msix_82574();
    } else if (t_->ext_irq) {
        setup_one_vector_82576();
    }
    set_itr(opt_.itr_us);
    return {};
}

// 82574 7.4.2, 10.2.4.8 (IVAR), 10.2.4.6-7 (EIAC, IAM), 10.2.2.3 (CTRL_EXT).
void E1000Adapter::setup_msix_82574() {
    // PBA_SUPPORT: required in MSI-X mode (an IMS write also clears the
    // vector's pending bit); EIAME: auto-mask by IAM on an MSI-X message;
    // IAME off: reading ICR masks nothing. (QEMU's e1000e masks the EIAC
    // causes itself while IAME is clear; with both set up, the cause is
    // masked once after its message either way.)
    r_.set(CTRL_EXT, (r_.get(CTRL_EXT) | CTRL_EXT_PBA_SUPPORT | CTRL_EXT_EIAME) & ~CTRL_EXT_IAME);
    r_.set(IVAR_82574, ((0 | IVAR_82574_VALID) << IVAR_82574_RXQ0) | ((0 | IVAR_82574_VALID) << IVAR_82574_TXQ0) |
                           ((1 | IVAR_82574_VALID) << IVAR_82574_OTHER)); // RxQ1, TxQ1 unused: not valid
    const std::uint32_t causes = ICR_RXQ0 | ICR_TXQ0 | ICR_OTHER;
    r_.set(IAM, causes);
    r_.set(EIAC_82574, causes);
}

// 82576 7.3.1 (MSI-X mode: GPIE.Multiple_MSIX), 8.8 (GPIE, IVAR, IVAR_MISC,
// EIAC, EIAM): queue pair q on vector q, other causes on vector nq_, each
// vector auto-cleared and auto-masked when it fires.
void E1000Adapter::setup_msix_82576() {
    r_.set(GPIE, GPIE_NSICR | GPIE_MULTIPLE_MSIX | GPIE_EIAME | GPIE_PBA_SUPPORT);
    for (std::uint32_t q = 0; q < nq_; q++) {
        // 82576: IVAR[q % 8] holds queue q (bytes 0, 1) and q + 8 (bytes 2, 3);
        // I350: IVAR[q / 2] holds queues 2n (bytes 0, 1) and 2n + 1 (bytes 2, 3).
        unsigned idx = t_->ivar_by_pair ? q / 2 : q % 8;
        unsigned shift = (t_->ivar_by_pair ? q % 2 : q / 8) * 16;
        std::uint32_t v = (q | IVAR_VALID) | ((q | IVAR_VALID) << 8); // rx, tx -> vector q
        r_.set_field(IVAR0[idx], 0xffffu << shift, v << shift);
    }
    r_.set(IVAR_MISC, (nq_ | IVAR_VALID) << 8); // other causes -> last vector
    const std::uint32_t qbits = (1u << nq_) - 1;
    r_.set(EIAC, qbits);
    r_.set(EIAM, qbits);
}

void E1000Adapter::setup_one_vector_82576() {
    // 82576 7.3.2 / 8.8: GPIE.Multiple_MSIX clear selects the one-vector
    // (MSI or INTx) mode, whose queue causes are ICR.RXDW and ICR.TXDW under
    // IMS. NSICR: every ICR read clears ICR, so the read in ack_wait_fd
    // acknowledges whatever it returned (without it a read clears only when
    // IMS is 0 or INTA is set). IAM 0: that read masks nothing in IMS (the
    // waiters own it). EIAC and EIAM act in MSI-X mode (EIAM also on EICR
    // reads): cleared, and EIMS stays clear, so EICR never signals.
    r_.set(GPIE, GPIE_NSICR);
    r_.set(IAM, 0);
    r_.set(EIAC, 0);
    r_.set(EIAM, 0);
    r_.set(EIMC, ~0u);
    // In this mode an IVAR entry names the EICR bit (RxTxQ) the queue's
    // causes also set. The driver reads none, but an entry left invalid may
    // keep the cause from being raised at all (QEMU's igb raises TXDW only
    // for a queue with a valid entry), so every queue points at bit 0, as
    // Linux's igb does with one vector.
    for (std::uint32_t q = 0; q < nq_; q++) {
        unsigned idx = t_->ivar_by_pair ? q / 2 : q % 8;
        unsigned shift = (t_->ivar_by_pair ? q % 2 : q / 8) * 16;
        const std::uint32_t v = IVAR_VALID | (IVAR_VALID << 8); // rx, tx -> EICR bit 0
        r_.set_field(IVAR0[idx], 0xffffu << shift, v << shift);
    }
    r_.set(IVAR_MISC, 0); // MSI-X mode only
}

// ITR (8254x 13.4.18; 82574 10.2.4.2): 256 ns units, one vector; EITR
// (82574 10.2.4.9): the same per MSI-X vector; EITR (82576 8.8, 7.3): 1 us
// units in 14:2, per vector, EITR[0] for the one vector of MSI or INTx.
void E1000Adapter::set_itr(std::uint32_t us) noexcept {
    opt_.itr_us = us;
    const std::uint32_t units = std::min<std::uint32_t>(us * 1000 / 256, 0xffff); // 256 ns units, 15:0
    if (t_->ext_irq) {
        // 14:2, 1 us units; with one vector (MSI, INTx) EITR[0] throttles it
        const std::uint32_t vectors = irq_kind_ == IrqKind::msix ? nq_ + 1 : 1;
        // at most 0x1fff us, not wrapped to 0 (no throttling)
        const std::uint32_t field = std::min<std::uint32_t>(us, 0x1fff) << 2;
        for (std::uint32_t v = 0; v < vectors; v++) r_.set(EITR[v], field);
    } else if (irq_kind_ == IrqKind::msix) {
        for (unsigned v = 0; v < irq_fds_.size(); v++) r_.set(EITR_82574[v], units);
    } else {
        r_.set(ITR, units);
    }
}

// The ring's vector, and the host's request for the device (VFIO's
// request interrupt), which wakes every waiter to ENODEV.
std::vector<int> E1000Adapter::wait_fds(const KRing& k) const {
    std::vector<int> fds;
    if (!irq_fds_.empty()) fds.push_back(irq_fds_[irq_kind_ == IrqKind::msix ? k.ring_id : 0]);
    if (const int req = dev_->request_fd(); req >= 0) fds.push_back(req);
    return fds;
}

void E1000Adapter::set_interrupts(KRing& k, bool on) noexcept {
    if (irq_fds_.empty()) return;
    const bool rx = k.dir == Direction::rx;
    if (t_->ext_irq) {
        // A mask bit shared by several sleepers: MSI-X, a pair's EIMS bit
        // (its rx and tx waiters); one vector, RXDW or TXDW in IMS (every
        // queue's rx or tx waiter). Masked when the last of them leaves; if
        // another one arrived meanwhile, enabled again (its enable may have
        // come before our mask), so no sleeper is left masked.
        const bool msix = irq_kind_ == IrqKind::msix;
        const std::uint32_t bit = 1u << k.ring_id;
        auto& mine = rx ? rx_armed_ : tx_armed_;
        auto& other = rx ? tx_armed_ : rx_armed_;
        const Reg set = msix ? EIMS : IMS, clear = msix ? EIMC : IMC;
        const std::uint32_t mask = msix ? bit : rx ? ICR_RXDW : ICR_TXDW;
        const std::uint32_t sharers = msix ? bit : ~0u; // the bits in `mine` (and `other`) on this mask bit
        auto armed = [&] {
            return (mine.load(std::memory_order_seq_cst) & sharers) ||
                   (msix && (other.load(std::memory_order_seq_cst) & sharers));
        };
        if (on) {
            mine.fetch_or(bit, std::memory_order_seq_cst);
            r_.set(set, mask);
        } else {
            mine.fetch_and(~bit, std::memory_order_seq_cst);
            if (armed()) return;
            r_.set(clear, mask);
            if (armed()) r_.set(set, mask);
        }
        return;
    }
    // 82574 MSI-X: the queue's own cause (rx and tx have one each, so no
    // sleeper counting); one vector: the shared rx or tx causes
    const std::uint32_t bits = irq_kind_ == IrqKind::msix ? (rx ? ICR_RXQ0 : ICR_TXQ0) : (rx ? IMS_RX : IMS_TX);
    r_.set(on ? IMS : IMC, bits);
}

void E1000Adapter::ack_wait_fd(int fd) noexcept {
    std::uint64_t n;
    if (::read(fd, &n, sizeof n) != sizeof n) return; // someone else consumed it (and woke the sleepers)
    if (fd == dev_->request_fd()) return r_.mark_gone(); // the host wants the device back: wakes everyone
    irq_wakeups_.fetch_add(n, std::memory_order_relaxed);
    const bool msix = irq_kind_ == IrqKind::msix;
    if (!msix) {
        (void)r_.get(ICR); // clears the causes (and deasserts INTx)
        if (irq_kind_ == IrqKind::intx) dev_->unmask_intx();
    } // MSI-X: EIAC already cleared the cause
    // The other sleepers on this vector, after the causes were cleared: a
    // cause that comes later raises a new interrupt.
    for (Direction d : {Direction::rx, Direction::tx})
        for (std::uint32_t q = 0; q < num_rings(d); q++)
            if (irq_fds_[msix ? q : 0] == fd) wake_if_sleeping(kring(d, q));
}

} // namespace upio::e1000
