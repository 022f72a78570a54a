// bridge: forwards everything between two ports, like netmap's bridge.
// When both ports share one memory region (two pipes of one NAME), packets
// move by swapping buffer indices (zero copy, NS_BUF_CHANGED); otherwise
// each frame is copied.
//
//   bridge -i PORT_A -i PORT_B [-n COUNT]
//   bridge --demo [-n COUNT] [--copy]   a generator and a checker on pipes around the bridge
#include <upio/netmap_user.h>
#include <upio/port.hpp>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <atomic>
#include <cstring>
#include <thread>

namespace {

// Moves what `from` received to `to`'s tx ring; returns packets moved.
std::uint32_t forward(upio::Port& from, upio::Port& to, bool zero_copy) {
    netmap_ring* rx = from.rx_ring(from.first_ring(upio::Direction::rx));
    netmap_ring* tx = to.tx_ring(to.first_ring(upio::Direction::tx));
    std::uint32_t n = std::min(nm_ring_space(rx), nm_ring_space(tx));
    for (std::uint32_t k = 0; k < n; k++) {
        netmap_slot& rs = rx->slot[rx->cur];
        netmap_slot& ts = tx->slot[tx->cur];
        if (zero_copy) {
            std::swap(rs.buf_idx, ts.buf_idx);
            rs.flags |= NS_BUF_CHANGED;
            ts.flags |= NS_BUF_CHANGED;
        } else {
            std::memcpy(NETMAP_BUF(tx, ts.buf_idx), NETMAP_BUF(rx, rs.buf_idx), rs.len);
        }
        ts.len = rs.len;
        ts.flags = std::uint16_t((ts.flags & ~NS_MOREFRAG) | (rs.flags & NS_MOREFRAG));
        rx->head = rx->cur = nm_ring_next(rx, rx->cur);
        tx->head = tx->cur = nm_ring_next(tx, tx->cur);
    }
    return n;
}

// Returns the packets moved; `zero_copy` tells which path was taken.
std::uint64_t run_bridge(upio::Port& a, upio::Port& b, std::uint64_t count, const std::atomic<bool>& stop,
                         bool& zero_copy) {
    const bool zc = a.shares_memory_with(b);
    zero_copy = zc;
    fmt::print("bridge: {} <-> {} ({})\n", a.name().full, b.name().full, zc ? "zero copy" : "copy");
    std::uint64_t moved = 0;
    while (!stop.load() && (count == 0 || moved < count)) {
        a.rxsync();
        b.rxsync();
        std::uint32_t n = forward(a, b, zc) + forward(b, a, zc);
        moved += n;
        a.txsync();
        b.txsync();
        if (n == 0) a.wait(upio::Direction::rx, std::chrono::milliseconds(10)); // idle: sleep on a
    }
    // push what a full peer has not taken yet, for at most a second
    netmap_ring* ta = a.tx_ring(a.first_ring(upio::Direction::tx));
    netmap_ring* tb = b.tx_ring(b.first_ring(upio::Direction::tx));
    for (auto t0 = std::chrono::steady_clock::now();
         (nm_tx_pending(ta) || nm_tx_pending(tb)) && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(1);) {
        a.txsync();
        b.txsync();
        std::this_thread::yield();
    }
    fmt::print("bridge: forwarded {} packets\n", moved);
    return moved;
}

// --demo: generator -> pipe -> bridge -> pipe -> checker, all in this process.
// Each frame carries its sequence number and the index of the buffer the
// generator wrote it in. Pipes hand buffers over by swapping them; so does
// the zero-copy bridge. With zero copy every frame must arrive in the very
// buffer it was written in -- a copy anywhere on the way would show.
int demo(std::uint64_t count, bool copy) {
    upio::PortOptions o;
    auto a_out = upio::Port::open("pipe:brA}0", o), a_in = upio::Port::open("pipe:brA{0", o);
    auto b_in = upio::Port::open(copy ? "pipe:brB{0" : "pipe:brA{1", o);
    auto b_out = upio::Port::open(copy ? "pipe:brB}0" : "pipe:brA}1", o);
    for (auto* r : {&a_out, &a_in, &b_in, &b_out})
        if (!*r) {
            fmt::print(stderr, "bridge: {}\n", r->error().message);
            return 1;
        }
    std::atomic<bool> stop{false};
    std::thread gen([&] {
        upio::Port& p = *a_out.value();
        netmap_ring* t = p.tx_ring(0);
        for (std::uint64_t seq = 0; seq < count;) {
            if (nm_ring_empty(t)) {
                p.wait(upio::Direction::tx, std::chrono::milliseconds(100));
                continue;
            }
            netmap_slot& s = t->slot[t->cur];
            std::memcpy(NETMAP_BUF(t, s.buf_idx), &seq, 8);
            std::memcpy(NETMAP_BUF(t, s.buf_idx) + 8, &s.buf_idx, 4);
            s.len = std::uint16_t(60 + seq % 1400);
            t->head = t->cur = nm_ring_next(t, t->cur);
            if (++seq % 64 == 0 || seq == count) p.txsync();
        }
        while (nm_tx_pending(t)) p.txsync();
    });
    bool zero_copy = false;
    std::thread br([&] { run_bridge(*a_in.value(), *b_in.value(), count, stop, zero_copy); });
    upio::Port& p = *b_out.value();
    netmap_ring* r = p.rx_ring(0);
    std::uint64_t expect = 0, same_buffer = 0;
    int rc = 0;
    while (expect < count) {
        if (p.wait(upio::Direction::rx, std::chrono::seconds(5)) <= 0) {
            fmt::print(stderr, "bridge: demo stalled at packet {}\n", expect);
            rc = 1;
            break;
        }
        for (; !nm_ring_empty(r); r->head = r->cur = nm_ring_next(r, r->cur), expect++) {
            std::uint64_t seq;
            std::uint32_t written_in;
            std::memcpy(&seq, NETMAP_BUF(r, r->slot[r->cur].buf_idx), 8);
            std::memcpy(&written_in, NETMAP_BUF(r, r->slot[r->cur].buf_idx) + 8, 4);
            same_buffer += written_in == r->slot[r->cur].buf_idx;
            if (seq != expect || r->slot[r->cur].len != 60 + seq % 1400) {
                fmt::print(stderr, "bridge: packet {} arrived as {} (len {})\n", expect, seq, r->slot[r->cur].len);
                rc = 1;
            }
        }
    }
    stop.store(true);
    gen.join();
    br.join();
    const char* path = zero_copy ? "zero copy" : "copy";
    fmt::print("bridge: {} of {} packets arrived in the buffer they were written in\n", same_buffer, expect);
    if (zero_copy == copy) {
        fmt::print(stderr, "bridge: the bridge took the {} path; --demo{} expects the other\n", path,
                   copy ? " --copy" : "");
        rc = 1;
    } else if (zero_copy && same_buffer != expect) {
        fmt::print(stderr, "bridge: zero copy, but {} packets arrived in another buffer (copied)\n",
                   expect - same_buffer);
        rc = 1;
    }
    if (rc == 0) fmt::print("bridge: demo passed ({}): {} packets in order and intact\n", path, count);
    return rc;
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"bridge: forward between two upio ports"};
    std::vector<std::string> ports;
    std::uint64_t count = 0;
    bool run_demo = false, copy = false;
    app.add_option("-i", ports, "the two ports")->expected(2);
    app.add_option("-n", count, "stop after this many packets (0: never)");
    app.add_flag("--demo", run_demo, "run a generator and a checker around the bridge");
    app.add_flag("--copy", copy, "--demo with ports in different regions (copy path)");
    CLI11_PARSE(app, argc, argv);
    if (run_demo) return demo(count ? count : 100000, copy);
    if (ports.size() != 2) {
        fmt::print(stderr, "bridge: give two ports with -i, or --demo\n");
        return 2;
    }
    auto a = upio::Port::open(ports[0]), b = upio::Port::open(ports[1]);
    if (!a || !b) {
        fmt::print(stderr, "bridge: {}\n", (!a ? a.error() : b.error()).message);
        return 1;
    }
    std::atomic<bool> stop{false};
    bool zero_copy;
    run_bridge(*a.value(), *b.value(), count, stop, zero_copy);
    return 0;
}
