// pkt-gen's sender and receiver loops.
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

// Token bucket for -R: at most `batch` packets of credit; sleeps at low rates.
class Pacer {
public:
    Pacer(double rate, std::uint32_t batch) : rate_(rate), cap_(std::max<double>(batch, 1)) {}
    std::uint32_t allow(std::uint32_t want) {
        if (rate_ <= 0) return want;
        auto now = clock::now();
        tokens_ = std::min(cap_, tokens_ + rate_ * std::chrono::duration<double>(now - last_).count());
        last_ = now;
        if (tokens_ < 1) {
            std::this_thread::sleep_for(std::chrono::duration<double>((1 - tokens_) / rate_));
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

} // namespace

bool pin_to_cpu(int cpu) {
    if (cpu < 0) return true;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

void run_sender(Worker& w, const Config& cfg, const std::atomic<bool>& stop) {
    upio::Port& port = *w.port;
    const auto frame = build_frame(cfg.frame);
    const auto len = std::uint16_t(frame.size());
    Pacer pacer(cfg.rate, cfg.batch);
    const std::uint32_t first = port.first_ring(upio::Direction::tx);
    netmap_ring* ring = port.tx_ring(first);

    // Fill every buffer the ring starts with; later only swapped-in buffers
    // (NS_BUF_CHANGED) need the frame again.
    for (std::uint32_t i = 0; i < ring->num_slots; i++)
        std::memcpy(NETMAP_BUF(ring, ring->slot[i].buf_idx), frame.data(), len);

    std::uint64_t sent = 0;
    while (!stop.load(std::memory_order_relaxed) && (cfg.count == 0 || sent < cfg.count)) {
        std::uint32_t n = nm_ring_space(ring);
        if (n == 0) {
            int rc = cfg.busy ? port.txsync() : port.wait(upio::Direction::tx, poll_slice);
            if (rc < 0) {
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
        for (std::uint32_t k = 0; k < n; k++) {
            netmap_slot& s = ring->slot[cur];
            if (s.flags & NS_BUF_CHANGED) {
                std::memcpy(NETMAP_BUF(ring, s.buf_idx), frame.data(), len);
                s.flags = 0;
            }
            s.len = len;
            cur = nm_ring_next(ring, cur);
        }
        ring->head = ring->cur = cur;
        if (port.txsync() < 0) {
            w.error = port.last_error();
            break;
        }
        sent += n;
        w.stats.add(n, std::uint64_t(n) * len);
    }
    // Push what a full peer has not taken yet (bounded: a dead peer must not hang us).
    for (auto t0 = clock::now(); nm_tx_pending(ring) && clock::now() - t0 < std::chrono::seconds(1);) {
        if (port.txsync() < 0) break;
        std::this_thread::yield();
    }
    w.done.store(true);
}

void run_receiver(Worker& w, const Config& cfg, const std::atomic<bool>& stop,
                  const std::atomic<bool>& senders_done) {
    upio::Port& port = *w.port;
    const std::uint32_t first = port.first_ring(upio::Direction::rx);
    netmap_ring* ring = port.rx_ring(first);
    std::uint64_t got = 0;
    auto idle_since = clock::now();
    while (!stop.load(std::memory_order_relaxed) && (cfg.count == 0 || got < cfg.count)) {
        int rc = cfg.busy ? port.rxsync() : port.wait(upio::Direction::rx, poll_slice);
        if (rc < 0) {
            w.error = port.last_error();
            break;
        }
        std::uint32_t n = nm_ring_space(ring);
        if (n == 0) {
            // in-process senders finished and nothing arrived for a while: done
            if (senders_done.load(std::memory_order_relaxed) && clock::now() - idle_since > poll_slice) break;
            continue;
        }
        idle_since = clock::now();
        std::uint64_t bytes = 0;
        std::uint32_t cur = ring->cur;
        for (std::uint32_t k = 0; k < n; k++) {
            bytes += ring->slot[cur].len;
            cur = nm_ring_next(ring, cur);
        }
        ring->head = ring->cur = cur;
        got += n;
        w.stats.add(n, bytes);
    }
    w.done.store(true);
}

} // namespace pktgen
