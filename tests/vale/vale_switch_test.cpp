// VALE in one thread: switches and ports, the learning bridge, frames of
// several slots, counters, pluggable lookups and attachments.
#include "vale_helpers.hpp"

#include <algorithm>
#include <thread>

namespace upio::test {
namespace {

bool has(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(ValeSwitch, CreatedOnDemandAndPortsLeaveOnClose) {
    const std::string sw = unique_switch();
    auto a = vopen(sw + ":a");
    auto b = vopen(sw + ":b");
    ASSERT_TRUE(a && b);
    EXPECT_TRUE(has(vale::list_switches(), sw));
    auto info = vale::describe(sw);
    ASSERT_TRUE(info.ok());
    ASSERT_EQ(info.value().ports.size(), 2u);
    EXPECT_EQ(info.value().ports[0].name, sw + ":a");
    EXPECT_EQ(info.value().ports[1].name, sw + ":b");
    EXPECT_EQ(vale::port_index(sw + ":b").value(), 1u);
    a.reset();
    EXPECT_EQ(vale::describe(sw).value().ports.size(), 1u);
    EXPECT_FALSE(vale::port_stats(sw + ":a").ok());
    b.reset();
    EXPECT_FALSE(has(vale::list_switches(), sw)) << "an empty switch disappears";
    EXPECT_EQ(vale::describe(sw).error().code, ENOENT);
}

TEST(ValeSwitch, PersistentSwitchKeepsItsConfiguration) {
    const std::string sw = unique_switch();
    ASSERT_TRUE(vale::create_switch(sw, {std::chrono::milliseconds(1234)}).ok());
    EXPECT_EQ(vale::create_switch(sw).error().code, EEXIST);
    EXPECT_FALSE(vale::create_switch("notvale").ok());
    {
        auto a = vopen(sw + ":a");
        EXPECT_EQ(vale::destroy_switch(sw).error().code, EBUSY);
    }
    auto info = vale::describe(sw);
    ASSERT_TRUE(info.ok());
    EXPECT_TRUE(info.value().persistent);
    EXPECT_EQ(info.value().config.aging, std::chrono::milliseconds(1234));
    EXPECT_TRUE(vale::destroy_switch(sw).ok());
    EXPECT_FALSE(has(vale::list_switches(), sw));
}

TEST(ValeSwitch, AtMost254Ports) {
    const std::string sw = unique_switch();
    std::vector<std::unique_ptr<Port>> ports;
    for (std::uint32_t i = 0; i < vale::max_ports; i++) {
        auto p = Port::open(sw + ":p" + std::to_string(i), vopts(4, 64));
        ASSERT_TRUE(p.ok()) << i << ": " << p.error().message;
        ports.push_back(std::move(p.value()));
    }
    auto extra = Port::open(sw + ":one-too-many", vopts(4, 64));
    ASSERT_FALSE(extra.ok());
    EXPECT_EQ(extra.error().code, ENOSPC);
    // a freed index is reused
    ports[7].reset();
    auto again = vopen(sw + ":late", vopts(4, 64));
    ASSERT_TRUE(again);
    EXPECT_EQ(vale::port_index(sw + ":late").value(), 7u);
}

TEST(ValeSwitch, SecondOpenOfAPortSharesIt) {
    const std::string sw = unique_switch();
    PortOptions o = vopts();
    o.rings = 2;
    auto r0 = vopen(sw + ":a,ring=0", o);
    auto r1 = vopen(sw + ":a,ring=1", o);
    auto b = vopen(sw + ":b");
    ASSERT_TRUE(r0 && r1 && b);
    EXPECT_EQ(&r0->adapter(), &r1->adapter());
    EXPECT_EQ(vale::describe(sw).value().ports.size(), 2u);
    // tx ring 1 of a lands on rx ring 1 % 1 = 0 of b
    ASSERT_TRUE(send(r1->tx_ring(1), bcast, mac(1)));
    ASSERT_EQ(r1->txsync(), 0);
    EXPECT_EQ(drain(*b).size(), 1u);
    // b's broadcast reaches a's rx ring 0 (b sends on its tx ring 0)
    ASSERT_TRUE(send(b->tx_ring(0), bcast, mac(2)));
    ASSERT_EQ(b->txsync(), 0);
    EXPECT_EQ(drain(*r0, 0).size(), 1u);
}

// Three ports a, b, c with hosts 1, 2, 3 behind them.
struct Three : ::testing::Test {
    std::string sw = unique_switch();
    std::unique_ptr<Port> p[3];
    void SetUp() override {
        for (int i = 0; i < 3; i++) {
            p[i] = vopen(sw + ":" + char('a' + i));
            ASSERT_TRUE(p[i]);
        }
    }
    void tx(int port, const Mac& dst, const Mac& src, std::uint64_t seq = 0, std::uint16_t flags = 0) {
        ASSERT_TRUE(send(p[port]->tx_ring(0), dst, src, std::uint32_t(port), seq, 60, flags));
        ASSERT_EQ(p[port]->txsync(), 0);
    }
    std::size_t got(int port) { return drain(*p[port]).size(); }
    std::string name(int port) { return sw + ":" + char('a' + port); }
};

TEST_F(Three, FloodsUnknownBroadcastAndMulticastButNeverBack) {
    tx(0, mac(2), mac(1)); // 2 is unknown
    EXPECT_EQ(got(0), 0u);
    EXPECT_EQ(got(1), 1u);
    EXPECT_EQ(got(2), 1u);
    tx(1, bcast, mac(2));
    EXPECT_EQ(got(0), 1u);
    EXPECT_EQ(got(1), 0u);
    EXPECT_EQ(got(2), 1u);
    tx(2, Mac{0x01, 0x00, 0x5e, 0, 0, 1}, mac(3)); // IPv4 multicast
    EXPECT_EQ(got(0), 1u);
    EXPECT_EQ(got(1), 1u);
    EXPECT_EQ(got(2), 0u);
}

TEST_F(Three, LearnsAndSendsKnownUnicastToOnePort) {
    tx(0, bcast, mac(1));
    tx(1, bcast, mac(2));
    got(0), got(1), got(2);
    tx(1, mac(1), mac(2));
    EXPECT_EQ(got(0), 1u);
    EXPECT_EQ(got(2), 0u) << "known unicast must not flood";
    tx(0, mac(2), mac(1));
    EXPECT_EQ(got(1), 1u);
    EXPECT_EQ(got(2), 0u);
    auto table = vale::mac_table(sw);
    ASSERT_TRUE(table.ok());
    ASSERT_EQ(table.value().size(), 2u);
    EXPECT_EQ(table.value()[0].mac, mac(1));
    EXPECT_EQ(table.value()[0].port_name, name(0));
    EXPECT_EQ(table.value()[1].mac, mac(2));
    EXPECT_EQ(table.value()[1].port, 1u);
}

TEST_F(Three, NoLearnFlagIsHonoured) {
    tx(0, bcast, mac(1), 0, NS_NO_LEARN);
    EXPECT_TRUE(vale::mac_table(sw).value().empty());
}

TEST_F(Three, NoHairpinForAHostOnTheSamePort) {
    tx(0, bcast, mac(1));
    got(1), got(2);
    tx(0, mac(1), mac(9)); // host 9 talks to host 1, both behind port a
    EXPECT_EQ(got(0), 0u);
    EXPECT_EQ(got(1), 0u);
    EXPECT_EQ(got(2), 0u);
    EXPECT_EQ(stats(name(0)).drop_filtered, 1u);
}

TEST_F(Three, AnEntryMovesWithItsHost) {
    tx(0, bcast, mac(1));
    got(1), got(2);
    tx(2, bcast, mac(1)); // host 1 now behind port c
    got(0), got(1);
    tx(1, mac(1), mac(2));
    EXPECT_EQ(got(0), 0u);
    EXPECT_EQ(got(2), 1u);
    auto table = vale::mac_table(sw).value();
    auto it = std::find_if(table.begin(), table.end(), [](auto& e) { return e.mac == mac(1); });
    ASSERT_NE(it, table.end());
    EXPECT_EQ(it->port_name, name(2));
}

TEST_F(Three, EntriesAgeOut) {
    ASSERT_TRUE(vale::configure(sw, {std::chrono::milliseconds(40)}).ok());
    tx(0, bcast, mac(1));
    got(1), got(2);
    tx(1, mac(1), mac(2));
    EXPECT_EQ(got(2), 0u);
    got(0);
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    auto table = vale::mac_table(sw).value();
    EXPECT_TRUE(std::none_of(table.begin(), table.end(), [](auto& e) { return e.mac == mac(1); }));
    tx(1, mac(1), mac(2)); // aged out: unknown again, floods
    EXPECT_EQ(got(0), 1u);
    EXPECT_EQ(got(2), 1u);
}

TEST_F(Three, ALeavingPortTakesItsAddressesAlong) {
    tx(0, bcast, mac(1));
    got(1), got(2);
    p[0].reset();
    EXPECT_TRUE(vale::mac_table(sw).value().empty());
    tx(1, mac(1), mac(2));
    EXPECT_EQ(got(2), 1u) << "unknown again: flooded";
}

TEST_F(Three, CountersPerPort) {
    tx(0, bcast, mac(1));
    got(1), got(2);
    tx(1, mac(1), mac(2));
    got(0);
    auto a = stats(name(0)), b = stats(name(1)), c = stats(name(2));
    EXPECT_EQ(a.tx_packets, 1u);
    EXPECT_EQ(a.tx_bytes, 60u);
    EXPECT_EQ(a.rx_packets, 1u);
    EXPECT_EQ(b.tx_packets, 1u);
    EXPECT_EQ(b.rx_packets, 1u);
    EXPECT_EQ(c.rx_packets, 1u);
    EXPECT_EQ(c.rx_bytes, 60u);
    EXPECT_EQ(c.tx_packets, 0u);
    EXPECT_EQ(p[2]->counters(Direction::rx).packets, 1u);
    auto info = vale::describe(sw).value();
    EXPECT_EQ(info.ports[0].stats.tx_packets, 1u);
    EXPECT_EQ(std::size(vale::stat_fields), 8u);
    EXPECT_EQ(b.*vale::stat_fields[2].field, 1u); // rx_packets
}

TEST_F(Three, FullDestinationDropsAndCountsExactly) {
    netmap_ring* t = p[0]->tx_ring(0);
    std::uint64_t seq = 0;
    for (int round = 0; round < 3; round++) { // 3 x 40 frames into a 63-frame ring
        for (int k = 0; k < 40; k++) ASSERT_TRUE(send(t, mac(2), mac(1), 0, seq++));
        ASSERT_EQ(p[0]->txsync(), 0);
    }
    EXPECT_EQ(stats(name(1)).drop_no_space, 120u - 63u);
    EXPECT_EQ(p[1]->counters(Direction::rx).drops, 120u - 63u);
    auto rx = drain(*p[1]);
    ASSERT_EQ(rx.size(), 63u);
    for (std::uint64_t i = 0; i < rx.size(); i++) EXPECT_EQ(rx[i].seq, i);
    EXPECT_EQ(stats(name(1)).rx_packets, 63u);
}

// Slots queued in a tx ring that the port has not taken yet.
std::uint32_t pending(const netmap_ring* t) {
    const std::uint32_t from = t->tail + 1 == t->num_slots ? 0 : t->tail + 1;
    return t->head >= from ? t->head - from : t->head + t->num_slots - from;
}

// Back-pressure: what does not fit stays in the sender's ring and follows
// once the receiver releases slots; nothing is dropped.
TEST_F(Three, BackPressureKeepsFramesInTheSendersRing) {
    ASSERT_TRUE(vale::set_back_pressure(name(1), true).ok());
    EXPECT_TRUE(vale::describe(sw).value().ports[1].back_pressure);
    EXPECT_FALSE(vale::describe(sw).value().ports[0].back_pressure);
    tx(1, bcast, mac(2)); // hosts 2 and 3 learned behind b and c
    tx(2, bcast, mac(3));
    for (int i = 0; i < 3; i++) got(i);
    netmap_ring* t = p[0]->tx_ring(0);
    std::uint64_t seq = 0;
    for (int round = 0; round < 3; round++) { // 3 x 40 frames towards a 63-frame ring
        for (int k = 0; k < 40; k++) ASSERT_TRUE(send(t, mac(2), mac(1), 0, seq++));
        ASSERT_EQ(p[0]->txsync(), 0);
    }
    EXPECT_EQ(pending(t), 120u - 63u) << "the frames that did not fit wait in the sender's ring";
    EXPECT_EQ(stats(name(1)).drop_no_space, 0u);
    auto rx = drain(*p[1]);
    ASSERT_EQ(rx.size(), 63u);
    ASSERT_EQ(p[0]->txsync(), 0);
    EXPECT_EQ(pending(t), 0u);
    auto rest = drain(*p[1]);
    ASSERT_EQ(rest.size(), 120u - 63u);
    rx.insert(rx.end(), rest.begin(), rest.end());
    for (std::uint64_t i = 0; i < rx.size(); i++) EXPECT_EQ(rx[i].seq, i);
    EXPECT_EQ(stats(name(1)).drop_no_space, 0u);
    EXPECT_EQ(stats(name(1)).rx_packets, 120u + 1u); // and c's broadcast
}

// Back-pressure holds a sender's ring in order: a frame for a full port
// that asked for it holds back the frames after it, for every destination;
// a full port that did not ask still drops.
TEST_F(Three, BackPressureHoldsLaterFramesForOtherPortsToo) {
    ASSERT_TRUE(vale::set_back_pressure(name(2), true).ok()); // c only
    tx(1, bcast, mac(2)); // hosts 2 and 3 learned behind b and c
    tx(2, bcast, mac(3));
    for (int i = 0; i < 3; i++) got(i);
    netmap_ring* t = p[0]->tx_ring(0);
    for (std::uint64_t k = 0; k < 63; k++) ASSERT_TRUE(send(t, mac(3), mac(1), 0, k)); // c's ring is full
    ASSERT_EQ(p[0]->txsync(), 0);
    ASSERT_EQ(pending(t), 0u);
    ASSERT_TRUE(send(t, mac(2), mac(1), 0, 100)); // to b
    ASSERT_TRUE(send(t, mac(3), mac(1), 0, 101)); // to c: no room
    ASSERT_TRUE(send(t, mac(2), mac(1), 0, 102)); // to b, after it
    ASSERT_EQ(p[0]->txsync(), 0);
    EXPECT_EQ(pending(t), 2u);
    auto b1 = drain(*p[1]);
    ASSERT_EQ(b1.size(), 1u);
    EXPECT_EQ(b1[0].seq, 100u);
    EXPECT_EQ(drain(*p[2]).size(), 63u);
    ASSERT_EQ(p[0]->txsync(), 0);
    EXPECT_EQ(pending(t), 0u);
    auto b2 = drain(*p[1]);
    auto c2 = drain(*p[2]);
    ASSERT_EQ(b2.size(), 1u);
    ASSERT_EQ(c2.size(), 1u);
    EXPECT_EQ(b2[0].seq, 102u);
    EXPECT_EQ(c2[0].seq, 101u);
    EXPECT_EQ(stats(name(1)).drop_no_space + stats(name(2)).drop_no_space, 0u);

    // b (no back-pressure) full: the frames for it beyond its ring are
    // dropped, c's frame behind them still goes.
    for (std::uint64_t k = 0; k < 63; k++) ASSERT_TRUE(send(t, mac(2), mac(1), 0, 200 + k));
    ASSERT_EQ(p[0]->txsync(), 0);
    ASSERT_TRUE(send(t, mac(2), mac(1), 0, 263));
    ASSERT_TRUE(send(t, mac(3), mac(1), 0, 300));
    ASSERT_EQ(p[0]->txsync(), 0);
    EXPECT_EQ(pending(t), 0u);
    EXPECT_EQ(stats(name(1)).drop_no_space, 1u);
    EXPECT_EQ(drain(*p[1]).size(), 63u);
    auto c3 = drain(*p[2]);
    ASSERT_EQ(c3.size(), 1u);
    EXPECT_EQ(c3[0].seq, 300u);
}

// The default still drops at a full ring, and turning back-pressure off
// returns to it.
TEST_F(Three, BackPressureOffDropsAgain) {
    ASSERT_TRUE(vale::set_back_pressure(name(1), true).ok());
    ASSERT_TRUE(vale::set_back_pressure(name(1), false).ok());
    EXPECT_FALSE(vale::describe(sw).value().ports[1].back_pressure);
    tx(1, bcast, mac(2));
    for (int i = 0; i < 3; i++) got(i);
    netmap_ring* t = p[0]->tx_ring(0);
    for (std::uint64_t k = 0; k < 63; k++) ASSERT_TRUE(send(t, mac(2), mac(1), 0, k));
    ASSERT_EQ(p[0]->txsync(), 0);
    ASSERT_TRUE(send(t, mac(2), mac(1), 0, 63));
    ASSERT_EQ(p[0]->txsync(), 0);
    EXPECT_EQ(pending(t), 0u);
    EXPECT_EQ(stats(name(1)).drop_no_space, 1u);
    EXPECT_FALSE(vale::set_back_pressure(sw + ":nosuch", true).ok());
}

TEST_F(Three, MalformedFramesAreDroppedAndCounted) {
    netmap_ring* t = p[0]->tx_ring(0);
    ASSERT_TRUE(send(t, bcast, mac(1), 0, 0, 13)); // shorter than a header
    ASSERT_TRUE(send(t, bcast, mac(1), 0, 1, 60));
    ASSERT_EQ(p[0]->txsync(), 0);
    auto rx = drain(*p[1]);
    ASSERT_EQ(rx.size(), 1u);
    EXPECT_EQ(rx[0].seq, 1u);
    EXPECT_EQ(stats(name(0)).drop_malformed, 1u);
}

// Sends `len` bytes from `from` as a chain of slots of at most `frag` bytes.
void send_chain(Port& from, std::uint32_t len, std::uint32_t frag, std::uint64_t seq, bool finish = true) {
    netmap_ring* r = from.tx_ring(0);
    std::vector<char> frame(len);
    fill(frame.data(), len, bcast, mac(1), 0, seq);
    for (std::uint32_t off = 0; off < len; off += frag) {
        ASSERT_FALSE(nm_ring_empty(r));
        netmap_slot& s = r->slot[r->cur];
        const std::uint32_t c = std::min(frag, len - off);
        std::memcpy(NETMAP_BUF(r, s.buf_idx), frame.data() + off, c);
        s.len = std::uint16_t(c);
        s.flags = (off + c < len || !finish) ? NS_MOREFRAG : 0;
        r->head = r->cur = nm_ring_next(r, r->cur);
    }
}

TEST(ValeFrames, JumboFramesCrossPortsOfDifferentBufferSizes) {
    const std::string sw = unique_switch();
    auto small = vopen(sw + ":small", vopts(64, 2048));
    auto big = vopen(sw + ":big", vopts(64, 9088));
    auto tiny = vopen(sw + ":tiny", vopts(64, 1024));
    ASSERT_TRUE(small && big && tiny);
    std::vector<char> want(9018);
    fill(want.data(), 9018, bcast, mac(1), 0, 42);

    send_chain(*small, 9018, 2048, 42); // 5 slots in, whole frame out
    ASSERT_EQ(small->txsync(), 0);
    auto at_big = drain(*big);
    auto at_tiny = drain(*tiny);
    ASSERT_EQ(at_big.size(), 1u);
    EXPECT_EQ(at_big[0].slots, 1u);
    EXPECT_EQ(at_big[0].bytes, want);
    ASSERT_EQ(at_tiny.size(), 1u);
    EXPECT_EQ(at_tiny[0].slots, 9u); // 9018 / 1024 rounded up
    EXPECT_EQ(at_tiny[0].bytes, want);

    send_chain(*big, 9018, 9088, 42); // one slot in, five out
    ASSERT_EQ(big->txsync(), 0);
    auto at_small = drain(*small);
    ASSERT_EQ(at_small.size(), 1u);
    EXPECT_EQ(at_small[0].slots, 5u);
    EXPECT_EQ(at_small[0].bytes, want);
    EXPECT_EQ(stats(sw + ":small").rx_bytes, 9018u);
}

TEST(ValeFrames, ChainWaitsUntilTheClientEndsIt) {
    const std::string sw = unique_switch();
    auto a = vopen(sw + ":a");
    auto b = vopen(sw + ":b");
    ASSERT_TRUE(a && b);
    send_chain(*a, 300, 100, 7, /*finish=*/false); // three slots, all with NS_MOREFRAG
    ASSERT_EQ(a->txsync(), 0);
    EXPECT_EQ(drain(*b).size(), 0u);
    EXPECT_TRUE(nm_tx_pending(a->tx_ring(0)));
    netmap_ring* r = a->tx_ring(0);
    netmap_slot& s = r->slot[r->cur];
    std::memset(NETMAP_BUF(r, s.buf_idx), 0x5a, 40);
    s.len = 40;
    s.flags = 0; // the end of the chain
    r->head = r->cur = nm_ring_next(r, r->cur);
    ASSERT_EQ(a->txsync(), 0);
    auto rx = drain(*b);
    ASSERT_EQ(rx.size(), 1u);
    EXPECT_EQ(rx[0].bytes.size(), 340u);
    EXPECT_EQ(rx[0].seq, 7u);
    EXPECT_EQ(rx[0].slots, 1u);
}

TEST(ValeLookup, ACallableReplacesTheBridge) {
    const std::string sw = unique_switch();
    auto a = vopen(sw + ":a");
    auto b = vopen(sw + ":b");
    auto c = vopen(sw + ":c");
    ASSERT_TRUE(a && b && c);
    const std::uint32_t ci = vale::port_index(sw + ":c").value();
    // everything to c, except frames whose seq is odd (dropped) or 2 (back to the source)
    ASSERT_TRUE(vale::set_lookup(sw, [ci](const vale::FrameInfo& f) -> std::uint32_t {
                    std::uint64_t seq;
                    std::memcpy(&seq, f.data + 18, 8);
                    if (seq == 2) return f.src_port;
                    if (seq == 4) return vale::broadcast;
                    return seq % 2 ? vale::drop : ci;
                }).ok());
    EXPECT_TRUE(vale::describe(sw).value().custom_lookup);
    for (std::uint64_t s = 0; s < 6; s++) ASSERT_TRUE(send(a->tx_ring(0), mac(2), mac(1), 0, s));
    ASSERT_EQ(a->txsync(), 0);
    auto at_c = drain(*c);
    auto at_b = drain(*b);
    ASSERT_EQ(at_c.size(), 2u);
    EXPECT_EQ(at_c[0].seq, 0u);
    EXPECT_EQ(at_c[1].seq, 4u);
    ASSERT_EQ(at_b.size(), 1u);
    EXPECT_EQ(at_b[0].seq, 4u);
    EXPECT_EQ(drain(*a).size(), 0u);
    EXPECT_EQ(stats(sw + ":a").drop_filtered, 4u);
    EXPECT_TRUE(vale::mac_table(sw).value().empty()) << "a custom lookup does not learn";
    ASSERT_TRUE(vale::set_lookup(sw, {}).ok()); // the bridge again
    ASSERT_TRUE(send(a->tx_ring(0), mac(2), mac(1), 0, 9));
    ASSERT_EQ(a->txsync(), 0);
    EXPECT_EQ(drain(*b).size(), 1u);
    EXPECT_EQ(drain(*c).size(), 1u);
}

TEST(ValeAttach, APipeEndJoinsASwitch) {
    const std::string sw = unique_switch();
    const std::string pipe = "pipe:" + sw;
    auto host = vopen(sw + ":host");
    auto att = vale::Attachment::attach(sw + ":wire", pipe + "}0", vopts());
    ASSERT_TRUE(att.ok()) << att.error().message;
    auto far = vopen(pipe + "{0", vopts());
    ASSERT_TRUE(host && far);
    EXPECT_EQ(vale::describe(sw).value().ports[1].attached, pipe + "}0");

    // far end of the pipe -> switch -> host
    ASSERT_TRUE(send(far->tx_ring(0), bcast, mac(5), 0, 11));
    ASSERT_EQ(far->txsync(), 0);
    EXPECT_GT(att.value()->poll(), 0);
    auto at_host = drain(*host);
    ASSERT_EQ(at_host.size(), 1u);
    EXPECT_EQ(at_host[0].seq, 11u);

    // host -> switch (5 is learned behind the wire) -> far end
    ASSERT_TRUE(send(host->tx_ring(0), mac(5), mac(6), 0, 12, 1000));
    ASSERT_EQ(host->txsync(), 0);
    EXPECT_GT(att.value()->poll(), 0);
    auto at_far = drain(*far);
    ASSERT_EQ(at_far.size(), 1u);
    EXPECT_EQ(at_far[0].seq, 12u);
    EXPECT_EQ(at_far[0].bytes.size(), 1000u);
    EXPECT_EQ(att.value()->poll(), 0);

    EXPECT_FALSE(vale::Attachment::attach(sw + ":x", sw + ":host").ok()) << "VALE to VALE needs a pipe";
}


// Frames the far end has no room for wait in the attachment (its owner then
// retries soon instead of sleeping): egress_pending() says so until the far
// end makes room and a poll() moves them on.
TEST(ValeAttach, EgressPendingWhileTheFarEndHasNoRoom) {
    const std::string sw = unique_switch();
    const std::string pipe = "pipe:" + sw;
    auto far = vopen(pipe + "{0", vopts(8, 2048)); // the pipe's rings: 7 free slots
    auto host = vopen(sw + ":host");
    auto att = vale::Attachment::attach(sw + ":wire", pipe + "}0", vopts(64, 2048)); // the switch port: 63
    ASSERT_TRUE(att.ok()) << att.error().message;
    ASSERT_TRUE(far && host);
    EXPECT_FALSE(att.value()->egress_pending());
    for (std::uint32_t i = 0; i < 12; i++) ASSERT_TRUE(send(host->tx_ring(0), bcast, mac(6), 0, i));
    ASSERT_EQ(host->txsync(), 0);
    EXPECT_GT(att.value()->poll(), 0);
    EXPECT_TRUE(att.value()->egress_pending());
    std::size_t got = 0;
    for (int round = 0; round < 8 && got < 12; round++) {
        got += drain(*far).size(); // gives the far end's slots back
        att.value()->poll();
    }
    got += drain(*far).size();
    EXPECT_EQ(got, 12u);
    EXPECT_FALSE(att.value()->egress_pending());
}

// The attached pipe's region was made first, with rings too small for a
// jumbo frame in its 1 KiB buffers: such a frame can never be sent there.
// It is dropped and counted, and the frames behind it still go through
// instead of waiting behind it for good.
TEST(ValeAttach, AFrameTooLargeForTheAttachedRingDoesNotBlockTheRest) {
    const std::string sw = unique_switch();
    const std::string pipe = "pipe:" + sw;
    auto far = vopen(pipe + "{0", vopts(8, 1024)); // 7 free slots of 1 KiB: at most 7 KiB a frame
    auto host = vopen(sw + ":host", vopts(64, 9088));
    auto att = vale::Attachment::attach(sw + ":wire", pipe + "}0", vopts(64, 2048));
    ASSERT_TRUE(att.ok()) << att.error().message;
    ASSERT_TRUE(far && host);
    Port& wire_pipe = att.value()->attached_port();
    ASSERT_EQ(wire_pipe.memory().buf_size(), 1024u);

    send_chain(*host, 9018, 9088, 1); // 9 slots of 1 KiB: never fits
    ASSERT_TRUE(send(host->tx_ring(0), bcast, mac(6), 0, 2, 3000)); // 3 slots: fits
    ASSERT_EQ(host->txsync(), 0);
    EXPECT_GT(att.value()->poll(), 0);
    auto at_far = drain(*far);
    ASSERT_EQ(at_far.size(), 1u);
    EXPECT_EQ(at_far[0].seq, 2u);
    EXPECT_EQ(at_far[0].bytes.size(), 3000u);
    EXPECT_EQ(at_far[0].slots, 3u);
    EXPECT_EQ(wire_pipe.counters(Direction::tx).drops, 1u);

    ASSERT_TRUE(send(host->tx_ring(0), bcast, mac(6), 0, 3, 7 * 1024)); // exactly the whole ring
    ASSERT_EQ(host->txsync(), 0);
    EXPECT_GT(att.value()->poll(), 0);
    at_far = drain(*far);
    ASSERT_EQ(at_far.size(), 1u);
    EXPECT_EQ(at_far[0].seq, 3u);
    EXPECT_EQ(wire_pipe.counters(Direction::tx).drops, 1u);
}

// The pipe hands the attachment's tx slots the buffers of the far end's rx
// slots. A far end that wrote rx slots it did not own (here: every slot's
// buf_idx out of the region) must cost drops, never a bad index handed to
// the attachment nor a write outside the region by its copy.
TEST(ValeAttach, BadBuffersFromTheFarEndAreDroppedNotWrittenTo) {
    const std::string sw = unique_switch();
    const std::string pipe = "pipe:" + sw;
    auto far = vopen(pipe + "{0", vopts(8, 2048));
    auto host = vopen(sw + ":host");
    auto att = vale::Attachment::attach(sw + ":wire", pipe + "}0", vopts(8, 2048));
    ASSERT_TRUE(att.ok()) << att.error().message;
    ASSERT_TRUE(far && host);
    netmap_ring* rx = far->rx_ring(0);
    for (std::uint32_t i = 0; i < rx->num_slots; i++) rx->slot[i].buf_idx = 0x7fffffff;
    Port& wire_pipe = att.value()->attached_port();
    for (std::uint32_t n = 0; n < 20; n++) {
        ASSERT_TRUE(send(host->tx_ring(0), bcast, mac(6), 0, n));
        ASSERT_EQ(host->txsync(), 0);
        (void)att.value()->poll();
    }
    ASSERT_EQ(far->rxsync(), 0); // what arrived; the far end releases nothing
    const std::size_t received = nm_ring_space(rx);
    EXPECT_GT(received, 0u) << "the first frames still had the attachment's own buffers";
    // Caught by the pipe (its swap refuses to hand the bad indices over:
    // drops on the far end's rx ring) or by the attachment's copy.
    const std::uint64_t caught = wire_pipe.counters(Direction::tx).drops + far->counters(Direction::rx).drops;
    EXPECT_GT(caught, 0u);
    // the rest: dropped by the switch (the wire port's rx ring filled) or
    // still queued in the attached tx ring, behind the full far end
    EXPECT_LE(received + wire_pipe.counters(Direction::tx).drops + vale::port_stats(sw + ":wire").value().drop_no_space,
              20u);
}

} // namespace
} // namespace upio::test
