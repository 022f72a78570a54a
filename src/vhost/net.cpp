// The data path of "vhost:" ports: virtio-net frames between the front
// end's virtqueues and the port's netmap rings.
//
//   port tx ring N  ->  front end's rx queue (2N): upio writes its buffers
//   port rx ring N  <-  front end's tx queue (2N+1): upio reads its buffers
//
// A sync takes its queue's lock with try_lock: the control thread holds it
// only while a message changes the queue, and a sync that finds it taken
// moves nothing (the control thread wakes the ring's waiter afterwards).
#include "vhost/vhost.hpp"

#include <upio/netmap.h>

#include <algorithm>
#include <cstring>
#include <mutex>

namespace upio::vhost {

namespace {

struct Tally {
    std::uint64_t packets = 0, bytes = 0, drops = 0, errors = 0;
    void frame(std::uint64_t len) noexcept {
        packets++;
        bytes += len;
    }
};

void count(KRing& k, const Tally& t) noexcept {
    if (t.packets) {
        RingCounters::add(k.stats.packets, t.packets);
        RingCounters::add(k.stats.bytes, t.bytes);
    }
    if (t.drops) RingCounters::add(k.stats.drops, t.drops);
    if (t.errors) RingCounters::add(k.stats.rx_errors, t.errors);
}

// A slot as read once from the application's ring.
struct Frag {
    std::uint32_t buf_idx;
    std::uint32_t len;
};

// The address of byte `off` of a chain's buffers (off < c.bytes).
char* byte_at(const Chain& c, std::uint64_t off) noexcept {
    for (std::uint32_t i = 0; i < c.nsegs; i++) {
        if (off < c.seg[i].len) return c.seg[i].p + off;
        off -= c.seg[i].len;
    }
    return nullptr;
}

} // namespace

// Nobody on the other side (no front end, or its queue broken): frames
// leave the tx ring and are lost, as on a wire with nobody on it.
int VhostAdapter::drop_all(KRing& k) noexcept {
    const std::uint32_t head = k.rhead;
    std::uint32_t i = k.nr_hwcur.load(std::memory_order_relaxed);
    Tally t;
    for (; i != head; i = k.next(i))
        if (!(k.ring->slot[i].flags & NS_MOREFRAG)) t.drops++;
    k.nr_hwcur.store(head, std::memory_order_relaxed);
    k.nr_hwtail.store(k.prev(head), std::memory_order_relaxed);
    count(k, t);
    return 0;
}

int VhostAdapter::txsync(KRing& k, unsigned) noexcept {
    const std::uint32_t head = k.rhead;
    std::uint32_t i = k.nr_hwcur.load(std::memory_order_relaxed);
    if (i == head) return 0;
    Vring& q = vq_of(k);
    std::unique_lock lk(q.mu, std::try_to_lock);
    if (!lk.owns_lock()) return 0; // the control thread changes the queue: try again later
    // A front end that is setting its queues up (or restarting one) gets
    // the frames once the queue runs (from its first kick); without a
    // front end they are lost.
    if (!q.running() && !start_if_kicked(k, q)) return dev_.memory().empty() || q.broken ? drop_all(k) : 0;
    int pending = q.pending();
    if (pending < 0) return drop_all(k); // broken just now

    const MemoryRegion& mem = memory();
    const GuestMemory& gm = dev_.memory();
    const std::uint32_t bufsz = mem.buf_size(), hlen = dev_.hdr_len();
    const bool mrg = dev_.mergeable();
    Chain& c = *chains_[k.ring_id];
    Frag frag[max_frame_slots];
    VirtioNetHdr hdr{};
    Tally t;
    std::uint16_t used = 0; // used entries written, published at the end
    bool stop = false;
    while (i != head && !stop) {
        // The frame at i: its slots, read once and checked.
        std::uint32_t n = 0, len = 0, after = i;
        bool bad = false, whole = false;
        while (after != head) {
            const netmap_slot s = k.ring->slot[after];
            after = k.next(after);
            if (n < max_frame_slots) frag[n] = Frag{s.buf_idx, s.len};
            n++;
            if (!mem.valid_buf(s.buf_idx) || s.len > bufsz) bad = true;
            len += s.len;
            if (!(s.flags & NS_MOREFRAG)) {
                whole = true;
                break;
            }
        }
        if (!whole) break; // the rest of the chain is not handed over yet
        if (bad || n > max_frame_slots || len == 0) [[unlikely]] {
            t.drops++;
            i = after;
            continue;
        }
        const std::uint64_t total = std::uint64_t(hlen) + len;
        // The front end's buffers: one chain, or as many as MRG_RXBUF needs.
        const int pending_at_frame = pending;
        std::uint16_t nbuf = 0;
        std::uint64_t done = 0;
        std::uint32_t fi = 0, foff = 0; // position in the frame's slots
        char* nb_lo = nullptr;          // num_buffers in the first buffer's header
        char* nb_hi = nullptr;
        bool fits = true;
        while (done < total) {
            if (pending == 0) {
                fits = false;
                break;
            }
            const Walk w = q.walk(gm, std::uint16_t(q.last_avail), true, c);
            if (w == Walk::broken) {
                t.errors++;
                fits = false;
                stop = true;
                break;
            }
            if (w == Walk::bad || c.bytes < (nbuf == 0 ? hlen : 1)) [[unlikely]] {
                // Handed back empty. Buffers this frame already filled go
                // back empty too (length 0: the driver drops them as runts)
                // and the frame is tried again in the buffers after.
                t.errors++;
                for (std::uint16_t b = 0; b < nbuf; b++) q.set_used_len(std::uint16_t(used + b), 0);
                q.put_used(std::uint16_t(used + nbuf), c.head, 0);
                used = std::uint16_t(used + nbuf + 1);
                q.last_avail = std::uint16_t(q.last_avail + 1);
                pending--;
                nbuf = 0;
                done = 0;
                fi = foff = 0;
                continue;
            }
            if (!mrg && c.bytes < total) { // one chain per frame, and this one is too short
                fits = false;
                break;
            }
            ChainCursor cur(c);
            if (nbuf == 0) {
                hdr.num_buffers = 1;
                cur.write(reinterpret_cast<const char*>(&hdr), hlen);
                if (mrg) {
                    nb_lo = byte_at(c, 10);
                    nb_hi = byte_at(c, 11);
                }
            }
            while (fi < n) {
                const std::uint32_t want = frag[fi].len - foff;
                const std::uint32_t got = cur.write(mem.buf(frag[fi].buf_idx) + foff, want);
                foff += got;
                if (got < want) break; // this buffer is full
                fi++;
                foff = 0;
            }
            const std::uint64_t wrote = cur.done();
            done += wrote;
            q.put_used(std::uint16_t(used + nbuf), c.head, std::uint32_t(wrote));
            nbuf++;
            q.last_avail = std::uint16_t(q.last_avail + 1);
            pending--;
        }
        if (!fits) {
            // Give back what this frame took; it waits for more buffers,
            // unless the front end's whole ring could never hold it.
            q.last_avail = std::uint16_t(q.last_avail - nbuf);
            pending += nbuf;
            const bool never = !mrg ? (pending > 0 && !stop) : pending_at_frame == int(q.num);
            if (never) {
                t.drops++;
                i = after;
                continue;
            }
            break;
        }
        if (mrg && nb_lo && nb_hi) {
            *nb_lo = char(nbuf & 0xff);
            *nb_hi = char(nbuf >> 8);
        }
        used = std::uint16_t(used + nbuf);
        t.frame(len);
        i = after;
    }
    q.publish_used(used);
    lk.unlock();
    k.nr_hwcur.store(i, std::memory_order_relaxed);
    k.nr_hwtail.store(k.prev(i), std::memory_order_relaxed);
    count(k, t);
    return 0;
}

int VhostAdapter::rxsync(KRing& k, unsigned) noexcept {
    if (k.nr_hwcur.load(std::memory_order_relaxed) != k.rhead) k.nr_hwcur.store(k.rhead, std::memory_order_release);
    Vring& q = vq_of(k);
    std::unique_lock lk(q.mu, std::try_to_lock);
    if (!lk.owns_lock() || (!q.running() && !start_if_kicked(k, q))) return 0;
    const MemoryRegion& mem = memory();
    const GuestMemory& gm = dev_.memory();
    const std::uint32_t bufsz = mem.buf_size(), hlen = dev_.hdr_len();
    netmap_slot* slot = k.ring->slot;
    Chain& c = *chains_[num_rings(Direction::tx) + k.ring_id];
    std::uint32_t j = k.nr_hwtail.load(std::memory_order_relaxed);
    std::uint32_t space = k.distance(j, k.prev(k.rhead));
    int pending = q.pending();
    Tally t;
    if (pending < 0) t.errors++;
    std::uint16_t used = 0;
    while (pending > 0 && space > 0) {
        const Walk w = q.walk(gm, q.last_avail, false, c);
        if (w == Walk::broken) {
            t.errors++;
            break;
        }
        if (w == Walk::bad || c.bytes < hlen + 14 || c.bytes - hlen > max_frame) [[unlikely]] {
            t.errors++; // handed back unread
            q.put_used(used++, c.head, 0);
            q.last_avail++;
            pending--;
            continue;
        }
        const std::uint32_t len = std::uint32_t(c.bytes - hlen);
        const std::uint32_t need = (len + bufsz - 1) / bufsz;
        if (need > space) break; // waits until the application releases slots
        ChainCursor cur(c);
        cur.skip(hlen); // no offloads negotiated: the header carries nothing
        bool bad = false;
        std::uint32_t s = j;
        for (std::uint32_t f = 0; f < need; f++, s = k.next(s)) {
            const std::uint32_t idx = slot[s].buf_idx; // read once: the application may scribble
            const std::uint32_t n = std::min(bufsz, len - f * bufsz);
            if (mem.valid_buf(idx))
                cur.read(mem.buf(idx), n);
            else
                bad = true, cur.skip(n);
            slot[s].len = std::uint16_t(n);
            slot[s].flags = f + 1 < need ? NS_MOREFRAG : 0;
        }
        if (bad) [[unlikely]] { // a slot with a bad index: the frame is lost, its slots go out empty
            s = j;
            for (std::uint32_t f = 0; f < need; f++, s = k.next(s)) slot[s].len = 0, slot[s].flags = 0;
            t.drops++;
        } else {
            t.frame(len);
        }
        j = s;
        space -= need;
        q.put_used(used++, c.head, 0);
        q.last_avail++;
        pending--;
    }
    q.publish_used(used);
    lk.unlock();
    k.nr_hwtail.store(j, std::memory_order_release);
    count(k, t);
    return 0;
}

} // namespace upio::vhost
