// "netif:IFNAME[@xdp|@packet][,xdp|,packet]": its name, choosing the back end, and what the back ends
// share (the interface, the region, promiscuous mode, the tx poll timer).
#include "netif/backends.hpp"
#include "netif/netif.hpp"

#include <fmt/format.h>
#include <upio/log.hpp>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>

namespace upio::netif {
namespace {

struct Open {
    std::weak_ptr<Adapter> adapter;
    Backend backend;
};
std::mutex mu;
std::map<std::string, Open> open_adapters; // by interface name

const char* backend_name(Backend b) { return b == Backend::xdp ? "AF_XDP" : "AF_PACKET"; }

} // namespace

std::string permission_hint(int err, Privilege p) {
    if (err != EPERM && err != EACCES) return {};
    switch (p) {
    case Privilege::packet:
        return " (needs cap_net_raw, AF_XDP also cap_net_admin, cap_sys_admin and cap_ipc_lock: run as root or "
               "setcap the program)";
    case Privilege::xdp:
        return " (AF_XDP needs cap_net_raw, cap_net_admin, cap_sys_admin and cap_ipc_lock: run as root, setcap the "
               "program, or use AF_PACKET, which needs cap_net_raw only)";
    case Privilege::tap: return " (creating a tap needs cap_net_admin: run as root or setcap the program)";
    case Privilege::tun_node:
        return " (/dev/net/tun is not writable by this user: run as root or make the node mode 0666)";
    }
    return {};
}

Result<std::size_t> parse_ifname(std::string_view body, std::string_view stop) {
    const std::string_view ifname = body.substr(0, body.find_first_of(stop));
    bool ok = !ifname.empty() && ifname.size() <= 15;
    for (char c : ifname) ok = ok && c != '/' && c != ',' && !std::isspace(static_cast<unsigned char>(c));
    if (!ok)
        return make_error(EINVAL, fmt::format("interface name '{}' must be 1..15 characters without '/', ',' or "
                                              "spaces",
                                              ifname));
    return ifname.size();
}

namespace {

// netif's own part of a name: IFNAME, then "@xdp" or "@packet" (the older
// spelling of the options ",xdp" and ",packet").
Result<std::size_t> parse_netif_body(std::string_view, std::string_view body) {
    auto n = parse_ifname(body, "/@");
    if (!n) return n;
    if (n.value() == body.size() || body[n.value()] != '@') return n;
    const std::string_view rest = body.substr(n.value() + 1);
    const std::string_view mode = rest.substr(0, rest.find('/'));
    if (mode != "xdp" && mode != "packet")
        return make_error(EINVAL, fmt::format("back end '@{}' must be @xdp (AF_XDP) or @packet (AF_PACKET)", mode));
    return n.value() + 1 + mode.size();
}

Status check_netif(const PortName& pn) {
    auto n = parse_netif_name(pn);
    if (!n) return std::move(n).error();
    return {};
}

} // namespace

Result<NetifName> parse_netif_name(const PortName& pn) {
    NetifName n;
    const auto at = pn.body.find('@');
    n.ifname = pn.body.substr(0, at);
    if (at != std::string::npos) n.backend = pn.body.substr(at + 1);
    for (const PortOption& o : pn.options) {
        if (o.key != "xdp" && o.key != "packet") continue;
        if (!n.backend.empty() && n.backend != o.key)
            return make_error(EINVAL, fmt::format("back end given twice ('{}' and '{}')", n.backend, o.key));
        n.backend = o.key;
    }
    return n;
}

const PortType& port_type() {
    static const PortType t = [] {
        PortType d;
        d.name = "netif";
        d.syntax = "netif:IFNAME[@xdp|@packet]";
        d.summary = "any Linux interface through AF_XDP, else AF_PACKET (TPACKET_V3); ,xdp or ,packet chooses";
        d.shorthands = shorthand_dir; // an interface name may end in "-1": no "-N"
        d.options = {"xdp", "packet"};
        d.parse = &parse_netif_body;
        d.check = &check_netif;
        d.open = &open_netif;
        return d;
    }();
    return t;
}

Result<Interface> find_interface(const PortName& pn, const std::string& ifname) {
    Interface ifc;
    ifc.name = ifname;
    ifc.ifindex = int(if_nametoindex(ifc.name.c_str()));
    if (ifc.ifindex == 0)
        return make_error(ENODEV, fmt::format("{}: no interface '{}' in this network namespace ('ip link show' lists "
                                              "them; to create a tap device, open tap:{})",
                                              pn.full, ifc.name, ifc.name));
    const std::string sys = "/sys/class/net/" + ifc.name;
    if (std::ifstream f(sys + "/mtu"); f) f >> ifc.mtu;
    std::uint32_t q = 0;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(sys + "/queues", ec))
        if (e.path().filename().string().starts_with("rx-")) q++;
    ifc.queues = q ? q : 1;
    return ifc;
}

Result<std::shared_ptr<MemoryRegion>> make_region(const std::string& name, std::uint32_t n, const PortOptions& opts) {
    const RingConfig cfg{n, n, opts.tx_slots, opts.rx_slots};
    std::uint32_t bufs = opts.memory.num_bufs;
    if (bufs == 0) bufs = n * (opts.tx_slots + opts.rx_slots) + (n + 1) * opts.extra_bufs + MemoryRegion::first_buf;
    std::size_t objs = opts.memory.object_bytes;
    if (objs == 0) objs = ring_bytes(cfg) + (n + 1) * nifp_bytes(2 * n) + 4096;
    return MemoryRegion::create(name, objs, bufs, opts.memory);
}

Result<Fd> promiscuous(const Interface& ifc) {
    Fd s(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0)); // protocol 0: receives nothing
    if (!s)
        return make_error(errno, fmt::format("netif:{}: cannot open a packet socket: {}{}", ifc.name, std::strerror(errno),
                                             permission_hint(errno, Privilege::packet)));
    packet_mreq mr{};
    mr.mr_ifindex = ifc.ifindex;
    mr.mr_type = PACKET_MR_PROMISC;
    if (setsockopt(s.get(), SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) < 0)
        return make_error(errno, fmt::format("netif:{}: cannot enter promiscuous mode: {}{}", ifc.name,
                                             std::strerror(errno), permission_hint(errno, Privilege::packet)));
    return s;
}

Result<Fd> tx_poll_timer(const std::string& port) {
    Fd t(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
    if (!t) return make_error(errno, fmt::format("{}: cannot create a timerfd: {}", port, std::strerror(errno)));
    return t;
}

void arm_tx_poll_timer(int fd, bool on) noexcept {
    itimerspec its{};
    if (on) its.it_value.tv_nsec = 100'000; // the kernel usually completes within this; re-armed while frames wait
    timerfd_settime(fd, 0, &its, nullptr);
}

void ack_tx_poll_timer(int fd) noexcept {
    std::uint64_t n;
    [[maybe_unused]] auto r = ::read(fd, &n, sizeof n);
}

void ack_socket_error(int fd) noexcept {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
}

Result<std::shared_ptr<Adapter>> open_netif(const PortName& pn, const PortOptions& opts) {
    auto parsed = parse_netif_name(pn);
    if (!parsed) return make_error(EINVAL, fmt::format("{}: {}", pn.full, parsed.error().message));
    const std::string& ifname = parsed.value().ifname;
    const bool want_xdp = parsed.value().backend == "xdp", want_packet = parsed.value().backend == "packet";
    std::lock_guard lk(mu);
    if (auto it = open_adapters.find(ifname); it != open_adapters.end()) {
        if (auto a = it->second.adapter.lock()) {
            const Backend b = it->second.backend;
            if ((want_xdp && b != Backend::xdp) || (want_packet && b != Backend::packet))
                return make_error(EBUSY, fmt::format("{}: {} is already open with {} in this process; open it with "
                                                     "the same back end (or none)",
                                                     pn.full, ifname, backend_name(b)));
            return a;
        }
    }
    auto ifc = find_interface(pn, ifname);
    if (!ifc) return std::move(ifc).error();
    const Interface& i = ifc.value();
    if (i.mtu + 18 > opts.memory.buf_size)
        return make_error(EMSGSIZE, fmt::format("{}: MTU {} needs buffers of at least {} bytes; set "
                                                "PortOptions::memory.buf_size (now {}) or lower the MTU",
                                                pn.full, i.mtu, i.mtu + 18, opts.memory.buf_size));

    Result<std::shared_ptr<Adapter>> a = make_error(ENOTSUP, "");
    Backend used = Backend::xdp;
    if (!want_packet) {
        a = open_xdp(i, pn, opts);
        // AF_PACKET needs the same privileges: falling back would not help.
        if (!a && (want_xdp || a.error().code == EPERM || a.error().code == EACCES)) return std::move(a).error();
        if (!a) {
            log(LogLevel::warn, fmt::format("{}: AF_XDP unavailable, using AF_PACKET: {}", pn.full, a.error().message));
        }
    }
    if (!a) {
        used = Backend::packet;
        a = open_packet(i, pn, opts);
        if (!a) return std::move(a).error();
    }
    open_adapters[ifname] = Open{a.value(), used};
    return a;
}

} // namespace upio::netif
