// Small helpers shared by the core tests.
#pragma once

#include <upio/backend.hpp>
#include <upio/netmap_user.h>
#include <upio/port.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <string>

#include <unistd.h>

namespace upio::test {

// Unique in this process and among processes: pipes of one name meet
// across processes, and test programs run side by side.
inline std::string unique_name(const char* base) {
    static std::atomic<int> n{0};
    return std::string(base) + std::to_string(::getpid()) + "_" + std::to_string(n.fetch_add(1));
}

inline PortOptions small_opts(std::uint32_t slots = 64) {
    PortOptions o;
    o.tx_slots = o.rx_slots = slots;
    o.memory.hugepages = HugepagePolicy::never;
    return o;
}

inline std::unique_ptr<Port> open_ok(const std::string& name, const PortOptions& o = small_opts()) {
    auto p = Port::open(name, o);
    EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().message);
    return p.ok() ? std::move(p.value()) : nullptr;
}

// Queues one packet of `len` bytes whose first 8 bytes hold `seq`.
inline bool put(netmap_ring* r, std::uint64_t seq, std::uint16_t len = 60, std::uint16_t flags = 0) {
    if (nm_ring_empty(r)) return false;
    netmap_slot& s = r->slot[r->cur];
    std::memcpy(NETMAP_BUF(r, s.buf_idx), &seq, sizeof seq);
    s.len = len;
    s.flags = flags;
    r->head = r->cur = nm_ring_next(r, r->cur);
    return true;
}

inline std::uint64_t seq_of(netmap_ring* r, std::uint32_t i) {
    std::uint64_t v;
    std::memcpy(&v, NETMAP_BUF(r, r->slot[i].buf_idx), sizeof v);
    return v;
}

} // namespace upio::test
