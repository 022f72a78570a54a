// VALE across processes next to VALE in one process, in one run: 60-byte
// frames, batch 256, one sender into one receiver with back-pressure (so
// items = frames delivered, nothing dropped).
//
//   BM_ValeInProcess   sender thread (CPU 1) and receiver (CPU 0) on this
//       process's switch; the sender's txsync forwards.
//   BM_ValeDaemon      upio-vale serving a switch of its own, the sender a
//       process of its own (this program again, "--tx PORT", CPU 1), the
//       receiver here (CPU 0); the daemon forwards, on whichever CPU the
//       scheduler gives it: three busy processes share the two CPUs.
//       UPIO_VALE in the environment names another upio-vale to run.
//
// Both sides wait with Port::wait (a short spin, then sleep; for a port of
// the daemon's switch on fewer than three CPUs, sleep at once) when their
// ring is full or empty, as pkt-gen does. Buffers are filled once; the
// sender only sets lengths.
//
// Each row also reports where the CPU went while it was timed, from
// /proc/PID/schedstat and /proc/PID/status: for the receiver (rx_), the
// sender (tx_) and the daemon (d_), the share of one CPU it ran (cpu), the
// share it waited runnable for a CPU (runq), and its voluntary (vcs) and
// involuntary (ics) context switches per second.
#include "pin.hpp"

#include <upio/netmap_user.h>
#include <upio/port.hpp>
#include <upio/vale.hpp>

#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sys/syscall.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

namespace {

using namespace std::chrono_literals;
using bench::pin;

constexpr std::uint8_t sink_mac[6] = {0x02, 0, 0, 0, 0, 0x64};
constexpr std::uint32_t batch = 256;

upio::PortOptions options() {
    upio::PortOptions o;
    o.tx_slots = o.rx_slots = 1024;
    o.memory.hugepages = upio::HugepagePolicy::never; // as upio-vale's ports
    return o;
}

// Every tx buffer holds a 60-byte frame to the sink.
void fill(upio::Port& p) {
    netmap_ring* r = p.tx_ring(0);
    for (std::uint32_t k = 0; k < r->num_slots; k++) {
        char* b = NETMAP_BUF(r, r->slot[k].buf_idx);
        std::memset(b, 0x5a, 60);
        std::memcpy(b, sink_mac, 6);
        const std::uint8_t src[6] = {0x02, 0, 0, 0, 1, 1};
        std::memcpy(b + 6, src, 6);
        r->slot[k].len = 60;
    }
}

// The sink speaks once so that its address is learned.
void announce(upio::Port& sink) {
    netmap_ring* t = sink.tx_ring(0);
    char* b = NETMAP_BUF(t, t->slot[t->head].buf_idx);
    std::memset(b, 0xff, 6);
    std::memcpy(b + 6, sink_mac, 6);
    t->slot[t->head].len = 60;
    t->head = t->cur = nm_ring_next(t, t->head);
    sink.txsync();
}

void send_loop(upio::Port& p, const std::atomic<bool>* stop) {
    netmap_ring* r = p.tx_ring(0);
    while (!(stop && stop->load(std::memory_order_relaxed))) {
        std::uint32_t n = std::min(batch, nm_ring_space(r));
        if (n == 0) {
            if (p.wait(upio::Direction::tx, 100ms) < 0) return;
            continue;
        }
        std::uint32_t h = r->head + n;
        if (h >= r->num_slots) h -= r->num_slots;
        r->head = r->cur = h;
        if (p.txsync() < 0) return;
    }
}

std::uint64_t receive(upio::Port& p) {
    if (p.wait(upio::Direction::rx, 1s) <= 0) return 0;
    netmap_ring* r = p.rx_ring(0);
    const std::uint32_t n = nm_ring_space(r);
    r->head = r->cur = r->tail;
    return n;
}

// One process's or thread's scheduling counters, from /proc (zeros when
// unreadable).
struct Sched {
    double run_ns = 0, wait_ns = 0, vcs = 0, ics = 0;
};

Sched sched_of(const std::string& dir) {
    Sched s;
    std::ifstream(dir + "/schedstat") >> s.run_ns >> s.wait_ns;
    std::ifstream st(dir + "/status");
    for (std::string line; std::getline(st, line);) {
        if (line.rfind("voluntary_ctxt_switches:", 0) == 0) s.vcs = std::stod(line.substr(24));
        if (line.rfind("nonvoluntary_ctxt_switches:", 0) == 0) s.ics = std::stod(line.substr(27));
    }
    return s;
}

std::string task_dir(pid_t tid) { return "/proc/self/task/" + std::to_string(tid); }
std::string proc_dir(pid_t pid) { return "/proc/" + std::to_string(pid); }

// The difference between two readings, per second of `wall` as counters.
void split(benchmark::State& state, const char* who, const Sched& a, const Sched& b, double wall_ns) {
    const std::string w(who);
    state.counters[w + "cpu"] = (b.run_ns - a.run_ns) / wall_ns;
    state.counters[w + "runq"] = (b.wait_ns - a.wait_ns) / wall_ns;
    state.counters[w + "vcs"] = (b.vcs - a.vcs) / wall_ns * 1e9;
    state.counters[w + "ics"] = (b.ics - a.ics) / wall_ns * 1e9;
}

double now_ns() {
    return double(std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count());
}

void report(benchmark::State& state, std::uint64_t frames) {
    state.SetItemsProcessed(std::int64_t(frames));
    state.counters["Mpps"] = benchmark::Counter(double(frames) / 1e6, benchmark::Counter::kIsRate);
}

void BM_ValeInProcess(benchmark::State& state) {
    static int instance = 0;
    const std::string sw = "valeip" + std::to_string(::getpid()) + "_" + std::to_string(instance++);
    auto sink = upio::Port::open(sw + ":sink,local", options());
    auto src = upio::Port::open(sw + ":src,local", options());
    if (!sink || !src) return state.SkipWithError("cannot open the VALE ports");
    (void)upio::vale::set_back_pressure(sw + ":sink", true);
    fill(*src.value());
    announce(*sink.value());
    std::atomic<bool> stop{false};
    std::atomic<pid_t> sender_tid{0};
    std::thread t([&] {
        pin(1);
        sender_tid = pid_t(::syscall(SYS_gettid));
        send_loop(*src.value(), &stop);
    });
    pin(0);
    while (sender_tid.load() == 0) std::this_thread::yield();
    const std::string rx_dir = task_dir(pid_t(::syscall(SYS_gettid))), tx_dir = task_dir(sender_tid.load());
    const Sched rx0 = sched_of(rx_dir), tx0 = sched_of(tx_dir);
    const double t0 = now_ns();
    std::uint64_t frames = 0;
    for (auto _ : state) frames += receive(*sink.value());
    const double wall = now_ns() - t0;
    split(state, "rx_", rx0, sched_of(rx_dir), wall);
    split(state, "tx_", tx0, sched_of(tx_dir), wall);
    stop = true;
    t.join();
    report(state, frames);
}

pid_t spawn(const std::vector<std::string>& args) {
    const pid_t pid = ::fork();
    if (pid == 0) {
        const int null = ::open("/dev/null", O_WRONLY);
        ::dup2(null, 1);
        std::vector<char*> argv;
        for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    return pid;
}

void BM_ValeDaemon(benchmark::State& state) {
    static int instance = 0;
    const std::string sw = "valedb" + std::to_string(::getpid()) + "_" + std::to_string(instance++);
    const char* vale = std::getenv("UPIO_VALE"); // another build's daemon, to compare
    const pid_t daemon = spawn({vale ? vale : UPIO_VALE_PATH, "-s", sw});
    auto stop_all = [&](pid_t sender) {
        if (sender > 0) ::kill(sender, SIGKILL), ::waitpid(sender, nullptr, 0);
        ::kill(daemon, SIGTERM);
        ::waitpid(daemon, nullptr, 0);
    };
    upio::Result<std::unique_ptr<upio::Port>> sink = upio::make_error(ECONNREFUSED, "");
    for (auto until = std::chrono::steady_clock::now() + 30s; !sink && std::chrono::steady_clock::now() < until;
         std::this_thread::yield())
        sink = upio::Port::open(sw + ":sink,daemon", options());
    if (!sink) {
        stop_all(0);
        return state.SkipWithError("the daemon did not come");
    }
    (void)upio::vale::set_back_pressure(sw + ":sink", true);
    announce(*sink.value());
    const pid_t sender = spawn({"/proc/self/exe", "--tx", sw + ":src,daemon"});
    pin(0);
    // the first frames mean the sender is streaming
    while (receive(*sink.value()) == 0) {
    }
    const std::string rx_dir = task_dir(pid_t(::syscall(SYS_gettid)));
    const Sched rx0 = sched_of(rx_dir), tx0 = sched_of(proc_dir(sender)), d0 = sched_of(proc_dir(daemon));
    const double t0 = now_ns();
    std::uint64_t frames = 0;
    for (auto _ : state) frames += receive(*sink.value());
    const double wall = now_ns() - t0;
    split(state, "rx_", rx0, sched_of(rx_dir), wall);
    split(state, "tx_", tx0, sched_of(proc_dir(sender)), wall);
    split(state, "d_", d0, sched_of(proc_dir(daemon)), wall);
    sink.value().reset();
    stop_all(sender);
    report(state, frames);
}

BENCHMARK(BM_ValeInProcess)->UseRealTime()->MinTime(1.0);
BENCHMARK(BM_ValeDaemon)->UseRealTime()->MinTime(1.0);

} // namespace

int main(int argc, char** argv) {
    if (argc == 3 && std::strcmp(argv[1], "--tx") == 0) {
        pin(1);
        auto p = upio::Port::open(argv[2], options());
        if (!p) return 1;
        fill(*p.value());
        send_loop(*p.value(), nullptr);
        return 0;
    }
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
