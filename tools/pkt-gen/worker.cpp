// pkt-gen's workers: sender, receiver, ping and pong loops.
#include "pktgen.hpp"

#include <upio/netmap_user.h>

#include <fmt/format.h>

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

// Frame number n of a sender that varies addresses/sizes, sequences or
// replays, written into `buf` (at most `cap` bytes).
// Sequenced frames carry `stamp`, the time their batch was built.
std::uint16_t make_frame(std::uint8_t* buf, const Config& cfg, std::uint64_t n, std::uint64_t& rng, std::size_t cap,
                         std::uint32_t stream, std::uint64_t stamp) {
    if (!cfg.replay.empty()) {
        const auto& f = cfg.replay[n % cfg.replay.size()];
        auto len = std::uint16_t(std::min<std::size_t>(f.size(), cap));
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
    return write_frame(buf, s, std::min<std::size_t>(size, cap), cfg.seq ? &seq : nullptr, cfg.seq ? &stamp : nullptr);
}

// The longest frame a sender may build.
std::size_t longest_frame(const Config& cfg) {
    if (cfg.replay.empty()) return std::max<std::size_t>(cfg.frame.size, min_frame);
    std::size_t m = 0;
    for (const auto& f : cfg.replay) m = std::max(m, f.size());
    return m;
}

std::string seconds(double s) { return fmt::format("{:g} s", s); }

// Chains (frames larger than a buffer) are the rare case: written and read
// out of line, so the per-packet loops stay as small as they are without.
[[gnu::noinline]] std::uint32_t put_chain(netmap_ring* r, std::uint32_t cur, const void* data,
                                          std::size_t len) noexcept {
    return upio::nm_put_chain(r, cur, data, len);
}
[[gnu::noinline]] std::size_t get_chain(netmap_ring* r, std::uint32_t cur, void* out, std::size_t cap,
                                        std::uint32_t& next) noexcept {
    return upio::nm_get_chain(r, cur, out, cap, next);
}

} // namespace

bool pin_to_cpu(int cpu) {
    if (cpu < 0) return true;
    if (cpu >= CPU_SETSIZE) return false;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

void run_sender(Worker& w, const Config& cfg, Shared& sh) {
    upio::Port& port = *w.port;
    const std::uint32_t bufsz = port.buf_size();
    const std::size_t longest = longest_frame(cfg);
    const std::uint32_t per_frame = upio::chain_slots(longest, bufsz); // > 1: NS_MOREFRAG chains
    const bool fixed = cfg.replay.empty() && !cfg.vary.any() && !cfg.seq && per_frame == 1;
    const auto frame = build_frame(cfg.frame);
    const auto len = std::uint16_t(frame.size());
    std::vector<std::uint8_t> scratch(per_frame > 1 ? longest : 0); // chains are built here, then split
    Pacer pacer(cfg.rate, cfg.batch);
    netmap_ring* ring = port.tx_ring(port.first_ring(upio::Direction::tx));
    std::uint64_t rng = 0x9e3779b97f4a7c15ull ^ std::uint64_t(ring->ringid + 1);
    if (per_frame >= ring->num_slots) {
        w.error = fmt::format("a {}-byte frame takes {} of the ring's {} slots; raise --slots", longest, per_frame,
                              ring->num_slots);
        w.done.store(true);
        return;
    }

    // Fixed frames: fill every buffer the ring starts with; later only
    // swapped-in buffers (NS_BUF_CHANGED) need the frame again.
    if (fixed)
        for (std::uint32_t i = 0; i < ring->num_slots; i++)
            std::memcpy(NETMAP_BUF(ring, ring->slot[i].buf_idx), frame.data(), len);

    std::uint64_t sent = 0;
    auto progress = clock::now(); // the ring last had room
    while (!sh.stop.load(std::memory_order_relaxed) && !sh.leaders_stop.load(std::memory_order_relaxed) &&
           (cfg.count == 0 || sent < cfg.count)) {
        std::uint32_t n = nm_ring_space(ring) / per_frame;
        if (n == 0) {
            if (wait_or_sync(port, upio::Direction::tx, cfg) < 0) {
                w.error = port.last_error();
                break;
            }
            if (nm_ring_space(ring) >= per_frame) {
                progress = clock::now();
            } else if (cfg.timeout > 0 && clock::now() - progress > std::chrono::duration<double>(cfg.timeout)) {
                w.error = fmt::format("the tx ring stayed full for {} after {} packets: nothing takes the frames "
                                      "(is the receiving side running, the link up?); --timeout 0 waits forever",
                                      seconds(cfg.timeout), sent);
                break;
            }
            continue;
        }
        progress = clock::now();
        n = std::min<std::uint32_t>(n, cfg.batch);
        if (cfg.count) n = std::uint32_t(std::min<std::uint64_t>(n, cfg.count - sent));
        n = pacer.allow(n);
        if (n == 0) continue;
        std::uint32_t cur = ring->cur;
        std::uint64_t bytes = 0;
        const std::uint64_t stamp = cfg.seq ? now_ns() : 0; // one clock read per batch
        for (std::uint32_t k = 0; k < n; k++) {
            netmap_slot& s = ring->slot[cur];
            auto* buf = reinterpret_cast<std::uint8_t*>(NETMAP_BUF(ring, s.buf_idx));
            if (fixed) {
                if (s.flags & NS_BUF_CHANGED) std::memcpy(buf, frame.data(), len);
                s.len = len;
                s.flags = 0;
                bytes += len;
                cur = nm_ring_next(ring, cur);
            } else if (per_frame == 1) {
                s.len = make_frame(buf, cfg, sent + k, rng, bufsz, w.stream, stamp);
                s.flags = 0;
                bytes += s.len;
                cur = nm_ring_next(ring, cur);
            } else {
                const std::uint16_t l = make_frame(scratch.data(), cfg, sent + k, rng, scratch.size(), w.stream, stamp);
                cur = put_chain(ring, cur, scratch.data(), l);
                bytes += l;
            }
        }
        ring->head = ring->cur = cur;
        if (port.txsync() < 0) {
            w.error = port.last_error();
            break;
        }
        sent += n;
        w.stats.add(n, bytes);
    }
    // Push what a full peer has not taken yet: at most two seconds, and only
    // while the peer takes some every 400 ms (one that is gone, or never
    // came, must not keep us; one in another process may be descheduled
    // for a while on a loaded machine); after an error nobody waits for
    // the rest.
    // Short sleeps between syncs, so the wait costs no CPU.
    const auto t0 = clock::now();
    auto moved = t0;
    for (std::uint32_t space = nm_ring_space(ring); w.error.empty() && nm_tx_pending(ring);) {
        const auto now = clock::now();
        if (now - t0 > std::chrono::seconds(2) || now - moved > std::chrono::milliseconds(400)) break;
        if (port.txsync() < 0) break;
        if (nm_ring_space(ring) != space) {
            space = nm_ring_space(ring);
            moved = now;
            continue;
        }
        std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    w.done.store(true);
}

void run_receiver(Worker& w, const Config& cfg, Shared& sh) {
    upio::Port& port = *w.port;
    netmap_ring* ring = port.rx_ring(port.first_ring(upio::Direction::rx));
    std::vector<std::uint8_t> chain(w.pcap ? 65536 : 0); // a chained frame, gathered for the capture
    std::uint64_t got = 0;
    // in-process: -n counts per sender; a receiver expects all of them
    const std::uint64_t want = cfg.count * (cfg.mode.starts_with("txrx") ? cfg.streams : 1);
    auto idle_since = clock::now();
    const std::uint16_t my_clock = clock_tag();
    while (!sh.stop.load(std::memory_order_relaxed) && (want == 0 || got < want)) {
        if (wait_or_sync(port, upio::Direction::rx, cfg) < 0) {
            w.error = port.last_error();
            break;
        }
        const std::uint64_t arrived = cfg.seq ? now_ns() : 0; // one clock read per batch, after the sync
        // whole frames only (a chain of NS_MOREFRAG slots is one), at most a batch
        FrameReader frames(ring);
        std::uint32_t first, nslots, n = 0;
        std::size_t flen;
        std::uint64_t bytes = 0;
        const std::uint32_t limit = want ? std::uint32_t(std::min<std::uint64_t>(cfg.batch, want - got)) : cfg.batch;
        while (n < limit && frames.next(first, nslots, flen)) {
            n++;
            bytes += flen;
            if (cfg.seq || w.pcap) [[unlikely]] {
                const netmap_slot& f = ring->slot[first];
                auto* buf = reinterpret_cast<const std::uint8_t*>(NETMAP_BUF(ring, f.buf_idx));
                if (cfg.seq && f.len >= stamp_offset) {
                    const std::uint64_t v = frame_seq(buf);
                    const std::size_t stream = std::size_t(v >> 48);
                    if (stream < w.seq.size()) w.seq[stream].add(v & ((std::uint64_t(1) << 48) - 1));
                }
                if (cfg.seq && f.len >= clock_offset + 2) { // one-way latency, on one host's clock only
                    const std::uint64_t sent_at = frame_stamp(buf);
                    if (frame_clock(buf) == my_clock && sent_at <= arrived)
                        w.one_way.add(arrived - sent_at);
                    else
                        w.other_clock++;
                }
                bool ok = true;
                if (w.pcap && nslots == 1) {
                    ok = pcap_write(w.pcap, buf, f.len);
                } else if (w.pcap) {
                    std::uint32_t after;
                    const std::size_t l = get_chain(ring, first, chain.data(), chain.size(), after);
                    ok = pcap_write(w.pcap, chain.data(), std::uint32_t(l));
                }
                if (!ok) {
                    w.error = pcap_error(w.pcap);
                    sh.stop.store(true);
                }
            }
        }
        frames.release();
        if (n == 0) {
            // in-process senders finished and nothing arrived for a while: done
            if (sh.senders_done.load(std::memory_order_relaxed) && clock::now() - idle_since > poll_slice) break;
            continue;
        }
        idle_since = clock::now();
        got += n;
        w.stats.add(n, bytes);
        if (!w.error.empty()) break;
    }
    w.done.store(true);
}

// ping: one request at a time, each carrying its sequence number and send
// time; the round trip is measured when the matching reply comes back. A
// reply is awaited at most a second (less with a shorter --timeout); after
// --timeout seconds without any reply the run fails.
void run_ping(Worker& w, const Config& cfg, Shared& sh) {
    upio::Port& port = *w.port;
    netmap_ring* tx = port.tx_ring(port.first_ring(upio::Direction::tx));
    netmap_ring* rx = port.rx_ring(port.first_ring(upio::Direction::rx));
    const std::uint32_t bufsz = port.buf_size();
    Pacer pacer(cfg.rate, 1);
    const std::size_t size = std::max<std::size_t>(cfg.frame.size, stamp_offset + 8);
    const std::uint32_t per_frame = upio::chain_slots(size, bufsz);
    std::vector<std::uint8_t> scratch(size);
    constexpr std::uint64_t second = 1'000'000'000ull;
    const std::uint64_t reply_wait_ns = cfg.timeout > 0 ? std::min(second, std::uint64_t(cfg.timeout * 1e9)) : second;
    std::uint64_t last_reply = now_ns();
    bool mid = false; // rx: inside a chain (only its first slot has the stamp)
    for (std::uint64_t seq = 0; !sh.stop.load(std::memory_order_relaxed) &&
                                !sh.leaders_stop.load(std::memory_order_relaxed) && (cfg.count == 0 || seq < cfg.count);) {
        if (pacer.allow(1) == 0) continue;
        if (nm_ring_space(tx) < per_frame && wait_or_sync(port, upio::Direction::tx, cfg) < 0) {
            w.error = port.last_error();
            break;
        }
        if (nm_ring_space(tx) < per_frame) {
            if (cfg.timeout > 0 && now_ns() - last_reply > std::uint64_t(cfg.timeout * 1e9)) {
                w.error = fmt::format("the tx ring stayed full for {}: the port sends nothing (link down?); "
                                      "--timeout 0 waits forever",
                                      seconds(cfg.timeout));
                break;
            }
            continue;
        }
        const std::uint64_t t0 = now_ns();
        const std::uint16_t len = write_frame(scratch.data(), cfg.frame, size, &seq, &t0);
        tx->head = tx->cur = put_chain(tx, tx->cur, scratch.data(), len);
        if (port.txsync() < 0) {
            w.error = port.last_error();
            break;
        }
        bool answered = false;
        while (!answered && !sh.stop.load(std::memory_order_relaxed) && now_ns() - t0 < reply_wait_ns) {
            if (cfg.busy) {
                if (port.rxsync() < 0) {
                    w.error = port.last_error();
                    break;
                }
            } else if (port.wait(upio::Direction::rx, std::chrono::milliseconds(50)) < 0) {
                w.error = port.last_error();
                break;
            }
            for (; !nm_ring_empty(rx); rx->head = rx->cur = nm_ring_next(rx, rx->cur)) {
                const netmap_slot& s = rx->slot[rx->cur];
                const bool first = !mid;
                mid = s.flags & NS_MOREFRAG;
                const auto* buf = reinterpret_cast<const std::uint8_t*>(NETMAP_BUF(rx, s.buf_idx));
                if (!first || s.len < stamp_offset + 8 || frame_seq(buf) != seq) continue; // stale reply
                const std::uint64_t rtt = now_ns() - frame_stamp(buf);
                std::lock_guard lk(w.rtt_mu);
                w.rtt.add(rtt);
                answered = true;
            }
        }
        if (!w.error.empty()) break;
        w.stats.add(1, len);
        seq++;
        if (answered) {
            last_reply = now_ns();
            continue;
        }
        w.lost++;
        if (cfg.timeout > 0 && now_ns() - last_reply >= std::uint64_t(cfg.timeout * 1e9)) {
            w.error = fmt::format("no reply for {} ({} of {} pings lost): is a pong answering on the other end "
                                  "(pkt-gen -f pong)? --timeout sets how long to wait",
                                  seconds(cfg.timeout), w.lost, seq);
            break;
        }
    }
    w.done.store(true);
}

// pong: turns every frame around and sends it back on the same port.
void run_pong(Worker& w, const Config& cfg, Shared& sh) {
    upio::Port& port = *w.port;
    netmap_ring* rx = port.rx_ring(port.first_ring(upio::Direction::rx));
    netmap_ring* tx = port.tx_ring(port.first_ring(upio::Direction::tx));
    std::uint64_t done = 0;
    bool mid = false; // inside a chain: only its first slot has the headers
    while (!sh.stop.load(std::memory_order_relaxed) && (cfg.count == 0 || done < cfg.count)) {
        if (nm_ring_empty(rx) && wait_or_sync(port, upio::Direction::rx, cfg) < 0) {
            w.error = port.last_error();
            break;
        }
        std::uint32_t n = std::min(nm_ring_space(rx), nm_ring_space(tx));
        if (n == 0) {
            if (!nm_ring_empty(rx) && wait_or_sync(port, upio::Direction::tx, cfg) < 0) {
                w.error = port.last_error();
                break;
            }
            continue;
        }
        std::uint64_t bytes = 0, frames = 0;
        for (std::uint32_t k = 0; k < n; k++) {
            netmap_slot& rs = rx->slot[rx->cur];
            netmap_slot& ts = tx->slot[tx->cur];
            auto* buf = reinterpret_cast<std::uint8_t*>(NETMAP_BUF(rx, rs.buf_idx));
            if (!mid && rs.len >= headers) swap_addresses(buf);
            mid = rs.flags & NS_MOREFRAG;
            frames += !mid;
            std::swap(rs.buf_idx, ts.buf_idx); // same region: zero copy
            ts.len = rs.len;
            ts.flags = std::uint16_t(NS_BUF_CHANGED | (rs.flags & NS_MOREFRAG));
            rs.flags = NS_BUF_CHANGED;
            bytes += ts.len;
            rx->head = rx->cur = nm_ring_next(rx, rx->cur);
            tx->head = tx->cur = nm_ring_next(tx, tx->cur);
        }
        if (port.txsync() < 0 || port.rxsync() < 0) {
            w.error = port.last_error();
            break;
        }
        done += frames;
        w.stats.add(frames, bytes);
    }
    w.done.store(true);
}

} // namespace pktgen
