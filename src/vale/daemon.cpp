// The VALE daemon (upio/vale_daemon.hpp): one thread that accepts clients
// and commands, and forwards every client's frames through the switches of
// this process with the in-process code (VPort::forward).
//
// A client's port is a VPort bound to the rings in the client's region
// (VPort::adopt): forwarding reads the sender's slots and writes the
// receiver's exactly as for in-process ports, and checks every slot it
// reads. What a client publishes in its control block (SharedVale) is
// read once per round and checked:
//   tx_head   must lie inside the ring (every slot past the daemon's
//             position is the client's to hand over)
//   rx_cur    must lie in [the daemon's last rx_cur, the slots filled]
// a bad word is ignored and counted. The daemon keeps its own indices in
// its krings and only publishes them (tx_done, rx_tail).
//
// Wake-ups (shm/doorbell.hpp): after a round that moved nothing, the
// daemon spins briefly, then announces sleep in every client's block,
// fences, re-reads every word and sleeps in epoll_wait. A client that
// publishes (txsync, rxsync) rings the daemon's eventfd only when it
// finds that announcement. The daemon rings a client's eventfd after
// publishing only when that client announced sleep. A client that scribbles
// over the flags delays only its own frames.
#include "vale/daemon.hpp"

#include "shm/rendezvous.hpp"

#include <upio/backend/memory_region.hpp>
#include <upio/netmap_user.h>
#include <upio/vale_daemon.hpp>

#include <fmt/format.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>

namespace upio::vale {

using namespace detail;
using namespace daemon;

namespace {

std::atomic_ref<std::uint32_t> word(shm::Flag& f) { return std::atomic_ref<std::uint32_t>(f.v); }

} // namespace

bool Daemon::Impl::watch(Kind k, int fd) {
    epoll_event e{};
    e.events = EPOLLIN | EPOLLRDHUP;
    e.data.u64 = tag(k, fd);
    return epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd, &e) == 0;
}

void Daemon::Impl::unwatch(int fd) { epoll_ctl(ep.get(), EPOLL_CTL_DEL, fd, nullptr); }

// ---------------------------------------------------------------------------
// Clients joining and leaving.

void Daemon::Impl::accept_client(const std::string& sw, int listener) {
    for (;;) {
        auto a = shm::accept_from(listener);
        if (!a) {
            if (a.error().code != EAGAIN && a.error().code != EWOULDBLOCK)
                fmt::print(stderr, "upio-vale: {}: {}\n", sw, a.error().message);
            return;
        }
        auto c = std::make_unique<Client>();
        c->sock = std::move(a.value().first);
        c->cred = a.value().second;
        c->sw = sw;
        const int fd = c->sock.get();
        if (!watch(k_client, fd)) continue;
        clients[fd] = std::move(c);
    }
}

Status Daemon::Impl::join(Client& c, const Hello& h, std::vector<shm::Fd>& fds) {
    const std::string sw(h.sw), port(h.port), full = fmt::format("{}:{}", sw, port);
    if (sw != c.sw) return make_error(EPROTO, fmt::format("asked {}'s rendezvous for {}", c.sw, full));
    // A region that could shrink would be a SIGBUS here: it must be sealed.
    const int seals = ::fcntl(fds[0].get(), F_GET_SEALS);
    if (seals < 0 || !(seals & F_SEAL_SHRINK))
        return make_error(EPERM, fmt::format("{}: the port's region is not sealed against shrinking", full));
    auto mem = MemoryRegion::attach(full, fds[0].release(), h.object_bytes, h.num_bufs, h.buf_size);
    if (!mem) return std::move(mem).error();
    MemoryRegion& m = *mem.value();
    auto* ctl = reinterpret_cast<SharedVale*>(m.at(h.shared_ofs));
    // The rings' places, read once and checked against the objects area.
    const std::uint64_t ring_len = sizeof(netmap_ring) + std::uint64_t(h.slots) * sizeof(netmap_slot);
    std::vector<netmap_ring*> tx, rx;
    for (std::uint32_t i = 0; i < h.rings; i++) {
        for (auto* v : {&tx, &rx}) {
            const std::uint64_t ofs = std::atomic_ref<std::uint64_t>(v == &tx ? ctl->pair[i].tx_ofs : ctl->pair[i].rx_ofs)
                                          .load(std::memory_order_relaxed);
            if (ofs % 8 != 0 || ofs > h.object_bytes || ring_len > h.object_bytes - ofs)
                return make_error(EPROTO, fmt::format("{}: ring {} lies outside the region's objects area", full, i));
            v->push_back(reinterpret_cast<netmap_ring*>(m.at(ofs)));
        }
    }
    // A persistent port's name: the client takes the port over; the daemon's
    // own port leaves the switch and comes back when the client leaves.
    if (auto p = persistent.find(full); p != persistent.end()) p->second.reset();
    auto vp = join_port(sw, port, full, false,
                        [&](VPort& p) { return p.adopt(mem.value(), tx, rx, h.slots); });
    if (!vp) return std::move(vp).error();
    set_attached(*vp.value(), fmt::format("process {}", c.cred.pid));
    c.vp = std::move(vp.value());
    c.ctl = ctl;
    c.rings = h.rings;
    c.evfd = std::move(fds[1]);
    return {};
}

void Daemon::Impl::client_event(int fd, std::uint32_t events) {
    auto it = clients.find(fd);
    if (it == clients.end()) return;
    Client& c = *it->second;
    alignas(8) char msg[512];
    std::vector<shm::Fd> fds;
    auto got = shm::recv_msg(fd, &msg, sizeof msg, fds, 2);
    if (!got) {
        if (got.error().code == EAGAIN || got.error().code == EWOULDBLOCK) {
            if (events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)) drop_client(fd);
            return;
        }
        drop_client(fd); // a malformed message: the client goes
        return;
    }
    if (got.value() == 0) { // hung up: exited, killed or closed the port
        drop_client(fd);
        return;
    }
    if (!c.vp && got.value() == sizeof(CtlRequest)) { // vale-ctl: one command, one answer
        ctl_command(fd, msg, got.value(), fds.size());
        drop_client(fd);
        return;
    }
    if (!c.vp) {
        auto h = parse_hello(msg, got.value(), fds.size());
        Status s = h ? join(c, h.value(), fds) : Status(std::move(h).error());
        Welcome w;
        w.daemon_pid = ::getpid();
        std::vector<int> out;
        if (s) {
            w.index = c.vp->index;
            out.push_back(kick.get());
        } else {
            w.status = s.error().code;
            std::snprintf(w.message, sizeof w.message, "%s", s.error().message.c_str());
        }
        if (Status sent = shm::send_msg(fd, &w, sizeof w, out); !sent || !s) drop_client(fd);
        return;
    }
    auto r = parse_request(msg, got.value(), fds.size());
    if (!r) {
        c.bad_words++;
        return;
    }
    if (r->op == op_back_pressure) (void)set_back_pressure(c.vp->name(), r->value != 0);
}

void Daemon::Impl::drop_client(int fd) {
    unwatch(fd);
    clients.erase(fd); // its port leaves the switch; its region is unmapped
    restore_persistent();
}

// The daemon takes back each persistent port nobody holds.
void Daemon::Impl::restore_persistent() {
    for (auto& [name, port] : persistent) {
        if (port || port_index(name)) continue;
        auto p = Port::open(name + ",local", cfg.port_options);
        if (p) port = std::move(p.value());
        else fmt::print(stderr, "upio-vale: {}: cannot take the persistent port back: {}\n", name, p.error().message);
    }
}

// ---------------------------------------------------------------------------
// Forwarding.

// One round over every client and attachment; whether anything moved.
bool Daemon::Impl::round() {
    bool moved = false;
    // What the receivers released, before anybody sends.
    for (auto& [fd, cp] : clients) {
        Client& c = *cp;
        if (!c.vp) continue;
        for (std::uint32_t r = 0; r < c.rings; r++) {
            KRing& k = c.vp->kring(Direction::rx, r);
            const std::uint32_t v = word(c.ctl->pair[r].rx_cur).load(std::memory_order_acquire);
            c.seen_cur[r] = v;
            const std::uint32_t old = k.nr_hwcur.load(std::memory_order_relaxed);
            if (v == old) continue;
            if (v >= k.num_slots || k.distance(old, v) > k.distance(old, k.nr_hwtail.load(std::memory_order_relaxed))) {
                c.bad_words++;
                continue;
            }
            k.nr_hwcur.store(v, std::memory_order_release);
            if (c.vp->back_pressure.load(std::memory_order_relaxed)) c.vp->wake_held(r);
            moved = true;
        }
    }
    // What the senders handed over.
    for (auto& [fd, cp] : clients) {
        Client& c = *cp;
        if (!c.vp) continue;
        for (std::uint32_t r = 0; r < c.rings; r++) {
            KRing& k = c.vp->kring(Direction::tx, r);
            SharedPair& p = c.ctl->pair[r];
            const std::uint32_t h = word(p.tx_head).load(std::memory_order_acquire);
            c.seen_head[r] = h;
            const std::uint32_t cur = k.nr_hwcur.load(std::memory_order_relaxed);
            if (h == cur) continue;
            if (h >= k.num_slots) {
                c.bad_words++;
                continue;
            }
            const std::uint32_t e = c.vp->forward(r, k, c.vp->memory(), cur, h, &k.stats);
            if (e == cur) continue; // held back, or a chain not complete yet
            k.nr_hwcur.store(e, std::memory_order_relaxed);
            word(p.tx_done).store(e, std::memory_order_release);
            shm::ring_if_sleeping(p.tx_sleep, c.evfd.get());
            moved = true;
        }
    }
    for (Attached& a : attached)
        if (a.att->poll() > 0) moved = true;
    // What the receivers got.
    for (auto& [fd, cp] : clients) {
        Client& c = *cp;
        if (!c.vp) continue;
        for (std::uint32_t r = 0; r < c.rings; r++) {
            const std::uint32_t t = c.vp->kring(Direction::rx, r).nr_hwtail.load(std::memory_order_acquire);
            if (t == c.tail[r]) continue;
            c.tail[r] = t;
            SharedPair& p = c.ctl->pair[r];
            word(p.rx_tail).store(t, std::memory_order_release);
            shm::ring_if_sleeping(p.rx_sleep, c.evfd.get());
        }
    }
    return moved;
}

void Daemon::Impl::announce_all(bool sleeping) {
    for (auto& [fd, c] : clients)
        if (c->vp) shm::announce(c->ctl->daemon_sleep, sleeping);
}

// After announcing sleep and a fence: whether a client published meanwhile.
bool Daemon::Impl::idle_recheck() {
    for (auto& [fd, cp] : clients) {
        Client& c = *cp;
        if (!c.vp) continue;
        for (std::uint32_t r = 0; r < c.rings; r++) {
            SharedPair& p = c.ctl->pair[r];
            if (word(p.tx_head).load(std::memory_order_acquire) != c.seen_head[r] ||
                word(p.rx_cur).load(std::memory_order_acquire) != c.seen_cur[r])
                return true;
        }
    }
    return false;
}

// ---------------------------------------------------------------------------
// The daemon.

Daemon::Daemon() : impl_(std::make_unique<Impl>()) {}
Daemon::~Daemon() {
    if (!impl_) return;
    impl_->attached.clear();
    impl_->clients.clear();
    impl_->persistent.clear();
    for (const auto& sw : impl_->cfg.switches) (void)destroy_switch(sw);
}

Result<std::unique_ptr<Daemon>> Daemon::start(const DaemonConfig& cfg) {
    std::unique_ptr<Daemon> d(new Daemon());
    Impl& im = *d->impl_;
    im.cfg = cfg;
    if (cfg.switches.empty()) return make_error(EINVAL, "no switch to serve");
    im.ep = shm::Fd(epoll_create1(EPOLL_CLOEXEC));
    im.kick = shm::Fd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!im.ep || !im.kick) return make_error(errno, fmt::format("epoll/eventfd: {}", std::strerror(errno)));
    im.watch(k_kick, im.kick.get());
    for (const std::string& sw : cfg.switches) {
        if (sw.size() >= name_cap) return make_error(EINVAL, fmt::format("{}: a switch name too long", sw));
        if (Status s = create_switch(sw); !s) return std::move(s).error();
        auto l = shm::listen_at(shm::rendezvous_name("vale", sw));
        if (!l && l.error().code == EADDRINUSE)
            return make_error(EADDRINUSE, fmt::format("{}: another VALE daemon serves it (vale-ctl -l lists it)", sw));
        if (!l) return make_error(l.error().code, fmt::format("{}: {}", sw, l.error().message));
        im.watch(k_switch, l.value().get());
        im.listeners[sw] = std::move(l.value());
    }
    return d;
}

void Daemon::request_stop() noexcept {
    impl_->stop.store(true);
    std::uint64_t one = 1;
    [[maybe_unused]] auto r = ::write(impl_->kick.get(), &one, sizeof one);
}

// Takes the events epoll has (waiting at most `timeout_ms`).
void Daemon::Impl::events(int timeout_ms) {
    epoll_event evs[32];
    const int n = epoll_wait(ep.get(), evs, 32, timeout_ms);
    for (int i = 0; i < n; i++) {
        const Kind k = Kind(evs[i].data.u64 >> 32);
        const int fd = int(evs[i].data.u64 & 0xffffffff);
        switch (k) {
        case k_kick: {
            std::uint64_t junk;
            [[maybe_unused]] auto r = ::read(fd, &junk, sizeof junk);
            break;
        }
        case k_switch:
            for (auto& [sw, l] : listeners)
                if (l.get() == fd) accept_client(sw, fd);
            break;
        case k_client: client_event(fd, evs[i].events); break;
        case k_attached: break; // frames: the next round takes them
        }
    }
}

Status Daemon::run() {
    Impl& im = *impl_;
    unsigned idle = 0, busy = 0;
    while (!im.stop.load(std::memory_order_relaxed)) {
        if (im.round()) {
            idle = 0;
            if (++busy % 64 == 0) im.events(0); // clients come and go while others stream
            continue;
        }
        if (++idle < 64) continue; // a short spin catches the next burst without a system call
        idle = 0;
        im.announce_all(true);
        std::atomic_thread_fence(std::memory_order_seq_cst); // pairs with the clients' ring_if_sleeping
        bool pending = im.idle_recheck(), egress = false;
        for (Attached& a : im.attached) {
            Port& o = a.att->attached_port();
            pending |= !o.arm(Direction::rx);
            // Frames for an attached port that waits for room (in the switch
            // port's rx ring or in its own tx ring) are retried every
            // millisecond; for one whose link is down (a memif peer gone) not
            // at all: its link coming up wakes its armed rx.
            if (o.link_up()) egress |= a.att->egress_pending();
        }
        im.events(pending ? 0 : egress ? 1 : -1);
        for (Attached& a : im.attached) a.att->attached_port().disarm(Direction::rx);
        im.announce_all(false);
    }
    return {};
}

} // namespace upio::vale
