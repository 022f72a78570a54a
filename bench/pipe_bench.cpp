// Pipe throughput between two threads (pinned to CPUs 0 and 1 when present):
// frames of 60 and 1514 bytes, batch 1..512. Reports packets per second
// ("items_per_second") and the cost per packet in ns.
//
// The sender fills slot lengths only (like netmap's pkt-gen after its first
// pass: buffers are not rewritten); the receiver reads each slot and returns
// it. This measures the pipe itself: the 16-byte slot hand-off.
#include "pin.hpp"

#include <upio/netmap_user.h>
#include <upio/port.hpp>

#include <benchmark/benchmark.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

namespace {

using bench::pin;

void BM_PipeTwoThreads(benchmark::State& state) {
    const auto batch = std::uint32_t(state.range(0));
    const auto len = std::uint16_t(state.range(1));
    static int instance = 0;
    const std::string name = "bench" + std::to_string(instance++);
    upio::PortOptions o;
    o.tx_slots = o.rx_slots = 1024;
    auto a = upio::Port::open("pipe:" + name + "{0", o);
    auto b = upio::Port::open("pipe:" + name + "}0", o);
    if (!a || !b) {
        state.SkipWithError("cannot open the pipe");
        return;
    }
    std::atomic<bool> stop{false};
    std::uint64_t received = 0;
    std::thread rxt([&] {
        pin(1);
        upio::Port& p = *b.value();
        netmap_ring* rx = p.rx_ring(0);
        std::uint64_t n = 0, bytes = 0;
        while (!stop.load(std::memory_order_relaxed)) {
            p.rxsync();
            std::uint32_t cur = rx->cur, tail = rx->tail;
            while (cur != tail) {
                bytes += rx->slot[cur].len;
                cur = nm_ring_next(rx, cur);
                n++;
            }
            rx->head = rx->cur = cur;
        }
        benchmark::DoNotOptimize(bytes);
        received = n;
    });
    pin(0);
    upio::Port& p = *a.value();
    netmap_ring* tx = p.tx_ring(0);
    std::uint64_t sent = 0;
    for (auto _ : state) {
        // one iteration: push 64 Ki packets in batches of `batch`
        std::uint64_t goal = sent + 65536;
        while (sent < goal) {
            std::uint32_t space = nm_ring_space(tx);
            if (space == 0) {
                p.txsync();
                continue;
            }
            std::uint32_t n = space < batch ? space : batch;
            std::uint32_t cur = tx->cur;
            for (std::uint32_t k = 0; k < n; k++) {
                tx->slot[cur].len = len;
                cur = nm_ring_next(tx, cur);
            }
            tx->head = tx->cur = cur;
            p.txsync();
            sent += n;
        }
    }
    stop.store(true);
    rxt.join();
    state.SetItemsProcessed(std::int64_t(sent));
    state.SetBytesProcessed(std::int64_t(sent) * len);
    state.counters["ns_per_pkt"] = benchmark::Counter(double(sent), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
    state.counters["rx_lag"] = double(sent - received);
}

BENCHMARK(BM_PipeTwoThreads)
    ->ArgsProduct({{1, 8, 32, 256, 512}, {60, 1514}})
    ->ArgNames({"batch", "len"})
    ->UseRealTime()
    ->MinTime(0.5);

// Both ends on one thread, alternating: the per-packet cost of the code
// itself without cache-line transfers between cores (run it under callgrind
// for instructions per packet).
void BM_PipeOneThread(benchmark::State& state) {
    const auto batch = std::uint32_t(state.range(0));
    static int instance = 0;
    const std::string name = "bench1t" + std::to_string(instance++);
    upio::PortOptions o;
    auto a = upio::Port::open("pipe:" + name + "{0", o);
    auto b = upio::Port::open("pipe:" + name + "}0", o);
    if (!a || !b) {
        state.SkipWithError("cannot open the pipe");
        return;
    }
    netmap_ring* tx = a.value()->tx_ring(0);
    netmap_ring* rx = b.value()->rx_ring(0);
    std::uint64_t n = 0, bytes = 0;
    for (auto _ : state) {
        std::uint32_t cur = tx->cur;
        for (std::uint32_t k = 0; k < batch; k++) {
            tx->slot[cur].len = 60;
            cur = nm_ring_next(tx, cur);
        }
        tx->head = tx->cur = cur;
        a.value()->txsync();
        b.value()->rxsync();
        cur = rx->cur;
        for (std::uint32_t t = rx->tail; cur != t; cur = nm_ring_next(rx, cur)) bytes += rx->slot[cur].len;
        rx->head = rx->cur = cur;
        n += batch;
    }
    benchmark::DoNotOptimize(bytes);
    state.SetItemsProcessed(std::int64_t(n));
}

// The reference: a bare single-producer/single-consumer ring of 16-byte
// descriptors between the same two threads, batched like the pipe. The pipe
// aims for this cost.
void BM_BareSpsc(benchmark::State& state) {
    const auto batch = std::uint32_t(state.range(0));
    constexpr std::uint32_t size = 1024, mask = size - 1;
    struct Desc {
        std::uint64_t a, b;
    };
    static Desc ring[size];
    alignas(64) static std::atomic<std::uint32_t> head{0};
    alignas(64) static std::atomic<std::uint32_t> tail{0};
    head = tail = 0;
    std::atomic<bool> stop{false};
    std::thread rxt([&] {
        pin(1);
        std::uint32_t t = 0;
        std::uint64_t sum = 0;
        while (!stop.load(std::memory_order_relaxed)) {
            std::uint32_t h = head.load(std::memory_order_acquire);
            while (t != h) sum += ring[t++ & mask].b;
            tail.store(t, std::memory_order_release);
        }
        benchmark::DoNotOptimize(sum);
    });
    pin(0);
    std::uint32_t h = 0, cached_tail = 0;
    std::uint64_t sent = 0;
    for (auto _ : state) {
        for (std::uint64_t goal = sent + 65536; sent < goal;) {
            if (h - cached_tail + batch > size - 1) {
                cached_tail = tail.load(std::memory_order_acquire);
                continue;
            }
            for (std::uint32_t k = 0; k < batch; k++, h++) ring[h & mask] = Desc{h, 60};
            head.store(h, std::memory_order_release);
            sent += batch;
        }
    }
    stop.store(true);
    rxt.join();
    state.SetItemsProcessed(std::int64_t(sent));
}

BENCHMARK(BM_BareSpsc)->Arg(1)->Arg(32)->Arg(256)->ArgName("batch")->UseRealTime()->MinTime(0.5);

BENCHMARK(BM_PipeOneThread)->Arg(1)->Arg(32)->Arg(256)->Arg(512)->ArgName("batch");

// The machine's floor for a blocking round trip: two threads that sleep in
// read() on an eventfd each and wake each other by write(), with no upio in
// between; on CPUs 0 and 1 (cross:1) or both on CPU 0 (cross:0). A port
// that sleeps at once (--spin 0) cannot answer faster than this.
void BM_EventfdPingPong(benchmark::State& state) {
    const bool cross = state.range(0) != 0;
    const int ping = eventfd(0, EFD_CLOEXEC), pong = eventfd(0, EFD_CLOEXEC);
    if (ping < 0 || pong < 0) {
        state.SkipWithError("eventfd failed");
        return;
    }
    std::atomic<bool> stop{false};
    std::thread peer([&] {
        pin(cross ? 1 : 0);
        std::uint64_t v;
        while (::read(ping, &v, sizeof v) == sizeof v && !stop.load(std::memory_order_relaxed)) {
            v = 1;
            if (::write(pong, &v, sizeof v) != sizeof v) break;
        }
    });
    pin(0);
    std::uint64_t v = 1;
    for (auto _ : state) {
        v = 1;
        if (::write(ping, &v, sizeof v) != sizeof v || ::read(pong, &v, sizeof v) != sizeof v) {
            state.SkipWithError("eventfd read/write failed");
            break;
        }
    }
    stop.store(true);
    v = 1;
    [[maybe_unused]] auto r = ::write(ping, &v, sizeof v);
    peer.join();
    ::close(ping);
    ::close(pong);
}

BENCHMARK(BM_EventfdPingPong)->Arg(0)->Arg(1)->ArgName("cross")->UseRealTime()->MinTime(0.5);

// The machine's floor for a busy-wait round trip: one cache line bounced
// between two spinning threads on CPUs 0 and 1, with no upio in between
// (one iteration: the line goes there and back). A pipe ping-pong whose
// two ends spin cannot answer faster than this.
void BM_CacheLinePingPong(benchmark::State& state) {
    alignas(64) static std::atomic<std::uint64_t> line{0};
    line = 0;
    std::atomic<bool> stop{false};
    std::thread peer([&] {
        pin(1);
        for (std::uint64_t seen = 0; !stop.load(std::memory_order_relaxed);) {
            const std::uint64_t v = line.load(std::memory_order_acquire);
            if (v == seen || (v & 1) == 0) continue;
            seen = v + 1;
            line.store(seen, std::memory_order_release); // the answer: an even value
        }
    });
    pin(0);
    std::uint64_t v = 0;
    for (auto _ : state) {
        line.store(++v, std::memory_order_release); // the question: an odd value
        while (line.load(std::memory_order_acquire) != v + 1) {
        }
        ++v;
    }
    stop.store(true);
    peer.join();
}

BENCHMARK(BM_CacheLinePingPong)->UseRealTime()->MinTime(0.5);

} // namespace

BENCHMARK_MAIN();
