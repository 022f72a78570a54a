// Port::wait on a port whose wake-up descriptor stays readable (a socket
// with frames queued in the kernel, a level-triggered interrupt): while the
// application holds every slot of the rx ring, nothing can arrive, so the
// wait sleeps to its timeout instead of waking over and over.
#include <upio/backend.hpp>
#include <upio/netmap_user.h>
#include <upio/port.hpp>

#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>

namespace upio::test {
namespace {

using namespace std::chrono_literals;

// One ring pair whose wait descriptor is an eventfd that is never drained;
// every rxsync hands the next free slot to the application ("a frame was
// waiting"), as long as there is one.
class Backlog final : public Adapter {
public:
    Backlog() : Adapter("tap:backlog0") {}
    ~Backlog() override {
        if (fd_ >= 0) ::close(fd_);
    }
    Status init() {
        MemoryConfig c;
        c.hugepages = HugepagePolicy::never;
        RingConfig rc{1, 1, 16, 16};
        auto m = MemoryRegion::create("backlog", ring_bytes(rc) + 2 * nifp_bytes(2), 100, c);
        if (!m) return std::move(m).error();
        fd_ = eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC); // readable from the start, and for good
        return create_rings(std::move(m.value()), rc);
    }
    int txsync(KRing& k, unsigned) noexcept override {
        k.nr_hwcur.store(k.rhead);
        k.nr_hwtail.store(k.prev(k.rhead));
        return 0;
    }
    int rxsync(KRing& k, unsigned) noexcept override {
        rxsyncs.fetch_add(1, std::memory_order_relaxed);
        k.nr_hwcur.store(k.rhead, std::memory_order_relaxed);
        const std::uint32_t t = k.nr_hwtail.load(std::memory_order_relaxed);
        if (k.next(t) != k.rhead) { // room: one more frame arrives
            k.ring->slot[t].len = 60;
            k.nr_hwtail.store(k.next(t), std::memory_order_release);
        }
        return 0;
    }
    std::vector<int> wait_fds(const KRing&) const override { return {fd_}; }

    std::atomic<std::uint64_t> rxsyncs{0};

private:
    int fd_ = -1;
};

std::shared_ptr<Backlog> g_backlog;
Result<std::shared_ptr<Adapter>> backlog_factory(const PortName&, const PortOptions&) {
    return std::shared_ptr<Adapter>(g_backlog);
}

TEST(Wait, SleepsWhileTheApplicationHoldsTheWholeRxRing) {
    g_backlog = std::make_shared<Backlog>();
    ASSERT_TRUE(g_backlog->init());
    register_port_type("tap", &backlog_factory);
    PortOptions o;
    o.wait_spin = 0us;
    auto opened = Port::open("tap:backlog0", o);
    ASSERT_TRUE(opened) << opened.error().message;
    std::unique_ptr<Port> p = std::move(opened.value());
    std::shared_ptr<Backlog> a = std::move(g_backlog);
    netmap_ring* rx = p->rx_ring(0);

    // frames arrive while there is room; the application reads them all
    // (cur to tail) but releases none (head stays)
    ASSERT_EQ(p->wait(Direction::rx, 1s), 1);
    for (int i = 0; i < 40 && rx->tail != (rx->head + rx->num_slots - 1) % rx->num_slots; i++) {
        rx->cur = rx->tail;
        ASSERT_GE(p->rxsync(), 0);
    }
    ASSERT_EQ(nm_ring_next(rx, rx->tail), rx->head) << "the application holds every slot";
    rx->cur = rx->tail;

    const std::uint64_t before = a->rxsyncs.load();
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(p->wait(Direction::rx, 200ms), 0);
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 190ms);
    // a wait that wakes on the readable descriptor syncs thousands of times
    EXPECT_LT(a->rxsyncs.load() - before, 10u) << "the wait spun on a readable descriptor";

    // once the application releases its slots, frames arrive again at once
    rx->head = rx->cur;
    EXPECT_EQ(p->wait(Direction::rx, 1s), 1);
}

} // namespace
} // namespace upio::test
