// VALE with threads: several senders into one receiver, each frame carrying
// its sender and a sequence number. Paced so the receiver keeps up: nothing
// is lost, reordered or duplicated. Unpaced: every frame is either received,
// in order per sender, or counted as a drop -- exactly.
#include "vale_helpers.hpp"

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

namespace upio::test {
namespace {

std::uint64_t scaled(std::uint64_t n) {
    // UPIO_TEST_SCALE shrinks the counts under slow sanitizers (e.g. 0.1)
    if (const char* s = std::getenv("UPIO_TEST_SCALE"))
        return std::max<std::uint64_t>(1000, std::uint64_t(double(n) * std::atof(s)));
    return n;
}

constexpr std::uint32_t max_senders = 4;
const Mac sink_mac = mac(100);

struct Outcome {
    std::uint64_t received = 0, out_of_order = 0;
    std::uint64_t per_sender[max_senders] = {};
    vale::PortStats sink; // the receiver's counters at the end
    std::uint64_t sender_wakeups = 0; // times a sleeping sender was woken
};

// `paced`: each sender keeps at most its share of the receiver's ring in
// flight, so the ring never overflows.
// `lossless`: the sink asks for back-pressure; senders sleep in wait()
// while their ring is full, and every frame must arrive, in order.
Outcome many_to_one(std::uint32_t nsend, std::uint64_t per_sender, bool paced, std::uint32_t batch,
                    bool lossless = false) {
    const std::string sw = unique_switch();
    const std::uint32_t slots = 256;
    auto sink = vopen(sw + ":sink", vopts(slots));
    if (lossless) {
        EXPECT_TRUE(vale::set_back_pressure(sw + ":sink", true).ok());
    }
    std::vector<std::unique_ptr<Port>> senders;
    PortOptions so = vopts(slots);
    if (lossless) so.wait_spin = std::chrono::microseconds(0); // a full ring sleeps at once: the wake-up path runs
    for (std::uint32_t i = 0; i < nsend; i++) senders.push_back(vopen(sw + ":s" + std::to_string(i), so));
    EXPECT_TRUE(send(sink->tx_ring(0), bcast, sink_mac)); // learned behind sink
    EXPECT_EQ(sink->txsync(), 0);
    for (auto& s : senders) drain(*s);

    std::atomic<std::uint64_t> delivered[max_senders] = {};
    std::atomic<std::uint32_t> running{nsend};
    std::atomic<bool> give_up{false}; // the receiver saw no progress for too long
    const std::uint64_t window = (slots - 1) / nsend;
    std::vector<std::jthread> threads;
    for (std::uint32_t id = 0; id < nsend; id++) {
        threads.emplace_back([&, id] {
            Port& p = *senders[id];
            netmap_ring* tx = p.tx_ring(0);
            for (std::uint64_t seq = 0; seq < per_sender;) {
                std::uint32_t n = 0;
                while (n < batch && seq < per_sender) {
                    if (paced && seq - delivered[id].load(std::memory_order_acquire) >= window) break;
                    if (give_up.load(std::memory_order_relaxed)) return;
                    if (!send(tx, sink_mac, mac(std::uint8_t(id + 1)), id, seq, 60 + std::uint32_t(seq % 64)))
                        break;
                    seq++;
                    n++;
                }
                if (p.txsync() != 0) {
                    ADD_FAILURE() << p.last_error();
                    break;
                }
                if (n == 0 && lossless) {
                    if (p.wait(Direction::tx, std::chrono::milliseconds(200)) < 0) {
                        ADD_FAILURE() << p.last_error();
                        break;
                    }
                } else if (n == 0) {
                    std::this_thread::yield();
                }
            }
            // Back-pressure: frames still queued in the ring go out as the
            // receiver makes room; only then is this sender done.
            while (lossless && nm_tx_pending(tx) && !give_up.load(std::memory_order_relaxed)) {
                if (p.wait(Direction::tx, std::chrono::milliseconds(200)) < 0) {
                    ADD_FAILURE() << p.last_error();
                    break;
                }
            }
            running.fetch_sub(1, std::memory_order_release);
        });
    }
    auto publish = [&](const std::uint64_t* next) {
        for (std::uint32_t id = 0; id < nsend; id++) delivered[id].store(next[id], std::memory_order_release);
    };

    Outcome res;
    std::uint64_t next[max_senders] = {};
    netmap_ring* rx = sink->rx_ring(0);
    auto last_progress = std::chrono::steady_clock::now();
    for (;;) {
        const bool done = running.load(std::memory_order_acquire) == 0; // before the sync: nothing after it
        int rc = sink->wait(Direction::rx, std::chrono::milliseconds(20));
        if (rc < 0) {
            ADD_FAILURE() << sink->last_error();
            break;
        }
        std::uint32_t got = 0;
        while (!nm_ring_empty(rx)) {
            const netmap_slot& s = rx->slot[rx->cur];
            const char* b = NETMAP_BUF(rx, s.buf_idx);
            std::uint32_t id;
            std::uint64_t seq;
            std::memcpy(&id, b + 14, 4);
            std::memcpy(&seq, b + 18, 8);
            if (id >= nsend || seq < next[id] || s.len != 60 + seq % 64 || ((paced || lossless) && seq != next[id])) {
                res.out_of_order++;
            } else {
                next[id] = seq + 1;
                res.per_sender[id]++;
            }
            res.received++;
            got++;
            rx->head = rx->cur = nm_ring_next(rx, rx->cur);
        }
        if (got) {
            // Senders may count a frame as gone only once its slot is back
            // in the switch's hands.
            EXPECT_EQ(sink->rxsync(), 0);
            publish(next);
            last_progress = std::chrono::steady_clock::now();
        } else if (std::chrono::steady_clock::now() - last_progress > std::chrono::seconds(20)) {
            ADD_FAILURE() << "no frame for 20 s; received " << res.received;
            give_up = true;
            break;
        }
        if (!paced && res.received % 4096 < got) std::this_thread::sleep_for(std::chrono::microseconds(200));
        if (done && got == 0) break;
    }
    threads.clear();
    EXPECT_EQ(sink->rxsync(), 0);
    res.sink = stats(sw + ":sink");
    for (auto& p : senders) res.sender_wakeups += p->counters(Direction::tx).wakeups;
    return res;
}

TEST(ValeThreads, ThreeSendersOneReceiverNoLossWhenPaced) {
    const std::uint64_t per = scaled(200000);
    Outcome r = many_to_one(3, per, /*paced=*/true, 32);
    EXPECT_EQ(r.out_of_order, 0u);
    EXPECT_EQ(r.received, 3 * per);
    EXPECT_EQ(r.sink.drop_no_space, 0u);
    for (int i = 0; i < 3; i++) EXPECT_EQ(r.per_sender[i], per) << "sender " << i;
}

TEST(ValeThreads, TwoSendersOneReceiverPacedBatchOne) {
    const std::uint64_t per = scaled(50000);
    Outcome r = many_to_one(2, per, /*paced=*/true, 1);
    EXPECT_EQ(r.out_of_order, 0u);
    EXPECT_EQ(r.received, 2 * per);
}

TEST(ValeThreads, OverloadedReceiverDropsAreCountedExactly) {
    const std::uint64_t per = scaled(200000);
    Outcome r = many_to_one(3, per, /*paced=*/false, 256);
    EXPECT_EQ(r.out_of_order, 0u) << "per sender, frames arrive in order even with gaps";
    std::uint64_t sum = 0;
    for (int i = 0; i < 3; i++) sum += r.per_sender[i];
    EXPECT_EQ(sum, r.received);
    EXPECT_EQ(r.sink.rx_packets, r.received);
    EXPECT_EQ(r.received + r.sink.drop_no_space, 3 * per) << "every frame is received or counted as a drop";
    EXPECT_GT(r.sink.drop_no_space, 0u) << "the receiver was expected not to keep up";
}

// Back-pressure: two unpaced senders into a receiver that falls behind
// (it pauses now and then): nothing is lost, duplicated or reordered, and
// senders that slept on a full ring were woken by the receiver.
TEST(ValeThreads, BackPressureTwoSendersOneReceiverLoseNothing) {
    const std::uint64_t per = scaled(200000);
    Outcome r = many_to_one(2, per, /*paced=*/false, 256, /*lossless=*/true);
    EXPECT_EQ(r.out_of_order, 0u);
    EXPECT_EQ(r.received, 2 * per);
    for (int i = 0; i < 2; i++) EXPECT_EQ(r.per_sender[i], per) << "sender " << i;
    EXPECT_EQ(r.sink.drop_no_space, 0u);
    EXPECT_EQ(r.sink.rx_packets, 2 * per);
    EXPECT_GT(r.sender_wakeups, 0u) << "no sender slept on a full ring and was woken by the receiver";
}

// Ports come and go and the lookup changes while senders flood.
TEST(ValeThreads, MembershipChangesUnderTraffic) {
    const std::string sw = unique_switch();
    auto a = vopen(sw + ":a");
    auto b = vopen(sw + ":b");
    ASSERT_TRUE(a && b);
    std::atomic<bool> stop{false};
    std::jthread sender([&] {
        netmap_ring* tx = a->tx_ring(0);
        std::uint64_t seq = 0;
        while (!stop.load(std::memory_order_relaxed)) {
            while (send(tx, bcast, mac(1), 0, seq++)) {
            }
            ASSERT_EQ(a->txsync(), 0);
        }
    });
    std::jthread receiver([&] {
        while (!stop.load(std::memory_order_relaxed)) drain(*b);
    });
    const int rounds = 60;
    for (int i = 0; i < rounds; i++) {
        auto c = vopen(sw + ":c" + std::to_string(i % 3), vopts(32));
        if (i % 10 == 0)
            { ASSERT_TRUE(vale::set_lookup(sw, i % 20 ? vale::Lookup{} : [](const vale::FrameInfo&) -> std::uint32_t {
                return vale::broadcast;
            }).ok()); }
        drain(*c);
        auto d = vale::describe(sw);
        ASSERT_TRUE(d.ok());
        EXPECT_GE(d.value().ports.size(), 3u);
    }
    stop = true;
}

// Fails the test binary (which cannot otherwise report a deadlock) when
// not disarmed within `limit`.
class Watchdog {
public:
    Watchdog(const char* what, std::chrono::seconds limit)
        : t_([this, what, limit] {
              std::unique_lock lk(mu_);
              if (!cv_.wait_for(lk, limit, [this] { return done_; })) {
                  std::fprintf(stderr, "watchdog: %s did not finish within %lld s (a deadlock)\n", what,
                               static_cast<long long>(limit.count()));
                  std::_Exit(3);
              }
          }) {}
    ~Watchdog() {
        {
            std::lock_guard lk(mu_);
            done_ = true;
        }
        cv_.notify_all();
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    bool done_ = false;
    std::jthread t_;
};

// A port closed while another thread polls its counters: the poller's
// reference may be the last one, and the port must then be destroyed
// without the poller holding the switch registry's lock.
TEST(ValeThreads, PortClosedWhileItsStatsArePolled) {
    Watchdog dog("closing ports polled by vale::port_stats", std::chrono::seconds(120));
    const std::string sw = unique_switch();
    const std::string name = sw + ":p";
    auto keep = vopen(sw + ":keep", vopts(8)); // keeps the switch
    ASSERT_TRUE(keep);
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> polls{0}, found{0};
    std::vector<std::jthread> pollers;
    for (int n = 0; n < 2; n++)
        pollers.emplace_back([&] {
            while (!stop.load(std::memory_order_relaxed)) {
                if (vale::port_stats(name).ok()) found.fetch_add(1, std::memory_order_relaxed);
                (void)vale::port_index(name);
                polls.fetch_add(1, std::memory_order_relaxed);
            }
        });
    const std::uint64_t rounds = scaled(1000);
    for (std::uint64_t i = 0; i < rounds; i++) {
        auto p = vopen(name, vopts(8));
        ASSERT_TRUE(p);
        // Wait until a poller has seen this port (bounded: a poller may lose its CPU).
        const std::uint64_t f = found.load();
        for (int spin = 0; spin < 1000 && found.load() == f; spin++) std::this_thread::yield();
    }
    stop = true;
    pollers.clear();
    EXPECT_GT(found.load(), 0u);
    EXPECT_FALSE(vale::port_stats(name).ok()) << "the closed port is gone";
}

} // namespace
} // namespace upio::test
