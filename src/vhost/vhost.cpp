// "vhost:PATH[,client]": the port type, its names, and the adapter's control
// side (waits, link); the data path is in net.cpp.
#include "vhost/vhost.hpp"

#include <fmt/format.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <map>
#include <mutex>

namespace upio::vhost {

namespace {

// BODY is the socket path: anything up to the first ','; it may contain '/'
// and end in digits, so the type takes no shorthand.
Result<std::size_t> parse_body(std::string_view, std::string_view body) {
    if (body.empty()) return make_error(EINVAL, "the socket path is empty (vhost:PATH, e.g. vhost:/tmp/vm0.sock)");
    return body.size();
}

Status check(const PortName& pn) {
    auto n = parse_name(pn);
    if (!n) return std::move(n).error();
    return {};
}

std::mutex mu;
std::map<std::string, std::weak_ptr<Adapter>> open_ports; // by socket path

} // namespace

Result<VhostName> parse_name(const PortName& pn) {
    VhostName n;
    n.path = pn.body;
    n.client = pn.option("client") != nullptr;
    return n;
}

const PortType& port_type() {
    static const PortType t = [] {
        PortType d;
        d.name = "vhost";
        d.syntax = "vhost:PATH[,client]";
        d.summary = "a vhost-user back end on unix socket PATH (listening; ,client connects): a QEMU guest's or "
                    "DPDK virtio-user's virtio-net";
        d.shorthands = shorthand_none; // a path contains '/' and may end in "-1"
        d.options = {"client"};
        d.parse = &parse_body;
        d.check = &check;
        d.open = &open_vhost;
        return d;
    }();
    return t;
}

Result<std::shared_ptr<Adapter>> open_vhost(const PortName& pn, const PortOptions& opts) {
    auto vn = parse_name(pn);
    if (!vn) return std::move(vn).error();
    std::lock_guard lk(mu);
    if (auto it = open_ports.find(vn.value().path); it != open_ports.end())
        if (auto a = it->second.lock()) return a;
    const std::string path = vn.value().path;
    auto a = std::make_shared<VhostAdapter>(fmt::format("vhost:{}", path), std::move(vn).value(),
                                            std::max<std::uint32_t>(1, opts.rings));
    if (Status s = a->init(opts); !s)
        return make_error(s.error().code, fmt::format("{}: {}", pn.full, s.error().message));
    open_ports[path] = a;
    return std::shared_ptr<Adapter>(std::move(a));
}

VhostAdapter::VhostAdapter(std::string name, VhostName vn, std::uint32_t pairs)
    : Adapter(std::move(name)), vn_(std::move(vn)), dev_(DeviceConfig{pairs}) {}

VhostAdapter::~VhostAdapter() {
    ctl_.reset(); // the control thread ends first: nothing calls on_queue_change after this
    dev_.on_queue_change = nullptr;
    dev_.reset();
    destroy_rings();
}

Status VhostAdapter::init(const PortOptions& opts) {
    const std::uint32_t n = dev_.num_queues() / 2;
    for (std::uint32_t i = 0; i < dev_.num_queues(); i++)
        if (dev_.vq(i).ep < 0 || dev_.vq(i).timer < 0)
            return make_error(EMFILE, "cannot create the queues' epoll and timer descriptors");
    const RingConfig cfg{n, n, opts.tx_slots, opts.rx_slots};
    std::uint32_t bufs = opts.memory.num_bufs;
    if (bufs == 0) bufs = n * (opts.tx_slots + opts.rx_slots) + (n + 1) * opts.extra_bufs + MemoryRegion::first_buf;
    std::size_t objs = opts.memory.object_bytes;
    if (objs == 0) objs = ring_bytes(cfg) + (n + 1) * nifp_bytes(2 * n) + 4096;
    auto mem = MemoryRegion::create(name(), objs, bufs, opts.memory);
    if (!mem) return std::move(mem).error();
    if (Status s = create_rings(mem.value(), cfg); !s) return s;
    for (std::uint32_t i = 0; i < 2 * n; i++) chains_.push_back(std::make_unique<Chain>());
    dev_.on_queue_change = [this](std::uint32_t q) { on_queue_change(q); };
    ctl_ = std::make_unique<Control>(dev_, vn_.path, vn_.client);
    return ctl_->start();
}

// A queue was set up, started, stopped or its front end left: a waiter on
// its ring looks again (a sync of a stopped queue moves nothing; of a tx
// ring, drops what waits).
void VhostAdapter::on_queue_change(std::uint32_t q) noexcept {
    const std::uint32_t ring = q / 2;
    if (ring >= num_rings(Direction::tx)) return;
    wake_if_sleeping(kring(q % 2 ? Direction::rx : Direction::tx, ring));
}

// A queue set up but not started starts at the front end's first kick
// (under its lock). Until then the front end was asked to kick; from then
// on, while nobody sleeps on the ring, it need not.
bool VhostAdapter::start_if_kicked(KRing& k, Vring& q) noexcept {
    if (!q.start_if_kicked()) return false;
    if (!k.sleeping.load(std::memory_order_relaxed)) q.want_kicks(false);
    return true;
}

std::vector<int> VhostAdapter::wait_fds(const KRing& k) const {
    return {dev_.vq(2 * k.ring_id + (k.dir == Direction::rx ? 1 : 0)).ep};
}

// Around a sleep: ask the front end for kicks, or, when it gives no kick fd,
// poll the ring with the queue's timer while the waiter sleeps.
void VhostAdapter::set_interrupts(KRing& k, bool on) noexcept {
    Vring& q = vq_of(k);
    std::lock_guard lk(q.mu);
    const bool run = q.running();
    // A ring not started yet wants its first kick whoever sleeps; a
    // waiter's arm says so again (EVENT_IDX: from the entry it waits for).
    if (run || (on && q.set_up && q.used)) q.want_kicks(on);
    itimerspec its{};
    if (on && run && q.kick < 0) {
        its.it_value.tv_nsec = 200'000;
        its.it_interval.tv_nsec = 200'000;
    }
    timerfd_settime(q.timer, 0, &its, nullptr);
}

void VhostAdapter::ack_wait_fd(int fd) noexcept {
    for (std::uint32_t i = 0; i < dev_.num_queues(); i++) {
        Vring& q = dev_.vq(i);
        if (q.ep != fd) continue;
        std::lock_guard lk(q.mu); // the control thread closes kick fds under it
        epoll_event ev[2];
        const int n = epoll_wait(q.ep, ev, 2, 0);
        for (int j = 0; j < n; j++) {
            std::uint64_t junk;
            [[maybe_unused]] auto r = ::read(ev[j].data.fd, &junk, sizeof junk);
            // The ring's first kick: it starts (the waiter's next sync moves
            // frames, and its next sleep asks for kicks again).
            if (ev[j].data.fd == q.kick && q.set_up && !q.started) {
                q.started = true;
                if (q.running()) q.want_kicks(false);
            }
        }
        return;
    }
}

bool VhostAdapter::link_up() const noexcept { return ctl_ && ctl_->connected() && dev_.pair_ready(0); }

} // namespace upio::vhost
