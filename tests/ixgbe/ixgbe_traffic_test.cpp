// ixgbe data path on the 82599 model: tx/rx with wrap-around on many rings,
// RSS, jumbo frames, zero copy, drops, statistics, link loss, TX hang,
// interrupt-driven waits, filters, and two NICs back to back.
#include "ixgbe_test_util.hpp"

#include "drivers/common/adv_desc.hpp"
#include "drivers/ixgbe/ixgbe_regs.hpp"

#include <atomic>
#include <chrono>
#include <thread>

using namespace upio;
using namespace upio::ixgbe;
using namespace upio::ixgbe::test;

namespace {

using Fixture = ModelPort;

std::size_t frame_len(std::uint32_t i) { return 60 + (i * 97) % (1514 - 60 + 1); }
const Mac peer{0x02, 0, 0, 0, 0, 0x02};

} // namespace

TEST(IxgbeTraffic, TransmitsWithWrapAroundOnManyRings) {
    Fixture f(0x10, small_opts(64, 4));
    ASSERT_TRUE(f.port);
    const std::uint32_t per_ring = 500;
    std::vector<Frame> sent[4];
    for (std::uint32_t i = 0; i < per_ring;) {
        for (unsigned r = 0; r < 4; r++) {
            for (int b = 0; b < 7; b++) {
                Frame fr = make_frame(peer, r * 100000 + i + b, frame_len(i + b + r));
                if (i + b >= per_ring || !put(f.tx(r), fr)) break;
                sent[r].push_back(fr);
            }
            ASSERT_EQ(f.port->txsync_ring(r), 0) << f.port->last_error();
        }
        i = std::uint32_t(sent[0].size());
    }
    for (unsigned r = 0; r < 4; r++) ASSERT_EQ(f.port->txsync_ring(r, SYNC_FORCE_RECLAIM), 0);
    ASSERT_EQ(f.wire.size(), 4 * per_ring);
    // per ring, frames leave in order
    std::size_t next[4] = {};
    for (const Frame& w : f.wire) {
        const unsigned r = frame_seq(w.data()) / 100000;
        ASSERT_LT(r, 4u);
        ASSERT_EQ(w, sent[r][next[r]++]);
    }
    for (unsigned r = 0; r < 4; r++) EXPECT_EQ(nm_ring_space(f.tx(r)), 63u) << "ring " << r;
    EXPECT_EQ(f.port->counters(Direction::tx).packets, 4 * per_ring);
    const HwStats& s = f.adapter->stats();
    EXPECT_EQ(s.tx_packets, 4 * per_ring);
    EXPECT_EQ(f.model->faults(), 0u);
}

TEST(IxgbeTraffic, ReclaimsLazilyAndWritesTheTailOncePerBatch) {
    Fixture f(0x11, small_opts(64));
    ASSERT_TRUE(f.port);
    for (int i = 0; i < 10; i++) ASSERT_TRUE(put(f.tx(), make_frame(peer, i, 60)));
    ASSERT_EQ(f.port->txsync(), 0);
    EXPECT_EQ(f.wire.size(), 10u);
    // RS only on the batch's last descriptor, and nothing reclaimed while
    // the application has plenty of room (half the ring)
    EXPECT_EQ(nm_ring_space(f.tx()), 53u);
    EXPECT_EQ(f.model->peek(TDT[0].offset), 10u);
    ASSERT_TRUE(put(f.tx(), make_frame(peer, 10, 60)));
    ASSERT_EQ(f.port->txsync(SYNC_FORCE_RECLAIM), 0); // asked for
    EXPECT_EQ(nm_ring_space(f.tx()), 63u);
    ASSERT_TRUE(put(f.tx(), make_frame(peer, 11, 60)));
    ASSERT_EQ(f.port->txsync(), 0);
    EXPECT_EQ(nm_ring_space(f.tx()), 62u);
    ASSERT_EQ(f.port->txsync(), 0); // nothing new: the caller waits for completions
    EXPECT_EQ(nm_ring_space(f.tx()), 63u);
    // a ring filled past the threshold reclaims by itself
    for (int round = 0; round < 10; round++) {
        while (put(f.tx(), make_frame(peer, round, 60))) {}
        ASSERT_EQ(f.port->txsync(), 0);
        EXPECT_GE(nm_ring_space(f.tx()), 32u);
    }
}

TEST(IxgbeTraffic, ReceivesWithWrapAroundAndRssOnManyRings) {
    const unsigned nq = 4;
    Fixture f(0x12, small_opts(64, nq));
    ASSERT_TRUE(f.port);
    // four flows, one per queue
    std::uint16_t flows[nq];
    for (unsigned q = 0; q < nq; q++) flows[q] = flow_for_queue(*f.model, f.mac(), q, nq, std::uint16_t(2000 + 100 * q));
    std::uint32_t got[nq] = {};
    for (std::uint32_t i = 0; i < 1000; i++) {
        const unsigned q = i % nq;
        Frame fr = make_frame(f.mac(), i, frame_len(i), flows[q]);
        ASSERT_TRUE(f.model->receive(fr.data(), fr.size())) << "frame " << i;
        if (i % 20 == 19) {
            ASSERT_EQ(f.port->rxsync(), 0);
            for (unsigned r = 0; r < nq; r++)
                for (const Frame& g : take_all(f.rx(r))) {
                    ASSERT_EQ(g.size(), frame_len(frame_seq(g.data())));
                    ASSERT_EQ(frame_seq(g.data()) % nq, r) << "flow landed on the wrong ring";
                    ASSERT_EQ(g, make_frame(f.mac(), frame_seq(g.data()), g.size(), flows[r]));
                    got[r]++;
                }
        }
    }
    for (unsigned r = 0; r < nq; r++) {
        EXPECT_EQ(got[r], 250u) << "ring " << r;
        EXPECT_EQ(f.model->rx_frames(r), 250u);
    }
    EXPECT_EQ(f.port->counters(Direction::rx).packets, 1000u);
    EXPECT_EQ(f.adapter->stats().rx_packets, 1000u);
    EXPECT_EQ(f.model->faults(), 0u);
}

TEST(IxgbeTraffic, RssSpreadsManyFlowsWithTheToeplitzHash) {
    const unsigned nq = 8;
    Fixture f(0x13, small_opts(256, nq));
    ASSERT_TRUE(f.port);
    for (std::uint16_t flow = 0; flow < 800; flow++) {
        Frame fr = make_frame(f.mac(), flow, 80, std::uint16_t(10000 + flow * 7));
        ASSERT_TRUE(f.model->receive(fr.data(), fr.size()));
    }
    ASSERT_EQ(f.port->rxsync(), 0);
    for (unsigned q = 0; q < nq; q++) {
        // a Toeplitz hash over 800 flows: every queue gets a fair share
        EXPECT_GT(f.model->rx_frames(q), 50u) << "queue " << q;
        EXPECT_LT(f.model->rx_frames(q), 150u) << "queue " << q;
        EXPECT_EQ(nm_ring_space(f.rx(q)), f.model->rx_frames(q));
    }
    // the well-known Toeplitz test vector of the default key (Microsoft's
    // RSS verification suite): 66.9.149.187:2794 -> 161.142.100.80:1766, UDP/TCP
    Frame v = make_frame(f.mac(), 0, 80, 2794);
    const std::uint8_t sa[4] = {66, 9, 149, 187}, da[4] = {161, 142, 100, 80};
    std::memcpy(v.data() + 26, sa, 4);
    std::memcpy(v.data() + 30, da, 4);
    v[36] = 1766 >> 8;
    v[37] = 1766 & 0xff;
    EXPECT_EQ(f.model->rss_hash(v.data(), v.size()), 0x51ccc178u);
}

TEST(IxgbeTraffic, DropsWhenNoDescriptorIsFreeAndCountsThemOnTheRing) {
    Fixture f(0x14, small_opts(64));
    ASSERT_TRUE(f.port);
    EXPECT_TRUE(f.model->peek(SRRCTL[0].offset) & SRRCTL_DROP_EN);
    int accepted = 0;
    for (int i = 0; i < 100; i++) {
        Frame fr = make_frame(f.mac(), i, 60);
        accepted += f.model->receive(fr.data(), fr.size());
    }
    EXPECT_EQ(accepted, 63); // RDT stops one short
    EXPECT_EQ(f.port->counters(Direction::rx).drops, 0u); // nobody has looked yet
    ASSERT_EQ(f.port->rxsync(), 0);
    // the ring's own sync counted them, no statistics call needed
    EXPECT_EQ(f.port->counters(Direction::rx).drops, 37u);
    const HwStats& s = f.adapter->stats();
    EXPECT_EQ(s.rx_queue_drops, 37u);
    EXPECT_EQ(s.rx_missed, 0u); // the queue dropped them; the packet buffer never overflowed
    EXPECT_EQ(take_all(f.rx()).size(), 63u);
    ASSERT_EQ(f.port->rxsync(), 0); // released: room again
    Frame fr = make_frame(f.mac(), 7, 60);
    EXPECT_TRUE(f.model->receive(fr.data(), fr.size()));
}

TEST(IxgbeTraffic, JumboFramesChainAcrossBuffers) {
    DriverOptions d = fast_opts();
    d.max_frame = max_frame_jumbo;
    Fixture f(0x15, small_opts(64), d);
    ASSERT_TRUE(f.port);
    EXPECT_TRUE(f.model->peek(HLREG0.offset) & HLREG0_JUMBOEN);
    // rx: a 9000-byte frame in five 2 KiB buffers, NS_MOREFRAG on all but the last
    Frame big = make_frame(f.mac(), 42, 9000);
    ASSERT_TRUE(f.model->receive(big.data(), big.size()));
    ASSERT_EQ(f.port->rxsync(), 0);
    netmap_ring* rx = f.rx();
    ASSERT_EQ(nm_ring_space(rx), 5u);
    for (unsigned i = 0; i < 4; i++) EXPECT_TRUE(rx->slot[i].flags & NS_MOREFRAG);
    EXPECT_FALSE(rx->slot[4].flags & NS_MOREFRAG);
    EXPECT_EQ(rx->slot[4].len, 9000u - 4 * 2048);
    auto frames = take_all(rx);
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(frames[0], big);
    // a frame above the 9.5 KiB limit is counted as oversize
    Frame huge = make_frame(f.mac(), 43, 9800);
    EXPECT_FALSE(f.model->receive(huge.data(), huge.size()));
    EXPECT_EQ(f.adapter->stats().rx_oversize, 1u);

    // tx: the same chain, split by the application; the fragments of an
    // incomplete packet wait until the rest is there
    netmap_ring* tx = f.tx();
    std::size_t off = 0;
    for (unsigned i = 0; i < 5; i++) {
        netmap_slot& s = tx->slot[tx->cur];
        const std::size_t n = std::min<std::size_t>(2048, big.size() - off);
        std::memcpy(NETMAP_BUF(tx, s.buf_idx), big.data() + off, n);
        s.len = std::uint16_t(n);
        off += n;
        s.flags = off < big.size() ? NS_MOREFRAG : 0;
        tx->head = tx->cur = nm_ring_next(tx, tx->cur);
        if (i == 2) {
            ASSERT_EQ(f.port->txsync(), 0);
            EXPECT_TRUE(f.wire.empty()); // three fragments of five: not yet
        }
    }
    ASSERT_EQ(f.port->txsync(), 0);
    ASSERT_EQ(f.wire.size(), 1u);
    EXPECT_EQ(f.wire[0], big);
    EXPECT_EQ(f.model->faults(), 0u); // PAYLEN matched the whole frame
}

TEST(IxgbeTraffic, ZeroCopySwapsHonourBufChanged) {
    Fixture f(0x16, small_opts(64));
    ASSERT_TRUE(f.port);
    Frame a = make_frame(f.mac(), 1, 100);
    ASSERT_TRUE(f.model->receive(a.data(), a.size()));
    ASSERT_EQ(f.port->rxsync(), 0);
    netmap_ring* rx = f.rx();
    netmap_ring* tx = f.tx();
    ASSERT_EQ(nm_ring_space(rx), 1u);
    // forward by swapping buffers: the rx buffer goes out on tx, the tx
    // slot's buffer replaces it in the rx ring
    netmap_slot& rs = rx->slot[rx->cur];
    netmap_slot& ts = tx->slot[tx->cur];
    const std::uint32_t rx_buf = rs.buf_idx;
    std::swap(rs.buf_idx, ts.buf_idx);
    ts.len = rs.len;
    rs.flags |= NS_BUF_CHANGED;
    ts.flags |= NS_BUF_CHANGED;
    rx->head = rx->cur = nm_ring_next(rx, rx->cur);
    tx->head = tx->cur = nm_ring_next(tx, tx->cur);
    ASSERT_EQ(f.port->txsync(), 0);
    ASSERT_EQ(f.port->rxsync(), 0);
    ASSERT_EQ(f.wire.size(), 1u);
    EXPECT_EQ(f.wire[0], a);
    EXPECT_FALSE(ts.flags & NS_BUF_CHANGED); // tx clears it when it rewrites the address
    // once the ring wraps, the frame for that rx slot lands in the new buffer
    for (int i = 0; i < 63; i++) {
        Frame b = make_frame(f.mac(), 100 + i, 64);
        ASSERT_TRUE(f.model->receive(b.data(), b.size()));
    }
    ASSERT_EQ(f.port->rxsync(), 0);
    EXPECT_EQ(take_all(rx).size(), 63u);
    ASSERT_EQ(f.port->rxsync(), 0);
    Frame c = make_frame(f.mac(), 999, 64);
    ASSERT_TRUE(f.model->receive(c.data(), c.size()));
    ASSERT_EQ(f.port->rxsync(), 0);
    ASSERT_EQ(nm_ring_space(rx), 1u);
    EXPECT_EQ(rx->cur, 0u);
    EXPECT_NE(rs.buf_idx, rx_buf);
    EXPECT_EQ(rs.flags, 0); // rewritten when filled
    EXPECT_EQ(frame_seq(reinterpret_cast<std::uint8_t*>(NETMAP_BUF(rx, rs.buf_idx))), 999u);
}

TEST(IxgbeTraffic, LinkDownMidStreamHoldsFramesUntilItReturns) {
    Fixture f(0x17, small_opts(64));
    ASSERT_TRUE(f.port);
    for (int i = 0; i < 5; i++) ASSERT_TRUE(put(f.tx(), make_frame(peer, i, 60)));
    ASSERT_EQ(f.port->txsync(), 0);
    ASSERT_EQ(f.wire.size(), 5u);
    const std::uint64_t lsc_before = f.model->interrupts(1);
    f.model->set_cable(false);
    EXPECT_FALSE(f.adapter->link_status().up);
    EXPECT_GT(f.model->interrupts(1), lsc_before); // LSC on the "other" vector
    Frame in = make_frame(f.mac(), 9, 60);
    EXPECT_FALSE(f.model->receive(in.data(), in.size())); // nothing arrives without a link
    for (int i = 5; i < 10; i++) ASSERT_TRUE(put(f.tx(), make_frame(peer, i, 60)));
    ASSERT_EQ(f.port->txsync(), 0);
    EXPECT_EQ(f.wire.size(), 5u); // queued in the ring
    f.model->set_cable(true);
    ASSERT_TRUE(f.adapter->wait_link(std::chrono::milliseconds(100)).ok());
    ASSERT_EQ(f.wire.size(), 10u);
    for (std::uint32_t i = 0; i < 10; i++) EXPECT_EQ(frame_seq(f.wire[i].data()), i);
    ASSERT_EQ(f.port->txsync(SYNC_FORCE_RECLAIM), 0);
    EXPECT_EQ(nm_ring_space(f.tx()), 63u);
}

namespace {

// Syncs with forced reclaim until it fails (or 2 s pass).
int sync_until_error(Port& p) {
    return upio::test::txsync_until_error(p, SYNC_FORCE_RECLAIM, std::chrono::seconds(2));
}

} // namespace

TEST(IxgbeTraffic, TxHangIsDetectedAndReported) {
    Fixture f(0x18, small_opts(64));
    ASSERT_TRUE(f.port);
    f.model->set_tx_writeback(false); // frames leave, DD never comes back
    for (int i = 0; i < 5; i++) ASSERT_TRUE(put(f.tx(), make_frame(peer, i, 60)));
    ASSERT_EQ(f.port->txsync(SYNC_FORCE_RECLAIM), 0);
    EXPECT_EQ(f.wire.size(), 5u);
    EXPECT_EQ(sync_until_error(*f.port), -ETIMEDOUT);
    EXPECT_FALSE(f.adapter->tx_hung(0)); // recovered: the queue was reset
    EXPECT_EQ(f.port->counters(Direction::tx).tx_hangs, 1u);
    EXPECT_EQ(f.port->counters(Direction::tx).drops, 5u); // sent, but never completed: counted lost
    const std::string report = f.adapter->tx_hang_report(0);
    EXPECT_NE(report.find("tx ring 0: TX hang"), std::string::npos) << report;
    EXPECT_NE(report.find("5 in flight"), std::string::npos) << report;
    EXPECT_NE(report.find("TDH=5 TDT=5"), std::string::npos) << report; // as the hang left them
    EXPECT_NE(report.find("queue reset, 5 frames lost"), std::string::npos) << report;
    EXPECT_EQ(nm_ring_space(f.tx()), 63u);
    EXPECT_EQ(f.port->txsync(SYNC_FORCE_RECLAIM), 0);
    // the failing sync's explanation reaches Port::last_error(): the same
    // words explain() gives, after the port's name and ring
    const std::string err = f.port->last_error();
    EXPECT_NE(err.find("tx ring 0: TX hang: descriptor 0 (5 in flight) not written back (DD)"), std::string::npos)
        << err;
    EXPECT_NE(err.find("TDH=5 TDT=5"), std::string::npos) << err;
    EXPECT_NE(err.find("; link up"), std::string::npos) << err;
    EXPECT_EQ(std::string(f.adapter->explain(f.adapter->kring(Direction::tx, 0), -ETIMEDOUT)),
              err.substr(err.find("TX hang")));
    // errors the driver has nothing to add to: strerror
    EXPECT_STREQ(f.adapter->explain(f.adapter->kring(Direction::rx, 0), -EIO), std::strerror(EIO));
}

TEST(IxgbeTraffic, TxHangWithoutALinkSaysSo) {
    Fixture f(0x1f, small_opts(64));
    ASSERT_TRUE(f.port);
    f.model->set_cable(false); // frames wait for a link that does not come
    for (int i = 0; i < 3; i++) ASSERT_TRUE(put(f.tx(), make_frame(peer, i, 60)));
    EXPECT_EQ(sync_until_error(*f.port), -ETIMEDOUT);
    const std::string err = f.port->last_error();
    EXPECT_NE(err.find("TX hang: descriptor 0 (3 in flight)"), std::string::npos) << err;
    EXPECT_NE(err.find("; link down: nothing is sent without a link"), std::string::npos) << err;
    EXPECT_EQ(f.wire.size(), 0u);
}

TEST(IxgbeTraffic, StoppedTxEngineIsAHangTheQueueResetEnds) {
    Fixture f(0x1d, small_opts(64));
    ASSERT_TRUE(f.port);
    f.model->set_tx_engine(false); // nothing leaves, nothing is written back
    for (int i = 0; i < 5; i++) ASSERT_TRUE(put(f.tx(), make_frame(peer, i, 60)));
    ASSERT_EQ(f.port->txsync(SYNC_FORCE_RECLAIM), 0);
    EXPECT_EQ(sync_until_error(*f.port), -ETIMEDOUT);
    EXPECT_NE(f.adapter->tx_hang_report(0).find("TDH=0 TDT=5"), std::string::npos) << f.adapter->tx_hang_report(0);
    // the queue restarted at descriptor 5: the five frames are given up
    EXPECT_EQ(f.model->peek(TDH[0].offset), 5u);
    EXPECT_EQ(nm_ring_space(f.tx()), 63u);
    f.model->set_tx_engine(true);
    EXPECT_EQ(f.wire.size(), 0u);
    for (int i = 5; i < 8; i++) ASSERT_TRUE(put(f.tx(), make_frame(peer, i, 60)));
    ASSERT_EQ(f.port->txsync(SYNC_FORCE_RECLAIM), 0);
    ASSERT_EQ(f.wire.size(), 3u);
    EXPECT_EQ(frame_seq(f.wire[0].data()), 5u);
    EXPECT_FALSE(f.adapter->tx_hung(0));
    EXPECT_EQ(f.port->counters(Direction::tx).tx_hangs, 1u);
    EXPECT_EQ(f.port->counters(Direction::tx).drops, 5u);
}

TEST(IxgbeTraffic, FiltersFollowFctrlAndMta) {
    Fixture f(0x19, small_opts(64));
    ASSERT_TRUE(f.port);
    auto rx = [&](const Mac& dst) {
        Frame fr = make_frame(dst, 0, 60);
        return f.model->receive(fr.data(), fr.size());
    };
    const Mac other{0x02, 9, 9, 9, 9, 9}, bcast{0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
        group{0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb};
    EXPECT_TRUE(rx(f.mac()));
    EXPECT_FALSE(rx(other));
    EXPECT_TRUE(rx(bcast));
    EXPECT_FALSE(rx(group));
    f.adapter->add_multicast(group);
    EXPECT_TRUE(rx(group));
    f.adapter->set_broadcast(false);
    EXPECT_FALSE(rx(bcast));
    f.adapter->set_promiscuous(true);
    EXPECT_TRUE(rx(other));
    f.adapter->set_promiscuous(false);
    EXPECT_FALSE(rx(other));
    const HwStats& s = f.adapter->stats();
    EXPECT_EQ(s.rx_broadcast, 1u);
    EXPECT_EQ(s.rx_multicast, 1u);
    EXPECT_EQ(s.rx_packets, 4u);
    EXPECT_EQ(s.rx_bytes, 4u * 64);
}

TEST(IxgbeTraffic, BlockingWaitWakesOnTheQueueVector) {
    Fixture f(0x1a, small_opts(64, 2));
    ASSERT_TRUE(f.port);
    ASSERT_TRUE(f.adapter->has_interrupts());
    // nothing there: the wait times out, the vector is masked again after it
    EXPECT_EQ(f.port->wait(Direction::rx, std::chrono::milliseconds(10)), 0);
    std::thread t([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(30));
        Frame fr = make_frame(f.mac(), 5, 60, flow_for_queue(*f.model, f.mac(), 1, 2));
        f.model->receive(fr.data(), fr.size());
    });
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(f.port->wait(Direction::rx, std::chrono::seconds(5)), 1);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
    t.join();
    EXPECT_EQ(f.model->interrupts(1), 1u);
    EXPECT_EQ(nm_ring_space(f.rx(1)), 1u);
    // busy polling raises no interrupts: the vector stays masked
    Frame fr = make_frame(f.mac(), 6, 60, flow_for_queue(*f.model, f.mac(), 1, 2));
    f.model->receive(fr.data(), fr.size());
    EXPECT_EQ(f.model->interrupts(1), 1u);
}

TEST(IxgbeTraffic, TwoNicsBackToBack) {
    Fixture a(0x1b, small_opts(128, 2)), b(0x1c, small_opts(128, 2));
    ASSERT_TRUE(a.port && b.port);
    IxgbeModel::connect(*a.model, *b.model);
    std::uint32_t sent = 0, got = 0;
    const std::uint32_t total = 3000;
    while (got < total) {
        // no more than the receiver's free descriptors (it releases on rxsync)
        for (std::uint32_t n = 0; n < 120 && sent < total &&
                                  put(a.tx(sent % 2), make_frame(b.mac(), sent, frame_len(sent), std::uint16_t(sent)));
             n++)
            sent++;
        ASSERT_EQ(b.port->rxsync(), 0);
        ASSERT_EQ(a.port->txsync(), 0);
        ASSERT_EQ(b.port->rxsync(), 0);
        for (unsigned r = 0; r < 2; r++)
            for (const Frame& g : take_all(b.rx(r))) {
                ASSERT_EQ(g.size(), frame_len(frame_seq(g.data())));
                got++;
            }
        if (sent == total && got < total) {
            ASSERT_EQ(a.port->txsync(SYNC_FORCE_RECLAIM), 0);
        }
    }
    EXPECT_EQ(got, total);
    EXPECT_GT(b.model->rx_frames(0), 0u);
    EXPECT_GT(b.model->rx_frames(1), 0u);
    EXPECT_EQ(b.adapter->stats().rx_missed, 0u);
}

TEST(IxgbeTraffic, PerQueueDropCountersCountOnlyTheOverrunQueue) {
    const unsigned nq = 4;
    Fixture f(0x1e, small_opts(64, nq));
    ASSERT_TRUE(f.port);
    // queue q counts into statistics set q; each queue drops on its own
    // when it has no descriptor (SRRCTL.DROP_EN)
    EXPECT_EQ(f.model->peek(RQSMR[0].offset), 0x03020100u);
    for (unsigned q = 0; q < nq; q++) EXPECT_TRUE(f.model->peek(SRRCTL[q].offset) & SRRCTL_DROP_EN) << q;
    std::uint16_t flows[nq];
    for (unsigned q = 0; q < nq; q++) flows[q] = flow_to_queue(*f.model, f.mac(), q, std::uint16_t(3000 + 200 * q));
    auto send = [&](unsigned q, unsigned n) {
        unsigned accepted = 0;
        for (unsigned i = 0; i < n; i++) {
            Frame fr = make_frame(f.mac(), i, 60, flows[q]);
            accepted += f.model->receive(fr.data(), fr.size());
        }
        return accepted;
    };
    // queues 0, 1, 3 get a few frames; queue 2 gets 100 and has 63 descriptors
    for (unsigned q : {0u, 1u, 3u}) EXPECT_EQ(send(q, 10), 10u);
    EXPECT_EQ(send(2, 100), 63u);
    ASSERT_EQ(f.port->rxsync(), 0);
    EXPECT_EQ(ring_drops(*f.adapter, 2), 37u);
    for (unsigned q : {0u, 1u, 3u}) EXPECT_EQ(ring_drops(*f.adapter, q), 0u) << "ring " << q;
    EXPECT_EQ(f.port->counters(Direction::rx).drops, 37u);
    // QPRDC clears on read: syncing again counts nothing twice
    ASSERT_EQ(f.port->rxsync(), 0);
    EXPECT_EQ(ring_drops(*f.adapter, 2), 37u);
    const HwStats& s = f.adapter->stats();
    EXPECT_EQ(s.rx_missed, 0u); // dropped by the queue, not by a full packet buffer
    EXPECT_EQ(s.rx_queue_drops, 37u);
    // the application takes everything; queue 2 is overrun again by 5
    for (unsigned r = 0; r < nq; r++) take_all(f.rx(r));
    ASSERT_EQ(f.port->rxsync(), 0);
    EXPECT_EQ(send(2, 68), 63u);
    EXPECT_EQ(send(1, 5), 5u);
    ASSERT_EQ(f.port->rxsync(), 0);
    EXPECT_EQ(ring_drops(*f.adapter, 2), 42u);
    for (unsigned q : {0u, 1u, 3u}) EXPECT_EQ(ring_drops(*f.adapter, q), 0u) << "ring " << q;
    EXPECT_EQ(f.port->counters(Direction::rx).drops, 42u);
    // drops no sync has collected yet: stats() adds them to the ring, once
    for (unsigned r = 0; r < nq; r++) take_all(f.rx(r));
    ASSERT_EQ(f.port->rxsync(), 0);
    EXPECT_EQ(send(3, 70), 63u);
    EXPECT_EQ(f.adapter->stats().rx_queue_drops, 42u + 7);
    EXPECT_EQ(ring_drops(*f.adapter, 3), 7u);
    ASSERT_EQ(f.port->rxsync(), 0);
    EXPECT_EQ(ring_drops(*f.adapter, 3), 7u);
    EXPECT_EQ(f.port->counters(Direction::rx).drops, 49u);
    EXPECT_EQ(f.model->faults(), 0u);
}

// netmap's NS_REPORT: the slot's descriptor gets RS, so the device writes its
// status back (DD) even in the middle of a batch; a plain one there does not.
TEST(IxgbeTraffic, ReportsStatusForNsReportSlots) {
    Fixture f(0x07, small_opts(64));
    ASSERT_TRUE(f.port);
    for (int i = 0; i < 10; i++) ASSERT_TRUE(put(f.tx(), make_frame(peer, i, 60)));
    f.tx()->slot[3].flags |= NS_REPORT;
    ASSERT_EQ(f.port->txsync(), 0);
    ASSERT_EQ(f.wire.size(), 10u);
    const std::uint64_t base = f.model->peek(TDBAL[0].offset) | std::uint64_t(f.model->peek(TDBAH[0].offset)) << 32;
    auto dd = [&](std::uint32_t i) {
        return (f.model->read_dma64(base + 16 * i + 8) >> 32) & drivers::adv::TXD_STAT_DD;
    };
    EXPECT_TRUE(dd(3));  // NS_REPORT
    EXPECT_FALSE(dd(5)); // plain, mid-batch
    EXPECT_TRUE(dd(9));  // the batch's last
    EXPECT_EQ(f.model->faults(), 0u);
    // reclaim still finds every completion
    ASSERT_EQ(f.port->txsync(SYNC_FORCE_RECLAIM), 0);
    EXPECT_EQ(nm_ring_space(f.tx()), 63u);
}

// One doorbell per sync: a txsync of 32 packets writes TDT once, an rxsync
// that returns slots writes RDT once.
TEST(IxgbeTraffic, WritesEachTailOncePerSync) {
    Fixture f(0x08, small_opts(64));
    ASSERT_TRUE(f.port);
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < 32; i++) ASSERT_TRUE(put(f.tx(), make_frame(peer, i, 60)));
        const std::uint64_t before = f.model->register_writes(TDT[0].offset);
        ASSERT_EQ(f.port->txsync(SYNC_FORCE_RECLAIM), 0);
        EXPECT_EQ(f.model->register_writes(TDT[0].offset) - before, 1u) << "round " << round;
    }
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < 32; i++) {
            Frame fr = make_frame(f.mac(), i, 60);
            ASSERT_TRUE(f.model->receive(fr.data(), fr.size()));
        }
        ASSERT_EQ(f.port->rxsync(), 0);
        ASSERT_EQ(nm_ring_space(f.rx()), 32u);
        f.rx()->head = f.rx()->cur = f.rx()->tail; // return all 32
        const std::uint64_t before = f.model->register_writes(RDT[0].offset);
        ASSERT_EQ(f.port->rxsync(), 0);
        EXPECT_EQ(f.model->register_writes(RDT[0].offset) - before, 1u) << "round " << round;
    }
    EXPECT_EQ(f.model->faults(), 0u);
}

// set_wire waits for a send in progress: after set_wire({}) returns, the old
// callback has finished and is not called again; a callback may replace its
// own wire without deadlock.
TEST(IxgbeTraffic, ClearingTheWireWaitsForASendInProgress) {
    Fixture f(0x09, small_opts(64));
    ASSERT_TRUE(f.port);
    std::atomic<bool> in_send{false}, done{false};
    f.model->set_wire([&](const std::uint8_t*, std::size_t) {
        in_send = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        done = true;
    });
    ASSERT_TRUE(put(f.tx(), make_frame(peer, 0, 60)));
    std::thread sender([&] { (void)f.port->txsync(); });
    while (!in_send) std::this_thread::yield();
    f.model->set_wire({});
    EXPECT_TRUE(done);
    sender.join();
    // from inside the callback: replaces the wire, no deadlock
    int calls = 0;
    f.model->set_wire([&](const std::uint8_t*, std::size_t) {
        calls++;
        f.model->set_wire({});
    });
    for (int i = 0; i < 2; i++) {
        ASSERT_TRUE(put(f.tx(), make_frame(peer, 1 + i, 60)));
        ASSERT_EQ(f.port->txsync(), 0);
    }
    EXPECT_EQ(calls, 1);
}
