// The memif data path of the zero-copy client: the port's own region is the
// memif buffer region (region 1), every descriptor holds one of its buffers,
// and a frame changes hands by swapping buffer indices between a netmap slot
// and a descriptor (NS_BUF_CHANGED) -- nothing is copied.
//
// Which buffer a descriptor holds is kept here, in RingState::zc, and never
// read back from the ring: the server may rewrite a descriptor's region and
// offset, and upio rewrites them whole every time it hands the descriptor
// over. What the server writes (its tail, the lengths and NEXT flags of S2C
// descriptors) is read once and checked as in the copying client; what the
// application writes (the slots' buffer indices and lengths) is read once
// per slot and checked against the region before anything is swapped.
//
//   txsync  C2S ring: a frame of k slots takes the k descriptors after our
//           head, which the server has consumed (their buffers are free): the
//           slots' buffers go to the descriptors, the descriptors' to the slots.
//   rxsync  S2C ring: a filled chain of k descriptors takes the k free slots
//           after hwtail: the descriptors' buffers go to the slots, the
//           slots' (the application gave them back) to the descriptors, which
//           are offered again.
// Nothing here allocates, logs or throws.
#include "memif/adapter.hpp"

#include <unistd.h>

namespace upio::memif {
namespace {

template <class T>
std::atomic_ref<T> shared(T& v) noexcept {
    return std::atomic_ref<T>(v);
}

void write_desc(Desc& d, std::uint16_t flags, std::uint32_t length, std::uint32_t offset) noexcept {
    shared(d.flags).store(flags, std::memory_order_relaxed);
    shared(d.region).store(std::uint16_t(1), std::memory_order_relaxed);
    shared(d.length).store(length, std::memory_order_relaxed);
    shared(d.offset).store(offset, std::memory_order_relaxed);
}

} // namespace

int MemifAdapter::zc_rxsync(KRing& k, Connection& c) noexcept {
    SharedRing& r = c.s2c[k.ring_id];
    std::uint32_t* held = rx_state_[k.ring_id]->zc.data();
    const std::uint16_t tail = shared(r.hdr->tail).load(std::memory_order_acquire);
    std::uint16_t pos = r.pos;
    std::uint32_t avail = std::uint16_t(tail - pos);
    const std::uint32_t offered = std::uint16_t(r.head - pos);
    if (avail > offered) [[unlikely]] {
        fault(Fault::s2c_tail, k.ring_id, tail, r.head);
        return 0;
    }
    const MemoryRegion& mem = memory();
    netmap_slot* slot = k.ring->slot;
    std::uint32_t j = k.nr_hwtail.load(std::memory_order_relaxed);
    std::uint32_t space = k.distance(j, k.prev(k.rhead));
    std::uint64_t packets = 0, bytes = 0, drops = 0;
    std::uint32_t lens[max_chain], mine[max_chain];
    while (avail) {
        // 1. the chain's descriptors, read once and checked
        std::uint32_t n = 0;
        std::uint64_t total = 0;
        bool ends = false, bad = false;
        while (n < avail && n < max_chain) {
            const Desc d = r.desc[std::uint16_t(pos + n) & r.mask];
            if (d.length > r.bsize) bad = true;
            lens[n++] = d.length;
            total += d.length;
            if (!(d.flags & desc_flag_next)) {
                ends = true;
                break;
            }
        }
        if (bad) [[unlikely]] {
            fault(Fault::s2c_tail, k.ring_id, std::uint16_t(pos + n - 1), r.bsize);
            break;
        }
        if (!ends) {
            if (n == max_chain || n == offered) [[unlikely]] // it can never end
                fault(Fault::s2c_tail, k.ring_id, pos, n);
            break; // else: the server has not finished the frame
        }
        if (n > space) {
            if (n < k.num_slots) break; // wait for the application to free slots
            drops++;                     // more slots than the ring has
            pos = std::uint16_t(pos + n);
            avail -= n;
            continue;
        }
        // 2. the free slots' buffers, read once: all must be the region's
        bool lost = false;
        for (std::uint32_t q = 0, s = j; q < n; q++, s = k.next(s)) {
            mine[q] = slot[s].buf_idx;
            if (!mem.valid_buf(mine[q])) lost = true;
        }
        if (lost) [[unlikely]] { // the application broke a free slot: the frame stays with the descriptors
            drops++;
            pos = std::uint16_t(pos + n);
            avail -= n;
            continue;
        }
        // 3. swap
        for (std::uint32_t q = 0; q < n; q++) {
            const std::uint32_t d = std::uint16_t(pos + q) & r.mask;
            slot[j].buf_idx = held[d];
            slot[j].len = std::uint16_t(lens[q]);
            slot[j].flags = NS_BUF_CHANGED | (q + 1 < n ? NS_MOREFRAG : 0);
            held[d] = mine[q];
            j = k.next(j);
        }
        space -= n;
        pos = std::uint16_t(pos + n);
        avail -= n;
        packets++;
        bytes += total;
    }
    if (pos != r.pos) {
        r.pos = pos;
        // offer the consumed descriptors again, each with the buffer it holds now
        const std::uint16_t head = std::uint16_t(pos + r.size);
        for (std::uint16_t s = r.head; s != head; s++) {
            const std::uint32_t d = s & r.mask;
            write_desc(r.desc[d], 0, r.bsize, std::uint32_t(mem.offset_of(mem.buf(held[d]))));
        }
        r.head = head;
        shared(r.hdr->head).store(head, std::memory_order_release);
    }
    k.nr_hwtail.store(j, std::memory_order_release);
    if (packets) {
        RingCounters::add(k.stats.packets, packets);
        RingCounters::add(k.stats.bytes, bytes);
    }
    if (drops) RingCounters::add(k.stats.drops, drops);
    return 0;
}

int MemifAdapter::zc_txsync(KRing& k, Connection& c) noexcept {
    SharedRing& r = c.c2s[k.ring_id];
    std::uint32_t* held = tx_state_[k.ring_id]->zc.data();
    const std::uint16_t tail = shared(r.hdr->tail).load(std::memory_order_acquire);
    std::uint16_t pos = r.pos; // our head
    const std::uint32_t used = std::uint16_t(pos - tail);
    if (used > r.size) [[unlikely]] {
        fault(Fault::c2s_tail, k.ring_id, tail, pos);
        return 0;
    }
    std::uint32_t room = r.size - used;
    const MemoryRegion& mem = memory();
    netmap_slot* slot = k.ring->slot;
    std::uint32_t i = k.nr_hwcur.load(std::memory_order_relaxed);
    const std::uint32_t rhead = k.rhead;
    std::uint64_t packets = 0, bytes = 0, drops = 0;
    std::uint32_t idx[max_chain], lens[max_chain];
    while (i != rhead) {
        // 1. the frame's slots, each read once and checked
        std::uint32_t s = i, n = 0;
        std::uint64_t total = 0;
        bool ends = false, bad = false;
        while (s != rhead) {
            const netmap_slot sl = slot[s];
            s = k.next(s);
            if (n < max_chain) {
                idx[n] = sl.buf_idx;
                lens[n] = sl.len;
            }
            if (!mem.valid_buf(sl.buf_idx) || sl.len > r.bsize) bad = true;
            n++;
            total += sl.len;
            if (!(sl.flags & NS_MOREFRAG)) {
                ends = true;
                break;
            }
        }
        if (!ends) break; // the application has not finished the frame
        if (bad || n > max_chain || n > r.size) [[unlikely]] { // never sendable: dropped, buffers kept
            drops++;
            i = s;
            continue;
        }
        if (n > room) break; // wait for the server to consume
        // 2. swap: descriptors [pos, pos + n) were consumed, their buffers are free
        for (std::uint32_t q = 0, t = i; q < n; q++, t = k.next(t)) {
            const std::uint32_t d = std::uint16_t(pos + q) & r.mask;
            write_desc(r.desc[d], q + 1 < n ? desc_flag_next : 0, lens[q],
                       std::uint32_t(mem.offset_of(mem.buf(idx[q]))));
            slot[t].buf_idx = held[d];
            slot[t].flags |= NS_BUF_CHANGED;
            held[d] = idx[q];
        }
        pos = std::uint16_t(pos + n);
        room -= n;
        i = s;
        packets++;
        bytes += total;
    }
    if (pos != r.pos) {
        r.pos = pos;
        publish_head(r, pos);
    }
    k.nr_hwcur.store(i, std::memory_order_relaxed);
    k.nr_hwtail.store(k.prev(i), std::memory_order_relaxed);
    if (packets) {
        RingCounters::add(k.stats.packets, packets);
        RingCounters::add(k.stats.bytes, bytes);
    }
    if (drops) RingCounters::add(k.stats.drops, drops);
    return 0;
}

} // namespace upio::memif
