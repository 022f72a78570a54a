// netmap pipes.
//
// A pipe is two ends, master "{N" and slave "}N", each with one tx and one rx
// ring. Every pipe of one NAME lives in one memory region, so the
// application may also swap buffers between pipes of that name. txsync on
// one end moves whole packets to the other end's rx ring by swapping slots
// (zero copy: only the 16-byte netmap_slot moves); the sender's tx slot gets
// the receiver's free buffer back with NS_BUF_CHANGED.
//
// Threads: each end is used by one thread. The sender writes the peer rx
// ring's slots beyond its nr_hwtail and publishes nr_hwtail (release); the
// receiver's rxsync publishes nr_hwcur (release) to give slots back. A
// sleeping peer is woken through its eventfd only when its sleeping flag is
// set, so two streaming ends make no system calls.
//
// Trust: a swap re-reads two slots the applications can write at any
// time, the sender's tx slot (checked by the prologue, but another thread
// of the sender may rewrite it after) and the receiver's free rx slot
// (given back through rxsync, but the receiver may scribble on it after).
// Both indices are checked against the region, and the length against the
// buffer size, in the swap loop (one branch per slot). A slot pair that
// fails moves nothing: the sender keeps its buffer (len 0), the receiver's
// slot arrives empty (len 0) with the index it holds, and the frame is
// counted as a drop on the receiving ring. No index that failed the check
// is ever handed to the other end.
#include "pipes/pipe.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>

namespace upio::pipes {
namespace {

// Default capacity of a NAME's region, in pipe pairs.
constexpr std::uint32_t default_pairs = 2;

struct PipeGroup {
    std::shared_ptr<MemoryRegion> mem;
    std::uint32_t slots = 0;
};

// Moves n slots from the sender's tx ring (t) to the receiver's rx ring
// (d): d gets the packet (buf_idx, len, ptr; of the flags only NS_MOREFRAG,
// plus NS_BUF_CHANGED), t gets d's free buffer with NS_BUF_CHANGED and len
// 0. Returns the bytes moved; `bad` counts the slot pairs with an index
// outside the region's buffers or a length above `bufsz` (see the top of
// the file). `nbufs` is the region's buffer count less
// MemoryRegion::first_buf. With SSE2 a slot
// moves as one 16-byte register and the lengths add up in another.
std::uint64_t swap_run(netmap_slot* t, netmap_slot* d, std::uint32_t n, std::uint32_t nbufs, std::uint32_t bufsz,
                       std::uint32_t& bad) noexcept {
    // flags are bits 48..63 of a slot's first 64-bit word, len bits 32..47
    constexpr std::uint64_t keep = ~(std::uint64_t(0xffff & ~NS_MOREFRAG) << 48);
    constexpr std::uint64_t changed = std::uint64_t(NS_BUF_CHANGED) << 48;
    constexpr std::uint32_t first = MemoryRegion::first_buf;
#if defined(__SSE2__)
    const __m128i keep_v = _mm_set_epi64x(-1, std::int64_t(keep));
    const __m128i changed_v = _mm_set_epi64x(0, std::int64_t(changed));
    const __m128i len_v = _mm_set_epi64x(0, std::int64_t(0xffffull << 32));
    __m128i sum = _mm_setzero_si128(); // len << 32 per slot: 65536 slots of 65535 bytes still fit
    for (std::uint32_t k = 0; k < n; k++) {
        // Ask for d's line 32 slots ahead for writing: it arrives from the
        // receiver's cache once, exclusive, instead of shared for the
        // buf_idx load and again for the store (PREFETCHW; a no-op where
        // the CPU lacks it). Not past the run: those slots are the receiver's.
        if (k + 32 < n) asm volatile("prefetchw %0" : : "m"(d[k + 32]));
        const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(t + k));
        const std::uint32_t free_idx = d[k].buf_idx, sent_idx = std::uint32_t(_mm_cvtsi128_si32(x));
        const std::uint32_t sent_len = std::uint32_t(_mm_extract_epi16(x, 2));
        if ((free_idx - first >= nbufs) | (sent_idx - first >= nbufs) | (sent_len > bufsz)) [[unlikely]] {
            bad++;
            d[k].len = 0;
            d[k].flags = std::uint16_t(t[k].flags & NS_MOREFRAG);
            t[k].len = 0;
            t[k].flags = 0;
            continue;
        }
        const __m128i free_buf = _mm_cvtsi32_si128(std::int32_t(free_idx));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(d + k), _mm_or_si128(_mm_and_si128(x, keep_v), changed_v));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(t + k), _mm_or_si128(free_buf, changed_v));
        sum = _mm_add_epi64(sum, _mm_and_si128(x, len_v));
    }
    return std::uint64_t(_mm_cvtsi128_si64(sum)) >> 32;
#else
    std::uint64_t bytes = 0;
    for (std::uint32_t k = 0; k < n; k++) {
        // as two 64-bit words: {buf_idx, len, flags} and ptr
        std::uint64_t w0, w1;
        std::memcpy(&w0, &t[k], 8);
        std::memcpy(&w1, reinterpret_cast<const char*>(&t[k]) + 8, 8);
        const std::uint64_t free_buf = d[k].buf_idx;
        if ((std::uint32_t(free_buf) - first >= nbufs) | (std::uint32_t(w0) - first >= nbufs) |
            (((w0 >> 32) & 0xffff) > bufsz)) [[unlikely]] {
            bad++;
            d[k].len = 0;
            d[k].flags = std::uint16_t((w0 >> 48) & NS_MOREFRAG);
            t[k].len = 0;
            t[k].flags = 0;
            continue;
        }
        bytes += (w0 >> 32) & 0xffff;
        w0 = (w0 & keep) | changed;
        std::memcpy(&d[k], &w0, 8);
        std::memcpy(reinterpret_cast<char*>(&d[k]) + 8, &w1, 8);
        const std::uint64_t back = free_buf | changed;
        std::memcpy(&t[k], &back, 8);
        std::memset(reinterpret_cast<char*>(&t[k]) + 8, 0, 8);
    }
    return bytes;
#endif
}

class alignas(64) PipeEnd final : public Adapter {
public:
    PipeEnd(std::string name) : Adapter(std::move(name)) {}

    Status init(std::shared_ptr<MemoryRegion> mem, std::uint32_t slots) {
        return create_rings(std::move(mem), RingConfig{1, 1, slots, slots});
    }

    int txsync(KRing& k, unsigned) noexcept override {
        KRing& rx = peer->kring(Direction::rx, 0);
        netmap_slot* ts = k.ring->slot;
        netmap_slot* rs = rx.ring->slot;
        std::uint32_t i = k.nr_hwcur.load(std::memory_order_relaxed);
        const std::uint32_t head = k.rhead;
        std::uint32_t avail = k.distance(i, head);
        if (avail == 0) return 0;

        std::uint32_t j = rx.nr_hwtail.load(std::memory_order_relaxed); // we are its only writer
        std::uint32_t space = rx.distance(j, rx.prev(peer_hwcur));
        if (space < avail) { // refresh our view of what the receiver released
            peer_hwcur = rx.nr_hwcur.load(std::memory_order_acquire);
            space = rx.distance(j, rx.prev(peer_hwcur));
        }
        std::uint32_t m = std::min(avail, space);
        // Publish whole packets only: stop after the last slot that ends one.
        if (m) {
            std::uint32_t last = i + m - 1;
            if (last >= k.num_slots) last -= k.num_slots;
            while (m && (ts[last].flags & NS_MOREFRAG)) {
                m--;
                last = k.prev(last);
            }
        }
        if (m == 0) return 0; // peer full: the packets stay queued in [hwcur, head)
        // Swap in contiguous runs (no wrap test per slot).
        std::uint64_t bytes = 0;
        std::uint32_t bad = 0;
        const std::uint32_t nbufs = memory().num_bufs() - MemoryRegion::first_buf, bufsz = memory().buf_size();
        for (std::uint32_t left = m; left;) {
            std::uint32_t run = std::min({left, k.num_slots - i, rx.num_slots - j});
            bytes += swap_run(ts + i, rs + j, run, nbufs, bufsz, bad);
            left -= run;
            i += run;
            j += run;
            if (i == k.num_slots) i = 0;
            if (j == rx.num_slots) j = 0;
        }
        rx.nr_hwtail.store(j, std::memory_order_release);
        k.nr_hwcur.store(i, std::memory_order_relaxed);
        k.nr_hwtail.store(k.prev(i), std::memory_order_relaxed); // sent slots are free again at once
        RingCounters::add(k.stats.packets, m - bad);
        RingCounters::add(k.stats.bytes, bytes);
        RingCounters::add(rx.stats.packets, m - bad); // the sender is the rx counters' only writer
        RingCounters::add(rx.stats.bytes, bytes);
        if (bad) [[unlikely]] RingCounters::add(rx.stats.drops, bad);
        wake_if_sleeping(rx);
        return 0;
    }

    int rxsync(KRing& k, unsigned) noexcept override {
        // Give [hwcur, head) back to the sender; nr_hwtail is the sender's.
        if (k.nr_hwcur.load(std::memory_order_relaxed) != k.rhead) {
            k.nr_hwcur.store(k.rhead, std::memory_order_release);
            wake_if_sleeping(peer->kring(Direction::tx, 0));
        }
        return 0;
    }

    PipeEnd* peer = nullptr;
    // the sender's cached copy of the peer rx nr_hwcur, on a line of its own:
    // the peer thread reads this object's other fields on every sync
    alignas(64) std::uint32_t peer_hwcur = 0;
    char pad_[60];
};

// Both ends live and die together; a Port holds the pair through an
// aliasing shared_ptr to its end.
struct PipePair {
    std::shared_ptr<PipeGroup> group;
    std::unique_ptr<PipeEnd> end[2]; // 0: master, 1: slave
    ~PipePair() {
        end[0].reset();
        end[1].reset();
    }
};

std::mutex mu;
std::map<std::string, std::weak_ptr<PipeGroup>> groups;
std::map<std::pair<std::string, std::uint32_t>, std::weak_ptr<PipePair>> pairs;

} // namespace

Result<PipeName> parse_name(std::string_view body) {
    auto brace = body.find_first_of("{}");
    if (brace == std::string_view::npos)
        return make_error(EINVAL, "a pipe needs '{N' (master) or '}N' (slave) after its name");
    PipeName p;
    std::string_view name = body.substr(0, brace);
    bool ok = !name.empty();
    for (char c : name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-');
    if (!ok) return make_error(EINVAL, fmt::format("pipe name '{}' must be letters, digits, _ . -", name));
    p.name = std::string(name);
    p.master = body[brace] == '{';
    std::string_view num = body.substr(brace + 1);
    const std::size_t digits = std::min(num.find_first_not_of("0123456789"), num.size());
    if (digits == 0 || digits > 4 || std::from_chars(num.data(), num.data() + digits, p.id).ec != std::errc() ||
        p.id > 1023)
        return make_error(EINVAL, fmt::format("pipe number '{}' must be 0..1023", digits ? num.substr(0, digits) : num));
    p.length = brace + 1 + digits;
    return p;
}

const PortType& port_type() {
    static const PortType t = [] {
        PortType d;
        d.name = "pipe";
        d.syntax = "pipe:NAME{N | pipe:NAME}N";
        d.summary = "master / slave end of pipe N; all pipes of NAME share one memory region";
        d.shorthands = shorthand_ring | shorthand_dir; // N is digits: a '-' or '/' after it is a suffix
        d.parse = [](std::string_view, std::string_view body) -> Result<std::size_t> {
            auto p = parse_name(body);
            if (!p) return std::move(p).error();
            return p.value().length;
        };
        d.open = &open_adapter;
        return d;
    }();
    return t;
}

Result<std::shared_ptr<Adapter>> open_adapter(const PortName& name, const PortOptions& opts) {
    auto parsed = parse_name(name.body);
    if (!parsed) return make_error(EINVAL, fmt::format("{}: {}", name.full, parsed.error().message));
    const PipeName& pn = parsed.value();
    const std::string& full = name.full;
    std::lock_guard lk(mu);
    const int which = pn.master ? 0 : 1;
    auto key = std::pair{pn.name, pn.id};
    if (auto it = pairs.find(key); it != pairs.end())
        if (auto pair = it->second.lock()) return std::shared_ptr<Adapter>(pair, pair->end[which].get());

    std::shared_ptr<PipeGroup> group;
    if (auto it = groups.find(pn.name); it != groups.end()) group = it->second.lock();
    if (!group) {
        const std::uint32_t slots = std::max(opts.tx_slots, opts.rx_slots);
        RingConfig one{1, 1, slots, slots};
        std::uint32_t bufs = opts.memory.num_bufs;
        if (bufs == 0) bufs = default_pairs * (4 * slots + 2 * opts.extra_bufs) + MemoryRegion::first_buf;
        std::size_t objs = opts.memory.object_bytes;
        if (objs == 0) {
            std::size_t npairs = bufs / (4 * slots) + 1;
            objs = npairs * (2 * ring_bytes(one) + 4 * nifp_bytes(2)) + 4096;
        }
        auto mem = MemoryRegion::create(fmt::format("pipe:{}", pn.name), objs, bufs, opts.memory);
        if (!mem) return std::move(mem).error();
        group = std::make_shared<PipeGroup>(PipeGroup{std::move(mem.value()), slots});
        groups[pn.name] = group;
    }

    auto pair = std::make_shared<PipePair>();
    pair->group = group;
    for (int e = 0; e < 2; e++) {
        pair->end[e] = std::make_unique<PipeEnd>(fmt::format("pipe:{}{}{}", pn.name, e == 0 ? '{' : '}', pn.id));
        if (Status s = pair->end[e]->init(group->mem, group->slots); !s)
            return make_error(s.error().code, fmt::format("{}: {} (pipe:{} holds {} buffers; open its first pipe "
                                                          "with more: PortOptions::memory.num_bufs)",
                                                          full, s.error().message, pn.name,
                                                          group->mem->num_bufs()));
    }
    pair->end[0]->peer = pair->end[1].get();
    pair->end[1]->peer = pair->end[0].get();
    pairs[key] = pair;
    return std::shared_ptr<Adapter>(pair, pair->end[which].get());
}

} // namespace upio::pipes
