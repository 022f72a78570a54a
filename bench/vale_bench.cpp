// VALE forwarding cost: frames of 60 and 1514 bytes, batch 1..512, one and
// two senders into one receiver, unicast to a learned address.
//
//   BM_Vale/1to1, BM_Vale/2to1   one thread runs the senders' txsync (lookup,
//       copy) and the receiver's rxsync in turn: the switch's cost per frame,
//       without scheduling noise. items_per_second = frames delivered.
//   BM_Vale/1to1_backpressure, 2to1_backpressure   the same with the sink's
//       back-pressure on (vale::set_back_pressure): nothing is dropped.
//   BM_ValeThreads/1to1, 2to1    each sender in its own thread, the receiver
//       in the benchmark thread; frames the receiver could not take in time
//       are dropped by the switch and reported as "drops" (not in items).
//       2to1 runs three threads: on a 2-CPU machine they share the CPUs.
//
// Buffers are filled once; the senders only set lengths (as pkt-gen does).
#include "pin.hpp"

#include <upio/netmap_user.h>
#include <upio/port.hpp>
#include <upio/vale.hpp>

#include <benchmark/benchmark.h>
#include <pthread.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr std::uint8_t sink_mac[6] = {0x02, 0, 0, 0, 0, 0x64};

using bench::pin;

struct Setup {
    std::unique_ptr<upio::Port> sink;
    std::vector<std::unique_ptr<upio::Port>> senders;
    std::string sw;
    std::vector<std::unique_ptr<upio::Port>> idle; // attached, never sending
};

// A switch with one receiver whose address is learned, and `n` senders whose
// every tx buffer holds a frame to it; `idle` more ports attached (small
// rings) that never send.
bool make(Setup& s, int n, std::uint16_t len, int idle = 0) {
    static int instance = 0;
    s.sw = "valebench" + std::to_string(instance++);
    upio::PortOptions o;
    o.tx_slots = o.rx_slots = 1024;
    auto sink = upio::Port::open(s.sw + ":sink", o);
    if (!sink) return false;
    s.sink = std::move(sink.value());
    for (int i = 0; i < n; i++) {
        auto p = upio::Port::open(s.sw + ":s" + std::to_string(i), o);
        if (!p) return false;
        netmap_ring* r = p.value()->tx_ring(0);
        for (std::uint32_t k = 0; k < r->num_slots; k++) {
            char* b = NETMAP_BUF(r, r->slot[k].buf_idx);
            std::memset(b, 0x5a, len);
            std::memcpy(b, sink_mac, 6);
            const std::uint8_t src[6] = {0x02, 0, 0, 0, 1, std::uint8_t(i)};
            std::memcpy(b + 6, src, 6);
            r->slot[k].len = len;
        }
        s.senders.push_back(std::move(p.value()));
    }
    upio::PortOptions small;
    small.tx_slots = small.rx_slots = 64;
    for (int i = 0; i < idle; i++) {
        auto p = upio::Port::open(s.sw + ":i" + std::to_string(i), small);
        if (!p) return false;
        s.idle.push_back(std::move(p.value()));
    }
    // the sink speaks once: its address is learned
    netmap_ring* t = s.sink->tx_ring(0);
    char* b = NETMAP_BUF(t, t->slot[0].buf_idx);
    std::memset(b, 0xff, 6);
    std::memcpy(b + 6, sink_mac, 6);
    t->slot[0].len = 60;
    t->head = t->cur = 1;
    s.sink->txsync();
    for (auto& p : s.senders) {
        p->rxsync();
        netmap_ring* rx = p->rx_ring(0);
        rx->head = rx->cur = rx->tail;
        p->rxsync();
    }
    return true;
}

// Queues `batch` frames (lengths already set); returns how many.
std::uint32_t queue(upio::Port& p, std::uint32_t batch) {
    netmap_ring* r = p.tx_ring(0);
    std::uint32_t n = std::min(batch, nm_ring_space(r));
    std::uint32_t h = r->head + n;
    if (h >= r->num_slots) h -= r->num_slots;
    r->head = r->cur = h;
    return n;
}

std::uint32_t receive(upio::Port& p, std::uint64_t& bytes) {
    p.rxsync();
    netmap_ring* r = p.rx_ring(0);
    std::uint32_t n = 0;
    for (std::uint32_t i = r->head; i != r->tail; i = nm_ring_next(r, i), n++) bytes += r->slot[i].len;
    r->head = r->cur = r->tail;
    return n;
}

void BM_Vale(benchmark::State& state, int nsend, bool held = false, int idle = 0) {
    const auto batch = std::uint32_t(state.range(0));
    const auto len = std::uint16_t(state.range(1));
    Setup s;
    if (!make(s, nsend, len, idle)) {
        state.SkipWithError("cannot open the VALE ports");
        return;
    }
    if (held && !upio::vale::set_back_pressure(s.sw + ":sink", true)) {
        state.SkipWithError("cannot set back-pressure on the sink");
        return;
    }
    std::uint64_t frames = 0, bytes = 0;
    for (auto _ : state) {
        for (auto& p : s.senders) {
            queue(*p, batch);
            p->txsync();
        }
        frames += receive(*s.sink, bytes);
    }
    state.SetItemsProcessed(std::int64_t(frames));
    state.SetBytesProcessed(std::int64_t(bytes));
    state.counters["Gbit/s"] = benchmark::Counter(double(bytes) * 8 / 1e9, benchmark::Counter::kIsRate);
    state.counters["drops"] = double(upio::vale::port_stats(s.sw + ":sink").value().drop_no_space);
}

void BM_ValeThreads(benchmark::State& state, int nsend) {
    const auto batch = std::uint32_t(state.range(0));
    const auto len = std::uint16_t(state.range(1));
    Setup s;
    if (!make(s, nsend, len)) {
        state.SkipWithError("cannot open the VALE ports");
        return;
    }
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (int i = 0; i < nsend; i++) {
        threads.emplace_back([&, i] {
            pin(1); // the senders share CPU 1, the receiver has CPU 0
            upio::Port& p = *s.senders[std::size_t(i)];
            while (!stop.load(std::memory_order_relaxed)) {
                queue(p, batch);
                p.txsync();
            }
        });
    }
    pin(0);
    std::uint64_t frames = 0, bytes = 0;
    for (auto _ : state) frames += receive(*s.sink, bytes);
    stop = true;
    for (auto& t : threads) t.join();
    state.SetItemsProcessed(std::int64_t(frames));
    state.SetBytesProcessed(std::int64_t(bytes));
    state.counters["Gbit/s"] = benchmark::Counter(double(bytes) * 8 / 1e9, benchmark::Counter::kIsRate);
    state.counters["drops"] = double(upio::vale::port_stats(s.sw + ":sink").value().drop_no_space);
}

void sizes(benchmark::internal::Benchmark* b) {
    for (int len : {60, 1514})
        for (int batch : {1, 4, 16, 64, 256, 512}) b->Args({batch, len});
    b->ArgNames({"batch", "len"});
}

// The bound VALE is held against: memcpy of each frame from a buffer of one
// ring of 1024 2-KiB buffers into the buffer of the same slot of another,
// lengths read from the source slots as the switch reads them (no lookup,
// no checks, no ring indices). items_per_second = frames copied.
void BM_MemcpyRings(benchmark::State& state) {
    const auto batch = std::uint32_t(state.range(0));
    const auto len = std::uint16_t(state.range(1));
    constexpr std::uint32_t n = 1024, bufsz = 2048;
    std::vector<char> src(std::size_t(n) * bufsz, 'x'), dst(std::size_t(n) * bufsz);
    std::vector<std::uint16_t> lens(n, len);
    std::uint32_t i = 0;
    std::uint64_t frames = 0, bytes = 0;
    for (auto _ : state) {
        for (std::uint32_t k = 0; k < batch; k++, i = (i + 1) & (n - 1)) {
            const std::uint16_t l = lens[i];
            std::memcpy(dst.data() + std::size_t(i) * bufsz, src.data() + std::size_t(i) * bufsz, l);
            bytes += l;
        }
        benchmark::ClobberMemory();
        frames += batch;
    }
    state.SetItemsProcessed(std::int64_t(frames));
    state.SetBytesProcessed(std::int64_t(bytes));
}

BENCHMARK(BM_MemcpyRings)->Args({256, 60})->Args({256, 1514})->ArgNames({"batch", "len"});

BENCHMARK_CAPTURE(BM_Vale, 1to1, 1)->Apply(sizes);
BENCHMARK_CAPTURE(BM_Vale, 2to1, 2)->Apply(sizes);
// 1→1 with 252 more ports attached: 254 on the switch, its most
BENCHMARK_CAPTURE(BM_Vale, 1to1_254ports, 1, false, 252)->Args({256, 60})->Args({256, 1514})->ArgNames({"batch", "len"});
BENCHMARK_CAPTURE(BM_Vale, 1to1_backpressure, 1, true)->Apply(sizes);
BENCHMARK_CAPTURE(BM_Vale, 2to1_backpressure, 2, true)->Apply(sizes);
BENCHMARK_CAPTURE(BM_ValeThreads, 1to1, 1)->Apply(sizes)->UseRealTime();
BENCHMARK_CAPTURE(BM_ValeThreads, 2to1, 2)->Apply(sizes)->UseRealTime();

} // namespace

BENCHMARK_MAIN();
