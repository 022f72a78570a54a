// upio-switch: host a VALE switch and attach ports to it -- netmap's
// `vale-ctl -a`, in one process.
//
//   upio-switch netif:veth1 netif:veth2           two interfaces on vale0
//   upio-switch -s vale1 -i 5 tap:tap0 lan=netif:eth1@packet
//
// Each argument is a port name, optionally preceded by the switch port's
// name ("lan=..."; by default the interface name). The program moves frames
// until SIGINT or SIGTERM (or for --duration seconds); it prints the ports, their counters and the MAC
// table every -i seconds, on SIGUSR1, and once more when it exits.
#include <upio/netmap_user.h>
#include <upio/port.hpp>
#include <upio/vale.hpp>
#include <upio/version.hpp>

#include "cli_checks.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace {

volatile std::sig_atomic_t g_stop = 0, g_dump = 0;
void on_stop(int) { g_stop = 1; }
void on_dump(int) { g_dump = 1; }

struct Member {
    std::string vale_port; // "vale0:veth1"
    std::string port;      // "netif:veth1"
    std::unique_ptr<upio::vale::Attachment> att;
    int last_error = 0;
};

// "netif:veth1@xdp/R,ring=0" -> "veth1": letters, digits, _ . - of the body.
std::string default_name(const std::string& port) {
    std::string body = port.substr(port.find(':') + 1), out;
    for (char c : body) {
        if (c == '@' || c == '/' || c == ',' || c == '{' || c == '}') break;
        out += std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-' ? c : '_';
    }
    return out.empty() ? "port" : out;
}

// "netif:IF" with no back end named: AF_PACKET, whose virtio-net headers
// carry the hosts' checksum and segmentation offloads through the switch
// (AF_XDP has none: its hosts must turn their offloads off). "netif:IF@xdp"
// or ",xdp" still asks for AF_XDP.
std::string with_backend(const std::string& port) {
    if (!port.starts_with("netif:")) return port;
    const auto comma = port.find(',');
    const std::string body = port.substr(0, comma), opts = comma == std::string::npos ? "" : port.substr(comma);
    if (body.find('@') != std::string::npos || opts.find(",xdp") != std::string::npos ||
        opts.find(",packet") != std::string::npos)
        return port;
    return port + ",packet";
}

std::string mac_str(const upio::vale::Mac& m) {
    return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5]);
}

void dump(const std::string& sw, const std::vector<Member>& members, double t) {
    auto info = upio::vale::describe(sw);
    if (!info) {
        fmt::print(stderr, "upio-switch: {}\n", info.error().message);
        return;
    }
    fmt::print("== {} at {:.3f} s: {} ports\n", sw, t, info->ports.size());
    for (const auto& p : info->ports) {
        std::string line = fmt::format("port {} {} attached={}", p.index, p.name, p.attached.empty() ? "-" : p.attached);
        for (const auto& f : upio::vale::stat_fields) line += fmt::format(" {}={}", f.name, p.stats.*f.field);
        fmt::print("{}\n", line);
    }
    for (const Member& m : members) {
        const auto rx = m.att->attached_port().counters(upio::Direction::rx);
        const auto tx = m.att->attached_port().counters(upio::Direction::tx);
        fmt::print("kernel {} rx_packets={} rx_bytes={} rx_drops={} tx_packets={} tx_bytes={} tx_drops={}\n", m.port,
                   rx.packets, rx.bytes, rx.drops, tx.packets, tx.bytes, tx.drops);
    }
    if (auto macs = upio::vale::mac_table(sw); macs)
        for (const auto& e : macs.value())
            fmt::print("mac {} port={} {} age={}ms\n", mac_str(e.mac), e.port, e.port_name, e.age.count());
    fmt::print("==\n");
    std::fflush(stdout);
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"upio-switch: a VALE switch with ports attached (netmap's vale-ctl -a)"};
    app.set_version_flag("--version", std::string("upio-switch (upio) ") + upio::version());
    std::string sw = "vale0";
    double interval = 0;
    std::vector<std::string> args;
    std::uint32_t slots = 1024;
    app.add_option("-s,--switch", sw, "switch name (valeX)");
    app.add_option("-i,--interval", interval, "seconds between reports (0: only on SIGUSR1 and at exit)")
        ->check(upio::tools::at_least(0));
    double duration = 0;
    app.add_option("-t,--duration", duration, "exit after this many seconds (0: run until SIGINT or SIGTERM)")
        ->check(upio::tools::at_least(0));
    app.add_option("--slots", slots, "slots per ring of every port")->check(CLI::Range(64, 16384));
    app.add_option("ports", args, "[NAME=]PORT, e.g. netif:veth1, tap:tap0, lan=netif:eth1@packet")->required();
    CLI11_PARSE(app, argc, argv);
    if (!sw.starts_with("vale")) {
        fmt::print(stderr, "upio-switch: switch name '{}' must start with 'vale'\n", sw);
        return 2;
    }

    if (upio::Status s = upio::vale::create_switch(sw); !s) {
        fmt::print(stderr, "upio-switch: {}\n", s.error().message);
        return 1;
    }
    upio::PortOptions opts;
    opts.tx_slots = opts.rx_slots = slots;
    opts.memory.hugepages = upio::HugepagePolicy::never; // small regions: no warning, no reservation needed
    std::vector<Member> members;
    std::set<std::string> names;
    auto fail = [&](const std::string& msg) {
        fmt::print(stderr, "upio-switch: {}\n", msg);
        members.clear();
        (void)upio::vale::destroy_switch(sw);
        return 1;
    };
    for (const std::string& a : args) {
        Member m;
        const auto eq = a.find('=');
        m.port = with_backend(eq == std::string::npos ? a : a.substr(eq + 1));
        std::string name = eq == std::string::npos ? default_name(m.port) : a.substr(0, eq);
        for (int n = 1; names.count(name); n++) name = fmt::format("{}.{}", default_name(m.port), n);
        names.insert(name);
        m.vale_port = fmt::format("{}:{}", sw, name);
        auto att = upio::vale::Attachment::attach(m.vale_port, m.port, opts);
        if (!att) return fail(att.error().message);
        m.att = std::move(att.value());
        fmt::print("attached {} as {}{}\n", m.port, m.vale_port,
                   m.att->attached_port().vnet_hdr_len() ? " (virtio-net headers: host offloads pass)" : "");
        members.push_back(std::move(m));
    }

    struct sigaction sa{};
    sa.sa_handler = on_stop; // no SA_RESTART: a signal ends the wait at once
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    sa.sa_handler = on_dump;
    sigaction(SIGUSR1, &sa, nullptr);

    const int ep = epoll_create1(EPOLL_CLOEXEC);
    for (Member& m : members) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        epoll_ctl(ep, EPOLL_CTL_ADD, m.att->attached_port().fd(), &ev);
    }
    fmt::print("{} ready with {} ports (pid {})\n", sw, members.size(), ::getpid());
    std::fflush(stdout);

    using clock = std::chrono::steady_clock;
    const auto start = clock::now();
    auto next_report = start + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(interval));
    auto secs = [&] { return std::chrono::duration<double>(clock::now() - start).count(); };
    unsigned idle = 0;
    const auto end = duration > 0
                         ? start + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(duration))
                         : clock::time_point::max();
    while (!g_stop && clock::now() < end) {
        int moved = 0;
        for (Member& m : members) {
            const int rc = m.att->poll();
            if (rc < 0 && rc != m.last_error)
                fmt::print(stderr, "upio-switch: {}: {}\n", m.port, m.att->attached_port().last_error());
            m.last_error = rc < 0 ? rc : 0;
            if (rc > 0) moved += rc;
        }
        if (g_dump || (interval > 0 && clock::now() >= next_report)) {
            g_dump = 0;
            dump(sw, members, secs());
            if (interval > 0)
                next_report = clock::now() + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(interval));
        }
        if (moved) {
            idle = 0;
            continue;
        }
        if (++idle < 64) continue; // a short spin catches the next burst without a system call
        // Sleep until an attached port receives. Frames still waiting in a
        // switch port for room in its attached port's tx ring, or in that tx
        // ring for its port to take them (a pipe whose peer has not released
        // room yet): retry soon.
        bool pending = false, ready = false;
        for (Member& m : members) {
            pending |= m.att->egress_pending();
            ready |= !m.att->attached_port().arm(upio::Direction::rx);
        }
        if (!ready) {
            epoll_event evs[16];
            epoll_wait(ep, evs, 16, pending ? 1 : 100);
        }
        for (Member& m : members) m.att->attached_port().disarm(upio::Direction::rx);
        idle = 0;
    }
    ::close(ep);
    dump(sw, members, secs());
    members.clear();
    if (upio::Status s = upio::vale::destroy_switch(sw); !s) fmt::print(stderr, "upio-switch: {}\n", s.error().message);
    return 0;
}
