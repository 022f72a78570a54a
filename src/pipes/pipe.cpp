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

#include "pipes/xpipe.hpp"
#include "shm/reactor.hpp"
#include "shm/rendezvous.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <fmt/format.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <tuple>

namespace upio::pipes {
namespace {

// Default capacity of a NAME's region, in pipe pairs.
constexpr std::uint32_t default_pairs = 2;
// Objects a pair served to another process adds: its SharedPipe and room
// for the other process's netmap_if structures.
constexpr std::size_t guest_objects = 1024;
constexpr std::size_t xproc_objects = sizeof(xproc::SharedPipe) + guest_objects + 256;

struct PipeGroup {
    std::shared_ptr<MemoryRegion> mem;
    std::uint32_t slots = 0;
};

} // namespace

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

namespace {

class alignas(64) PipeEnd final : public Adapter {
public:
    PipeEnd(std::string name) : Adapter(std::move(name)) {}

    Status init(std::shared_ptr<MemoryRegion> mem, std::uint32_t slots) {
        return create_rings(std::move(mem), RingConfig{1, 1, slots, slots});
    }

    int txsync(KRing& k, unsigned) noexcept override {
        if (xmode.load(std::memory_order_acquire)) [[unlikely]] // the peer end is in another process
            return xtxsync(k, *xl.load(std::memory_order_acquire), memory());
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
        if (xmode.load(std::memory_order_acquire)) [[unlikely]]
            return xrxsync(k, *xl.load(std::memory_order_acquire), memory());
        // Give [hwcur, head) back to the sender; nr_hwtail is the sender's.
        if (k.nr_hwcur.load(std::memory_order_relaxed) != k.rhead) {
            k.nr_hwcur.store(k.rhead, std::memory_order_release);
            wake_if_sleeping(peer->kring(Direction::tx, 0));
        }
        return 0;
    }

    void set_interrupts(KRing& k, bool on) noexcept override {
        if (xmode.load(std::memory_order_acquire)) xannounce(k, *xl.load(std::memory_order_acquire), on);
    }
    bool link_up() const noexcept override {
        return !xmode.load(std::memory_order_acquire) ||
               xl.load(std::memory_order_acquire)->state.load(std::memory_order_acquire) == LinkState::up;
    }
    const char* explain(const KRing& k, int rc) const noexcept override {
        const XLink* x = xl.load(std::memory_order_acquire);
        return rc == -ENOTCONN && x ? x->why : Adapter::explain(k, rc);
    }
    // A claimed end has no Port here: a wake-up for it comes from a sync of
    // the peer end that started in process mode just before the claim
    // (serve() makes these rings look asleep to catch exactly that), and
    // publishes what that sync moved for the other process.
    void notify(KRing& k) noexcept override {
        if (!claimed.load(std::memory_order_acquire)) return Adapter::notify(k);
        XLink& x = *peer->xl.load(std::memory_order_acquire);
        if (k.dir == Direction::rx)
            std::atomic_ref<std::uint32_t>(x.out->hwtail.v).store(k.nr_hwtail.load(std::memory_order_acquire),
                                                                  std::memory_order_release);
        else
            std::atomic_ref<std::uint32_t>(x.in->hwcur.v)
                .store(peer->kring(Direction::rx, 0).nr_hwcur.load(std::memory_order_acquire),
                       std::memory_order_release);
    }

    PipeEnd* peer = nullptr;
    // nonzero once the peer end is another process's: syncs go through xl
    std::atomic<std::uint32_t> xmode{0};
    std::atomic<XLink*> xl{nullptr}; // written once, by the serving thread, before xmode
    // this end is another process's (set under mu; read by notify())
    std::atomic<bool> claimed{false};
    // the sender's cached copy of the peer rx nr_hwcur, on a line of its own:
    // the peer thread reads this object's other fields on every sync
    alignas(64) std::uint32_t peer_hwcur = 0;
    char pad_[60];
};

// Both ends live and die together; a Port holds the pair through an
// aliasing shared_ptr to its end.
struct PipePair;

// A connection from another process to a pair's rendezvous: waiting for its
// Hello, then (claimed) the pair's link to that process until it hangs up.
struct Conn {
    shm::Fd fd;
    shm::PeerCred cred;
    std::uint64_t watch = 0;
    bool claimed = false;
};

struct PipePair {
    std::shared_ptr<PipeGroup> group;
    std::unique_ptr<PipeEnd> end[2]; // 0: master, 1: slave
    std::string name;                // NAME
    std::uint32_t id = 0;
    // -- serving the pair to another process (the reactor thread, under mu)
    shm::Fd listener;
    std::uint64_t listen_watch = 0;
    std::shared_ptr<Conn> conn; // the claiming process's connection
    int claimed_end = -1;
    bool local_end[2] = {false, false}; // opened in this process: never served to another
    std::unique_ptr<XLink> xlink; // the local end's link to it
    xproc::SharedPipe* shared = nullptr;
    void* guest_objs = nullptr;
    std::uint32_t spare[2] = {0, 0}; // stand-in buffers: [0] the local end's, [1] the other process's
    shm::Fd kick;                    // the other process writes it to wake the local end
    std::uint64_t kick_watch = 0;

    ~PipePair() {
        auto& r = shm::Reactor::instance();
        for (std::uint64_t w : {listen_watch, kick_watch, conn ? conn->watch : 0})
            if (w) r.remove(w);
        end[0].reset();
        end[1].reset();
        if (MemoryRegion* m = group ? group->mem.get() : nullptr) {
            if (shared) m->free_object(shared);
            if (guest_objs) m->free_object(guest_objs);
            for (std::uint32_t b : spare) m->free_buf(b);
        }
    }
};

std::mutex mu;
std::map<std::string, std::weak_ptr<PipeGroup>> groups;
std::map<std::pair<std::string, std::uint32_t>, std::weak_ptr<PipePair>> pairs;
// ends this process opened in pairs other processes serve: (NAME, N, end)
std::map<std::tuple<std::string, std::uint32_t, int>, std::weak_ptr<Adapter>> joined;

std::string end_name(const std::string& name, int end, std::uint32_t id) {
    return fmt::format("pipe:{}{}{}", name, end == 0 ? '{' : '}', id);
}

void wake_local(PipeEnd& e) noexcept {
    for (Direction d : {Direction::tx, Direction::rx}) wake_if_sleeping(e.kring(d, 0));
}

// The reactor thread: another process asks for end h.end of `pair`.
// Answers a Welcome with the region's memfd and our eventfd, or a refusal
// saying why. Under mu.
void serve(PipePair& pair, Conn& c, const xproc::Hello& h, shm::Fd peer_fd) {
    auto refuse = [&](int code, const std::string& msg) {
        xproc::Welcome w;
        w.status = code;
        std::snprintf(w.message, sizeof w.message, "%s", msg.c_str());
        (void)shm::send_msg(c.fd.get(), &w, sizeof w, {});
    };
    const int e = h.end;
    PipeEnd& C = *pair.end[e];
    PipeEnd& H = *pair.end[1 - e];
    const std::string cname = end_name(pair.name, e, pair.id);
    if (pair.claimed_end >= 0 && pair.claimed_end != e)
        return refuse(EBUSY, fmt::format("{} is open in process {}", cname, ::getpid()));
    if (pair.claimed_end < 0 &&
        (pair.local_end[e] || C.kring(Direction::tx, 0).bound.load() || C.kring(Direction::rx, 0).bound.load()))
        return refuse(EBUSY, fmt::format("{} is open in process {}", cname, ::getpid()));
    if (pair.conn && pair.conn->claimed)
        return refuse(EBUSY, fmt::format("{} is open in process {}", cname, pair.conn->cred.pid));
    MemoryRegion& m = *pair.group->mem;
    const std::uint32_t n = pair.group->slots;
    constexpr std::uint32_t invalid = ~0u;
    auto word = [](shm::Flag& f) { return std::atomic_ref<std::uint32_t>(f.v); };
    if (!pair.shared) { // first claim: set up the link, then switch the local end to it
        auto sh = m.alloc_object(sizeof(xproc::SharedPipe));
        auto go = m.alloc_object(guest_objects);
        auto b0 = m.alloc_buf();
        auto b1 = m.alloc_buf();
        shm::Fd kick(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
        if (!sh || !go || !b0 || !b1 || !kick) {
            if (sh) m.free_object(sh.value());
            if (go) m.free_object(go.value());
            if (b0) m.free_buf(b0.value());
            if (b1) m.free_buf(b1.value());
            return refuse(ENOMEM, fmt::format("{}: no room in pipe:{}'s region to serve it to another process",
                                              cname, pair.name));
        }
        pair.shared = new (sh.value()) xproc::SharedPipe();
        pair.shared->slots = n;
        pair.guest_objs = go.value();
        pair.spare[0] = b0.value();
        pair.spare[1] = b1.value();
        pair.kick = std::move(kick);
        auto x = std::make_unique<XLink>();
        x->shared = pair.shared;
        x->out = &pair.shared->dir[1 - e];
        x->in = &pair.shared->dir[e];
        x->peer_rx = C.kring(Direction::rx, 0).ring->slot;
        x->tx_pos = &C.kring(Direction::rx, 0).nr_hwtail;
        x->spare = pair.spare[0];
        x->peer_hwcur.store(C.kring(Direction::rx, 0).nr_hwcur.load());
        word(x->out->hwtail).store(invalid);
        word(x->in->hwcur).store(invalid);
        word(x->out->hwcur).store(x->peer_hwcur.load());
        word(x->in->hwtail).store(H.kring(Direction::rx, 0).nr_hwtail.load());
        H.xl.store(x.get(), std::memory_order_release);
        pair.xlink = std::move(x);
        for (Direction d : {Direction::tx, Direction::rx}) C.kring(d, 0).bound.store(true); // no Port here
        C.claimed.store(true, std::memory_order_release);
        // A sync of H that began in process mode may still publish to C's
        // krings: make them look asleep, so that it calls C.notify(),
        // which publishes for the other process; or we read its result.
        for (Direction d : {Direction::tx, Direction::rx}) C.kring(d, 0).sleeping.store(1);
        std::atomic_thread_fence(std::memory_order_seq_cst);
        std::uint32_t exp = invalid;
        word(pair.xlink->out->hwtail).compare_exchange_strong(exp, C.kring(Direction::rx, 0).nr_hwtail.load());
        exp = invalid;
        word(pair.xlink->in->hwcur).compare_exchange_strong(exp, H.kring(Direction::rx, 0).nr_hwcur.load());
        pair.claimed_end = e;
    } else { // the other process comes back: the pair resumes where this side stands
        XLink& x = *pair.xlink;
        // What the one before released last (its word, checked: inside the
        // ring, between what we knew and what we sent), so that the new one
        // does not see those frames again; this side's sender is stopped
        // while the link is down.
        const std::uint32_t j = x.tx_pos->load(), c = word(x.out->hwcur).load();
        auto dist = [n](std::uint32_t a, std::uint32_t b) { return b >= a ? b - a : b + n - a; };
        const std::uint32_t known = x.peer_hwcur.load();
        if (c < n && dist(known, c) <= dist(known, j)) x.peer_hwcur.store(c);
        word(x.out->hwtail).store(j);
        word(x.out->hwcur).store(x.peer_hwcur.load());
        word(x.in->hwtail).store(H.kring(Direction::rx, 0).nr_hwtail.load());
        word(x.in->hwcur).store(H.kring(Direction::rx, 0).nr_hwcur.load());
    }
    XLink& x = *pair.xlink;
    shm::announce(x.out->rx_sleep, false); // the other process's flags; ours stay as they are
    shm::announce(x.in->tx_sleep, false);
    x.set_peer_fd(peer_fd.release());

    xproc::Welcome w;
    w.object_bytes = m.object_bytes();
    w.num_bufs = m.num_bufs();
    w.buf_size = m.buf_size();
    w.slots = n;
    w.spare_buf = pair.spare[1];
    w.tx_ofs = m.offset_of(C.kring(Direction::tx, 0).ring);
    w.rx_ofs = m.offset_of(C.kring(Direction::rx, 0).ring);
    w.peer_rx_ofs = m.offset_of(H.kring(Direction::rx, 0).ring);
    w.shared_ofs = m.offset_of(pair.shared);
    w.objects_ofs = m.offset_of(pair.guest_objs);
    w.objects_len = guest_objects;
    w.host_pid = ::getpid();
    w.numa_node = m.numa_node();
    if (!shm::send_msg(c.fd.get(), &w, sizeof w, {m.fd(), pair.kick.get()})) return;
    c.claimed = true;
    if (!x.why[0]) // written once: a sync of the serving end may be reading it (explain()) while down
        std::snprintf(x.why, sizeof x.why, "link down: the process at the other end closed it or died; the "
                      "pipe works again when a process opens %s", cname.c_str());
    x.state.store(LinkState::up, std::memory_order_release);
    H.xmode.store(1, std::memory_order_release);
    wake_local(H); // a waiter re-syncs in the new mode
}

void watch_kicks(const std::shared_ptr<PipePair>& pair);

// The reactor thread: a message (or a hang-up) on a connection to a pair.
void on_conn(const std::weak_ptr<PipePair>& weak, const std::shared_ptr<Conn>& c) {
    auto pair = weak.lock(); // released after mu: the pair may die here
    std::lock_guard lk(mu);
    auto drop = [&] {
        shm::Reactor::instance().remove(c->watch);
        if (pair && pair->conn == c) pair->conn.reset();
    };
    if (!pair) return drop();
    if (c->claimed) { // nothing more is expected but the end of the connection
        char junk[64];
        const ssize_t r = ::recv(c->fd.get(), junk, sizeof junk, MSG_DONTWAIT);
        if (r > 0 || (r < 0 && (errno == EAGAIN || errno == EINTR))) return;
        pair->xlink->state.store(LinkState::down, std::memory_order_release);
        wake_local(*pair->end[1 - pair->claimed_end]);
        return drop();
    }
    xproc::Hello h;
    std::vector<shm::Fd> fds;
    auto got = shm::recv_msg(c->fd.get(), &h, sizeof h, fds, 1);
    if (!got || got.value() == 0) return drop();
    auto parsed = xproc::parse_hello(&h, got.value(), fds.size());
    if (!parsed || std::string_view(parsed.value().name, parsed.value().name_len) != pair->name ||
        parsed.value().id != pair->id)
        return drop();
    if (pair->conn && pair->conn != c && !pair->conn->claimed) pair->conn.reset();
    serve(*pair, *c, parsed.value(), std::move(fds[0]));
    if (!c->claimed) return drop();
    pair->conn = c;
    if (!pair->kick_watch) watch_kicks(pair);
}

// Listens for other processes on the pair's rendezvous. EADDRINUSE:
// another process serves it already.
Status listen_for_peers(const std::shared_ptr<PipePair>& pair) {
    auto l = shm::listen_at(shm::rendezvous_name("pipe", fmt::format("{}/{}", pair->name, pair->id)));
    if (!l) return std::move(l).error();
    pair->listener = std::move(l.value());
    std::weak_ptr<PipePair> weak = pair;
    const int lfd = pair->listener.get();
    pair->listen_watch = shm::Reactor::instance().add(lfd, [weak, lfd](std::uint32_t) {
        if (!weak.lock()) return;
        auto a = shm::accept_from(lfd);
        if (!a) return; // another uid (refused), or a connection already gone
        auto c = std::make_shared<Conn>();
        c->fd = std::move(a.value().first);
        c->cred = a.value().second;
        const int cfd = c->fd.get();
        c->watch = shm::Reactor::instance().add(cfd, [weak, c](std::uint32_t) { on_conn(weak, c); });
    });
    if (!pair->listen_watch) return make_error(EIO, "cannot watch the rendezvous");
    return {};
}

// The other process's kicks: wake whatever of the local end sleeps.
void watch_kicks(const std::shared_ptr<PipePair>& pair) {
    std::weak_ptr<PipePair> weak = pair;
    const int kfd = pair->kick.get();
    pair->kick_watch = shm::Reactor::instance().add(kfd, [weak, kfd](std::uint32_t) {
        std::uint64_t junk;
        [[maybe_unused]] auto r = ::read(kfd, &junk, sizeof junk);
        if (auto p = weak.lock(); p && p->claimed_end >= 0) wake_local(*p->end[1 - p->claimed_end]);
    });
}

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

Result<std::shared_ptr<PipePair>> make_pair(const PipeName& pn, const std::string& full, const PortOptions& opts) {
    std::shared_ptr<PipeGroup> group;
    if (auto it = groups.find(pn.name); it != groups.end()) group = it->second.lock();
    if (!group) {
        const std::uint32_t slots = std::max(opts.tx_slots, opts.rx_slots);
        RingConfig one{1, 1, slots, slots};
        std::uint32_t bufs = opts.memory.num_bufs;
        if (bufs == 0) bufs = default_pairs * (4 * slots + 2 * opts.extra_bufs + 2) + MemoryRegion::first_buf;
        std::size_t objs = opts.memory.object_bytes;
        if (objs == 0) {
            std::size_t npairs = bufs / (4 * slots) + 1;
            objs = npairs * (2 * ring_bytes(one) + 4 * nifp_bytes(2) + xproc_objects) + 4096;
        }
        MemoryConfig mc = opts.memory;
        mc.shared = true; // another process may open the other end of any of its pipes
        auto mem = MemoryRegion::create(fmt::format("pipe:{}", pn.name), objs, bufs, mc);
        if (!mem) return std::move(mem).error();
        group = std::make_shared<PipeGroup>(PipeGroup{std::move(mem.value()), slots});
        groups[pn.name] = group;
    }

    auto pair = std::make_shared<PipePair>();
    pair->group = group;
    pair->name = pn.name;
    pair->id = pn.id;
    for (int e = 0; e < 2; e++) {
        pair->end[e] = std::make_unique<PipeEnd>(end_name(pn.name, e, pn.id));
        if (Status s = pair->end[e]->init(group->mem, group->slots); !s)
            return make_error(s.error().code, fmt::format("{}: {} (pipe:{} holds {} buffers; open its first pipe "
                                                          "with more: PortOptions::memory.num_bufs)",
                                                          full, s.error().message, pn.name,
                                                          group->mem->num_bufs()));
    }
    pair->end[0]->peer = pair->end[1].get();
    pair->end[1]->peer = pair->end[0].get();
    return pair;
}

// Opening an end: a pair this process has (in-process, as always); else the
// pair another process serves (join_remote); else a new pair this process
// serves, listening for another process to open its other end.
Result<std::shared_ptr<Adapter>> open_adapter(const PortName& name, const PortOptions& opts) {
    auto parsed = parse_name(name.body);
    if (!parsed) return make_error(EINVAL, fmt::format("{}: {}", name.full, parsed.error().message));
    const PipeName& pn = parsed.value();
    const std::string& full = name.full;
    const int which = pn.master ? 0 : 1;
    auto key = std::pair{pn.name, pn.id};
    auto local = [&]() -> std::optional<Result<std::shared_ptr<Adapter>>> { // under mu
        auto it = pairs.find(key);
        if (it == pairs.end()) return std::nullopt;
        auto pair = it->second.lock();
        if (!pair) return std::nullopt;
        if (pair->claimed_end == which)
            return make_error(EBUSY, fmt::format("{}: process {} opened it, joining this process's pipe; it "
                                                 "reconnects when that process opens it again",
                                                 full, pair->conn ? int(pair->conn->cred.pid) : 0));
        pair->local_end[which] = true;
        return std::shared_ptr<Adapter>(pair, pair->end[which].get());
    };
    {
        std::lock_guard lk(mu);
        if (auto r = local()) return std::move(*r);
        if (auto it = joined.find({pn.name, pn.id, which}); it != joined.end()) // opened again (/T and /R)
            if (auto a = it->second.lock()) return a;
    }
    // Without mu: the serving process's reply may need its own reactor,
    // which may be waiting for that process's lock. A NAME longer than a
    // Hello holds stays in this process.
    bool listen = pn.name.size() <= sizeof(xproc::Hello::name);
    if (!listen) {
        std::lock_guard lk(mu);
        if (auto r = local()) return std::move(*r);
        auto pair = make_pair(pn, full, opts);
        if (!pair) return std::move(pair).error();
        pair.value()->local_end[which] = true;
        pairs[key] = pair.value();
        return std::shared_ptr<Adapter>(pair.value(), pair.value()->end[which].get());
    }
    for (int attempt = 0; attempt < 4; attempt++) {
        bool not_served = false;
        auto remote = join_remote(pn, full, opts, not_served);
        if (remote) {
            std::lock_guard lk(mu);
            joined[{pn.name, pn.id, which}] = remote.value();
            return remote;
        }
        if (!not_served && remote.error().code != EBUSY) return std::move(remote).error();
        if (!not_served) { // its serving process has this end open itself: a pipe of its own
            std::lock_guard lk(mu);
            if (auto it = joined.find({pn.name, pn.id, 1 - which}); it != joined.end() && !it->second.expired())
                return make_error(EBUSY, fmt::format("{}: {} in this process joined another process's pipe, "
                                                     "where this end is open ({})",
                                                     full, end_name(pn.name, 1 - which, pn.id),
                                                     remote.error().message));
            listen = false; // in-process only: the name is served elsewhere
        }
        std::lock_guard lk(mu);
        if (auto r = local()) return std::move(*r);
        auto pair = make_pair(pn, full, opts);
        if (!pair) return std::move(pair).error();
        pair.value()->local_end[which] = true;
        if (!listen) {
            pairs[key] = pair.value();
            return std::shared_ptr<Adapter>(pair.value(), pair.value()->end[which].get());
        }
        Status l = listen_for_peers(pair.value());
        if (l) {
            pairs[key] = pair.value();
            return std::shared_ptr<Adapter>(pair.value(), pair.value()->end[which].get());
        }
        if (l.error().code != EADDRINUSE) return make_error(l.error().code, fmt::format("{}: {}", full, l.error().message));
        // another process began to serve it meanwhile: join that one
    }
    return make_error(EAGAIN, fmt::format("{}: other processes keep opening and closing this pipe; try again", full));
}

std::pair<void*, std::size_t> control_block(const Adapter& a) {
    const XLink* x = nullptr;
    if (auto* e = dynamic_cast<const PipeEnd*>(&a)) x = e->xl.load(std::memory_order_acquire);
    if (!x) x = remote_xlink(a);
    if (!x || !x->shared) return {nullptr, 0};
    return {x->shared, sizeof(xproc::SharedPipe)};
}

std::uint64_t bad_shared_words(const Adapter& a) {
    const XLink* x = nullptr;
    if (auto* e = dynamic_cast<const PipeEnd*>(&a)) x = e->xl.load(std::memory_order_acquire);
    if (!x) x = remote_xlink(a);
    return x ? x->bad_words.load() : 0;
}

} // namespace upio::pipes
