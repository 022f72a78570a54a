// upio/models.hpp through the public headers only: "e1000:" and "ixgbe:"
// names open modelled NICs wired back to back, a wire carries frames to a
// upio port, and disable() gives the names back to VFIO.
#include <upio/chain.hpp>
#include <upio/models.hpp>
#include <upio/netmap_user.h>
#include <upio/port.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <vector>

namespace {

using namespace std::chrono_literals;
using upio::Direction;
using upio::models::Family;

upio::PortOptions opts() {
    upio::PortOptions o;
    o.tx_slots = o.rx_slots = 256;
    o.memory.hugepages = upio::HugepagePolicy::never;
    return o;
}

// A broadcast frame of `len` bytes whose payload starts with `seq`.
std::vector<std::uint8_t> frame(std::uint32_t seq, std::size_t len) {
    std::vector<std::uint8_t> f(len, 0);
    std::memset(f.data(), 0xff, 6);
    const std::uint8_t src[6] = {0x02, 0, 0, 0, 0, 0x01};
    std::memcpy(f.data() + 6, src, 6);
    f[12] = 0x88;
    f[13] = 0xb5;
    std::memcpy(f.data() + 14, &seq, 4);
    for (std::size_t i = 18; i < len; i++) f[i] = std::uint8_t(seq + i);
    return f;
}

// Sends `n` frames on `tx` and collects what `rx` receives within a bound.
std::vector<std::vector<std::uint8_t>> send_and_collect(upio::Port& tx, upio::Port& rx, std::uint32_t n,
                                                         std::size_t len) {
    netmap_ring* t = tx.tx_ring(tx.first_ring(Direction::tx));
    for (std::uint32_t i = 0; i < n; i++) {
        const auto f = frame(i, len);
        while (nm_ring_space(t) < upio::chain_slots(len, t->nr_buf_size)) EXPECT_GE(tx.wait(Direction::tx, 100ms), 0);
        t->head = t->cur = upio::nm_put_chain(t, t->cur, f.data(), f.size());
        EXPECT_EQ(tx.txsync(), 0) << tx.last_error();
    }
    std::vector<std::vector<std::uint8_t>> got;
    netmap_ring* r = rx.rx_ring(rx.first_ring(Direction::rx));
    const auto until = std::chrono::steady_clock::now() + 20s;
    while (got.size() < n && std::chrono::steady_clock::now() < until) {
        if (rx.wait(Direction::rx, 100ms) <= 0) continue;
        upio::ChainReader frames(r);
        std::uint32_t first, nslots;
        std::size_t flen;
        while (frames.next(first, nslots, flen)) {
            std::vector<std::uint8_t> f(flen);
            std::uint32_t next;
            f.resize(upio::nm_get_chain(r, first, f.data(), f.size(), next));
            got.push_back(std::move(f));
        }
        frames.release();
    }
    return got;
}

TEST(Models, FunctionsOfOneDeviceAreWiredBackToBack) {
    for (Family fam : {Family::e1000, Family::ixgbe}) {
        const std::string type = upio::models::family_name(fam);
        ASSERT_TRUE(upio::models::enable(fam).ok());
        auto a = upio::Port::open(type + ":0000:07:00.0", opts());
        ASSERT_TRUE(a.ok()) << a.error().message;
        auto b = upio::Port::open(type + ":0000:07:00.1", opts());
        ASSERT_TRUE(b.ok()) << b.error().message;
        const auto got = send_and_collect(*a.value(), *b.value(), 50, 1514);
        ASSERT_EQ(got.size(), 50u) << type;
        for (std::uint32_t i = 0; i < got.size(); i++) EXPECT_EQ(got[i], frame(i, 1514)) << type << " frame " << i;
        a.value().reset();
        b.value().reset();
        upio::models::disable(fam);
        // the names are VFIO's again: no device bound here
        auto c = upio::Port::open(type + ":0000:07:00.0", opts());
        EXPECT_FALSE(c.ok()) << type;
    }
}

TEST(Models, AWireCarriesFramesToAUpioPortAndBack) {
    upio::models::Options mo;
    mo.wire = "vale30:nic";
    mo.wire_options = opts();
    mo.wire_options.memory.buf_size = 1024; // frames cross the wire's port as chains
    ASSERT_TRUE(upio::models::enable(Family::ixgbe, mo).ok());
    auto nic = upio::Port::open("ixgbe:0000:08:00.0", opts());
    ASSERT_TRUE(nic.ok()) << nic.error().message;
    auto peer = upio::Port::open("vale30:peer", opts());
    ASSERT_TRUE(peer.ok()) << peer.error().message;
    // 1514-byte frames: chains of two 1024-byte buffers on the wire's port,
    // one 2048-byte buffer on the peer's
    auto out = send_and_collect(*nic.value(), *peer.value(), 20, 1514);
    ASSERT_EQ(out.size(), 20u);
    for (std::uint32_t i = 0; i < out.size(); i++) EXPECT_EQ(out[i], frame(i, 1514)) << i;
    auto in = send_and_collect(*peer.value(), *nic.value(), 20, 1514);
    ASSERT_EQ(in.size(), 20u);
    for (std::uint32_t i = 0; i < in.size(); i++) EXPECT_EQ(in[i], frame(i, 1514)) << i;
    upio::models::stop_wires();
    const auto c = upio::models::wire_counters();
    ASSERT_EQ(c.size(), 1u);
    EXPECT_EQ(c[0].port, "vale30:nic");
    EXPECT_EQ(c[0].to_port, 20u);
    EXPECT_EQ(c[0].from_port, 20u);
    EXPECT_EQ(c[0].dropped + c[0].refused, 0u);
    upio::models::close_wires();
    EXPECT_TRUE(upio::models::wire_counters().empty());
    // a wire port with a ring suffix is refused, with the reason
    upio::models::Options bad;
    bad.wire = "vale30:x,ring=0";
    auto st = upio::models::enable(Family::ixgbe, bad);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().message.find("without a ring or direction suffix"), std::string::npos) << st.error().message;
    upio::models::disable(Family::ixgbe);
}

} // namespace
