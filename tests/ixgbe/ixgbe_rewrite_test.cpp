// Slots of the 82599's rings rewritten by a second application thread after
// the prologue checked them (tests/common/slot_rewrite.hpp).
#include "ixgbe_test_util.hpp"

#include "../common/slot_rewrite.hpp"

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
