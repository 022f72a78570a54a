// A second application thread rewrites slots of a NIC ring after the
// validation prologue checked them and before the driver reads them in the
// same sync. The driver reads each slot's buffer and length once and checks
// them again (drivers/common/nic_ring.hpp): a bad index becomes the reserved
// buffer 0, a length above a buffer one buffer, and the slot counts in the
// ring's drops. Nothing reaches the device as an address outside the region
// (the model faults on any DMA outside its mappings), nothing indexes past
// the region's tables (AddressSanitizer).
//
// The threaded case races on purpose: tests that use it are not run under
// ThreadSanitizer.
#pragma once

#include <upio/backend.hpp>
#include <upio/netmap_user.h>
#include <upio/port.hpp>

#include "drivers/common/model/device_model.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <random>
#include <thread>
#include <vector>

namespace upio::test {

// Syncs `p`'s tx ring until every frame given to it has completed (bounded).
inline bool tx_drained(Port& p) {
    netmap_ring* tx = p.tx_ring(0);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < until) {
        if (p.txsync() == 0 && nm_ring_space(tx) == tx->num_slots - 1) return true;
        std::this_thread::yield();
    }
    return false;
}

// Buffers of 1 KiB: a length cut to a buffer is still a frame the MAC takes.
inline PortOptions rewrite_opts() {
    PortOptions o;
    o.tx_slots = o.rx_slots = 64;
    o.memory.hugepages = HugepagePolicy::never;
    o.memory.buf_size = 1024;
    return o;
}

// What the driver finds when the slots changed after the prologue: the
// sync is called on the adapter directly, with the kring's head moved as a
// passed prologue leaves it, and the slots as the other thread left them.
inline void expect_slots_rewritten_after_the_prologue_are_checked(Port& p, upio::drivers::model::DeviceModel& model,
                                                                  const std::function<bool()>& feed) {
    Adapter& a = p.adapter();
    MemoryRegion& m = p.memory();
    const std::uint32_t outside = m.num_bufs();

    // tx: four frames, three of them rewritten
    netmap_ring* tx = p.tx_ring(0);
    KRing& tk = a.kring(Direction::tx, 0);
    const std::uint64_t tx_drops = p.counters(Direction::tx).drops;
    std::uint32_t h = tx->head;
    for (std::uint32_t i = 0; i < 4; i++, h = nm_ring_next(tx, h)) {
        tx->slot[h].len = 60;
        tx->slot[h].flags = 0;
    }
    const std::uint32_t first = tx->head;
    tx->slot[first].buf_idx = 0xfffffff0u;                              // far outside
    tx->slot[nm_ring_next(tx, first)].buf_idx = outside;                // just outside
    const std::uint32_t last_buf = nm_ring_next(tx, nm_ring_next(tx, first));
    tx->slot[last_buf].buf_idx = m.num_bufs() - 1;                      // the region's last buffer...
    tx->slot[last_buf].len = 65535;                                     // ...and far more than a buffer
    tx->head = tx->cur = h;
    tk.rhead = tk.rcur = h;
    ASSERT_EQ(a.txsync(tk, 0), 0);
    EXPECT_EQ(p.counters(Direction::tx).drops - tx_drops, 3u) << "the three rewritten slots are counted";
    EXPECT_TRUE(tx_drained(p));
    EXPECT_EQ(model.faults(), 0u) << model.last_fault();

    // rx: frames received, then released with rewritten buffers
    netmap_ring* rx = p.rx_ring(0);
    KRing& rk = a.kring(Direction::rx, 0);
    for (int i = 0; i < 4; i++) ASSERT_TRUE(feed());
    ASSERT_EQ(p.rxsync(), 0);
    ASSERT_EQ(nm_ring_space(rx), 4u);
    const std::uint64_t rx_drops = p.counters(Direction::rx).drops;
    netmap_slot& r0 = rx->slot[rx->head];
    netmap_slot& r1 = rx->slot[nm_ring_next(rx, rx->head)];
    const std::uint32_t b0 = r0.buf_idx, b1 = r1.buf_idx;
    r0.buf_idx = 0xfffffff0u;
    r1.buf_idx = outside;
    rx->head = rx->cur = rx->tail;
    rk.rhead = rk.rcur = rx->tail;
    ASSERT_EQ(a.rxsync(rk, 0), 0);
    EXPECT_EQ(p.counters(Direction::rx).drops - rx_drops, 2u) << "the two rewritten slots are counted";
    r0.buf_idx = b0; // the application's own again (their descriptors have buffer 0 until re-armed)
    r1.buf_idx = b1;
    // every descriptor is used again, those two included
    for (std::uint32_t i = 0; i < 2 * rx->num_slots; i++) {
        ASSERT_TRUE(feed());
        ASSERT_EQ(p.rxsync(), 0);
        rx->head = rx->cur = rx->tail;
    }
    ASSERT_EQ(p.rxsync(), 0);
    EXPECT_EQ(model.faults(), 0u) << model.last_fault();
}

// `p` opened with rewrite_opts().
//
// The race itself: one thread streams on the tx ring, another writes
// random buffer indices and lengths into every slot meanwhile. Syncs the
// prologue refuses count in prologue_errors, slots the driver finds bad in
// drops; the device never gets an address outside the region, and the
// stream goes on once the scribbling stops.
inline void expect_tx_scribbled_while_streaming_stays_inside(Port& p, upio::drivers::model::DeviceModel& model,
                                                             std::uint32_t syncs) {
    netmap_ring* tx = p.tx_ring(0);
    MemoryRegion& m = p.memory();
    const std::uint32_t ns = tx->num_slots, nbufs = m.num_bufs();
    std::vector<std::uint32_t> own(ns);
    for (std::uint32_t i = 0; i < ns; i++) own[i] = tx->slot[i].buf_idx;
    const RingStats before = p.counters(Direction::tx);
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> writes{0};
    std::thread scribbler([&] {
        std::mt19937 rnd(7);
        while (!stop.load(std::memory_order_relaxed)) {
            netmap_slot& s = tx->slot[rnd() % ns];
            const std::uint32_t idx = rnd() & 1 ? rnd() : nbufs - 8 + rnd() % 16; // near the end, or anywhere
            std::atomic_ref(s.buf_idx).store(idx, std::memory_order_relaxed);
            std::atomic_ref(s.len).store(std::uint16_t(rnd()), std::memory_order_relaxed);
            if (writes.fetch_add(1, std::memory_order_relaxed) % 16 == 0) std::this_thread::yield();
        }
    });
    std::uint32_t synced = tx->head; // the ring's head after the last sync that passed
    // at least `syncs`, and on until a scribbled slot was seen (bounded: the
    // other thread may get little CPU on a loaded machine)
    auto seen = [&] {
        const RingStats s = p.counters(Direction::tx);
        return s.prologue_errors + s.drops - before.prologue_errors - before.drops;
    };
    for (std::uint32_t n = 0; n < syncs || (seen() == 0 && n < 200 * syncs); n++) {
        // the application's own values, then a sync: the other thread may
        // rewrite them before the prologue, between it and the driver, or
        // after. A refused sync took nothing: those slots are written again.
        for (std::uint32_t j = synced; j != tx->tail; j = nm_ring_next(tx, j)) {
            std::atomic_ref(tx->slot[j].buf_idx).store(own[j], std::memory_order_relaxed);
            std::atomic_ref(tx->slot[j].len).store(std::uint16_t(60 + j % 64), std::memory_order_relaxed);
            tx->slot[j].flags = 0;
        }
        std::uint32_t h = synced;
        for (std::uint32_t i = 0; i < 8 && h != tx->tail; i++) h = nm_ring_next(tx, h);
        tx->head = tx->cur = h;
        if (p.txsync() == 0) synced = h;
    }
    stop = true;
    scribbler.join();
    for (std::uint32_t i = 0; i < ns; i++) {
        tx->slot[i].buf_idx = own[i];
        tx->slot[i].len = 60;
        tx->slot[i].flags = 0;
    }
    EXPECT_TRUE(tx_drained(p));
    const RingStats after = p.counters(Direction::tx);
    EXPECT_GT(writes.load(), 0u);
    EXPECT_GT(after.packets, before.packets);
    EXPECT_GT(seen(), 0u) << "neither the prologue nor the driver saw a scribbled slot";
    EXPECT_EQ(model.faults(), 0u) << model.last_fault();
    // the stream goes on
    const std::uint64_t sent = after.packets;
    for (int i = 0; i < 3; i++) {
        tx->slot[tx->head].len = 60;
        tx->head = tx->cur = nm_ring_next(tx, tx->head);
    }
    ASSERT_EQ(p.txsync(), 0);
    EXPECT_TRUE(tx_drained(p));
    EXPECT_EQ(p.counters(Direction::tx).packets, sent + 3);
    EXPECT_EQ(model.faults(), 0u) << model.last_fault();
}

} // namespace upio::test
