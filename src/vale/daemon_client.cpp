// A VALE port joined to a daemon's switch (see daemon_client.hpp).
#include "vale/daemon_client.hpp"

#include "shm/reactor.hpp"
#include "shm/rendezvous.hpp"
#include "vale/daemon_proto.hpp"

#include <upio/backend/memory_region.hpp>
#include <upio/vale.hpp>

#include <fmt/format.h>
#include <sys/sysinfo.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>

namespace upio::vale {
namespace {

using namespace daemon;

std::atomic_ref<std::uint32_t> word(shm::Flag& f) { return std::atomic_ref<std::uint32_t>(f.v); }

class DaemonPort final : public Adapter {
public:
    explicit DaemonPort(std::string name) : Adapter(std::move(name)) {}
    ~DaemonPort() override;

    Status init(const PortOptions& opts);

    int txsync(KRing& k, unsigned) noexcept override {
        if (!up.load(std::memory_order_acquire)) [[unlikely]]
            return -ENOTCONN;
        SharedPair& p = ctl->pair[k.ring_id];
        const std::uint32_t n = k.num_slots, old = k.nr_hwcur.load(std::memory_order_relaxed);
        if (k.rhead != published_head[k.ring_id]) {
            word(p.tx_head).store(k.rhead, std::memory_order_release);
            published_head[k.ring_id] = k.rhead;
            shm::ring_if_sleeping(ctl->daemon_sleep, daemon_fd.get());
        }
        // How far the daemon got: inside [old, head], else ignored.
        const std::uint32_t done = word(p.tx_done).load(std::memory_order_acquire);
        if (done == old) return 0;
        if (done >= n || k.distance(old, done) > k.distance(old, k.rhead)) [[unlikely]] {
            bad_words.fetch_add(1, std::memory_order_relaxed);
            return 0;
        }
        std::uint64_t bytes = 0;
        for (std::uint32_t i = old; i != done; i = k.next(i)) bytes += k.ring->slot[i].len;
        RingCounters::add(k.stats.packets, k.distance(old, done));
        RingCounters::add(k.stats.bytes, bytes);
        k.nr_hwcur.store(done, std::memory_order_relaxed);
        k.nr_hwtail.store(k.prev(done), std::memory_order_relaxed);
        return 0;
    }

    int rxsync(KRing& k, unsigned) noexcept override {
        if (!up.load(std::memory_order_acquire)) [[unlikely]]
            return -ENOTCONN;
        SharedPair& p = ctl->pair[k.ring_id];
        const std::uint32_t n = k.num_slots;
        if (k.nr_hwcur.load(std::memory_order_relaxed) != k.rhead) { // slots back to the daemon
            k.nr_hwcur.store(k.rhead, std::memory_order_relaxed);
            word(p.rx_cur).store(k.rhead, std::memory_order_release);
            shm::ring_if_sleeping(ctl->daemon_sleep, daemon_fd.get()); // a sender may be held back
        }
        const std::uint32_t old = k.nr_hwtail.load(std::memory_order_relaxed);
        const std::uint32_t t = word(p.rx_tail).load(std::memory_order_acquire);
        if (t == old) return 0;
        if (t >= n || k.distance(old, t) > k.distance(old, k.prev(k.rhead))) [[unlikely]] {
            bad_words.fetch_add(1, std::memory_order_relaxed);
            return 0;
        }
        // The daemon wrote lengths and flags, never buffer indices; check the
        // lengths anyway before the application reads that far.
        const std::uint32_t bufsz = memory().buf_size();
        std::uint64_t bytes = 0;
        std::uint32_t frames = 0;
        for (std::uint32_t i = old; i != t; i = k.next(i)) {
            netmap_slot& s = k.ring->slot[i];
            if (s.len > bufsz) [[unlikely]] {
                s.len = 0;
                RingCounters::add(k.stats.drops, 1);
                continue;
            }
            bytes += s.len;
            frames++;
        }
        RingCounters::add(k.stats.packets, frames);
        RingCounters::add(k.stats.bytes, bytes);
        k.nr_hwtail.store(t, std::memory_order_release);
        return 0;
    }

    void set_interrupts(KRing& k, bool on) noexcept override {
        SharedPair& p = ctl->pair[k.ring_id];
        shm::announce(k.dir == Direction::rx ? p.rx_sleep : p.tx_sleep, on);
    }
    std::vector<int> wait_fds(const KRing&) const override { return {evfd.get()}; }
    void ack_wait_fd(int fd) noexcept override {
        std::uint64_t junk;
        [[maybe_unused]] auto r = ::read(fd, &junk, sizeof junk);
    }
    bool link_up() const noexcept override { return up.load(std::memory_order_acquire); }
    bool spin_pays() const noexcept override { return cpus_for_three; }
    const char* explain(const KRing& k, int rc) const noexcept override {
        return rc == -ENOTCONN ? why : Adapter::explain(k, rc);
    }

    // The daemon hung up: syncs fail from now on, every waiter wakes.
    void gone() noexcept {
        up.store(false, std::memory_order_release);
        std::uint64_t one = 1;
        [[maybe_unused]] auto r = ::write(evfd.get(), &one, sizeof one);
        for (Direction d : {Direction::tx, Direction::rx})
            for (std::uint32_t i = 0; i < num_rings(d); i++) wake_if_sleeping(kring(d, i));
    }

    SharedVale* ctl = nullptr;
    std::uint32_t published_head[max_rings] = {};
    std::atomic<bool> up{false};
    std::atomic<std::uint64_t> bad_words{0};
    // Whether the machine has three CPUs or more online: one each for a
    // sender, the daemon and a receiver (whatever this process is pinned
    // to: the daemon and the peer may have CPUs of their own). On fewer, at least two of them
    // share a CPU and a client that polls while it waits takes the
    // daemon's turn (on two vCPUs a polling sender and receiver left the
    // daemon 40 % of a CPU, sleeping at once 60 % and twice the rate).
    bool cpus_for_three = true;
    shm::Fd sock, evfd, daemon_fd;
    std::uint64_t watch = 0;
    char why[200] = {};
    std::string key; // "valeX:Y" in the table below
};

std::mutex table_mu; // the ports this process joined to a daemon, by "valeX:Y"
std::map<std::string, std::weak_ptr<DaemonPort>, std::less<>>& table() {
    static std::map<std::string, std::weak_ptr<DaemonPort>, std::less<>> m;
    return m;
}

DaemonPort::~DaemonPort() {
    if (watch) shm::Reactor::instance().remove(watch);
    std::lock_guard lk(table_mu);
    if (auto it = table().find(key); it != table().end() && it->second.expired()) table().erase(it);
}

Status DaemonPort::init(const PortOptions& opts) {
    if (opts.rings == 0 || opts.rings > max_rings)
        return make_error(EINVAL, fmt::format("{} ring pairs; a port of a daemon's switch has 1..{}", opts.rings,
                                              max_rings));
    if (opts.tx_slots != opts.rx_slots || opts.tx_slots < 2 || opts.tx_slots > 16384)
        return make_error(EINVAL, fmt::format("{} tx and {} rx slots; a port of a daemon's switch has as many of "
                                              "each, 2..16384",
                                              opts.tx_slots, opts.rx_slots));
    const RingConfig rc{opts.rings, opts.rings, opts.tx_slots, opts.rx_slots};
    cpus_for_three = get_nprocs() >= 3;
    std::uint32_t bufs = opts.memory.num_bufs;
    if (bufs == 0)
        bufs = opts.rings * (opts.tx_slots + opts.rx_slots) + (opts.rings + 1) * opts.extra_bufs +
               MemoryRegion::first_buf;
    std::size_t objs = opts.memory.object_bytes;
    if (objs == 0)
        objs = ring_bytes(rc) + (opts.rings + 1) * nifp_bytes(2 * opts.rings) + shared_bytes(opts.rings) + 8192;
    MemoryConfig mc = opts.memory;
    mc.shared = true;
    auto mem = MemoryRegion::create(name(), objs, bufs, mc);
    if (!mem) return std::move(mem).error();
    std::shared_ptr<MemoryRegion> m = mem.value();
    // (a shared region is sealed at its size; the daemon checks that it is)
    auto c = m->alloc_object(shared_bytes(opts.rings));
    if (!c) return std::move(c).error();
    ctl = new (c.value()) SharedVale();
    ctl->rings = opts.rings;
    for (std::uint32_t i = 1; i < opts.rings; i++) new (&ctl->pair[i]) SharedPair();
    if (Status s = create_rings(m, rc); !s) return s;
    for (std::uint32_t i = 0; i < opts.rings; i++) {
        ctl->pair[i].tx_ofs = m->offset_of(kring(Direction::tx, i).ring);
        ctl->pair[i].rx_ofs = m->offset_of(kring(Direction::rx, i).ring);
    }
    return {};
}

} // namespace

Result<std::shared_ptr<Adapter>> join_daemon(std::string_view sw, std::string_view port, std::string_view full,
                                             const PortOptions& opts, bool& not_served) {
    not_served = false;
    const std::string key = fmt::format("{}:{}", sw, port);
    {
        std::lock_guard lk(table_mu); // opened again in this process (/T and /R)
        if (auto it = table().find(key); it != table().end())
            if (auto p = it->second.lock()) return std::shared_ptr<Adapter>(std::move(p));
    }
    const std::string rv = shm::rendezvous_name("vale", sw);
    auto sock = shm::connect_to(rv, 10000);
    if (!sock) {
        if (sock.error().code == ECONNREFUSED || sock.error().code == ENOENT) {
            not_served = true;
            return make_error(ECONNREFUSED, fmt::format("{}: no daemon serves {} (start upio-vale, or open the "
                                                        "port without ',daemon')",
                                                        full, sw));
        }
        return make_error(sock.error().code, fmt::format("{}: {}", full, sock.error().message));
    }
    if (sw.size() >= name_cap || port.size() >= name_cap)
        return make_error(EINVAL, fmt::format("{}: a switch or port name of a daemon's switch has at most {} "
                                              "characters",
                                              full, name_cap - 1));
    auto p = std::make_shared<DaemonPort>(key);
    p->key = key;
    if (Status s = p->init(opts); !s) return make_error(s.error().code, fmt::format("{}: {}", full, s.error().message));
    p->sock = std::move(sock.value());
    p->evfd = shm::Fd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!p->evfd) return make_error(errno, fmt::format("{}: eventfd: {}", full, std::strerror(errno)));

    const MemoryRegion& m = p->memory();
    Hello h;
    std::memcpy(h.sw, sw.data(), sw.size());
    std::memcpy(h.port, port.data(), port.size());
    h.object_bytes = std::uint64_t(m.offset_of(m.buf(0)));
    h.num_bufs = m.num_bufs();
    h.buf_size = m.buf_size();
    h.rings = p->num_rings(Direction::tx);
    h.slots = p->kring(Direction::tx, 0).num_slots;
    h.shared_ofs = m.offset_of(p->ctl);
    h.pid = ::getpid();
    if (Status s = shm::send_msg(p->sock.get(), &h, sizeof h, {m.fd(), p->evfd.get()}); !s)
        return make_error(s.error().code, fmt::format("{}: {}", full, s.error().message));
    Welcome w;
    std::vector<shm::Fd> fds;
    auto got = shm::recv_msg(p->sock.get(), &w, sizeof w, fds, 1);
    if (!got)
        return make_error(got.error().code, fmt::format("{}: no answer from the VALE daemon: {}", full,
                                                        got.error().message));
    auto parsed = parse_welcome(&w, got.value(), fds.size());
    if (!parsed) return make_error(parsed.error().code, fmt::format("{}: {}", full, parsed.error().message));
    p->daemon_fd = std::move(fds[0]);
    std::snprintf(p->why, sizeof p->why, "link down: the VALE daemon serving %.*s (pid %d) exited or was "
                  "killed; open the port again to meet a new one", int(sw.size()), sw.data(), parsed->daemon_pid);
    p->up.store(true, std::memory_order_release);

    p->watch = shm::watch_hangup(p, p->sock.get());
    if (!p->watch) return make_error(EIO, fmt::format("{}: cannot watch the daemon's connection", full));
    {
        std::lock_guard lk(table_mu);
        table()[key] = p;
    }
    return std::shared_ptr<Adapter>(std::move(p));
}

Status daemon_back_pressure(std::string_view port, bool on) {
    auto pn = parse_port_name(port);
    if (!pn) return std::move(pn).error();
    std::shared_ptr<DaemonPort> p;
    {
        std::lock_guard lk(table_mu);
        if (auto it = table().find(fmt::format("{}:{}", pn->sw, pn->port)); it != table().end()) p = it->second.lock();
    }
    if (!p) return make_error(ENOENT, fmt::format("{}: no such port in this process", port));
    if (!p->link_up()) return make_error(ENOTCONN, fmt::format("{}: {}", port, p->why));
    Request r;
    r.op = op_back_pressure;
    r.value = on ? 1 : 0;
    if (Status s = shm::send_msg(p->sock.get(), &r, sizeof r, {}); !s)
        return make_error(s.error().code, fmt::format("{}: {}", port, s.error().message));
    return {};
}

std::pair<void*, std::size_t> daemon_control_block(const Adapter& a) {
    auto* p = dynamic_cast<const DaemonPort*>(&a);
    if (!p) return {nullptr, 0};
    return {p->ctl, shared_bytes(p->ctl->rings)};
}

} // namespace upio::vale
