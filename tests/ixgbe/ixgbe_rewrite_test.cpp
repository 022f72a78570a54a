// Slots of the 82599's rings rewritten by a second application thread after
// the prologue checked them (tests/common/slot_rewrite.hpp).
#include "ixgbe_test_util.hpp"

#include "../common/slot_rewrite.hpp"

#include "drivers/common/adv_desc.hpp"
#include "drivers/ixgbe/ixgbe_regs.hpp"

#include <cstring>

using namespace upio;
using namespace upio::ixgbe;
using namespace upio::ixgbe::test;

TEST(IxgbeRewrite, SlotsRewrittenAfterThePrologueAreCheckedWhereTheDriverReadsThem) {
    ModelPort f(0x1b, upio::test::rewrite_opts());
    ASSERT_TRUE(f.port);
    const Frame fr = make_frame(f.mac(), 1, 60);
    upio::test::expect_slots_rewritten_after_the_prologue_are_checked(
        *f.port, *f.model, [&] { return f.model->receive(fr.data(), fr.size()); });
}

TEST(IxgbeRewrite, TxSlotsScribbledWhileStreamingNeverLeaveTheRegion) {
    ModelPort f(0x1c, upio::test::rewrite_opts());
    ASSERT_TRUE(f.port);
    f.model->set_wire([](const std::uint8_t*, std::size_t) {});
    upio::test::expect_tx_scribbled_while_streaming_stays_inside(*f.port, *f.model, 20000);
}

// tx four slots at a time (drivers/common/adv_vec.hpp) next to the
// one-at-a-time code: a group with a slot outside the region, or one with
// NS_REPORT, goes one slot at a time; the others four at a time. Every frame
// goes out in order with its own length, the bad slot counts once (sent with
// buffer 0), RS lands where asked and on the batch's last descriptor, and
// every slot's NS_BUF_CHANGED is cleared.
TEST(IxgbeRewrite, TxGroupsOfFourWithABadOrReportedSlotGoOneAtATime) {
    ModelPort f(0x1d, upio::test::rewrite_opts());
    ASSERT_TRUE(f.port);
    Port& p = *f.port;
    Adapter& a = p.adapter();
    netmap_ring* tx = f.tx();
    KRing& tk = a.kring(Direction::tx, 0);
    ASSERT_EQ(tx->head, 0u); // the groups are slots 0-3, 4-7, 8-11
    const std::uint64_t drops = p.counters(Direction::tx).drops;
    const Frame fr = make_frame(f.mac(), 1, 80);
    constexpr std::uint32_t n = 14; // three groups and two slots one at a time
    for (std::uint32_t i = 0; i < n; i++) {
        netmap_slot& s = tx->slot[i];
        std::memcpy(NETMAP_BUF(tx, s.buf_idx), fr.data(), fr.size());
        s.len = std::uint16_t(60 + i);
        s.flags = NS_BUF_CHANGED;
    }
    const std::uint32_t own5 = tx->slot[5].buf_idx;
    tx->slot[5].buf_idx = p.memory().num_bufs(); // just outside
    tx->slot[9].flags |= NS_REPORT;
    tx->head = tx->cur = n;
    tk.rhead = tk.rcur = n;
    ASSERT_EQ(a.txsync(tk, 0), 0);
    EXPECT_EQ(p.counters(Direction::tx).drops - drops, 1u);
    ASSERT_EQ(f.wire.size(), n);
    for (std::uint32_t i = 0; i < n; i++) {
        EXPECT_EQ(f.wire[i].size(), 60 + i) << "frame " << i;
        EXPECT_EQ(tx->slot[i].flags & NS_BUF_CHANGED, 0) << "slot " << i;
    }
    const std::uint64_t base = f.model->peek(TDBAL[0].offset) | std::uint64_t(f.model->peek(TDBAH[0].offset)) << 32;
    auto dd = [&](std::uint32_t i) {
        return (f.model->read_dma64(base + 16 * i + 8) >> 32) & drivers::adv::TXD_STAT_DD;
    };
    EXPECT_TRUE(dd(9));     // NS_REPORT, inside a group
    EXPECT_FALSE(dd(2));    // plain, mid-batch, four at a time
    EXPECT_FALSE(dd(5));    // the bad one, one at a time
    EXPECT_TRUE(dd(n - 1)); // the batch's last
    EXPECT_EQ(f.model->faults(), 0u) << f.model->last_fault();
    tx->slot[5].buf_idx = own5; // the application's own again
}
