// pkt-gen's workers: sender, receiver, ping and pong loops.
#include "pktgen.hpp"

#include <upio/netmap_user.h>

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

namespace pktgen {
namespace {

using clock = std::chrono::steady_clock;
constexpr auto poll_slice = std::chrono::milliseconds(100);

std::uint64_t now_ns() {
    return std::uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now().time_since_epoch()).count());
}

// Token bucket for -R: at most `batch` packets of credit. At low rates it
// sleeps until the next packet is due, so the rate holds at 1 pps too.
class Pacer {
public:
    Pacer(double rate, std::uint32_t batch) : rate_(rate), cap_(std::max<double>(batch, 1)) {}
    std::uint32_t allow(std::uint32_t want) {
        if (rate_ <= 0) return want;
        auto now = clock::now();
        tokens_ = std::min(cap_, tokens_ + rate_ * std::chrono::duration<double>(now - last_).count());
        last_ = now;
        if (tokens_ < 1) {
            auto wait = std::chrono::duration<double>((1 - tokens_) / rate_);
            if (wait > std::chrono::microseconds(50))
                std::this_thread::sleep_for(wait);
            return 0;
        }
        auto n = std::uint32_t(std::min<double>(want, tokens_));
        tokens_ -= n;
        return n;
    }

private:
    double rate_, cap_, tokens_ = 1;
    clock::time_point last_ = clock::now();
};

int wait_or_sync(upio::Port& p, upio::Direction d, const Config& cfg) {
    if (cfg.busy) return d == upio::Direction::tx ? p.txsync() : p.rxsync();
    int rc = p.wait(d, poll_slice);
    return rc < 0 ? rc : 0;
}

// Frame number n of a sender that varies addresses/sizes, sequences or replays.
std::uint16_t make_frame(std::uint8_t* buf, const Config& cfg, std::uint64_t n, std::uint64_t& rng,
                         std::uint32_t bufsz, std::uint32_t stream) {
    if (!cfg.replay.empty()) {
        const auto& f = cfg.replay[n % cfg.replay.size()];
        auto len = std::uint16_t(std::min<std::size_t>(f.size(), bufsz));
        std::memcpy(buf, f.data(), len);
        return len;
    }
    FrameSpec s = cfg.frame;
    std::size_t size = s.size;
    if (cfg.vary.any()) {
        const Variation& v = cfg.vary;
        if (v.src_ip.lo != v.src_ip.hi) s.src_ip = v.src_ip.pick(n, rng);
        if (v.dst_ip.lo != v.dst_ip.hi) s.dst_ip = v.dst_ip.pick(n, rng);
        if (v.src_port.lo != v.src_port.hi) s.src_port = std::uint16_t(v.src_port.pick(n, rng));
        if (v.dst_port.lo != v.dst_port.hi) s.dst_port = std::uint16_t(v.dst_port.pick(n, rng));
        if (v.size.lo != v.size.hi) size = v.size.pick(n, rng);
    }
    const std::uint64_t seq = std::uint64_t(stream) << 48 | n;
    return write_frame(buf, s, std::min<std::size_t>(size, bufsz), cfg.seq ? &seq : nullptr, nullptr);
}

} // namespace

bool pin_to_cpu(int cpu) {
    if (cpu < 0) return true;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

void run_sender(Worker& w, const Config& cfg, Shared& sh) {
    upio::Port& port = *w.port;
    const bool fixed = cfg.replay.empty() && !cfg.vary.any() && !cfg.seq;
    const auto frame = build_frame(cfg.frame);
    const auto len = std::uint16_t(frame.size());
    const std::uint32_t bufsz = port.memory().buf_size();
    Pacer pacer(cfg.rate, cfg.batch);
    netmap_ring* ring = port.tx_ring(port.first_ring(upio::Direction::tx));
    std::uint64_t rng = 0x9e3779b97f4a7c15ull ^ std::uint64_t(ring->ringid + 1);

    // Fixed frames: fill every buffer the ring starts with; later only
    // swapped-in buffers (NS_BUF_CHANGED) need the frame again.
    if (fixed)
        for (std::uint32_t i = 0; i < ring->num_slots; i++)
            std::memcpy(NETMAP_BUF(ring, ring->slot[i].buf_idx), frame.data(), len);

    std::uint64_t sent = 0;
    while (!sh.stop.load(std::memory_order_relaxed) && (cfg.count == 0 || sent < cfg.count)) {
        std::uint32_t n = nm_ring_space(ring);
        if (n == 0) {
            if (wait_or_sync(port, upio::Direction::tx, cfg) < 0) {
                w.error = port.last_error();
                break;
            }
            continue;
        }
        n = std::min<std::uint32_t>(n, cfg.batch);
        if (cfg.count) n = std::uint32_t(std::min<std::uint64_t>(n, cfg.count - sent));
        n = pacer.allow(n);
        if (n == 0) continue;
        std::uint32_t cur = ring->cur;
        std::uint64_t bytes = 0;
        for (std::uint32_t k = 0; k < n; k++) {
            netmap_slot& s = ring->slot[cur];
            auto* buf = reinterpret_cast<std::uint8_t*>(NETMAP_BUF(ring, s.buf_idx));
            if (fixed) {
                if (s.flags & NS_BUF_CHANGED) std::memcpy(buf, frame.data(), len);
                s.len = len;
            } else {
                s.len = make_frame(buf, cfg, sent + k, rng, bufsz, w.stream);
            }
            s.flags = 0;
            bytes += s.len;
            cur = nm_ring_next(ring, cur);
        }
        ring->head = ring->cur = cur;
        if (port.txsync() < 0) {
            w.error = port.last_error();
            break;
        }
        sent += n;
        w.stats.add(n, bytes);
    }
    // Push what a full peer has not taken yet (bounded: a dead peer must not hang us).
    for (auto t0 = clock::now(); nm_tx_pending(ring) && clock::now() - t0 < std::chrono::seconds(1);) {
        if (port.txsync() < 0) break;
        std::this_thread::yield();
    }
    w.done.store(true);
}

void run_receiver(Worker& w, const Config& cfg, Shared& sh) {
    upio::Port& port = *w.port;
    netmap_ring* ring = port.rx_ring(port.first_ring(upio::Direction::rx));
    std::uint64_t got = 0;
    // in-process: -n counts per sender; a receiver expects all of them
    const std::uint64_t want = cfg.count * (cfg.mode.starts_with("txrx") ? cfg.streams : 1);
    auto idle_since = clock::now();
    while (!sh.stop.load(std::memory_order_relaxed) && (want == 0 || got < want)) {
        if (wait_or_sync(port, upio::Direction::rx, cfg) < 0) {
            w.error = port.last_error();
            break;
        }
        std::uint32_t n = nm_ring_space(ring);
        if (n == 0) {
            // in-process senders finished and nothing arrived for a while: done
            if (sh.senders_done.load(std::memory_order_relaxed) && clock::now() - idle_since > poll_slice) break;
            continue;
        }
        idle_since = clock::now();
        std::uint64_t bytes = 0;
        std::uint32_t cur = ring->cur;
        for (std::uint32_t k = 0; k < n; k++) {
            const netmap_slot& s = ring->slot[cur];
            bytes += s.len;
            if (cfg.seq || w.pcap) [[unlikely]] {
                auto* buf = reinterpret_cast<const std::uint8_t*>(NETMAP_BUF(ring, s.buf_idx));
                if (cfg.seq && s.len >= stamp_offset) {
                    const std::uint64_t v = frame_seq(buf);
                    const std::size_t stream = std::size_t(v >> 48);
                    if (stream < w.seq.size()) w.seq[stream].add(v & ((std::uint64_t(1) << 48) - 1));
                }
                if (w.pcap) pcap_write(w.pcap, buf, s.len);
            }
            cur = nm_ring_next(ring, cur);
        }
        ring->head = ring->cur = cur;
        got += n;
        w.stats.add(n, bytes);
    }
    w.done.store(true);
}

// ping: one request at a time, each carrying its sequence number and send
// time; the round trip is measured when the matching reply comes back.
void run_ping(Worker& w, const Config& cfg, Shared& sh) {
    upio::Port& port = *w.port;
    netmap_ring* tx = port.tx_ring(port.first_ring(upio::Direction::tx));
    netmap_ring* rx = port.rx_ring(port.first_ring(upio::Direction::rx));
    Pacer pacer(cfg.rate, 1);
    const std::size_t size = std::max<std::size_t>(cfg.frame.size, stamp_offset + 8);
    for (std::uint64_t seq = 0; !sh.stop.load(std::memory_order_relaxed) && (cfg.count == 0 || seq < cfg.count);) {
        if (pacer.allow(1) == 0) continue;
        if (nm_ring_empty(tx) && wait_or_sync(port, upio::Direction::tx, cfg) < 0) break;
        if (nm_ring_empty(tx)) continue;
        netmap_slot& s = tx->slot[tx->cur];
        const std::uint64_t t0 = now_ns();
        s.len = write_frame(reinterpret_cast<std::uint8_t*>(NETMAP_BUF(tx, s.buf_idx)), cfg.frame, size, &seq, &t0);
        s.flags = 0;
        tx->head = tx->cur = nm_ring_next(tx, tx->cur);
        if (port.txsync() < 0) {
            w.error = port.last_error();
            break;
        }
        bool answered = false;
        while (!answered && !sh.stop.load(std::memory_order_relaxed) && now_ns() - t0 < 1'000'000'000ull) {
            if (cfg.busy) {
                port.rxsync();
            } else if (port.wait(upio::Direction::rx, std::chrono::milliseconds(50)) < 0) {
                w.error = port.last_error();
                break;
            }
            for (; !nm_ring_empty(rx); rx->head = rx->cur = nm_ring_next(rx, rx->cur)) {
                const auto* buf = reinterpret_cast<const std::uint8_t*>(NETMAP_BUF(rx, rx->slot[rx->cur].buf_idx));
                if (rx->slot[rx->cur].len < stamp_offset + 8 || frame_seq(buf) != seq) continue; // stale reply
                const std::uint64_t rtt = now_ns() - frame_stamp(buf);
                std::lock_guard lk(w.rtt_mu);
                w.rtt.add(rtt);
                answered = true;
            }
        }
        if (!answered) w.lost++;
        w.stats.add(1, s.len);
        seq++;
    }
    w.done.store(true);
}

// pong: turns every frame around and sends it back on the same port.
void run_pong(Worker& w, const Config& cfg, Shared& sh) {
    upio::Port& port = *w.port;
    netmap_ring* rx = port.rx_ring(port.first_ring(upio::Direction::rx));
    netmap_ring* tx = port.tx_ring(port.first_ring(upio::Direction::tx));
    std::uint64_t done = 0;
    while (!sh.stop.load(std::memory_order_relaxed) && (cfg.count == 0 || done < cfg.count)) {
        if (nm_ring_empty(rx) && wait_or_sync(port, upio::Direction::rx, cfg) < 0) {
            w.error = port.last_error();
            break;
        }
        std::uint32_t n = std::min(nm_ring_space(rx), nm_ring_space(tx));
        if (n == 0) {
            if (!nm_ring_empty(rx)) wait_or_sync(port, upio::Direction::tx, cfg);
            continue;
        }
        std::uint64_t bytes = 0;
        for (std::uint32_t k = 0; k < n; k++) {
            netmap_slot& rs = rx->slot[rx->cur];
            netmap_slot& ts = tx->slot[tx->cur];
            auto* buf = reinterpret_cast<std::uint8_t*>(NETMAP_BUF(rx, rs.buf_idx));
            if (rs.len >= headers) swap_addresses(buf);
            std::swap(rs.buf_idx, ts.buf_idx); // same region: zero copy
            ts.len = rs.len;
            ts.flags = NS_BUF_CHANGED;
            rs.flags = NS_BUF_CHANGED;
            bytes += ts.len;
            rx->head = rx->cur = nm_ring_next(rx, rx->cur);
            tx->head = tx->cur = nm_ring_next(tx, tx->cur);
        }
        if (port.txsync() < 0 || port.rxsync() < 0) {
            w.error = port.last_error();
            break;
        }
        done += n;
        w.stats.add(n, bytes);
    }
    w.done.store(true);
}

} // namespace pktgen
