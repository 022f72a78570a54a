// loopback_port: a port type written outside the library, through the
// backend API only (upio/backend/), registered at run time and opened by
// its own name -- the worked example of docs/adding-a-port-type.md.
//
// "loop:NAME" is PortOptions::rings ring pairs in one memory region; what is
// sent on tx ring i arrives on rx ring i, by swapping slots (zero copy).
// Open it whole in one thread, or as "loop:NAME,tx" and "loop:NAME,rx" in two.
//
//   loopback_port [-n COUNT]   a sender thread and a receiver thread on loop:demo;
//                              exits 0 when every frame arrived once, in order
#include <upio/backend/adapter.hpp>
#include <upio/backend/memory_region.hpp>
#include <upio/backend/port_type.hpp>
#include <upio/netmap_user.h>
#include <upio/port.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace {

using namespace upio;

// -- the adapter: the backend contract of upio/backend/adapter.hpp

class LoopAdapter final : public Adapter {
public:
    explicit LoopAdapter(std::string name) : Adapter(std::move(name)) {}
    ~LoopAdapter() override { destroy_rings(); }

    Status init(const PortOptions& o) {
        if (o.rings == 0 || o.rings > 16)
            return make_error(EINVAL, name() + ": " + std::to_string(o.rings) + " ring pairs; a loop has 1..16");
        const std::uint32_t slots = std::max(o.tx_slots, o.rx_slots);
        const RingConfig rc{o.rings, o.rings, slots, slots};
        std::uint32_t bufs = o.memory.num_bufs;
        if (bufs == 0) bufs = 2 * o.rings * slots + 8 * o.extra_bufs + MemoryRegion::first_buf;
        std::size_t objs = o.memory.object_bytes;
        if (objs == 0) objs = ring_bytes(rc) + 8 * nifp_bytes(2 * o.rings) + 4096;
        auto mem = MemoryRegion::create(name(), objs, bufs, o.memory);
        if (!mem) return std::move(mem).error();
        return create_rings(std::move(mem.value()), rc);
    }

    // Runs on the thread that owns tx ring `t`; the prologue has checked
    // every slot in [nr_hwcur, rhead). The rx ring may belong to another
    // thread: it is reached only through its nr_hwcur (acquire: the slots it
    // released) and nr_hwtail (release: the slots we filled).
    int txsync(KRing& t, unsigned) noexcept override {
        KRing& r = kring(Direction::rx, t.ring_id);
        std::uint32_t i = t.nr_hwcur.load(std::memory_order_relaxed);
        std::uint32_t j = r.nr_hwtail.load(std::memory_order_relaxed);
        const std::uint32_t rx_free_end = r.prev(r.nr_hwcur.load(std::memory_order_acquire)); // one slot stays empty
        // Whole packets only: move up to the end of the last packet that fits.
        std::uint32_t n = 0, whole = 0;
        for (std::uint32_t k = i, room = r.distance(j, rx_free_end); k != t.rhead && n < room; k = t.next(k)) {
            n++;
            // read the flags once: the application may rewrite the slot under us
            const std::uint16_t flags = t.ring->slot[k].flags;
            if (!(flags & NS_MOREFRAG)) whole = n;
        }
        for (std::uint32_t k = 0; k < whole; k++) {
            netmap_slot& ts = t.ring->slot[i];
            netmap_slot& rs = r.ring->slot[j];
            const netmap_slot sent = ts; // one read of what the application wrote
            ts.buf_idx = rs.buf_idx;     // the tx slot gets the rx slot's free buffer
            ts.len = 0;
            ts.flags = NS_BUF_CHANGED;
            rs = netmap_slot{sent.buf_idx, sent.len, std::uint16_t((sent.flags & NS_MOREFRAG) | NS_BUF_CHANGED), 0};
            RingCounters::add(t.stats.bytes, sent.len);
            if (!(sent.flags & NS_MOREFRAG)) RingCounters::add(t.stats.packets, 1);
            i = t.next(i);
            j = r.next(j);
        }
        if (whole == 0) return 0;
        t.nr_hwcur.store(i, std::memory_order_relaxed);
        t.nr_hwtail.store(t.prev(i), std::memory_order_release); // every moved slot is free again
        r.nr_hwtail.store(j, std::memory_order_release);
        wake_if_sleeping(r); // the receiver, if it sleeps
        return 0;
    }

    // Runs on the thread that owns rx ring `r`: gives back [nr_hwcur, rhead)
    // (checked by the prologue) and wakes a sender waiting for room.
    int rxsync(KRing& r, unsigned) noexcept override {
        if (r.nr_hwcur.load(std::memory_order_relaxed) == r.rhead) return 0;
        r.nr_hwcur.store(r.rhead, std::memory_order_release);
        wake_if_sleeping(kring(Direction::tx, r.ring_id));
        return 0;
    }
};

// -- the name: "loop:NAME", NAME letters, digits, _ . - (no '/', so the
// direction shorthand /T /R may follow; '-' may end NAME, so no "-N")

Result<std::size_t> parse_loop(std::string_view, std::string_view body) {
    const std::string_view name = body.substr(0, body.find('/'));
    bool ok = !name.empty();
    for (char c : name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-');
    if (!ok) return make_error(EINVAL, "loop name '" + std::string(name) + "' must be letters, digits, _ . -");
    return name.size();
}

// One adapter per NAME while a Port has it open.
std::mutex loops_mu;
std::map<std::string, std::weak_ptr<LoopAdapter>, std::less<>> loops;

Result<std::shared_ptr<Adapter>> open_loop(const PortName& n, const PortOptions& o) {
    std::lock_guard lk(loops_mu);
    if (auto it = loops.find(n.body); it != loops.end())
        if (auto a = it->second.lock()) return std::shared_ptr<Adapter>(std::move(a));
    auto a = std::make_shared<LoopAdapter>("loop:" + n.body);
    if (Status s = a->init(o); !s) return std::move(s).error();
    loops[n.body] = a;
    return std::shared_ptr<Adapter>(std::move(a));
}

void register_loop() {
    PortType t;
    t.name = "loop";
    t.syntax = "loop:NAME";
    t.summary = "tx ring i feeds rx ring i (an example port type)";
    t.shorthands = shorthand_dir;
    t.parse = &parse_loop;
    t.open = &open_loop;
    register_port_type(std::move(t));
}

// -- a user of the new type: the ordinary ring API

int run(std::uint32_t count) {
    PortOptions o;
    o.tx_slots = o.rx_slots = 256;
    o.memory.hugepages = HugepagePolicy::never;
    auto tx = Port::open("loop:demo/T", o);
    auto rx = Port::open("loop:demo,rx", o);
    if (!tx || !rx) {
        std::fprintf(stderr, "loopback_port: %s\n", (!tx ? tx.error() : rx.error()).message.c_str());
        return 1;
    }
    std::atomic<bool> failed{false};
    std::thread sender([&] {
        Port& p = *tx.value();
        netmap_ring* r = p.tx_ring(0);
        for (std::uint32_t seq = 0; seq < count && !failed;) {
            if (nm_ring_space(r) == 0 && p.wait(Direction::tx, std::chrono::seconds(10)) <= 0) {
                failed = true;
                break;
            }
            for (std::uint32_t k = nm_ring_space(r); k > 0 && seq < count; k--, seq++) {
                netmap_slot& s = r->slot[r->cur];
                std::memcpy(NETMAP_BUF(r, s.buf_idx), &seq, sizeof seq);
                s.len = 60;
                r->head = r->cur = nm_ring_next(r, r->cur);
            }
            if (p.txsync() < 0) failed = true;
        }
        // Frames the receiver had no room for yet are still in the tx ring
        // (a txsync moves only what fits): keep syncing until it is drained.
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (nm_tx_pending(r) && !failed) {
            if (p.txsync() < 0 || std::chrono::steady_clock::now() > until) failed = true;
            std::this_thread::yield();
        }
    });
    Port& p = *rx.value();
    netmap_ring* r = p.rx_ring(0);
    std::uint32_t expect = 0;
    while (expect < count && !failed) {
        if (p.wait(Direction::rx, std::chrono::seconds(10)) <= 0) {
            std::fprintf(stderr, "loopback_port: nothing arrived for 10 s after frame %u: %s\n", expect,
                         p.last_error());
            failed = true;
            break;
        }
        for (; !nm_ring_empty(r); r->head = r->cur = nm_ring_next(r, r->cur)) {
            std::uint32_t seq = 0;
            std::memcpy(&seq, NETMAP_BUF(r, r->slot[r->cur].buf_idx), sizeof seq);
            if (seq != expect) {
                std::fprintf(stderr, "loopback_port: frame %u arrived where %u was expected\n", seq, expect);
                failed = true;
                break;
            }
            expect++;
        }
    }
    sender.join();
    if (failed) return 1;
    std::printf("loopback_port: %u frames through loop:demo, in order (tx counted %llu)\n", expect,
                static_cast<unsigned long long>(tx.value()->counters(Direction::tx).packets));
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    std::uint32_t count = 100000;
    for (int i = 1; i < argc; i++) {
        if (std::string(argv[i]) == "-n" && i + 1 < argc) {
            count = std::uint32_t(std::strtoul(argv[++i], nullptr, 10));
        } else {
            std::fprintf(stderr, "usage: loopback_port [-n COUNT]\n");
            return 2;
        }
    }
    register_loop();
    return run(count);
}
