// VALE data path: the sender's txsync forwards a batch in two passes.
//
// Pass 1 (gather + lookup) walks the sender's slots once, groups the slots of
// each frame, drops malformed frames, learns the source address and appends
// the frame to its destination's queue (a list threaded through the batch
// table, as netmap's nm_bdg_fwd) or to the broadcast queue.
//
// Pass 2 (deliver) takes the destinations one by one. For each it merges the
// unicast and broadcast queues back into batch order, then
//   lock    reserve the slots [lease, lease + n) of the destination rx ring
//   unlock  copy the frames into the reserved slots' buffers
//   lock    mark the lease done; if it is the oldest one, publish nr_hwtail
//           over it and over every later lease already done
// so that several senders copy into one ring at once and the receiver still
// sees slots in reservation order. Frames the ring has no room for are
// dropped and counted on the destination; the sender never waits.
//
// When a destination asks for back-pressure (vale::set_back_pressure),
// pass 2 reserves on every destination of the batch at once, the rx rings
// locked in port order: the first frame that does not fit a destination
// with back-pressure ends the batch for all of them, and it and the frames
// after it stay in the sender's ring (other destinations still drop what
// does not fit theirs). The
// sender marks itself in the full ring's `blocked` bits before it re-reads
// nr_hwcur; the receiver's rxsync publishes nr_hwcur before it reads the
// bits, and wakes the marked senders if they sleep.
#include "vale/copy.hpp"
#include "vale/switch.hpp"

#include <upio/chain.hpp>

#include <time.h>

#include <algorithm>
#include <mutex>

namespace upio::vale::detail {
namespace {

std::uint64_t now_ms() noexcept {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts); // vDSO, a few ns: once per txsync
    return std::uint64_t(ts.tv_sec) * 1000 + std::uint64_t(ts.tv_nsec) / 1000000;
}

inline void bump(std::atomic<std::uint64_t>& c, std::uint64_t n) noexcept {
    if (n) RingCounters::add(c, n);
}

} // namespace

int VPort::txsync(KRing& k, unsigned) noexcept {
    const std::uint32_t i = k.nr_hwcur.load(std::memory_order_relaxed);
    if (i == k.rhead) return 0;
    const std::uint32_t e = forward(k.ring_id, k, memory(), i, k.rhead, &k.stats);
    if (e != i) {
        k.nr_hwcur.store(e, std::memory_order_relaxed);
        // Every frame was copied (or dropped): its slots are free at once.
        k.nr_hwtail.store(k.prev(e), std::memory_order_relaxed);
    }
    return 0;
}

int VPort::rxsync(KRing& k, unsigned) noexcept {
    // Give [hwcur, head) back to the senders; nr_hwtail is theirs.
    if (k.nr_hwcur.load(std::memory_order_relaxed) != k.rhead) {
        k.nr_hwcur.store(k.rhead, std::memory_order_release);
        if (back_pressure.load(std::memory_order_relaxed)) [[unlikely]]
            wake_held(k.ring_id);
    }
    return 0;
}

void VPort::wake_held(std::uint32_t r) noexcept {
    RxLane& lane = *lanes_[r];
    // Pairs with the sender's fence between setting its bit and re-reading
    // nr_hwcur: either it sees the slots just released, or we see its bit.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    std::uint64_t any = 0;
    for (const auto& w : lane.blocked) any |= w.load(std::memory_order_relaxed);
    if (!any) return;
    std::shared_lock lk(sw_->mu); // the senders stay in the table while we wake them
    wake_held_locked(r);
}

void VPort::wake_held_locked(std::uint32_t r) noexcept {
    RxLane& lane = *lanes_[r];
    for (std::uint32_t w = 0; w < 4; w++) {
        for (std::uint64_t bits = lane.blocked[w].exchange(0, std::memory_order_relaxed); bits; bits &= bits - 1) {
            VPort* p = sw_->ports[w * 64 + std::uint32_t(__builtin_ctzll(bits))];
            if (!p) continue;
            for (std::uint32_t q = 0; q < p->num_rings(Direction::tx); q++)
                wake_if_sleeping(p->kring(Direction::tx, q)); // a system call only if it sleeps
        }
    }
}

std::uint32_t VPort::forward(std::uint32_t tx, const KRing& src, const MemoryRegion& mem, std::uint32_t i, std::uint32_t to, RingCounters* rc) noexcept {
    TxScratch& t = *scratch_[tx];
    std::shared_lock lk(sw_->mu); // the port table stays as it is until we are done
    const std::uint64_t now = sw_->lookup ? 0 : now_ms();
    bool held = false;
    while (i != to && !held) {
        const std::uint32_t e = pass(t, tx, src, mem, i, to, now, rc, held);
        if (e == i) break; // only an unfinished chain is left
        i = e;
    }
    return i;
}

std::uint32_t VPort::pass(TxScratch& t, std::uint32_t tx, const KRing& src, const MemoryRegion& mem,
                          std::uint32_t i, std::uint32_t to, std::uint64_t now, RingCounters* rc,
                          bool& held) noexcept {
    Switch& s = *sw_;
    // The framework's slot pointer and count, not the ring header's (the
    // client may overwrite netmap_ring::num_slots).
    const netmap_slot* const slot = src.ring->slot;
    const std::uint32_t bufsz = mem.buf_size();
    const bool learning = !s.lookup;
    const std::uint64_t aging = s.aging_ms.load(std::memory_order_relaxed);
    const std::uint32_t hl = vnet_hdr_len_; // frames start with a virtio-net header of this length
    // Back-pressure changes under Switch::mu (write): one answer for the pass.
    const bool held_mode = s.nheld.load(std::memory_order_relaxed) != 0;
    std::uint32_t nframes = 0, nfrags = 0, maxlen = 0;
    bool single = true;
    std::uint64_t packets = 0, bytes = 0, filtered = 0, malformed = 0;
    // The last source address learned and the last destination looked up in
    // this pass: a batch from one host to one host learns and looks up once.
    // (A learn forgets the cached lookup: it may have changed the answer.)
    constexpr std::uint64_t no_mac = ~std::uint64_t(0); // no 48-bit address
    std::uint64_t learned = no_mac, looked_up = no_mac;
    std::uint32_t found = broadcast, passed = ~std::uint32_t(0); // passed: the last destination checked

    // -- pass 1: gather each frame's slots and look up its destination
    while (i != to && nframes < batch_frames) {
        const std::uint32_t first = nfrags, at = i;
        std::uint32_t cnt, len;
        std::uint16_t flags0;
        const netmap_slot s0 = slot[i]; // read once: the client may be scribbling
        if (!(s0.flags & NS_MOREFRAG) && first < batch_slots) [[likely]] {
            // A frame in one slot: valid buffer, min_frame_len..max_frame_len
            // bytes after the header (one unsigned compare).
            flags0 = s0.flags;
            cnt = 1;
            len = s0.len;
            i = src.next(i);
            if (!mem.valid_buf(s0.buf_idx) || s0.len > bufsz || len - (min_frame_len + hl) > max_frame_len - min_frame_len)
                [[unlikely]] {
                malformed++;
                continue;
            }
            t.frags[first] = {mem.buf(s0.buf_idx), s0.len};
        } else {
            std::uint32_t j = i;
            bool bad = false, complete = false, defer = false;
            cnt = len = flags0 = 0;
            for (;;) {
                const netmap_slot sl = slot[j]; // (read again here: this read decides)
                if (cnt == 0) flags0 = sl.flags;
                if (first + cnt < batch_slots) {
                    if (mem.valid_buf(sl.buf_idx) && sl.len <= bufsz) [[likely]]
                        t.frags[first + cnt] = {mem.buf(sl.buf_idx), sl.len};
                    else
                        bad = true;
                } else if (first != 0) {
                    defer = true; // no room left in this batch: the frame starts the next one
                    break;
                } else {
                    bad = true; // longer than a whole batch
                }
                cnt++;
                len += sl.len;
                j = src.next(j);
                if (!(sl.flags & NS_MOREFRAG)) {
                    complete = true;
                    break;
                }
                if (j == to) break; // the client has not finished the chain yet
            }
            if (defer || !complete) break;
            i = j;
            if (bad || len < min_frame_len + hl || len > max_frame_len + hl || t.frags[first].len < min_frame_len + hl)
                [[unlikely]] {
                malformed++;
                continue;
            }
        }
        // A lying virtio-net header drops the frame here (offload.hpp).
        if (hl && offload::plan(&t.frags[first], cnt, len, hl, t.frames[nframes].plan) != offload::Verdict::ok)
            [[unlikely]] {
            malformed++;
            continue;
        }

        const auto* p = reinterpret_cast<const std::uint8_t*>(t.frags[first].buf) + hl;
        std::uint32_t dst;
        if (learning) [[likely]] {
            const std::uint64_t src_mac = MacTable::mac_at(p + 6);
            if (src_mac != learned && !(flags0 & NS_NO_LEARN) && !(p[6] & 1)) {
                s.macs.learn(src_mac, index, now);
                learned = src_mac;
                looked_up = no_mac;
            }
            if (p[0] & 1) {
                dst = broadcast;
            } else {
                const std::uint64_t dst_mac = MacTable::mac_at(p);
                if (dst_mac != looked_up) {
                    found = s.macs.find(dst_mac, now, aging);
                    looked_up = dst_mac;
                }
                dst = found;
            }
        } else {
            dst = s.lookup(FrameInfo{p, t.frags[first].len - hl, len - hl, index, tx, flags0});
        }
        if (dst != passed) { // (the port table holds still under Switch::mu)
            if (dst == index || dst > broadcast || (dst < broadcast && !s.ports[dst])) [[unlikely]] {
                filtered++; // never back to the source; `drop`; or no such port
                continue;
            }
            passed = dst;
        }

        TxScratch::Frame& f = t.frames[nframes];
        f.frag = first;
        f.nfrags = cnt;
        f.len = len;
        f.next = nil;
        f.dst = std::uint8_t(dst);
        if (held_mode) [[unlikely]] { // where a held-back pass resumes
            f.start = at;
            f.filtered_before = std::uint32_t(filtered);
            f.malformed_before = std::uint32_t(malformed);
        }
        // f.plan: written above for a source with a header, read only for one (vnet.cpp)
        nfrags = first + cnt;
        single &= cnt == 1;
        maxlen = std::max(maxlen, len);
        TxScratch::Queue& q = dst == broadcast ? t.bcast : t.queues[dst];
        if (q.head == nil) {
            q.head = std::uint16_t(nframes);
            if (dst != broadcast) t.used[t.nused++] = std::uint8_t(dst);
        } else {
            t.frames[q.tail].next = std::uint16_t(nframes);
        }
        q.tail = std::uint16_t(nframes);
        q.count++;
        nframes++;
        packets++;
        bytes += len;
    }

    // -- pass 2: one destination ring at a time
    std::uint32_t cut = nframes;
    t.single = single;
    t.maxlen = maxlen;
    if (held_mode) [[unlikely]] {
        if (nframes) cut = deliver_held(t, tx, nframes);
    } else if (t.bcast.head != nil) {
        for (std::uint32_t k = 0; k < s.nactive; k++)
            if (s.active[k] != index) deliver(t, tx, s.active[k]);
    } else {
        for (std::uint32_t k = 0; k < t.nused; k++) deliver(t, tx, t.used[k]);
    }
    for (std::uint32_t k = 0; k < t.nused; k++) t.queues[t.used[k]] = {};
    t.nused = 0;
    t.bcast = {};
    if (cut < nframes) [[unlikely]] { // held back: frame `cut` and the rest stay in the sender's ring
        const TxScratch::Frame& c = t.frames[cut];
        i = c.start;
        filtered = c.filtered_before;
        malformed = c.malformed_before;
        packets = cut;
        bytes = 0;
        for (std::uint32_t k = 0; k < cut; k++) bytes += t.frames[k].len;
        held = true;
    }

    bump(t.tx_packets, packets);
    bump(t.tx_bytes, bytes);
    bump(t.drop_filtered, filtered);
    bump(t.drop_malformed, malformed);
    if (rc) {
        bump(rc->packets, packets);
        bump(rc->bytes, bytes);
        bump(rc->drops, filtered + malformed);
    }
    return i;
}

void VPort::deliver(TxScratch& t, std::uint32_t tx, std::uint32_t d) noexcept {
    VPort& dp = *sw_->ports[d];
    const std::uint32_t r = tx % dp.num_rings(Direction::rx);
    KRing& rk = dp.kring(Direction::rx, r);
    RxLane& lane = *dp.lanes_[r];
    const MemoryRegion& dm = dp.memory();
    const std::uint32_t dbs = dm.buf_size();
    // Frames of one slot each, as they came, into buffers that hold them,
    // all from one queue (this destination's unicast frames, or only the
    // broadcast ones: pkt-gen's default, and any flood on two ports): one
    // slot per frame, the queue in batch order as it is, nothing to merge.
    const TxScratch::Queue& only = t.queues[d].head == nil ? t.bcast : t.queues[d];
    const bool single = (t.bcast.head == nil || t.queues[d].head == nil) && t.single && t.maxlen <= dbs &&
                        dp.vnet_hdr_len() == vnet_hdr_len_;

    std::uint32_t need;
    const std::uint32_t nq = single ? (need = only.count) : merge(t, d, batch_frames, dbs, 0xffffffff, need);
    if (nq == 0) return;

    // Reserve.
    std::uint32_t nfit = nq, take = need;
    lane.lock.lock();
    std::uint32_t space = rk.distance(lane.lease, rk.prev(lane.hwcur));
    if (space < need) {
        lane.hwcur = rk.nr_hwcur.load(std::memory_order_acquire); // pairs with the receiver's rxsync
        space = rk.distance(lane.lease, rk.prev(lane.hwcur));
        if (space < need && single) {
            nfit = take = space;
        } else if (space < need) { // whole frames only; the rest is dropped
            take = 0;
            for (nfit = 0; nfit < nq; nfit++) {
                const std::uint32_t c = slots_for(t.frames[t.order[nfit]], dp.vnet_hdr_len(), dbs);
                if (take + c > space) break;
                take += c;
            }
        }
    }
    if (nfit == 0) {
        RingCounters::add(lane.drop_no_space, nq);
        RingCounters::add(rk.stats.drops, nq);
        lane.lock.unlock();
        return;
    }
    const std::uint32_t start = lane.lease;
    std::uint32_t end = start + take;
    if (end >= rk.num_slots) end -= rk.num_slots;
    lane.lease = end;
    lane.lock.unlock();
    if (single)
        fill_single(t, only.head, dp, r, nfit, start, end, nq - nfit);
    else
        fill(t, dp, r, nfit, start, end, nq - nfit);
}

// This destination's frames with a batch index below `limit`, in batch
// order (its unicast queue merged with the broadcast queue), into t.order;
// `need` gets the slots they take. Frames of more than `max_slots` slots are
// left out and counted in `never` (back-pressure: they could never fit).
std::uint32_t VPort::merge(TxScratch& t, std::uint32_t d, std::uint32_t limit, std::uint32_t dbs,
                           std::uint32_t max_slots, std::uint32_t& need, std::uint32_t* never) noexcept {
    std::uint32_t nq = 0;
    need = 0;
    for (std::uint16_t u = t.queues[d].head, b = t.bcast.head; u != nil || b != nil;) {
        std::uint16_t f;
        if (b == nil || (u != nil && u < b)) {
            f = u;
            u = t.frames[u].next;
        } else {
            f = b;
            b = t.frames[b].next;
        }
        if (f >= limit) break;
        const std::uint32_t c = slots_for(t.frames[f], sw_->ports[d]->vnet_hdr_len(), dbs);
        if (c > max_slots) [[unlikely]] {
            if (never) ++*never;
            continue;
        }
        t.order[nq++] = f;
        need += c;
    }
    return nq;
}

// Back-pressure: reserves on every destination at once and returns the
// batch index of the first frame held back (nframes: none).
std::uint32_t VPort::deliver_held(TxScratch& t, std::uint32_t tx, std::uint32_t nframes) noexcept {
    Switch& s = *sw_;
    std::uint8_t dests[max_ports];
    std::uint32_t nd = 0;
    if (t.bcast.head != nil) {
        for (std::uint32_t k = 0; k < s.nactive; k++)
            if (s.active[k] != index) dests[nd++] = s.active[k];
    } else {
        for (std::uint32_t k = 0; k < t.nused; k++) dests[nd++] = t.used[k];
    }
    std::sort(dests, dests + nd); // one lock order for every sender
    auto at = [&](std::uint32_t d, KRing*& rk, RxLane*& lane, std::uint32_t& dbs) -> VPort& {
        VPort& dp = *s.ports[d];
        const std::uint32_t r = tx % dp.num_rings(Direction::rx);
        rk = &dp.kring(Direction::rx, r);
        lane = dp.lanes_[r].get();
        dbs = dp.memory().buf_size();
        return dp;
    };
    KRing* rk;
    RxLane* lane;
    std::uint32_t dbs, need;
    for (std::uint32_t k = 0; k < nd; k++) {
        at(dests[k], rk, lane, dbs);
        lane->lock.lock();
    }
    std::uint32_t cut = nframes;
    for (std::uint32_t k = 0; k < nd; k++) {
        VPort& dp = at(dests[k], rk, lane, dbs);
        if (!dp.back_pressure.load(std::memory_order_relaxed)) continue; // drops as usual, below
        const std::uint32_t nq = merge(t, dests[k], cut, dbs, rk->num_slots - 1, need);
        std::uint32_t space = rk->distance(lane->lease, rk->prev(lane->hwcur));
        if (space >= need) continue;
        lane->blocked[index / 64].fetch_or(std::uint64_t(1) << (index % 64), std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_seq_cst); // see wake_held()
        lane->hwcur = rk->nr_hwcur.load(std::memory_order_acquire);
        space = rk->distance(lane->lease, rk->prev(lane->hwcur));
        for (std::uint32_t q = 0, take = 0; q < nq; q++) {
            take += slots_for(t.frames[t.order[q]], dp.vnet_hdr_len(), dbs);
            if (take > space) {
                cut = std::min<std::uint32_t>(cut, t.order[q]);
                break;
            }
        }
    }
    for (std::uint32_t k = 0; k < nd; k++) { // reserve what goes, on every destination
        const std::uint32_t d = dests[k];
        VPort* rk_port = &at(d, rk, lane, dbs);
        const bool held = rk_port->back_pressure.load(std::memory_order_relaxed);
        const std::uint32_t nq = merge(t, d, cut, dbs, held ? rk->num_slots - 1 : 0xffffffff, need);
        t.nfit[d] = nq;
        if (!held) { // what does not fit is dropped, as in deliver()
            std::uint32_t space = rk->distance(lane->lease, rk->prev(lane->hwcur));
            if (space < need) {
                lane->hwcur = rk->nr_hwcur.load(std::memory_order_acquire);
                space = rk->distance(lane->lease, rk->prev(lane->hwcur));
            }
            if (space < need) {
                std::uint32_t q = 0, take = 0;
                for (; q < nq; q++) {
                    const std::uint32_t c = slots_for(t.frames[t.order[q]], rk_port->vnet_hdr_len(), dbs);
                    if (take + c > space) break;
                    take += c;
                }
                t.nfit[d] = q;
                need = take;
            }
        }
        t.lease[d] = lane->lease;
        std::uint32_t end = lane->lease + need;
        if (end >= rk->num_slots) end -= rk->num_slots;
        t.lease_end[d] = lane->lease = end;
    }
    for (std::uint32_t k = nd; k-- > 0;) {
        at(dests[k], rk, lane, dbs);
        lane->lock.unlock();
    }
    for (std::uint32_t k = 0; k < nd; k++) {
        const std::uint32_t d = dests[k];
        VPort& dp = at(d, rk, lane, dbs);
        const bool held = dp.back_pressure.load(std::memory_order_relaxed);
        std::uint32_t never = 0;
        const std::uint32_t nq = merge(t, d, cut, dbs, held ? rk->num_slots - 1 : 0xffffffff, need, &never);
        // (set_back_pressure waits for the pass: `held` is the same as above)
        const std::uint32_t nfit = t.nfit[d], dropped = never + (nq - nfit);
        if (nfit) {
            fill(t, dp, rk->ring_id, nfit, t.lease[d], t.lease_end[d], dropped);
        } else if (dropped) {
            lane->lock.lock();
            RingCounters::add(lane->drop_no_space, dropped);
            RingCounters::add(rk->stats.drops, dropped);
            lane->lock.unlock();
        }
    }
    return cut;
}

// Copies the frames in t.order[0, nfit) into dp's rx ring `r`, slots
// [start, end) reserved for them, and publishes them in reservation order;
// `dropped` more frames are counted as dropped there.
void VPort::fill(TxScratch& t, VPort& dp, std::uint32_t r, std::uint32_t nfit, std::uint32_t start,
                 std::uint32_t end, std::uint32_t dropped) noexcept {
    KRing& rk = dp.kring(Direction::rx, r);
    const MemoryRegion& dm = dp.memory();
    const std::uint32_t dbs = dm.buf_size();

    // Copy, outside the lock.
    netmap_slot* rs = rk.ring->slot;
    auto dest_buf = [&dm](const netmap_slot& ds) noexcept {
        std::uint32_t idx = ds.buf_idx;
        if (!dm.valid_buf(idx)) [[unlikely]] idx = 0; // the receiver broke its own slot
        return dm.buf(idx);
    };
    std::uint64_t bytes = 0;
    std::uint32_t j = start;
    for (std::uint32_t k = 0; k < nfit; k++) {
        const TxScratch::Frame& f = t.frames[t.order[k]];
        const TxScratch::Frag* fr = &t.frags[f.frag];
        bytes += f.len;
        if (dp.vnet_hdr_len() != vnet_hdr_len_) [[unlikely]] { // a header to add, convert or act on
            j = convert(t, f, dp, rk, j);
            continue;
        }
        if (f.nfrags == 1 && f.len <= dbs) [[likely]] {
            netmap_slot& ds = rs[j];
            copy_frame(dest_buf(ds), fr->buf, f.len);
            ds.len = std::uint16_t(f.len);
            ds.flags = 0;
            j = rk.next(j);
            continue;
        }
        // A chain, or a frame larger than one destination buffer: refill
        // destination buffers from the source fragments.
        auto next_fragment = [fr]() mutable noexcept {
            const TxScratch::Frag& x = *fr++;
            return FrameFragment{x.buf, x.len};
        };
        j = split_frame(rs, rk.num_slots, j, dbs, f.len, next_fragment, dest_buf, copy_frame);
    }
    publish(dp, r, start, end, nfit, bytes, dropped);
}

// fill() for deliver()'s single-slot case: the first `nfit` frames of d's
// queue, one slot each.
void VPort::fill_single(const TxScratch& t, std::uint16_t first, VPort& dp, std::uint32_t r, std::uint32_t nfit,
                        std::uint32_t start, std::uint32_t end, std::uint32_t dropped) noexcept {
    KRing& rk = dp.kring(Direction::rx, r);
    const MemoryRegion& dm = dp.memory();
    netmap_slot* rs = rk.ring->slot;
    std::uint64_t bytes = 0;
    std::uint32_t j = start;
    std::uint16_t u = first;
    for (std::uint32_t k = 0; k < nfit; k++) {
        const TxScratch::Frame& f = t.frames[u];
        u = f.next;
        netmap_slot& ds = rs[j];
        std::uint32_t idx = ds.buf_idx;
        if (!dm.valid_buf(idx)) [[unlikely]] idx = 0; // the receiver broke its own slot
        copy_frame(dm.buf(idx), t.frags[f.frag].buf, f.len);
        ds.len = std::uint16_t(f.len);
        ds.flags = 0;
        bytes += f.len;
        j = rk.next(j);
    }
    publish(dp, r, start, end, nfit, bytes, dropped);
}

// Marks the lease [start, end) of dp's rx ring `r` copied and publishes
// nr_hwtail over every lease done in reservation order; counts.
void VPort::publish(VPort& dp, std::uint32_t r, std::uint32_t start, std::uint32_t end, std::uint32_t nfit,
                    std::uint64_t bytes, std::uint32_t dropped) noexcept {
    KRing& rk = dp.kring(Direction::rx, r);
    RxLane& lane = *dp.lanes_[r];
    bool published = false;
    lane.lock.lock();
    lane.done[start] = end;
    if (start == lane.pub) {
        std::uint32_t p = start;
        while (lane.done[p] != RxLane::pending) {
            const std::uint32_t e = lane.done[p];
            lane.done[p] = RxLane::pending;
            p = e;
        }
        lane.pub = p;
        rk.nr_hwtail.store(p, std::memory_order_release);
        published = true;
    }
    RingCounters::add(lane.rx_packets, nfit);
    RingCounters::add(lane.rx_bytes, bytes);
    RingCounters::add(rk.stats.packets, nfit);
    RingCounters::add(rk.stats.bytes, bytes);
    if (dropped) {
        RingCounters::add(lane.drop_no_space, dropped);
        RingCounters::add(rk.stats.drops, dropped);
    }
    lane.lock.unlock();
    if (published) wake_if_sleeping(rk);
}

} // namespace upio::vale::detail
