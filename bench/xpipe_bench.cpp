// A pipe between two processes next to a pipe between two threads, in one
// run: the sender here (CPU 0), the receiver in a thread (CPU 1) or in a
// process of its own (this program again, run as "xpipe_bench --rx NAME",
// on CPU 1). Frames of 60 bytes; batch 32 and 256. Like pipe_bench's
// two-thread case, the sender fills lengths only and the receiver reads
// every slot's length: this measures the hand-off, not the frames.
#include "pin.hpp"
#include "pipes/pipe.hpp"

#include <upio/netmap_user.h>
#include <upio/port.hpp>

#include <benchmark/benchmark.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>

namespace {

using bench::pin;

upio::PortOptions options() {
    upio::PortOptions o;
    o.tx_slots = o.rx_slots = 1024;
    return o;
}

// The receiver's loop (either side): busy rxsync, read each length, release.
std::uint64_t receive(upio::Port& p, const std::atomic<bool>* stop) {
    netmap_ring* rx = p.rx_ring(0);
    std::uint64_t n = 0, bytes = 0;
    while (!(stop && stop->load(std::memory_order_relaxed))) {
        if (p.rxsync() < 0) break; // the sender's process closed its end
        std::uint32_t cur = rx->cur, tail = rx->tail;
        while (cur != tail) {
            bytes += rx->slot[cur].len;
            cur = nm_ring_next(rx, cur);
            n++;
        }
        rx->head = rx->cur = cur;
    }
    benchmark::DoNotOptimize(bytes);
    return n;
}

// The timed sender: 64 Ki frames per iteration in batches of `batch`.
std::uint64_t send(benchmark::State& state, upio::Port& p, std::uint32_t batch) {
    netmap_ring* tx = p.tx_ring(0);
    std::uint64_t sent = 0;
    for (auto _ : state) {
        for (std::uint64_t goal = sent + 65536; sent < goal;) {
            std::uint32_t space = nm_ring_space(tx);
            if (space == 0) {
                p.txsync();
                continue;
            }
            std::uint32_t n = space < batch ? space : batch, cur = tx->cur;
            for (std::uint32_t k = 0; k < n; k++) {
                tx->slot[cur].len = 60;
                cur = nm_ring_next(tx, cur);
            }
            tx->head = tx->cur = cur;
            p.txsync();
            sent += n;
        }
    }
    state.SetItemsProcessed(std::int64_t(sent));
    state.counters["ns_per_pkt"] = benchmark::Counter(double(sent), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
    return sent;
}

void BM_PipeThreads(benchmark::State& state) {
    static int instance = 0;
    const std::string name = "xb" + std::to_string(::getpid()) + "t" + std::to_string(instance++);
    auto a = upio::Port::open("pipe:" + name + "{0", options());
    auto b = upio::Port::open("pipe:" + name + "}0", options());
    if (!a || !b) return state.SkipWithError("cannot open the pipe");
    std::atomic<bool> stop{false};
    std::thread rxt([&] {
        pin(1);
        receive(*b.value(), &stop);
    });
    pin(0);
    send(state, *a.value(), std::uint32_t(state.range(0)));
    stop = true;
    rxt.join();
}

void BM_PipeProcesses(benchmark::State& state) {
    static int instance = 0;
    const std::string name = "xb" + std::to_string(::getpid()) + "p" + std::to_string(instance++);
    auto a = upio::Port::open("pipe:" + name + "{0", options());
    if (!a) return state.SkipWithError("cannot open the pipe");
    const pid_t pid = ::fork();
    if (pid == 0) {
        execl("/proc/self/exe", "xpipe_bench", "--rx", ("pipe:" + name + "}0").c_str(), nullptr);
        _exit(127);
    }
    // the receiver has joined once the pair has its shared control block
    for (auto t = std::chrono::steady_clock::now() + std::chrono::seconds(30);
         !upio::pipes::control_block(a.value()->adapter()).first; std::this_thread::yield())
        if (std::chrono::steady_clock::now() > t) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
            return state.SkipWithError("the receiving process did not come");
        }
    pin(0);
    send(state, *a.value(), std::uint32_t(state.range(0)));
    a.value().reset(); // its link goes down: the receiver ends
    ::waitpid(pid, nullptr, 0);
}

BENCHMARK(BM_PipeThreads)->Arg(32)->Arg(256)->ArgName("batch")->UseRealTime()->MinTime(0.5);
BENCHMARK(BM_PipeProcesses)->Arg(32)->Arg(256)->ArgName("batch")->UseRealTime()->MinTime(0.5);

} // namespace

int main(int argc, char** argv) {
    if (argc == 3 && std::strcmp(argv[1], "--rx") == 0) {
        pin(1);
        auto p = upio::Port::open(argv[2], options());
        if (!p) return 1;
        receive(*p.value(), nullptr);
        return 0;
    }
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
