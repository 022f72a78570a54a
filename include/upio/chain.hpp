// upio/chain.hpp -- splitting a frame over buffers as an NS_MOREFRAG chain.
//
// A frame longer than one buffer travels as a chain: consecutive slots,
// every one but the last full and flagged NS_MOREFRAG (netmap's convention;
// a receiver reads slots until one without the flag). An application with a
// netmap_ring uses nm_put_chain():
//
//   const std::uint32_t need = upio::chain_slots(len, r->nr_buf_size);
//   if (nm_ring_space(r) >= need) r->head = r->cur = upio::nm_put_chain(r, r->cur, frame, len);
//
// and reads chains back with ChainReader and nm_get_chain().
// split_frame() is the general form, for code that keeps its own view of a
// ring (a port type that must not trust the ring header an application can
// write) and gathers a frame from several pieces (a chain it received).
#pragma once

#include <upio/netmap.h>
#include <upio/netmap_user.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace upio {

// The slots a frame of `len` bytes takes in buffers of `buf_size` bytes; at
// least one (an empty frame still takes a slot).
constexpr std::uint32_t chain_slots(std::size_t len, std::uint32_t buf_size) noexcept {
    return len <= buf_size ? 1 : std::uint32_t((len + buf_size - 1) / buf_size);
}

// A piece of a frame: `len` bytes at `data`.
struct FrameFragment {
    const char* data = nullptr;
    std::uint32_t len = 0;
};

// The default byte mover of split_frame().
struct MemcpyCopy {
    void operator()(char* dst, const char* src, std::size_t n) const noexcept { std::memcpy(dst, src, n); }
};

// Writes a frame of `len` bytes into the slots of a ring of `num_slots`
// slots from `cur` on, `buf_size` bytes per buffer: every slot but the last
// holds `buf_size` bytes; NS_MOREFRAG is set on all but the last, every other
// flag is cleared. The bytes are read in order from the fragments that
// successive calls of `next_fragment()` return (empty ones are skipped);
// `buffer(slot)` gives the buffer of a slot (char*, `buf_size` bytes);
// `copy(dst, src, n)` moves bytes. The caller has checked that
// chain_slots(len, buf_size) slots from `cur` are the writer's and that the
// fragments hold `len` bytes. Returns the slot after the last one written.
// Allocates nothing, throws nothing.
template <class NextFragment, class BufferOf, class Copy = MemcpyCopy>
inline std::uint32_t split_frame(netmap_slot* slot, std::uint32_t num_slots, std::uint32_t cur,
                                 std::uint32_t buf_size, std::uint32_t len, NextFragment&& next_fragment,
                                 BufferOf&& buffer, Copy&& copy = {}) noexcept {
    FrameFragment f;
    std::uint32_t used = 0; // bytes of f already copied
    std::uint32_t left = len;
    do {
        netmap_slot& s = slot[cur];
        char* out = buffer(s);
        const std::uint32_t room = left < buf_size ? left : buf_size;
        for (std::uint32_t w = 0; w < room;) {
            while (used == f.len) { // the next non-empty fragment
                f = next_fragment();
                used = 0;
            }
            const std::uint32_t c = room - w < f.len - used ? room - w : f.len - used;
            copy(out + w, f.data + used, c);
            w += c;
            used += c;
        }
        left -= room;
        s.len = std::uint16_t(room);
        s.flags = left ? NS_MOREFRAG : 0;
        cur = cur + 1 == num_slots ? 0 : cur + 1;
    } while (left);
    return cur;
}

// split_frame() for an application's own ring: `len` bytes at `data` from
// slot `cur` on, in buffers of the ring's nr_buf_size. The caller has
// checked nm_ring_space(r) >= chain_slots(len, r->nr_buf_size). Returns the
// slot after the last; set head and cur to it to send the frame.
inline std::uint32_t nm_put_chain(netmap_ring* r, std::uint32_t cur, const void* data, std::size_t len) noexcept {
    const FrameFragment whole{static_cast<const char*>(data), std::uint32_t(len)};
    return split_frame(
        r->slot, r->num_slots, cur, r->nr_buf_size, std::uint32_t(len), [&] { return whole; },
        [r](const netmap_slot& s) { return NETMAP_BUF(r, s.buf_idx); });
}

// Copies the chain that starts at slot `cur` of an rx ring into `out` (at
// most `cap` bytes; the rest is cut), up to its last slot or the ring's
// tail. Returns the bytes copied and sets `next` to the slot after the chain.
inline std::size_t nm_get_chain(netmap_ring* r, std::uint32_t cur, void* out, std::size_t cap,
                                std::uint32_t& next) noexcept {
    std::size_t len = 0;
    for (;;) {
        const netmap_slot& s = r->slot[cur];
        const std::size_t part = s.len < cap - len ? s.len : cap - len;
        std::memcpy(static_cast<char*>(out) + len, NETMAP_BUF(r, s.buf_idx), part);
        len += part;
        cur = nm_ring_next(r, cur);
        if (!(s.flags & NS_MOREFRAG) || cur == r->tail) break;
    }
    next = cur;
    return len;
}

// Reads an rx ring a whole frame at a time (an NS_MOREFRAG chain is one),
// from head up to the tail of the last sync. release() hands back the whole
// frames read. A chain whose last slot has not arrived stays in the ring
// (head on its first slot) while cur moves to tail, as in netmap: a wait
// returns at once while cur != tail, so it then sleeps until more arrives.
// The next reader starts from head again and sees the chain whole.
class ChainReader {
public:
    explicit ChainReader(netmap_ring* r) noexcept : r_(r), tail_(r->tail), pos_(r->head), done_(r->head) {}

    // The next whole frame: its first slot, slot count and length. False at
    // the tail, or when only the start of a chain is there.
    bool next(std::uint32_t& first, std::uint32_t& nslots, std::size_t& len) noexcept {
        std::size_t l = 0;
        std::uint32_t n = 0;
        for (std::uint32_t k = pos_; k != tail_;) {
            const netmap_slot& s = r_->slot[k];
            l += s.len;
            n++;
            k = nm_ring_next(r_, k);
            if (s.flags & NS_MOREFRAG) continue;
            first = pos_;
            nslots = n;
            len = l;
            pos_ = done_ = k;
            return true;
        }
        pos_ = tail_;
        return false;
    }
    void release() noexcept {
        r_->head = done_;
        r_->cur = pos_;
    }

private:
    netmap_ring* r_;
    std::uint32_t tail_, pos_, done_;
};

} // namespace upio
