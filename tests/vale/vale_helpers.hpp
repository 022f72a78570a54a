// Helpers for the VALE tests: Ethernet frames with a sender id and a
// sequence number after the header.
#pragma once

#include <upio/backend.hpp>
#include <upio/netmap_user.h>
#include <upio/port.hpp>
#include <upio/vale.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <string>
#include <vector>

namespace upio::test {

using vale::Mac;

inline std::string unique_switch() {
    static std::atomic<int> n{0};
    return "valet" + std::to_string(::getpid() % 1000) + "x" + std::to_string(n.fetch_add(1));
}

inline PortOptions vopts(std::uint32_t slots = 64, std::uint32_t buf_size = 2048) {
    PortOptions o;
    o.tx_slots = o.rx_slots = slots;
    o.memory.buf_size = buf_size;
    o.memory.hugepages = HugepagePolicy::never;
    return o;
}

inline std::unique_ptr<Port> vopen(const std::string& name, const PortOptions& o = vopts()) {
    auto p = Port::open(name, o);
    EXPECT_TRUE(p.ok()) << name << ": " << (p.ok() ? "" : p.error().message);
    return p.ok() ? std::move(p.value()) : nullptr;
}

inline Mac mac(std::uint8_t last) { return Mac{0x02, 0, 0, 0, 0, last}; }
inline const Mac bcast{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

// Writes one frame (header + id + seq + pattern) into `p`.
inline void fill(char* p, std::uint32_t len, const Mac& dst, const Mac& src, std::uint32_t id, std::uint64_t seq) {
    std::memcpy(p, dst.data(), 6);
    std::memcpy(p + 6, src.data(), 6);
    p[12] = 0x08;
    p[13] = 0x00;
    if (len >= 26) {
        std::memcpy(p + 14, &id, 4);
        std::memcpy(p + 18, &seq, 8);
    }
    for (std::uint32_t i = 26; i < len; i++) p[i] = char(i * 7 + seq);
}

// Queues a one-slot frame; false when the ring is full.
inline bool send(netmap_ring* r, const Mac& dst, const Mac& src, std::uint32_t id = 0, std::uint64_t seq = 0,
                 std::uint32_t len = 60, std::uint16_t flags = 0) {
    if (nm_ring_empty(r)) return false;
    netmap_slot& s = r->slot[r->cur];
    fill(NETMAP_BUF(r, s.buf_idx), len, dst, src, id, seq);
    s.len = std::uint16_t(len);
    s.flags = flags;
    r->head = r->cur = nm_ring_next(r, r->cur);
    return true;
}

struct Rx {
    Mac dst, src;
    std::uint32_t id = 0;
    std::uint64_t seq = 0;
    std::vector<char> bytes; // the whole frame, fragments joined
    std::uint32_t slots = 0;
};

// Drains the port's rx ring 0 (after an rxsync).
inline std::vector<Rx> drain(Port& p, std::uint32_t ring = 0) {
    EXPECT_EQ(p.rxsync(), 0);
    netmap_ring* r = p.rx_ring(ring);
    std::vector<Rx> out;
    Rx cur;
    while (!nm_ring_empty(r)) {
        netmap_slot& s = r->slot[r->cur];
        const char* b = NETMAP_BUF(r, s.buf_idx);
        cur.bytes.insert(cur.bytes.end(), b, b + s.len);
        cur.slots++;
        if (!(s.flags & NS_MOREFRAG)) {
            std::memcpy(cur.dst.data(), cur.bytes.data(), 6);
            std::memcpy(cur.src.data(), cur.bytes.data() + 6, 6);
            if (cur.bytes.size() >= 26) {
                std::memcpy(&cur.id, cur.bytes.data() + 14, 4);
                std::memcpy(&cur.seq, cur.bytes.data() + 18, 8);
            }
            out.push_back(std::move(cur));
            cur = Rx{};
        }
        r->head = r->cur = nm_ring_next(r, r->cur);
    }
    EXPECT_EQ(p.rxsync(), 0);
    return out;
}

inline vale::PortStats stats(const std::string& port) {
    auto s = vale::port_stats(port);
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
    return s.ok() ? s.value() : vale::PortStats{};
}

} // namespace upio::test
