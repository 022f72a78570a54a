// VALE control path: switches by name, ports joining and leaving, and the
// listing and configuration API of upio/vale.hpp.
#include "vale/switch.hpp"

#include "vale/daemon_client.hpp"

#include <fmt/format.h>
#include <time.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <mutex>

namespace upio::vale::detail {
namespace {

std::mutex registry_mu; // see switch.hpp
std::map<std::string, std::shared_ptr<Switch>, std::less<>>& registry() {
    static std::map<std::string, std::shared_ptr<Switch>, std::less<>> m;
    return m;
}

std::uint64_t now_ms() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return std::uint64_t(ts.tv_sec) * 1000 + std::uint64_t(ts.tv_nsec) / 1000000;
}

// Caller holds registry_mu.
Result<std::shared_ptr<Switch>> find_switch(std::string_view sw) {
    auto& reg = registry();
    if (auto it = reg.find(sw); it != reg.end()) return it->second;
    return make_error(ENOENT, fmt::format("{}: no such switch (a switch exists while it has ports, or after "
                                          "vale::create_switch)",
                                          sw));
}

bool valid_switch_name(std::string_view sw) {
    auto pn = parse_port_name(fmt::format("{}:x", sw));
    return pn.ok() && pn.value().sw == sw;
}

// Caller holds registry_mu; `port` is "valeX:Y".
Result<std::shared_ptr<VPort>> find_port(std::string_view port) {
    auto pn = parse_port_name(port);
    if (!pn) return std::move(pn).error();
    auto sw = find_switch(pn.value().sw);
    if (!sw) return std::move(sw).error();
    auto& names = sw.value()->by_name;
    if (auto it = names.find(pn.value().port); it != names.end())
        if (auto vp = it->second.lock()) return vp;
    return make_error(ENOENT, fmt::format("{}: no such port on {}", port, pn.value().sw));
}

} // namespace

Status VPort::init(const PortOptions& opts) {
    if (opts.rings == 0 || opts.rings > 64)
        return make_error(EINVAL, fmt::format("{}: {} ring pairs; a VALE port has 1..64", name(), opts.rings));
    const RingConfig rc{opts.rings, opts.rings, opts.tx_slots, opts.rx_slots};
    // A private region: this port's rings and buffers and nothing else.
    std::uint32_t bufs = opts.memory.num_bufs;
    if (bufs == 0)
        bufs = opts.rings * (opts.tx_slots + opts.rx_slots) + (opts.rings + 1) * opts.extra_bufs +
               MemoryRegion::first_buf;
    std::size_t objs = opts.memory.object_bytes;
    if (objs == 0) objs = ring_bytes(rc) + (opts.rings + 1) * nifp_bytes(2 * opts.rings) + 4096;
    auto mem = MemoryRegion::create(name(), objs, bufs, opts.memory);
    if (!mem) return std::move(mem).error();
    if (Status s = create_rings(std::move(mem.value()), rc); !s) return s;
    add_lanes(opts.rings);
    return {};
}

Status VPort::adopt(std::shared_ptr<MemoryRegion> mem, const std::vector<netmap_ring*>& tx,
                    const std::vector<netmap_ring*>& rx, std::uint32_t slots) {
    if (tx.empty() || tx.size() != rx.size() || tx.size() > 64)
        return make_error(EINVAL, fmt::format("{}: {} tx and {} rx rings; a VALE port has 1..64 pairs", name(),
                                              tx.size(), rx.size()));
    if (Status s = adopt_rings(std::move(mem), tx, rx, slots); !s) return s;
    add_lanes(std::uint32_t(tx.size()));
    return {};
}

void VPort::add_lanes(std::uint32_t rings) {
    for (std::uint32_t i = 0; i < rings; i++) {
        scratch_.push_back(std::make_unique<TxScratch>());
        auto lane = std::make_unique<RxLane>();
        lane->done.assign(kring(Direction::rx, i).num_slots, RxLane::pending);
        lanes_.push_back(std::move(lane));
    }
}

VPort::~VPort() {
    if (!joined) return;
    std::lock_guard lk(registry_mu);
    Switch& s = *sw_;
    {
        std::unique_lock wl(s.mu); // waits for senders forwarding to us
        s.ports[index] = nullptr;
        auto* end = s.active + s.nactive;
        auto* it = std::find(s.active, end, std::uint8_t(index));
        if (it != end) {
            std::copy(it + 1, end, it);
            s.nactive--;
        }
        s.macs.forget_port(index);
        if (back_pressure.load()) {
            s.nheld.fetch_sub(1);
            // Senders held back by our rings wake up and find us gone.
            for (std::uint32_t r = 0; r < lanes_.size(); r++) wake_held_locked(r);
        }
    }
    const std::string_view port = std::string_view(name()).substr(s.name.size() + 1);
    if (auto it = s.by_name.find(port); it != s.by_name.end() && it->second.expired()) s.by_name.erase(it);
    if (s.nactive == 0 && !s.persistent) {
        auto& reg = registry();
        if (auto it = reg.find(s.name); it != reg.end() && it->second == sw_) reg.erase(it);
    }
}

PortStats VPort::stats() const noexcept {
    PortStats st;
    auto ld = [](const std::atomic<std::uint64_t>& c) { return c.load(std::memory_order_relaxed); };
    for (const auto& t : scratch_) {
        st.tx_packets += ld(t->tx_packets);
        st.tx_bytes += ld(t->tx_bytes);
        st.drop_filtered += ld(t->drop_filtered);
        st.drop_malformed += ld(t->drop_malformed);
    }
    for (const auto& l : lanes_) {
        st.rx_packets += ld(l->rx_packets);
        st.rx_bytes += ld(l->rx_bytes);
        st.drop_no_space += ld(l->drop_no_space);
    }
    for (Direction d : {Direction::tx, Direction::rx})
        for (std::uint32_t i = 0; i < num_rings(d); i++) st.prologue_errors += ld(kring(d, i).stats.prologue_errors);
    return st;
}

void set_attached(VPort& p, std::string what) {
    std::lock_guard lk(registry_mu);
    p.attached = std::move(what);
}

} // namespace upio::vale::detail

namespace upio::vale {

using namespace detail;

// VALE's own part of a name: PORT, letters, digits, _ . - (no '/': a
// direction suffix may follow; no "-N": '-' belongs to the port's name).
Result<std::size_t> parse_body(std::string_view, std::string_view body) {
    std::string_view port = body.substr(0, body.find('/'));
    bool ok = !port.empty();
    for (char c : port) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-');
    if (!ok) return make_error(EINVAL, fmt::format("VALE port name '{}' must be letters, digits, _ . -", port));
    return port.size();
}

const PortType& port_type() {
    static const PortType t = [] {
        PortType d;
        d.name = "vale";
        d.family = true;
        d.syntax = "valeX:PORT";
        d.summary = "port PORT of VALE switch valeX (created on first use)";
        d.shorthands = shorthand_dir;
        d.options = {"local", "daemon"}; // in this process only / through a daemon only
        d.parse = &parse_body;
        d.open = &open_adapter;
        return d;
    }();
    return t;
}

Result<PortAddress> parse_port_name(std::string_view name) {
    auto pn = PortName::parse(name);
    if (!pn) return std::move(pn).error();
    if (pn.value().port_type() == nullptr || pn.value().type_name() != port_type().name)
        return make_error(EINVAL, fmt::format("{}: not a VALE port (valeX:PORT)", name));
    return PortAddress{pn.value().type, pn.value().body};
}

Result<std::shared_ptr<Adapter>> open_adapter(const PortName& name, const PortOptions& opts) {
    const PortAddress pn{name.type, name.body};
    // A daemon serving the switch takes the port, unless the name says
    // "local" (see daemon_client.hpp).
    if (!name.option("local")) {
        bool not_served = false;
        auto remote = join_daemon(pn.sw, pn.port, name.full, opts, not_served);
        if (remote || !not_served) return remote;
        if (name.option("daemon")) return remote;
    }
    auto vp = join_port(pn.sw, pn.port, name.full, true, [&](VPort& p) { return p.init(opts); });
    if (!vp) return std::move(vp).error();
    return std::shared_ptr<Adapter>(std::move(vp.value()));
}

} // namespace upio::vale

namespace upio::vale::detail {

Result<std::shared_ptr<VPort>> join_port(std::string_view swname, std::string_view port, std::string_view full,
                                         bool reuse, const std::function<Status(VPort&)>& init) {
    std::lock_guard lk(registry_mu);
    auto& reg = registry();
    auto it = reg.find(swname);
    if (it == reg.end()) it = reg.emplace(std::string(swname), std::make_shared<Switch>(std::string(swname))).first;
    std::shared_ptr<Switch> sw = it->second; // created on demand
    auto forget_if_empty = [&] {
        if (sw->nactive == 0 && !sw->persistent) reg.erase(sw->name);
    };

    if (auto it = sw->by_name.find(port); it != sw->by_name.end())
        if (auto vp = it->second.lock()) {
            if (reuse) return vp;
            return make_error(EBUSY, fmt::format("{}: the port is open already (by {})", full,
                                                 vp->attached.empty() ? "another process" : vp->attached));
        }
    if (sw->nactive == max_ports) {
        forget_if_empty();
        return make_error(ENOSPC, fmt::format("{}: {} has {} ports, its maximum; close one or use another switch",
                                              full, swname, max_ports));
    }

    auto vp = std::make_shared<VPort>(fmt::format("{}:{}", swname, port), sw);
    if (Status s = init(*vp); !s) {
        forget_if_empty();
        return make_error(s.error().code, fmt::format("{}: {}", full, s.error().message));
    }
    {
        std::unique_lock wl(sw->mu);
        std::uint32_t idx = 0;
        while (sw->ports[idx]) idx++; // nactive < max_ports: a free index exists
        vp->index = idx;
        vp->joined = true;
        sw->ports[idx] = vp.get();
        sw->active[sw->nactive++] = std::uint8_t(idx);
    }
    sw->by_name[std::string(port)] = vp;
    return vp;
}

} // namespace upio::vale::detail

namespace upio::vale {

std::vector<std::string> list_switches() {
    std::lock_guard lk(registry_mu);
    std::vector<std::string> v;
    for (const auto& [name, sw] : registry()) v.push_back(name);
    return v;
}

Result<SwitchInfo> describe(std::string_view name) {
    std::lock_guard lk(registry_mu);
    auto sw = find_switch(name);
    if (!sw) return std::move(sw).error();
    Switch& s = *sw.value();
    SwitchInfo info;
    info.name = s.name;
    info.persistent = s.persistent;
    std::shared_lock rl(s.mu);
    info.custom_lookup = bool(s.lookup);
    info.config.aging = std::chrono::milliseconds(s.aging_ms.load());
    for (std::uint32_t k = 0; k < s.nactive; k++) {
        const VPort& p = *s.ports[s.active[k]];
        PortInfo pi;
        pi.index = p.index;
        pi.name = p.name();
        pi.tx_rings = p.num_rings(Direction::tx);
        pi.rx_rings = p.num_rings(Direction::rx);
        pi.tx_slots = p.kring(Direction::tx, 0).num_slots;
        pi.rx_slots = p.kring(Direction::rx, 0).num_slots;
        pi.buf_size = p.memory().buf_size();
        pi.attached = p.attached;
        pi.back_pressure = p.back_pressure.load();
        pi.stats = p.stats();
        info.ports.push_back(std::move(pi));
    }
    std::sort(info.ports.begin(), info.ports.end(), [](auto& a, auto& b) { return a.index < b.index; });
    return info;
}

// A port found under registry_mu is held by a reference declared before
// the lock: when the port is closed meanwhile, that reference is the last
// one, and ~VPort (which takes registry_mu) runs after the unlock.
Result<PortStats> port_stats(std::string_view port) {
    std::shared_ptr<VPort> keep;
    std::lock_guard lk(registry_mu);
    auto vp = find_port(port);
    if (!vp) return std::move(vp).error();
    keep = std::move(vp.value());
    return keep->stats();
}

Result<std::uint32_t> port_index(std::string_view port) {
    std::shared_ptr<VPort> keep; // see port_stats()
    std::lock_guard lk(registry_mu);
    auto vp = find_port(port);
    if (!vp) return std::move(vp).error();
    keep = std::move(vp.value());
    return keep->index;
}

Result<std::vector<MacEntry>> mac_table(std::string_view name) {
    std::lock_guard lk(registry_mu);
    auto sw = find_switch(name);
    if (!sw) return std::move(sw).error();
    Switch& s = *sw.value();
    std::shared_lock rl(s.mu);
    const std::uint64_t now = now_ms(), aging = s.aging_ms.load();
    std::vector<MacEntry> v;
    s.macs.for_each([&](std::uint64_t mac, std::uint32_t port, std::uint64_t seen) {
        if (!s.ports[port]) return;
        const std::uint64_t age = now > seen ? now - seen : 0;
        if (aging && age > aging) return;
        MacEntry e;
        std::memcpy(e.mac.data(), &mac, 6);
        e.port = port;
        e.port_name = s.ports[port]->name();
        e.age = std::chrono::milliseconds(age);
        v.push_back(std::move(e));
    });
    std::sort(v.begin(), v.end(), [](auto& a, auto& b) { return a.mac < b.mac; });
    return v;
}

Status flush_mac_table(std::string_view name) {
    std::lock_guard lk(registry_mu);
    auto sw = find_switch(name);
    if (!sw) return std::move(sw).error();
    sw.value()->macs.clear();
    return {};
}

Status create_switch(std::string_view name, const SwitchConfig& cfg) {
    if (!valid_switch_name(name))
        return make_error(EINVAL, fmt::format("{}: a switch name is vale followed by letters or digits", name));
    std::lock_guard lk(registry_mu);
    auto& reg = registry();
    if (reg.contains(name)) return make_error(EEXIST, fmt::format("{}: the switch exists already", name));
    auto sw = std::make_shared<Switch>(std::string(name));
    sw->persistent = true;
    sw->aging_ms.store(std::uint64_t(cfg.aging.count()));
    reg.emplace(std::string(name), std::move(sw));
    return {};
}

Status destroy_switch(std::string_view name) {
    std::lock_guard lk(registry_mu);
    auto sw = find_switch(name);
    if (!sw) return std::move(sw).error();
    if (sw.value()->nactive)
        return make_error(EBUSY, fmt::format("{}: {} ports are still open; close them first", name,
                                             sw.value()->nactive));
    registry().erase(registry().find(name));
    return {};
}

Status configure(std::string_view name, const SwitchConfig& cfg) {
    if (cfg.aging.count() < 0) return make_error(EINVAL, fmt::format("{}: negative aging time", name));
    std::lock_guard lk(registry_mu);
    auto sw = find_switch(name);
    if (!sw) return std::move(sw).error();
    sw.value()->aging_ms.store(std::uint64_t(cfg.aging.count()));
    return {};
}

Status set_back_pressure(std::string_view port, bool on) {
    std::shared_ptr<VPort> keep; // see port_stats()
    std::unique_lock lk(registry_mu);
    auto vp = find_port(port);
    if (!vp) {
        lk.unlock(); // not here: a port of a daemon's switch?
        if (Status s = daemon_back_pressure(port, on); s || s.error().code != ENOENT) return s;
        return std::move(vp).error();
    }
    keep = std::move(vp.value());
    Switch& s = keep->sw();
    std::unique_lock wl(s.mu); // no forwarding pass in progress sees the change half made
    if (keep->back_pressure.exchange(on) == on) return {};
    if (on) {
        s.nheld.fetch_add(1);
    } else {
        s.nheld.fetch_sub(1);
        // Senders held back sleep until this port's rxsync wakes them, which
        // it no longer does: wake them now (their next txsync drops instead).
        for (std::uint32_t r = 0; r < keep->num_rings(Direction::rx); r++) keep->wake_held_locked(r);
    }
    return {};
}

Status set_lookup(std::string_view name, Lookup lookup) {
    std::lock_guard lk(registry_mu);
    auto sw = find_switch(name);
    if (!sw) return std::move(sw).error();
    Lookup old;
    {
        std::unique_lock wl(sw.value()->mu);
        old = std::exchange(sw.value()->lookup, std::move(lookup));
    }
    return {}; // `old` is destroyed here, outside the switch lock
}

} // namespace upio::vale
