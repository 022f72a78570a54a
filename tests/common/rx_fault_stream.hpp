// A stream of good frames with bad write-backs among them, for any NIC
// driver on a software model: what the application receives must be every
// good frame, intact and in order, and nothing of the bad ones; the ring's
// rx_errors must count exactly the faults injected.
#pragma once

#include "nic_test_util.hpp"

#include "drivers/common/model/device_model.hpp"

#include <functional>
#include <vector>

namespace upio::test {

using drivers::model::RxFault;

// Every fault a model can inject into a frame that fits one buffer or
// (frag_len) spans two.
inline const std::vector<RxFault>& frame_faults() {
    static const std::vector<RxFault> all{RxFault::len_zero, RxFault::len_over,  RxFault::len_huge,
                                          RxFault::frag_len, RxFault::error_bit, RxFault::garbage};
    return all;
}

inline const char* fault_name(RxFault f) {
    switch (f) {
    case RxFault::none: return "none";
    case RxFault::len_zero: return "len_zero";
    case RxFault::len_over: return "len_over";
    case RxFault::len_huge: return "len_huge";
    case RxFault::frag_len: return "frag_len";
    case RxFault::error_bit: return "error_bit";
    case RxFault::garbage: return "garbage";
    case RxFault::endless_chain: return "endless_chain";
    }
    return "?";
}

// Receives what rx ring 0 of `port` holds, joining NS_MOREFRAG chains, and
// checks each frame against the next of `expected` (from `*next` on). Every
// slot must lie within a buffer.
inline void take_checked(Port& port, const std::vector<Frame>& expected, std::size_t* next) {
    netmap_ring* r = port.rx_ring(0);
    Frame cur;
    while (!nm_ring_empty(r)) {
        const netmap_slot& s = r->slot[r->cur];
        ASSERT_GE(s.len, 1u) << "slot " << r->cur;
        ASSERT_LE(s.len, r->nr_buf_size) << "slot " << r->cur;
        const auto* p = reinterpret_cast<const std::uint8_t*>(NETMAP_BUF(r, s.buf_idx));
        cur.insert(cur.end(), p, p + s.len);
        const bool more = s.flags & NS_MOREFRAG;
        r->head = r->cur = nm_ring_next(r, r->cur);
        if (more) continue;
        ASSERT_LT(*next, expected.size()) << "a frame nobody sent good, " << cur.size() << " bytes";
        ASSERT_EQ(cur, expected[*next]) << "frame " << *next;
        ++*next;
        cur.clear();
    }
    ASSERT_TRUE(cur.empty()) << "a chain without its end reached the application";
}

// `rounds` times every fault of `faults`, each after a good one-buffer
// frame and a good chained one (`chain_len` bytes, more than a buffer);
// the faulty frame spans two buffers for frag_len, one otherwise. The
// application syncs after every frame in odd rounds (the bad frame is the
// last one written back), once a round in even ones (it sits between good
// ones in one batch). `make(seq, len)` builds a frame the port accepts;
// `receive` hands it to the model.
inline void run_fault_stream(Port& port, drivers::model::DeviceModel& model,
                             const std::function<Frame(std::uint32_t, std::size_t)>& make,
                             const std::function<bool(const Frame&)>& receive, const std::vector<RxFault>& faults,
                             unsigned rounds, std::size_t chain_len) {
    std::vector<Frame> expected;
    std::size_t got = 0;
    std::uint64_t injected = 0;
    std::uint32_t seq = 0;
    auto sync = [&] {
        ASSERT_EQ(port.rxsync(), 0) << port.last_error();
        take_checked(port, expected, &got);
        ASSERT_EQ(port.rxsync(), 0) << port.last_error(); // released: the device gets them back
    };
    for (unsigned r = 0; r < rounds; r++) {
        for (RxFault f : faults) {
            SCOPED_TRACE(testing::Message() << "round " << r << ", fault " << fault_name(f));
            for (std::size_t len : {std::size_t(60 + (seq * 37) % 400), chain_len}) {
                expected.push_back(make(seq++, len));
                ASSERT_TRUE(receive(expected.back()));
            }
            model.inject_rx_fault(f);
            const Frame bad = make(0xbad00000u + std::uint32_t(injected), f == RxFault::frag_len ? chain_len : 200);
            ASSERT_TRUE(receive(bad));
            ASSERT_EQ(model.pending_rx_faults(), 0u);
            injected++;
            if (r % 2) sync();
            if (testing::Test::HasFatalFailure()) return;
        }
        sync();
        if (testing::Test::HasFatalFailure()) return;
    }
    EXPECT_EQ(got, expected.size());
    const RingStats s = port.counters(Direction::rx);
    EXPECT_EQ(s.rx_errors, injected);
    EXPECT_EQ(s.packets, expected.size());
    EXPECT_EQ(s.drops, 0u);
    EXPECT_EQ(model.faults(), 0u) << model.last_fault();
}

// A chain that never ends (every free descriptor written back without EOP)
// while the application holds no slot: dropped whole, counted once; then
// good frames arrive intact.
inline void run_endless_chain(Port& port, drivers::model::DeviceModel& model,
                              const std::function<Frame(std::uint32_t, std::size_t)>& make,
                              const std::function<bool(const Frame&)>& receive) {
    std::vector<Frame> expected;
    std::size_t got = 0;
    for (unsigned round = 0; round < 3; round++) {
        SCOPED_TRACE(testing::Message() << "round " << round);
        for (std::uint32_t i = 0; i < 5; i++) {
            expected.push_back(make(std::uint32_t(expected.size()), 60 + 100 * i));
            ASSERT_TRUE(receive(expected.back()));
        }
        ASSERT_EQ(port.rxsync(), 0) << port.last_error();
        take_checked(port, expected, &got);
        ASSERT_EQ(port.rxsync(), 0) << port.last_error(); // the application holds nothing
        model.inject_rx_fault(RxFault::endless_chain);
        ASSERT_TRUE(receive(make(0xbad00000u + round, 300)));
        ASSERT_EQ(port.rxsync(), 0) << port.last_error();
        EXPECT_TRUE(nm_ring_empty(port.rx_ring(0)));
        EXPECT_EQ(port.counters(Direction::rx).rx_errors, round + 1);
        for (std::uint32_t i = 0; i < 40; i++) { // across the ring's end
            expected.push_back(make(std::uint32_t(expected.size()), 60 + 30 * i));
            ASSERT_TRUE(receive(expected.back())) << "frame " << i;
        }
        ASSERT_EQ(port.rxsync(), 0) << port.last_error();
        take_checked(port, expected, &got);
        ASSERT_EQ(port.rxsync(), 0) << port.last_error();
    }
    EXPECT_EQ(got, expected.size());
    EXPECT_EQ(port.counters(Direction::rx).packets, expected.size());
    EXPECT_EQ(model.faults(), 0u) << model.last_fault();
}

} // namespace upio::test
