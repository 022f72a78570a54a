// Cross-process pipes: the shared-memory syncs both processes' ends use,
// and the end a process drives in another process's region (see xpipe.hpp).
#include "pipes/xpipe.hpp"

#include "pipes/pipe.hpp"
#include "shm/reactor.hpp"
#include "shm/rendezvous.hpp"

#include <fmt/format.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace upio::pipes {

XLink::~XLink() {
    for (int fd : retired_fds) ::close(fd);
    if (int fd = peer_fd.load(); fd >= 0) ::close(fd);
}

// A producer may be writing the old descriptor: it stays open (retired)
// until the link goes, so its number is never reused under the producer.
void XLink::set_peer_fd(int fd) {
    const int old = peer_fd.exchange(fd);
    if (old >= 0) retired_fds.push_back(old);
}

namespace {

template <class T> std::atomic_ref<std::uint32_t> word(T& flag) { return std::atomic_ref<std::uint32_t>(flag.v); }

std::uint32_t distance(std::uint32_t a, std::uint32_t b, std::uint32_t n) { return b >= a ? b - a : b + n - a; }
std::uint32_t prev(std::uint32_t i, std::uint32_t n) { return i == 0 ? n - 1 : i - 1; }

void publish_tail(XLink& x, std::uint32_t j) noexcept {
    word(x.out->hwtail).store(j, std::memory_order_release);
    x.published_tail = j;
}

} // namespace

int xtxsync(KRing& k, XLink& x, const MemoryRegion& mem) noexcept {
    if (x.state.load(std::memory_order_acquire) != LinkState::up) [[unlikely]]
        return -ENOTCONN;
    const std::uint32_t n = k.num_slots;
    netmap_slot* ts = k.ring->slot;
    std::uint32_t i = k.nr_hwcur.load(std::memory_order_relaxed);
    const std::uint32_t avail = distance(i, k.rhead, n);
    std::uint32_t j = x.tx_pos->load(std::memory_order_relaxed);
    if (j >= n) [[unlikely]] // only this end writes it: a broken invariant, not a peer
        return -EPROTO;
    if (j != x.published_tail) publish_tail(x, j); // what an earlier, in-process sync moved
    if (avail == 0) return 0;
    std::uint32_t released = x.peer_hwcur.load(std::memory_order_relaxed);
    std::uint32_t space = distance(j, prev(released, n), n);
    if (space < avail) { // what has the receiver released? One read, checked.
        const std::uint32_t c = word(x.out->hwcur).load(std::memory_order_acquire);
        if (c < n) {
            released = c;
            x.peer_hwcur.store(c, std::memory_order_relaxed);
        } else {
            x.bad_words.fetch_add(1, std::memory_order_relaxed);
        }
        space = distance(j, prev(released, n), n);
    }
    std::uint32_t m = std::min(avail, space);
    if (m) { // whole packets only
        std::uint32_t last = i + m - 1;
        if (last >= n) last -= n;
        while (m && (ts[last].flags & NS_MOREFRAG)) {
            m--;
            last = prev(last, n);
        }
    }
    if (m == 0) return 0;
    std::uint64_t bytes = 0;
    std::uint32_t bad = 0;
    const std::uint32_t nbufs = mem.num_bufs() - MemoryRegion::first_buf, bufsz = mem.buf_size();
    for (std::uint32_t left = m; left;) {
        const std::uint32_t run = std::min({left, n - i, n - j});
        bytes += swap_run(ts + i, x.peer_rx + j, run, nbufs, bufsz, bad);
        left -= run;
        i += run;
        j += run;
        if (i == n) i = 0;
        if (j == n) j = 0;
    }
    x.tx_pos->store(j, std::memory_order_relaxed);
    publish_tail(x, j);
    k.nr_hwcur.store(i, std::memory_order_relaxed);
    k.nr_hwtail.store(prev(i, n), std::memory_order_relaxed);
    RingCounters::add(k.stats.packets, m - bad);
    RingCounters::add(k.stats.bytes, bytes);
    if (bad) [[unlikely]] RingCounters::add(k.stats.drops, bad);
    shm::ring_if_sleeping(x.out->rx_sleep, x.peer_fd.load(std::memory_order_relaxed));
    return 0;
}

// While the link is down, frames the peer had swapped into this end's rx
// ring and published before it left are still delivered (they are in this
// end's ring, in memory this end keeps mapped); -ENOTCONN once none is left
// and the application has taken every frame of its ring (a receiver that
// reads a batch at a time must not lose the rest of its ring to the error).
// Nothing is released to a peer that is gone.
int xrxsync(KRing& k, XLink& x, const MemoryRegion& mem) noexcept {
    const LinkState state = x.state.load(std::memory_order_acquire);
    if (state == LinkState::none) [[unlikely]]
        return -ENOTCONN;
    const bool up = state == LinkState::up;
    const int idle = up || k.rhead != k.nr_hwtail.load(std::memory_order_relaxed) ? 0 : -ENOTCONN;
    const std::uint32_t n = k.num_slots;
    if (up && k.nr_hwcur.load(std::memory_order_relaxed) != k.rhead) { // give slots back, wake a waiting sender
        k.nr_hwcur.store(k.rhead, std::memory_order_release);
        word(x.in->hwcur).store(k.rhead, std::memory_order_release);
        shm::ring_if_sleeping(x.in->tx_sleep, x.peer_fd.load(std::memory_order_relaxed));
    }
    const std::uint32_t old = k.nr_hwtail.load(std::memory_order_relaxed); // ours alone here
    const std::uint32_t t = word(x.in->hwtail).load(std::memory_order_acquire);
    if (t == old) return idle;
    // The sender may fill up to the slot before our hwcur, no further.
    if (t >= n || distance(old, t, n) > distance(old, prev(k.rhead, n), n)) [[unlikely]] {
        x.bad_words.fetch_add(1, std::memory_order_relaxed);
        return idle;
    }
    netmap_slot* s = k.ring->slot;
    const std::uint32_t nbufs = mem.num_bufs() - MemoryRegion::first_buf, bufsz = mem.buf_size();
    std::uint64_t bytes = 0;
    std::uint32_t bad = 0, frames = 0;
    for (std::uint32_t i = old; i != t; i = i + 1 == n ? 0 : i + 1) {
        const std::uint32_t idx = s[i].buf_idx, len = s[i].len; // read once, as the application will see them
        if ((idx - MemoryRegion::first_buf >= nbufs) | (len > bufsz)) [[unlikely]] {
            s[i] = netmap_slot{x.spare, 0, 0, 0};
            bad++;
            continue;
        }
        bytes += len;
        frames++;
    }
    RingCounters::add(k.stats.packets, frames);
    RingCounters::add(k.stats.bytes, bytes);
    if (bad) [[unlikely]] RingCounters::add(k.stats.drops, bad);
    k.nr_hwtail.store(t, std::memory_order_release);
    return 0;
}

void xannounce(KRing& k, XLink& x, bool sleeping) noexcept {
    if (!x.in) return;
    shm::announce(k.dir == Direction::rx ? x.in->rx_sleep : x.out->tx_sleep, sleeping);
}

// ---------------------------------------------------------------------------
// The guest: an end driven in the host's region.

namespace {

class RemoteEnd final : public Adapter {
public:
    explicit RemoteEnd(std::string name) : Adapter(std::move(name)) {}
    ~RemoteEnd() override {
        if (watch) shm::Reactor::instance().remove(watch);
    }

    int txsync(KRing& k, unsigned) noexcept override { return xtxsync(k, x, memory()); }
    int rxsync(KRing& k, unsigned) noexcept override { return xrxsync(k, x, memory()); }
    void set_interrupts(KRing& k, bool on) noexcept override { xannounce(k, x, on); }
    std::vector<int> wait_fds(const KRing&) const override { return {evfd.get()}; }
    void ack_wait_fd(int fd) noexcept override {
        std::uint64_t junk;
        [[maybe_unused]] auto r = ::read(fd, &junk, sizeof junk);
    }
    bool link_up() const noexcept override { return x.state.load(std::memory_order_acquire) == LinkState::up; }
    const XLink* xlink() const noexcept { return &x; }
    const char* explain(const KRing& k, int rc) const noexcept override {
        return rc == -ENOTCONN ? x.why : Adapter::explain(k, rc);
    }

    // The host hung up (closed its end, or died): syncs fail from now on,
    // and every waiter wakes to see it.
    void gone() noexcept {
        x.state.store(LinkState::down, std::memory_order_release);
        std::uint64_t one = 1;
        [[maybe_unused]] auto r = ::write(evfd.get(), &one, sizeof one);
        for (Direction d : {Direction::tx, Direction::rx}) wake_if_sleeping(kring(d, 0));
    }

    XLink x;
    shm::Fd sock, evfd;
    std::uint64_t watch = 0;
    int host_pid = 0;
    using Adapter::adopt_rings;
};

} // namespace

const XLink* remote_xlink(const Adapter& a) noexcept {
    auto* e = dynamic_cast<const RemoteEnd*>(&a);
    return e ? &e->x : nullptr;
}

Result<std::shared_ptr<Adapter>> join_remote(const PipeName& pn, const std::string& full, const PortOptions& opts,
                                             bool& not_served) {
    not_served = false;
    const std::string rv = shm::rendezvous_name("pipe", fmt::format("{}/{}", pn.name, pn.id));
    auto sock = shm::connect_to(rv, 5000);
    if (!sock) {
        if (sock.error().code == ECONNREFUSED || sock.error().code == ENOENT) {
            not_served = true;
            return make_error(ECONNREFUSED, "nobody serves it");
        }
        return make_error(sock.error().code, fmt::format("{}: {}", full, sock.error().message));
    }
    if (opts.extra_bufs)
        return make_error(EINVAL, fmt::format("{}: its pair is served by another process, whose region has no "
                                              "extra buffers for this one (open it without extra_bufs)",
                                              full));
    auto end = std::make_shared<RemoteEnd>(full);
    end->sock = std::move(sock.value());
    end->evfd = shm::Fd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!end->evfd) return make_error(errno, fmt::format("{}: eventfd: {}", full, std::strerror(errno)));

    xproc::Hello h;
    h.end = pn.master ? 0 : 1;
    h.id = pn.id;
    h.name_len = std::uint32_t(std::min(pn.name.size(), sizeof h.name));
    std::memcpy(h.name, pn.name.data(), h.name_len);
    if (Status s = shm::send_msg(end->sock.get(), &h, sizeof h, {end->evfd.get()}); !s)
        return make_error(s.error().code, fmt::format("{}: {}", full, s.error().message));
    xproc::Welcome w;
    std::vector<shm::Fd> fds;
    auto got = shm::recv_msg(end->sock.get(), &w, sizeof w, fds, 2);
    if (!got)
        return make_error(got.error().code, fmt::format("{}: no answer from the process serving it: {}", full,
                                                        got.error().message));
    auto parsed = xproc::parse_welcome(&w, got.value(), fds.size());
    if (!parsed) return make_error(parsed.error().code, fmt::format("{}: {}", full, parsed.error().message));
    w = parsed.value();

    auto mem = MemoryRegion::attach(fmt::format("pipe:{}", pn.name), fds[0].release(), w.object_bytes, w.num_bufs,
                                    w.buf_size);
    if (!mem) return std::move(mem).error();
    MemoryRegion& m = *mem.value();
    if (Status s = m.add_free_objects(w.objects_ofs, w.objects_len); !s) return std::move(s).error();
    auto ring = [&](std::uint64_t ofs) { return reinterpret_cast<netmap_ring*>(m.at(ofs)); };
    if (Status s = end->adopt_rings(mem.value(), {ring(w.tx_ofs)}, {ring(w.rx_ofs)}, w.slots); !s)
        return std::move(s).error();

    XLink& x = end->x;
    x.shared = reinterpret_cast<xproc::SharedPipe*>(m.at(w.shared_ofs));
    x.out = &x.shared->dir[h.end];
    x.in = &x.shared->dir[1 - h.end];
    x.peer_rx = ring(w.peer_rx_ofs)->slot;
    x.tx_pos = &x.own_tx_pos;
    x.spare = w.spare_buf;
    x.set_peer_fd(fds[1].release());
    end->host_pid = w.host_pid;

    // Where the pair stands, from the host's words (checked: a bad one
    // starts that index at 0). The rx ring starts empty at its hwcur: what
    // the host already sent is taken, checked, by the first rxsync.
    const std::uint32_t n = w.slots;
    auto idx = [n](xproc::SharedDir* d, bool tail) {
        const std::uint32_t v = std::atomic_ref<std::uint32_t>(tail ? d->hwtail.v : d->hwcur.v).load();
        return v < n ? v : 0;
    };
    const std::uint32_t sent = idx(x.out, true), rel = idx(x.in, false);
    KRing& tx = end->kring(Direction::tx, 0);
    tx.nr_hwcur.store(sent);
    tx.nr_hwtail.store(prev(sent, n));
    tx.rhead = tx.rcur = sent;
    tx.rtail = prev(sent, n);
    x.own_tx_pos.store(sent);
    x.published_tail = sent;
    x.peer_hwcur.store(idx(x.out, false));
    KRing& rx = end->kring(Direction::rx, 0);
    rx.nr_hwcur.store(rel);
    rx.nr_hwtail.store(rel);
    rx.rhead = rx.rcur = rx.rtail = rel;
    std::snprintf(x.why, sizeof x.why, "link down: the process serving this pipe (pid %d) closed its end or "
                  "died; open this end again to meet a new one", w.host_pid);
    x.state.store(LinkState::up, std::memory_order_release);

    end->watch = shm::watch_hangup(end, end->sock.get());
    if (!end->watch) return make_error(EIO, fmt::format("{}: cannot watch its connection", full));
    return std::shared_ptr<Adapter>(end);
}

} // namespace upio::pipes
