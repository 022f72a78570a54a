// The memif data path of the client role: upio made the region, so every
// buffer address comes from upio's own layout (ring i, slot s: a fixed
// offset), never from a descriptor the server can write. What the server
// writes -- its tail, the lengths and NEXT flags of the S2C descriptors it
// filled -- is read once and checked: a tail beyond what upio published or
// offered, a length beyond a buffer, or a chain that cannot end is a
// protocol error (DISCONNECT with the reason, as in the server role).
//
//   txsync  C2S ring: frames go into the buffers of [head, tail + size), each
//           descriptor written whole (region, offset, length, NEXT), then head.
//           A frame of one slot that fits one buffer -- every short frame --
//           takes a path of its own: one read of the slot, an inline copy,
//           one store of the descriptor. The general loop (chains, frames
//           longer than a buffer) cost that frame about twice the CPU time.
//   rxsync  S2C ring: frames in [pos, tail) are copied out, then the
//           descriptors are offered again (length = bsize) and head advances.
#include "memif/adapter.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace upio::memif {
namespace {

template <class T>
std::atomic_ref<T> shared(T& v) noexcept {
    return std::atomic_ref<T>(v);
}

// memcpy for a frame that fits one buffer: the short frames of a busy
// link (up to 64 bytes) in two overlapping 32-byte moves, without a call.
inline void copy_frame(char* dst, const char* src, std::uint32_t len) noexcept {
    if (len >= 32 && len <= 64) {
        std::memcpy(dst, src, 32);
        std::memcpy(dst + len - 32, src + len - 32, 32);
    } else {
        std::memcpy(dst, src, len);
    }
}

} // namespace

int MemifAdapter::client_rxsync(KRing& k, Connection& c) noexcept {
    SharedRing& r = c.s2c[k.ring_id];
    const std::uint16_t tail = shared(r.hdr->tail).load(std::memory_order_acquire);
    std::uint16_t pos = r.pos;
    std::uint32_t avail = std::uint16_t(tail - pos);
    const std::uint32_t offered = std::uint16_t(r.head - pos);
    if (avail > offered) [[unlikely]] {
        fault(Fault::s2c_tail, k.ring_id, tail, r.head);
        return 0;
    }
    const MemoryRegion& mem = memory();
    const std::uint32_t bufsz = mem.buf_size();
    netmap_slot* slot = k.ring->slot;
    std::uint32_t j = k.nr_hwtail.load(std::memory_order_relaxed);
    std::uint32_t space = k.distance(j, k.prev(k.rhead));
    std::uint64_t packets = 0, bytes = 0, drops = 0;
    std::uint32_t lens[max_chain];
    while (avail && space) {
        std::uint32_t n = 0;
        std::uint64_t total = 0;
        bool ends = false, bad = false;
        while (n < avail && n < max_chain) {
            const Desc d = r.desc[std::uint16_t(pos + n) & r.mask];
            if (d.length > r.bsize) bad = true;
            lens[n++] = std::min(d.length, r.bsize);
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
        const std::uint32_t need = total == 0 ? 1 : std::uint32_t((total + bufsz - 1) / bufsz);
        if (need > space) {
            if (need < k.num_slots) break;
            drops++;
            pos = std::uint16_t(pos + n);
            avail -= n;
            continue;
        }
        std::uint32_t first = j, doff = 0;
        bool lost = false;
        std::uint32_t idx = slot[j].buf_idx;
        char* dst = mem.valid_buf(idx) ? mem.buf(idx) : nullptr;
        if (!dst) lost = true;
        for (std::uint32_t q = 0; q < n; q++) {
            const char* src = r.bufs + std::size_t(std::uint16_t(pos + q) & r.mask) * r.bsize;
            std::uint32_t left = lens[q];
            while (left) {
                if (doff == bufsz) {
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
        if (lost) [[unlikely]] {
            for (std::uint32_t s = first; s != j; s = k.next(s)) {
                slot[s].len = 0;
                slot[s].flags = 0;
            }
            drops++;
        } else {
            packets++;
            bytes += total;
        }
        space -= need;
        pos = std::uint16_t(pos + n);
        avail -= n;
    }
    if (pos != r.pos) {
        r.pos = pos;
        // offer the consumed descriptors again, written whole
        const std::uint16_t head = std::uint16_t(pos + r.size);
        for (std::uint16_t s = r.head; s != head; s++) {
            Desc& d = r.desc[s & r.mask];
            shared(d.flags).store(std::uint16_t(0), std::memory_order_relaxed);
            shared(d.region).store(std::uint16_t(0), std::memory_order_relaxed);
            shared(d.offset).store(r.offset0 + std::uint32_t(s & r.mask) * r.bsize, std::memory_order_relaxed);
            shared(d.length).store(r.bsize, std::memory_order_relaxed);
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

int MemifAdapter::client_txsync(KRing& k, Connection& c) noexcept {
    SharedRing& r = c.c2s[k.ring_id];
    const std::uint16_t tail = shared(r.hdr->tail).load(std::memory_order_acquire);
    std::uint16_t pos = r.pos; // our head
    const std::uint32_t used = std::uint16_t(pos - tail);
    if (used > r.size) [[unlikely]] {
        fault(Fault::c2s_tail, k.ring_id, tail, pos);
        return 0;
    }
    std::uint32_t room = r.size - used;
    const MemoryRegion& mem = memory();
    const std::uint32_t bufsz = mem.buf_size();
    const netmap_slot* slot = k.ring->slot;
    std::uint32_t i = k.nr_hwcur.load(std::memory_order_relaxed);
    const std::uint32_t rhead = k.rhead;
    std::uint64_t packets = 0, bytes = 0, drops = 0;
    while (i != rhead) {
        // The common case first: a frame of one slot that fits one
        // descriptor. The slot is read once; the descriptor is written
        // whole in one assignment (region and offset are ours, rewritten
        // every time in case the server scribbled on them).
        const netmap_slot one = slot[i];
        if (!(one.flags & NS_MOREFRAG) && one.len <= r.bsize) [[likely]] {
            if (room == 0) break; // wait for the server to consume
            i = k.next(i);
            if (!mem.valid_buf(one.buf_idx) || one.len > bufsz) [[unlikely]] {
                drops++;
                continue;
            }
            const std::uint32_t q = pos & r.mask;
            copy_frame(r.bufs + std::size_t(q) * r.bsize, mem.buf(one.buf_idx), one.len);
            r.desc[q] = Desc{0, 0, one.len, r.offset0 + q * r.bsize, 0};
            pos = std::uint16_t(pos + 1);
            room--;
            packets++;
            bytes += one.len;
            continue;
        }
        // A chain of slots, or a frame longer than a descriptor's buffer.
        std::uint32_t s = i, n = 0, doff = 0;
        std::uint64_t total = 0;
        bool bad = false, fits = room > 0, ends = false;
        Desc* d = fits ? &r.desc[pos & r.mask] : nullptr;
        char* dst = fits ? r.bufs + std::size_t(pos & r.mask) * r.bsize : nullptr;
        if (fits) n = 1;
        while (s != rhead) {
            const netmap_slot sl = slot[s];
            s = k.next(s);
            const bool ok = mem.valid_buf(sl.buf_idx) && sl.len <= bufsz;
            if (!ok) bad = true;
            const char* src = ok ? mem.buf(sl.buf_idx) : nullptr;
            std::uint32_t left = ok ? sl.len : 0;
            total += left;
            while (left && fits) {
                if (doff == r.bsize) { // next descriptor
                    if (n == room) {
                        fits = false;
                        break;
                    }
                    shared(d->length).store(doff, std::memory_order_relaxed);
                    shared(d->flags).store(desc_flag_next, std::memory_order_relaxed);
                    const std::uint16_t q = std::uint16_t(pos + n);
                    d = &r.desc[q & r.mask];
                    dst = r.bufs + std::size_t(q & r.mask) * r.bsize;
                    doff = 0;
                    n++;
                }
                const std::uint32_t take = std::min(left, r.bsize - doff);
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
        if (!ends) break; // the application has not finished the frame
        if (!fits) {
            if (room < r.size) break; // wait for the server to consume
            drops++;                  // larger than the whole ring
            i = s;
            continue;
        }
        i = s;
        if (bad) [[unlikely]] {
            drops++;
            continue;
        }
        shared(d->length).store(doff, std::memory_order_relaxed);
        shared(d->flags).store(std::uint16_t(0), std::memory_order_relaxed);
        // region and offset: ours, rewritten in case the server scribbled on them
        for (std::uint32_t q = 0; q < n; q++) {
            Desc& e = r.desc[std::uint16_t(pos + q) & r.mask];
            shared(e.region).store(std::uint16_t(0), std::memory_order_relaxed);
            shared(e.offset).store(r.offset0 + std::uint32_t(std::uint16_t(pos + q) & r.mask) * r.bsize,
                                   std::memory_order_relaxed);
        }
        pos = std::uint16_t(pos + n);
        room -= n;
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
