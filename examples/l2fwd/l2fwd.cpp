// l2fwd: forwards between two ports over N queue pairs, one thread each --
// thread i owns ring pair i of both ports ("PORT,ring=i") and moves frames both
// ways, copying (the ports have separate memory) and syncing once per batch.
//
//   l2fwd -i PORT_A -i PORT_B -q N [-n COUNT]
//   l2fwd --demo -q N [-n COUNT]   senders -> vale:left, l2fwd, vale:right -> checker
#include <upio/netmap_user.h>
#include <upio/port.hpp>
#include <upio/vale.hpp>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

namespace {

std::atomic<bool> g_stop{false};

std::uint32_t move(upio::Port& from, upio::Port& to, std::uint32_t ring) {
    netmap_ring* rx = from.rx_ring(ring);
    netmap_ring* tx = to.tx_ring(ring);
    std::uint32_t n = std::min(nm_ring_space(rx), nm_ring_space(tx));
    for (std::uint32_t k = 0; k < n; k++) {
        netmap_slot& rs = rx->slot[rx->cur];
        netmap_slot& ts = tx->slot[tx->cur];
        std::memcpy(NETMAP_BUF(tx, ts.buf_idx), NETMAP_BUF(rx, rs.buf_idx), rs.len);
        ts.len = rs.len;
        ts.flags = rs.flags & NS_MOREFRAG;
        rx->head = rx->cur = nm_ring_next(rx, rx->cur);
        tx->head = tx->cur = nm_ring_next(tx, tx->cur);
    }
    return n;
}

// One queue pair: returns when g_stop is set or `count` frames have moved.
void worker(upio::Port& a, upio::Port& b, std::uint32_t ring, std::uint64_t count, std::atomic<std::uint64_t>& moved,
            std::atomic<std::uint64_t>& mine) {
    while (!g_stop.load(std::memory_order_relaxed) && (count == 0 || moved.load() < count)) {
        a.rxsync();
        b.rxsync();
        std::uint32_t n = move(a, b, ring) + move(b, a, ring);
        a.txsync();
        b.txsync();
        if (n) {
            moved.fetch_add(n, std::memory_order_relaxed);
            mine.fetch_add(n, std::memory_order_relaxed);
        }
        else a.wait(upio::Direction::rx, std::chrono::milliseconds(5));
    }
}

// Frames each queue pair moved (filled in by run()).
using PerQueue = std::vector<std::atomic<std::uint64_t>>;

int run(const std::string& a_name, const std::string& b_name, std::uint32_t queues, std::uint64_t count,
        PerQueue& per_queue) {
    upio::PortOptions o;
    o.rings = queues;
    std::vector<std::unique_ptr<upio::Port>> a, b;
    for (std::uint32_t q = 0; q < queues; q++) {
        auto pa = upio::Port::open(fmt::format("{},ring={}", a_name, q), o);
        auto pb = upio::Port::open(fmt::format("{},ring={}", b_name, q), o);
        if (!pa || !pb) {
            fmt::print(stderr, "l2fwd: {}\n", (!pa ? pa.error() : pb.error()).message);
            return 1;
        }
        a.push_back(std::move(pa.value()));
        b.push_back(std::move(pb.value()));
    }
    std::atomic<std::uint64_t> moved{0};
    std::vector<std::jthread> threads;
    for (std::uint32_t q = 0; q < queues; q++)
        threads.emplace_back([&, q] { worker(*a[q], *b[q], q, count, moved, per_queue[q]); });
    threads.clear(); // join
    std::string each;
    for (std::uint32_t q = 0; q < queues; q++) each += fmt::format("{}{}", q ? ", " : "", per_queue[q].load());
    fmt::print("l2fwd: {} queue pairs forwarded {} frames ({})\n", queues, moved.load(), each);
    return 0;
}

// --demo: a sender per queue into vale10:gen, l2fwd between vale10:left and
// vale11:right, a receiver per queue on vale11:sink; every frame must arrive
// or be counted as dropped, and every queue pair must have carried traffic
// (forwarded by its thread and received on its sink ring).
int demo(std::uint32_t queues, std::uint64_t per_queue) {
    upio::PortOptions o;
    o.rings = queues;
    std::vector<std::unique_ptr<upio::Port>> gen, sink;
    for (std::uint32_t q = 0; q < queues; q++) {
        auto g = upio::Port::open(fmt::format("vale10:gen,ring={}", q), o);
        auto s = upio::Port::open(fmt::format("vale11:sink,ring={}", q), o);
        if (!g || !s) {
            fmt::print(stderr, "l2fwd: {}\n", (!g ? g.error() : s.error()).message);
            return 1;
        }
        gen.push_back(std::move(g.value()));
        sink.push_back(std::move(s.value()));
    }
    std::atomic<std::uint64_t> received{0};
    PerQueue forwarded(queues), sunk(queues);
    std::thread fwd([&] { run("vale10:left", "vale11:right", queues, queues * per_queue, forwarded); });
    // start sending once l2fwd has joined both switches (a flood with no
    // other port on the switch goes nowhere)
    for (auto t0 = std::chrono::steady_clock::now();
         !(upio::vale::port_index("vale10:left") && upio::vale::port_index("vale11:right")) &&
         std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10);)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::vector<std::jthread> threads;
    for (std::uint32_t q = 0; q < queues; q++) {
        threads.emplace_back([&, q] { // paced sender: the switch drops what does not fit
            netmap_ring* t = gen[q]->tx_ring(q);
            for (std::uint64_t i = 0; i < per_queue;) {
                std::uint32_t n = std::min<std::uint64_t>({nm_ring_space(t), per_queue - i, 32});
                for (std::uint32_t k = 0; k < n; k++, i++) {
                    netmap_slot& s = t->slot[t->cur];
                    std::memset(NETMAP_BUF(t, s.buf_idx), 0xff, 12); // broadcast
                    s.len = 60;
                    t->head = t->cur = nm_ring_next(t, t->cur);
                }
                gen[q]->txsync();
                std::this_thread::sleep_for(std::chrono::microseconds(200));
            }
        });
        threads.emplace_back([&, q] {
            netmap_ring* r = sink[q]->rx_ring(q);
            while (!g_stop.load()) {
                if (sink[q]->wait(upio::Direction::rx, std::chrono::milliseconds(20)) <= 0) continue;
                for (; !nm_ring_empty(r); r->head = r->cur = nm_ring_next(r, r->cur)) {
                    received++;
                    sunk[q]++;
                }
            }
        });
    }
    // The switches never block a sender: a frame that finds a full ring is
    // dropped and counted there. Every frame must be received or counted.
    auto dropped = [] {
        std::uint64_t d = 0;
        for (const char* p : {"vale10:left", "vale11:right", "vale11:sink"})
            if (auto st = upio::vale::port_stats(p)) d += st->drop_no_space;
        return d;
    };
    const std::uint64_t total = queues * per_queue;
    for (std::uint32_t q = 0; q < queues; q++) threads[2 * q].join(); // the senders
    for (auto t0 = std::chrono::steady_clock::now();
         received.load() + dropped() < total && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10);)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    // counted now: a port's counters go with it, and l2fwd's ports (where a
    // lagging forwarder's frames are dropped) close when it stops
    const std::uint64_t drops = dropped();
    g_stop.store(true);
    threads.clear();
    fwd.join();
    bool ok = received.load() + drops == total && received.load() > 0;
    for (std::uint32_t q = 0; q < queues; q++) {
        const bool carried = forwarded[q].load() > 0 && sunk[q].load() > 0;
        fmt::print("l2fwd: queue pair {}: {} frames forwarded, {} received on vale11:sink,ring={}{}\n", q,
                   forwarded[q].load(), sunk[q].load(), q, carried ? "" : " -- carried no traffic");
        ok = ok && carried;
    }
    fmt::print("l2fwd: demo {}: {} of {} frames arrived over {} queue pairs, {} dropped by full rings (counted)\n",
               ok ? "passed" : "FAILED", received.load(), total, queues, drops);
    return ok ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"l2fwd: forward between two ports over N queue pairs, a thread each"};
    std::vector<std::string> ports;
    std::uint32_t queues = 1;
    std::uint64_t count = 0;
    bool run_demo = false;
    app.add_option("-i", ports, "the two ports (without ring suffix)")->expected(2);
    app.add_option("-q", queues, "queue pairs (threads)")->check(CLI::Range(1, 64));
    app.add_option("-n", count, "stop after this many frames (0: never)");
    app.add_flag("--demo", run_demo, "senders, l2fwd and receivers over two VALE switches");
    CLI11_PARSE(app, argc, argv);
    if (run_demo) return demo(queues, count ? count : 20000);
    if (ports.size() != 2) {
        fmt::print(stderr, "l2fwd: give two ports with -i, or --demo\n");
        return 2;
    }
    PerQueue per_queue(queues);
    return run(ports[0], ports[1], queues, count, per_queue);
}
