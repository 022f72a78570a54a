// The other process of the cross-process pipe tests.
//
//   xpipe_peer rx PORT COUNT        receive COUNT frames, print "received N", exit 0
//                                   (3: the link went down first, with the reason)
//   xpipe_peer tx PORT COUNT        send COUNT frames of 60 bytes, exit 0 (3: link down)
//   xpipe_peer stream PORT          send and receive until the link goes down, exit 0
//   xpipe_peer hostile PORT         stream, while a second thread writes random values over
//                                   every byte of this end's rings and of the pair's shared
//                                   control block (or, for a port of a VALE daemon's switch,
//                                   of its own control block); exit 0 when the link goes down
//   xpipe_peer squat NAME           listen on the abstract socket NAME (as another user would)
//                                   and print "listening"; exit when stdin closes
//
// A line "ready" on stdout tells the test the port is open.
#include "pipes/pipe.hpp"
#include "shm/rendezvous.hpp"
#include "vale/daemon_client.hpp"

#include <upio/backend.hpp>
#include <upio/netmap_user.h>
#include <upio/port.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>

using namespace std::chrono_literals;

namespace {

upio::PortOptions opts() {
    upio::PortOptions o;
    o.tx_slots = o.rx_slots = 256;
    o.memory.hugepages = upio::HugepagePolicy::never;
    return o;
}

int down(upio::Port& p, const char* what) {
    std::printf("link down (%s): link_up=%d: %s\n", what, int(p.link_up()), p.last_error());
    std::fflush(stdout);
    return 3;
}

// Fills what the tx ring has room for with 60-byte frames; returns how many.
std::uint32_t fill(netmap_ring* r, std::uint64_t limit) {
    std::uint32_t n = 0;
    while (!nm_ring_empty(r) && n < limit) {
        r->slot[r->cur].len = 60;
        r->head = r->cur = nm_ring_next(r, r->cur);
        n++;
    }
    return n;
}

std::uint32_t drain(netmap_ring* r) {
    std::uint32_t n = 0;
    while (!nm_ring_empty(r)) {
        r->head = r->cur = nm_ring_next(r, r->cur);
        n++;
    }
    return n;
}

int stream(upio::Port& p, std::atomic<bool>* stop) {
    for (;;) {
        if (stop && stop->load()) return 0;
        fill(p.tx_ring(0), ~0ull);
        if (p.txsync() < 0 || p.rxsync() < 0) return 0; // the link went down: done
        drain(p.rx_ring(0));
        if (p.wait(upio::Direction::rx, 10ms) < 0) return 0;
    }
}

} // namespace

int main(int argc, char** argv) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    if (argc < 3) return 2;
    const std::string mode = argv[1];
    if (mode == "squat") {
        auto l = upio::shm::listen_at(argv[2]);
        if (!l) {
            std::printf("cannot listen: %s\n", l.error().message.c_str());
            return 1;
        }
        std::printf("listening\n");
        char c;
        while (::read(0, &c, 1) > 0) {
        }
        return 0;
    }
    auto port = upio::Port::open(argv[2], opts());
    if (!port) {
        std::printf("cannot open: %s\n", port.error().message.c_str());
        return 1;
    }
    upio::Port& p = *port.value();
    std::printf("ready\n");
    const std::uint64_t count = argc > 3 ? std::stoull(argv[3]) : 0;
    if (mode == "rx") {
        std::uint64_t got = 0;
        while (got < count) {
            if (p.wait(upio::Direction::rx, 30s) <= 0) return down(p, "rx");
            const std::uint64_t before = got;
            got += drain(p.rx_ring(0));
            if (before < 10000 && got >= 10000) std::printf("streaming\n");
        }
        p.rxsync();
        std::printf("received %llu\n", static_cast<unsigned long long>(got));
        return 0;
    }
    if (mode == "tx") {
        std::uint64_t sent = 0;
        while (sent < count) {
            if (p.wait(upio::Direction::tx, 30s) <= 0) return down(p, "tx");
            const std::uint64_t before = sent;
            sent += fill(p.tx_ring(0), count - sent);
            if (p.txsync() < 0) return down(p, "tx");
            if (before < 10000 && sent >= 10000) std::printf("streaming\n");
        }
        // until the receiver has taken everything (or left)
        for (auto until = std::chrono::steady_clock::now() + 30s;
             nm_tx_pending(p.tx_ring(0)) && std::chrono::steady_clock::now() < until;)
            if (p.txsync() < 0) return down(p, "tx");
        std::printf("sent %llu\n", static_cast<unsigned long long>(sent));
        return 0;
    }
    if (mode == "burst") { // one sync of at most a ring of frames, then gone at once
        const std::uint32_t sent = fill(p.tx_ring(0), count);
        if (p.txsync() < 0) return down(p, "tx");
        std::printf("sent %u\n", sent);
        return 0;
    }
    if (mode == "stream") return stream(p, nullptr);
    if (mode == "hostile") {
        // A serving end has its control block once the other process came.
        // A port of a daemon's VALE switch has its block from the start.
        auto block_of = [&] {
            auto b = upio::pipes::control_block(p.adapter());
            return b.first ? b : upio::vale::daemon_control_block(p.adapter());
        };
        auto cb = block_of();
        for (auto until = std::chrono::steady_clock::now() + 60s;
             !cb.first && std::chrono::steady_clock::now() < until; std::this_thread::yield())
            cb = block_of();
        auto [block, bytes] = cb;
        if (!block) {
            std::printf("no control block: this end is not a cross-process one\n");
            return 1;
        }
        std::atomic<bool> stop{false};
        std::thread scribbler([&, block = static_cast<unsigned char*>(block), bytes = bytes] {
            std::mt19937_64 rng(std::random_device{}());
            netmap_ring* rings[2] = {p.tx_ring(0), p.rx_ring(0)};
            const std::size_t ring_bytes = sizeof(netmap_ring) + rings[0]->num_slots * sizeof(netmap_slot);
            // Any value, or values near the valid ones (indices of a ring,
            // of a buffer), which pass more checks and so reach further.
            const std::uint32_t slots = rings[0]->num_slots, bufs = 4 * slots + 64;
            auto scribble = [&](unsigned char* b, std::size_t len) {
                for (std::size_t i = 0; i + 4 <= len; i += 4) {
                    const std::uint64_t r = rng();
                    std::uint32_t v;
                    switch (r & 3) {
                    case 0: v = std::uint32_t(r >> 32); break;
                    case 1: v = std::uint32_t((r >> 32) % (slots + 2)); break;
                    case 2: v = std::uint32_t((r >> 32) % bufs); break;
                    default: continue; // left as it is
                    }
                    std::memcpy(b + i, &v, 4);
                }
            };
            while (!stop.load(std::memory_order_relaxed)) {
                for (netmap_ring* r : rings) scribble(reinterpret_cast<unsigned char*>(r), ring_bytes);
                scribble(block, bytes);
            }
        });
        // Only syncs from here: the application's view of its rings is
        // garbage, which is the point (the framework must cope with it).
        std::uint64_t syncs = 0;
        while (p.link_up()) {
            (void)p.txsync();
            (void)p.rxsync();
            if (++syncs % 64 == 0) (void)p.wait(upio::Direction::rx, 1ms);
        }
        const int rc = 0;
        stop = true;
        scribbler.join();
        std::printf("done\n");
        return rc;
    }
    return 2;
}
