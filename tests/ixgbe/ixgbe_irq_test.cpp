// Interrupt moderation on the model: EITR holds a vector's next interrupt
// back until its interval has passed since the previous one, and delivers
// the causes that arrived meanwhile when it expires.
#include "ixgbe_test_util.hpp"

#include "drivers/ixgbe/ixgbe_regs.hpp"

#include <poll.h>
#include <unistd.h>

#include <chrono>

using namespace upio;
using namespace upio::ixgbe;
using namespace upio::ixgbe::test;
using namespace std::chrono_literals;

namespace {

// An adapter with one queue pair whose vector 0 raises an interrupt for
// every cause (no auto-mask), so what limits interrupts is EITR alone.
struct IrqNic {
    Nic nic;
    int fd = -1;

    IrqNic(ModelConfig cfg, std::uint32_t itr_us) {
        DriverOptions d = fast_opts();
        d.itr_us = itr_us;
        auto n = make_nic(cfg, small_opts(64), d);
        if (!n.ok()) {
            ADD_FAILURE() << n.error().message;
            return;
        }
        nic = std::move(n.value());
        if (!nic.adapter->register_port(true).ok() || !nic.adapter->has_interrupts()) {
            ADD_FAILURE() << "no port or no MSI-X: " << nic.adapter->irq_error();
            return;
        }
        fd = nic.adapter->wait_fds(nic.adapter->kring(Direction::rx, 0))[0];
        nic.model->write32(EIAM_EX[0].offset, 0);
        nic.model->write32(EIMS_EX[0].offset, 1);
    }
    void burst(unsigned n, std::uint32_t seq) {
        for (unsigned i = 0; i < n; i++) {
            Frame f = make_frame(nic.adapter->mac(), seq + i, 60);
            ASSERT_TRUE(nic.model->receive(f.data(), f.size()));
        }
    }
    // eventfd signals since the last call (an eventfd sums its writes)
    std::uint64_t signals() {
        std::uint64_t n = 0;
        return ::read(fd, &n, sizeof n) == sizeof n ? n : 0;
    }
};

} // namespace

TEST(IxgbeIrq, EitrCoalescesABurstIntoOneInterruptPerInterval) {
    ModelConfig cfg;
    cfg.manual_clock = true; // time moves only when the test says so
    IrqNic n(cfg, 0);
    ASSERT_GE(n.fd, 0);
    IxgbeModel& m = *n.nic.model;
    // EITR 0: no moderation, one interrupt per frame
    n.burst(20, 0);
    EXPECT_EQ(n.signals(), 20u);
    // 1000 us: 488 in 2.048 us units (999.4 us), bits 11:3
    n.nic.adapter->set_itr(1000);
    EXPECT_EQ(m.peek(EITR(0).offset) & EITR_INTERVAL_MASK, 488u << EITR_INTERVAL_SHIFT);
    n.burst(1, 50);
    EXPECT_EQ(n.signals(), 0u) << "the vector fired less than an interval ago (the first burst)";
    m.advance_clock(1ms);
    EXPECT_EQ(n.signals(), 1u);
    m.advance_clock(10ms); // quiet for longer than the interval
    n.burst(20, 100);
    EXPECT_EQ(n.signals(), 1u) << "the first frame interrupts at once, the rest wait for the interval";
    m.advance_clock(999us);
    EXPECT_EQ(n.signals(), 0u) << "held back until the interval has passed";
    m.advance_clock(1us);
    EXPECT_EQ(n.signals(), 1u) << "the causes that arrived meanwhile come as one interrupt when it expires";
    m.advance_clock(5ms);
    EXPECT_EQ(n.signals(), 0u) << "nothing else was pending";
    // a vector quiet for longer than its interval interrupts at once
    n.burst(1, 200);
    EXPECT_EQ(n.signals(), 1u);
    EXPECT_EQ(m.interrupts(0), 24u);
    EXPECT_EQ(m.faults(), 0u);
}

TEST(IxgbeIrq, HeldBackInterruptIsDeliveredWhenTheIntervalExpires) {
    IrqNic n(ModelConfig{}, 1000); // the steady clock; the model's timer delivers
    ASSERT_GE(n.fd, 0);
    n.burst(20, 0);
    // the first interrupt at once, then (at least) one more for the frames
    // held back, without any further register access or frame
    std::uint64_t total = n.signals();
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (total < 2 && std::chrono::steady_clock::now() < deadline) {
        pollfd p{n.fd, POLLIN, 0};
        if (::poll(&p, 1, 100) > 0) total += n.signals();
    }
    EXPECT_GE(total, 2u);
    EXPECT_LE(total, 20u);
    EXPECT_EQ(n.nic.model->interrupts(0), total);
}
