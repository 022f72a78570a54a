// The 82599 model itself: a fault handler that calls back into the model, the
// default handler's abort, and models wired back to back going away in
// either order while frames are on the wire (tiers: model and threads, so
// the ThreadSanitizer run covers it).
#include "ixgbe_test_util.hpp"

#include "drivers/ixgbe/ixgbe_regs.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <vector>

using namespace upio;
using namespace upio::ixgbe;
using namespace upio::ixgbe::test;
using namespace upio::test;

// The handler runs after the model's lock is released: it may read the
// model's fault log and registers, unplug the cable, and fault again itself
// (the nested fault reaches the handler too, before the access returns).
TEST(IxgbeModelFaults, HandlerMayCallBackIntoTheModel) {
    Watchdog dog(std::chrono::seconds(30));
    IxgbeModel m;
    std::vector<std::string> seen;
    std::vector<std::size_t> counts;
    m.set_fault_handler([&](const std::string& f) {
        seen.push_back(f);
        counts.push_back(m.faults());
        EXPECT_EQ(m.last_fault(), f);
        (void)m.peek(CTRL.offset);
        if (seen.size() == 1) {
            (void)m.read32(0x20000); // outside BAR0: a second fault, reported from here
            m.set_cable(false);
        }
    });
    m.write32(0x20004, 1);
    ASSERT_EQ(seen.size(), 2u);
    expect_has(seen[0], "write of 0x1 to BAR0 offset 0x20004");
    expect_has(seen[1], "read of BAR0 offset 0x20000");
    EXPECT_EQ(counts, (std::vector<std::size_t>{1, 2}));
    EXPECT_EQ(m.faults(), 2u);
    EXPECT_EQ(m.last_fault(), seen[1]);
}

// Without a handler a fault still ends the process at the access.
TEST(IxgbeModelFaults, DefaultHandlerAbortsAtTheAccess) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    IxgbeModel m;
    EXPECT_DEATH(m.write32(0x20004, 1), "ixgbe model fault: .*write of 0x1 to BAR0 offset 0x20004");
}

// One model of a connected pair is destroyed while the other keeps
// transmitting into it, with either of the two as connect()'s first
// argument: the survivor's frames vanish and nothing touches the dead model.
TEST(IxgbeModelTeardown, PeerDestroyedWhileTheOtherTransmits) {
    Watchdog dog(std::chrono::seconds(60));
    for (bool doomed_first : {true, false}) {
        SCOPED_TRACE(doomed_first);
        const std::uint8_t dev = doomed_first ? 0x10 : 0x11;
        ModelPort live(dev);
        ASSERT_TRUE(live.port);
        DoomedModel<IxgbeModel> doomed(ModelConfig{.mac = model_mac(0x2f)});
        if (doomed_first)
            IxgbeModel::connect(*doomed, *live.model);
        else
            IxgbeModel::connect(*live.model, *doomed);
        Sender s(*live.port, [](std::uint32_t seq) { return make_frame(model_mac(0x2f), seq, 60); });
        ASSERT_TRUE(s.more(20));
        doomed.destroy();
        ASSERT_TRUE(s.more(20)); // still transmitting, into nothing
        s.stop();
        EXPECT_FALSE(s.failed());
        EXPECT_EQ(live.model->faults(), 0u);
        EXPECT_GT(live.adapter->stats().tx_packets, 0u);
    }
}

// Two driven models back to back, each with a sender; each thread closes its
// own port (adapter and model) while the other may still be sending into
// it, so the two models go away at about the same time.
TEST(IxgbeModelTeardown, ConnectedModelsClosedFromTwoThreads) {
    Watchdog dog(std::chrono::seconds(60));
    for (std::uint8_t round = 0; round < 4; round++) {
        const std::uint8_t da = std::uint8_t(0x10 + 2 * round), db = std::uint8_t(da + 1);
        use_model(da);
        use_model(db);
        auto pa = Port::open("ixgbe:" + pci(da).str(), small_opts(64));
        auto pb = Port::open("ixgbe:" + pci(db).str(), small_opts(64));
        ASSERT_TRUE(pa.ok() && pb.ok());
        IxgbeModel::connect(*model_at(da), *model_at(db));
        std::unique_ptr<Port> ports[2] = {std::move(pa.value()), std::move(pb.value())};
        const Mac dst[2] = {model_mac(db), model_mac(da)};
        ASSERT_TRUE(close_while_both_send(ports, [&](int i, std::uint32_t seq) { return make_frame(dst[i], seq, 60); }))
            << "round " << int(round);
    }
}
