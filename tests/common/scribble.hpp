// A hostile application: a thread that writes random values into the slots
// of a ring it does not own ([tail, head), the framework's) and into the
// ring's tail, while the owner's traffic runs. The framework must turn
// whatever it finds there into counted drops, never into an access outside
// its memory.
//
// The writes race with the framework on purpose, so tests that use this are
// not run under ThreadSanitizer.
#pragma once

#include <upio/backend.hpp>
#include <upio/netmap_user.h>
#include <upio/port.hpp>

#include <atomic>
#include <cstdint>
#include <random>
#include <thread>
#include <vector>

namespace upio::test {

class Scribbler {
public:
    // `num_bufs`: the region's buffer count; half the indices written lie
    // near it (inside and just outside), half anywhere. `chains`: also
    // write NS_MOREFRAG (left out on a tx ring whose owner would otherwise
    // see its frames held for good).
    Scribbler(std::vector<netmap_ring*> rings, std::uint32_t num_bufs, bool chains, unsigned seed = 1)
        : thread_([this, rings = std::move(rings), num_bufs, chains, seed](std::stop_token st) {
              std::mt19937 rnd(seed);
              for (std::uint64_t n = 0; !st.stop_requested(); n++) {
                  for (netmap_ring* r : rings) {
                      const std::uint32_t ns = r->num_slots;
                      const std::uint32_t head = std::atomic_ref(r->head).load(std::memory_order_relaxed);
                      const std::uint32_t tail = std::atomic_ref(r->tail).load(std::memory_order_relaxed);
                      if (head >= ns || tail >= ns) continue;
                      std::uint32_t own = head >= tail ? head - tail : head + ns - tail; // the framework's
                      if (own == 0) own = ns;
                      netmap_slot& s = r->slot[(tail + rnd() % own) % ns];
                      const std::uint32_t idx = rnd() & 1 ? rnd() : rnd() % (num_bufs + 16);
                      std::uint16_t flags = std::uint16_t(rnd());
                      if (!chains) flags &= std::uint16_t(~NS_MOREFRAG);
                      std::atomic_ref(s.buf_idx).store(idx, std::memory_order_relaxed);
                      std::atomic_ref(s.len).store(std::uint16_t(rnd()), std::memory_order_relaxed);
                      std::atomic_ref(s.flags).store(flags, std::memory_order_relaxed);
                      if (n % 64 == 0) std::atomic_ref(r->tail).store(rnd(), std::memory_order_relaxed);
                      writes_.fetch_add(1, std::memory_order_relaxed);
                  }
                  if (n % 16 == 0) std::this_thread::yield(); // leave the owners some CPU on a small machine
              }
          }) {}

    std::uint64_t writes() const noexcept { return writes_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> writes_{0};
    std::jthread thread_;
};

// What a careful application does with a ring someone scribbles on: it
// trusts no index it reads back, and repairs its ring when a sync refuses it.
struct CarefulRing {
    netmap_ring* r;
    std::uint32_t num_bufs;
    std::uint32_t buf_size;
    std::uint32_t last_head; // head as the last accepted sync left it
    std::uint32_t spare = MemoryRegion::first_buf;

    CarefulRing(netmap_ring* ring, const MemoryRegion& mem)
        : r(ring), num_bufs(mem.num_bufs()), buf_size(mem.buf_size()), last_head(ring->head) {}

    bool valid(std::uint32_t idx) const { return idx >= MemoryRegion::first_buf && idx < num_bufs; }
    // Slots the application may use now: [cur, tail), 0 when tail is garbage.
    std::uint32_t avail() const {
        const std::uint32_t t = r->tail, ns = r->num_slots;
        if (t >= ns || r->cur >= ns) return 0;
        return t >= r->cur ? t - r->cur : t + ns - r->cur;
    }
    // Gives slot i a valid index if it lost its own (the buffer it names may
    // then be shared: data, not memory, is at risk).
    bool repair(netmap_slot& s) {
        if (valid(s.buf_idx) && s.len <= buf_size) return false;
        if (!valid(s.buf_idx)) {
            s.buf_idx = spare;
            spare = spare + 1 < num_bufs ? spare + 1 : MemoryRegion::first_buf;
        }
        if (s.len > buf_size) s.len = 0;
        return true;
    }
    // A sync through `sync`; on -EINVAL, repairs the ring's slots, then
    // rolls head back. Returns the number of refused syncs.
    template <class Sync>
    std::uint32_t sync(Sync&& sync) {
        std::uint32_t refused = 0;
        for (int attempt = 0; attempt < 3; attempt++) {
            const int rc = sync();
            if (rc == 0) {
                last_head = r->head;
                return refused;
            }
            refused++;
            if (attempt == 0) {
                // The prologue checks every slot the port holds, those it
                // holds since earlier syncs too: repair them all.
                for (std::uint32_t i = 0; i < r->num_slots; i++) repair(r->slot[i]);
            } else {
                r->head = r->cur = last_head;
            }
        }
        return refused;
    }
};

} // namespace upio::test
