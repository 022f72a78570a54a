// One split virtqueue seen from the device side (virtio 1.x section 2.7):
// what the messages configured, the rings translated into our addresses,
// and the walk over a descriptor chain.
//
// The rings and every descriptor are in memory the front end writes while we
// read. The walk reads each descriptor once and checks it before anything
// is touched through it: its buffer must lie inside one region of the memory
// table (or be split at region boundaries), its direction must be the one the
// queue expects, a chain visits at most the queue size of descriptors (so a
// cycle ends), an indirect table is only one level deep and inside memory.
// A chain that fails any check is "bad": it is handed back unused (length 0)
// and counted. A ring whose available index runs more than the queue size
// ahead, or that names a head outside the table, is "broken": it stops
// moving until the front end sets it up again.
#pragma once

#include "vhost/guest_memory.hpp"
#include "vhost/protocol.hpp"

#include <upio/error.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>

namespace upio::vhost {

// Contiguous pieces of a chain's buffers, in our addresses.
struct Seg {
    char* p;
    std::uint32_t len;
};
inline constexpr std::uint32_t max_segs = 256; // per chain (virtio-net uses at most ~20)

struct Chain {
    std::uint16_t head = 0;
    std::uint32_t nsegs = 0;
    std::uint64_t bytes = 0;
    Seg seg[max_segs];
};

enum class Walk { ok, bad, broken };

struct Vring {
    Vring();
    ~Vring();
    Vring(const Vring&) = delete;
    Vring& operator=(const Vring&) = delete;

    // Held by the control thread while it changes anything below, and by the
    // data path (try_lock: a sync that finds it taken moves nothing) while
    // it uses the ring.
    std::mutex mu;

    // -- set by messages
    std::uint32_t num = 0;
    VringAddr addr{};
    bool addr_set = false;
    std::uint16_t base = 0;
    int kick = -1; // eventfd; -1: none (the front end sent "no fd": the ring is polled)
    int call = -1;
    int err = -1;
    bool enabled = false; // SET_VRING_ENABLE (or at once without PROTOCOL_FEATURES)
    bool set_up = false;  // from SET_VRING_KICK to GET_VRING_BASE
    // From the front end's first kick after SET_VRING_KICK (at once when it
    // gives no kick fd) to GET_VRING_BASE: the ring is processed. Until then
    // the driver may still be preparing it: DPDK's virtio-user enables a
    // queue pair, then discards whatever its receive queues' used rings
    // hold, and only then kicks (vhost-user: "the back-end must start a ring
    // upon receiving a kick").
    bool started = false;
    bool event_idx = false;
    bool indirect = false;

    // -- translated when the ring starts (and when the memory table changes)
    const char* desc = nullptr;
    VringAvail* avail = nullptr;
    VringUsed* used = nullptr;
    bool broken = false;
    const char* why_broken = "";

    // -- the data path's (under mu)
    std::uint16_t last_avail = 0; // next available entry to take
    std::uint16_t last_used = 0;  // used index as last published

    // Waiters sleep on `ep` (epoll: the kick eventfd and `timer`), which a
    // Port polls among its wait fds; it stays the same descriptor while
    // kick fds come and go.
    int ep = -1;
    int timer = -1; // polls a ring whose front end gives no kick fd, while a waiter sleeps

    // Set up, enabled and sound: the front end has a link (frames for it wait).
    bool ready() const noexcept { return set_up && enabled && !broken && desc != nullptr; }
    // ... and started: frames move.
    bool running() const noexcept { return started && ready(); }
    // A ring set up but not started yet starts if its kick fd has been
    // written (the kick is consumed). Never waits. Returns running(). The
    // used ring's flags are left as they are: the caller knows whether a
    // waiter sleeps on the ring (then kicks are wanted).
    bool start_if_kicked() noexcept;

    // Translates the ring addresses through `mem` and checks their sizes and
    // alignment. On failure the ring is broken (nothing moves) and the error
    // says why.
    Status translate(const GuestMemory& mem);
    // GET_VRING_BASE / disconnect: stops the ring, drops its kick fd.
    void stop() noexcept;
    void set_kick(int fd) noexcept;
    void set_call(int fd) noexcept;
    void set_err(int fd) noexcept;
    void reset() noexcept; // all of the above and back to the initial state
    void mark_broken(const char* why) noexcept {
        broken = true;
        why_broken = why;
    }

    // -- data path (under mu, ring running)

    // Entries the front end made available beyond last_avail (acquire), or
    // -1 when its index ran more than `num` ahead (the ring is then broken).
    int pending() noexcept {
        const std::uint16_t idx = std::atomic_ref(avail->idx).load(std::memory_order_acquire);
        const std::uint16_t n = std::uint16_t(idx - last_avail);
        if (n > num) [[unlikely]] {
            mark_broken("the front end's available index ran more than the queue size ahead");
            return -1;
        }
        return n;
    }
    // Walks the chain at available position `pos` (bad or broken: see above).
    Walk walk(const GuestMemory& mem, std::uint16_t pos, bool writable, Chain& c) noexcept;
    // Writes used entry `last_used + k` (not yet visible).
    void put_used(std::uint16_t k, std::uint32_t id, std::uint32_t len) noexcept {
        VringUsedElem* e = &used->ring[std::uint16_t(last_used + k) & (num - 1)];
        std::atomic_ref(e->id).store(id, std::memory_order_relaxed);
        std::atomic_ref(e->len).store(len, std::memory_order_relaxed);
    }
    void set_used_len(std::uint16_t k, std::uint32_t len) noexcept {
        std::atomic_ref(used->ring[std::uint16_t(last_used + k) & (num - 1)].len).store(len, std::memory_order_relaxed);
    }
    // Publishes `n` used entries and signals the front end if it asked for
    // it (EVENT_IDX's used_event, else VRING_AVAIL_F_NO_INTERRUPT). Returns
    // whether the call eventfd was written.
    bool publish_used(std::uint16_t n) noexcept;
    // Asks the front end for kicks (a waiter is about to sleep) or tells it
    // none are needed. The caller issues a full fence before re-checking.
    void want_kicks(bool on) noexcept;
};

// A position in a chain's buffers, moving forward as bytes are copied.
// Each call copies at most what is left of the chain and returns how much.
class ChainCursor {
public:
    explicit ChainCursor(const Chain& c) noexcept : c_(&c) {}
    std::uint32_t write(const char* src, std::uint32_t len) noexcept { return move(const_cast<char*>(src), len, true); }
    std::uint32_t read(char* dst, std::uint32_t len) noexcept { return move(dst, len, false); }
    std::uint32_t skip(std::uint32_t len) noexcept { return move(nullptr, len, false); }
    std::uint64_t done() const noexcept { return done_; }

private:
    std::uint32_t move(char* p, std::uint32_t len, bool to_chain) noexcept {
        std::uint32_t n = 0;
        while (n < len && i_ < c_->nsegs) {
            const Seg& s = c_->seg[i_];
            const std::uint32_t k = std::min(len - n, s.len - off_);
            if (p) {
                if (to_chain)
                    std::memcpy(s.p + off_, p + n, k);
                else
                    std::memcpy(p + n, s.p + off_, k);
            }
            n += k;
            off_ += k;
            if (off_ == s.len) {
                i_++;
                off_ = 0;
            }
        }
        done_ += n;
        return n;
    }
    const Chain* c_;
    std::uint32_t i_ = 0, off_ = 0;
    std::uint64_t done_ = 0;
};

} // namespace upio::vhost
