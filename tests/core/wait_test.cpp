// Port::wait on a port whose wake-up descriptors stay readable (a socket
// with frames queued in the kernel, a level-triggered interrupt): while the
// application holds every slot of an rx ring, nothing can arrive there, and
// a wait to send does not care what waits to be received, so such a
// descriptor must not end the wait, or the wait would spin.
#include <upio/backend/adapter.hpp>
#include <upio/backend/port_type.hpp>
#include <upio/netmap_user.h>
#include <upio/port.hpp>

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <vector>

namespace upio::test {
namespace {

using namespace std::chrono_literals;

// Ring pairs whose wait descriptors are eventfds that are never drained.
// Every rxsync of a ring whose descriptor is readable hands the next free
// slot to the application ("a frame was waiting"), as long as there is one.
// A tx ring's descriptor becomes readable only when it has room again,
// which these tests never give it: a sender waits for a wire that is stuck.
class Backlog final : public Adapter {
public:
    Backlog() : Adapter("tap:backlog0") {}
    ~Backlog() override {
        for (int fd : rx_fds_) ::close(fd);
        for (int fd : tx_fds_) ::close(fd);
    }
    // `backlogged`: which rx rings have frames waiting (readable descriptor)
    Status init(std::vector<bool> backlogged = {true}) {
        const auto n = std::uint32_t(backlogged.size());
        MemoryConfig c;
        c.hugepages = HugepagePolicy::never;
        RingConfig rc{n, n, 16, 16};
        auto m = MemoryRegion::create("backlog", ring_bytes(rc) + 2 * nifp_bytes(2 * n), 100 * n, c);
        if (!m) return std::move(m).error();
        for (bool b : backlogged) {
            rx_fds_.push_back(eventfd(b ? 1 : 0, EFD_NONBLOCK | EFD_CLOEXEC)); // readable for good, or never
            tx_fds_.push_back(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
        }
        backlogged_ = std::move(backlogged);
        return create_rings(std::move(m.value()), rc);
    }
    int txsync(KRing& k, unsigned) noexcept override {
        txsyncs.fetch_add(1, std::memory_order_relaxed);
        if (tx_stuck) return 0; // nothing leaves: tail stays where it is
        k.nr_hwcur.store(k.rhead);
        k.nr_hwtail.store(k.prev(k.rhead));
        return 0;
    }
    int rxsync(KRing& k, unsigned) noexcept override {
        rxsyncs.fetch_add(1, std::memory_order_relaxed);
        k.nr_hwcur.store(k.rhead, std::memory_order_relaxed);
        const std::uint32_t t = k.nr_hwtail.load(std::memory_order_relaxed);
        if (backlogged_[k.ring_id] && k.next(t) != k.rhead) { // room: one more frame arrives
            k.ring->slot[t].len = 60;
            k.nr_hwtail.store(k.next(t), std::memory_order_release);
        }
        return 0;
    }
    std::vector<int> wait_fds(const KRing& k) const override {
        return {k.dir == Direction::rx ? rx_fds_[k.ring_id] : tx_fds_[k.ring_id]};
    }

    std::atomic<std::uint64_t> rxsyncs{0}, txsyncs{0};
    bool tx_stuck = false;

private:
    std::vector<bool> backlogged_;
    std::vector<int> rx_fds_, tx_fds_;
};

std::shared_ptr<Backlog> g_backlog;
Result<std::shared_ptr<Adapter>> backlog_factory(const PortName&, const PortOptions&) {
    return std::shared_ptr<Adapter>(g_backlog);
}

std::unique_ptr<Port> open_backlog(std::shared_ptr<Backlog>& a, std::vector<bool> backlogged = {true}) {
    g_backlog = std::make_shared<Backlog>();
    EXPECT_TRUE(g_backlog->init(std::move(backlogged)));
    register_port_type("tap", &backlog_factory);
    PortOptions o;
    o.wait_spin = 0us;
    auto opened = Port::open("tap:backlog0", o);
    EXPECT_TRUE(opened) << opened.error().message;
    a = std::move(g_backlog);
    return opened ? std::move(opened.value()) : nullptr;
}

// The application reads every frame (cur to tail) of rx ring `i` but
// releases none (head stays), until it holds every slot.
void hold_every_slot(Port& p, std::uint32_t i) {
    netmap_ring* rx = p.rx_ring(i);
    for (int n = 0; n < 40 && rx->tail != (rx->head + rx->num_slots - 1) % rx->num_slots; n++) {
        rx->cur = rx->tail;
        ASSERT_GE(p.rxsync(), 0);
    }
    ASSERT_EQ(nm_ring_next(rx, rx->tail), rx->head) << "the application holds every slot";
    rx->cur = rx->tail;
}

// Waits `d` for 200 ms on a port where nothing can move: it must time out
// having slept, not woken again and again on a readable descriptor (which
// syncs thousands of times).
void expect_sleeps(Port& p, Direction d, const std::atomic<std::uint64_t>& syncs) {
    const std::uint64_t before = syncs.load();
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(p.wait(d, 200ms), 0);
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 190ms);
    EXPECT_LT(syncs.load() - before, 10u) << "the wait spun on a readable descriptor";
}

TEST(Wait, SleepsWhileTheApplicationHoldsTheWholeRxRing) {
    std::shared_ptr<Backlog> a;
    std::unique_ptr<Port> p = open_backlog(a);
    ASSERT_TRUE(p);
    ASSERT_EQ(p->wait(Direction::rx, 1s), 1); // frames arrive while there is room
    hold_every_slot(*p, 0);
    expect_sleeps(*p, Direction::rx, a->rxsyncs);
    // once the application releases its slots, frames arrive again at once
    netmap_ring* rx = p->rx_ring(0);
    rx->head = rx->cur;
    EXPECT_EQ(p->wait(Direction::rx, 1s), 1);
}

TEST(Wait, AHeldRingDoesNotWakeAWaitForTheOthers) {
    // ring 0 has frames queued and the application holds all of its slots;
    // ring 1 is idle. Waiting for ring 1 sleeps.
    std::shared_ptr<Backlog> a;
    std::unique_ptr<Port> p = open_backlog(a, {true, false});
    ASSERT_TRUE(p);
    ASSERT_EQ(p->wait(Direction::rx, 1s), 1);
    hold_every_slot(*p, 0);
    expect_sleeps(*p, Direction::rx, a->rxsyncs);
    // released, ring 0 delivers again; a wait takes it at once
    netmap_ring* rx = p->rx_ring(0);
    rx->head = rx->cur;
    EXPECT_EQ(p->wait(Direction::rx, 1s), 1);
    EXPECT_NE(rx->cur, rx->tail);
    // the public protocol too: arm() leaves the held ring's descriptor out
    hold_every_slot(*p, 0);
    ASSERT_TRUE(p->arm(Direction::rx));
    pollfd pfd{p->fd(), POLLIN, 0};
    EXPECT_EQ(poll(&pfd, 1, 50), 0) << "port.fd() is readable although nothing can arrive";
    p->disarm(Direction::rx);
}

TEST(Wait, FramesQueuedForReceiveDoNotWakeAWaitToSend) {
    // a sender whose wire is stuck waits for room; frames keep waiting on
    // the rx side that this thread does not read
    std::shared_ptr<Backlog> a;
    std::unique_ptr<Port> p = open_backlog(a);
    ASSERT_TRUE(p);
    a->tx_stuck = true;
    netmap_ring* tx = p->tx_ring(0);
    while (nm_ring_space(tx)) tx->head = tx->cur = nm_ring_next(tx, tx->cur); // fill the ring
    ASSERT_GE(p->txsync(), 0);
    ASSERT_EQ(nm_ring_space(tx), 0u);
    expect_sleeps(*p, Direction::tx, a->txsyncs);
    // and a wait to receive still wakes on them at once
    EXPECT_EQ(p->wait(Direction::rx, 1s), 1);
}

} // namespace
} // namespace upio::test
