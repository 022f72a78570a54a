// netmap's VALE management requests on upio's VALE daemon (see vale_ctl.hpp).
//
// netmap's switches live in the kernel: vale-ctl attaches a NIC in one
// process and pkt-gens in others meet it. upio's switches live in
// processes; the one that outlives a request and that other programs join
// is the daemon's (upio-vale, docs/vale-daemon.md). So each request here
// becomes one command on the daemon's control socket (the public
// daemon_command), and a switch no daemon serves answers as netmap's kernel
// answers for a switch it does not have: ENXIO.
#include "vale_ctl.hpp"

#include <upio/vale.hpp>
#include <upio/vale_daemon.hpp>

#include <fmt/format.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <string>
#include <vector>

namespace upio_netmap {

namespace {

constexpr std::uint32_t nm_bdg_noport = 255; // netmap's NM_BDG_NOPORT (NM_BDG_MAXPORTS + 1)

// "valeX:REST" split, and what REST names.
struct Target {
    std::string sw;    // "vale0"
    std::string name;  // the port's name on the switch: "eth0" (for "eth0" and "netif:eth0"), "t0" (for "tap:t0")
    std::string rest;  // what followed "valeX:"
};

Result split(const char* nr_name, Target& t) {
    const std::string_view nm(nr_name);
    const auto colon = nm.find(':');
    if (nm.substr(0, 4) != NM_BDG_NAME || colon == std::string_view::npos || colon <= 4)
        return {EINVAL, fmt::format("'{}' is not valeX:NAME (the VALE prefix is missing)", nm)};
    if (colon + 1 == nm.size()) return {EINVAL, fmt::format("'{}' names no port", nm)};
    t.sw = std::string(nm.substr(0, colon));
    t.rest = std::string(nm.substr(colon + 1));
    std::string_view body = t.rest;
    if (auto c = body.find(':'); c != std::string_view::npos) body.remove_prefix(c + 1); // "tap:t0" -> "t0"
    t.name.clear();
    for (char c : body) {
        if (c == '@' || c == '/' || c == ',') break;
        t.name += std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-' ? c : '_';
    }
    if (t.name.empty()) return {EINVAL, fmt::format("'{}' names no port", nm)};
    return {};
}

// The daemon's refusal as netmap's errno: `renames` maps the daemon's codes
// for the cases netmap names otherwise.
Result refusal(const upio::Error& e, const Target& t, std::initializer_list<std::pair<int, int>> renames = {}) {
    if (e.code == ECONNREFUSED)
        return {ENXIO, fmt::format("no VALE daemon serves {} (start upio-vale -s {}): upio's switches live in "
                                   "processes, and the daemon's is the one other programs meet",
                                   t.sw, t.sw)};
    int code = e.code ? e.code : EIO;
    for (auto [from, to] : renames)
        if (code == from) code = to;
    return {code, e.message};
}

// The index of port `full` ("vale0:eth0") on the daemon's switch `sw`.
std::uint32_t daemon_index(const std::string& sw, const std::string& full) {
    auto l = upio::vale::daemon_switches(sw);
    if (!l) return nm_bdg_noport;
    for (const auto& s : l.value())
        for (const auto& p : s.ports)
            if (p.name == full) return p.index;
    return nm_bdg_noport;
}

Result geometry(const char* what, std::uint32_t tx_slots, std::uint32_t rx_slots, std::uint16_t tx_rings,
                std::uint16_t rx_rings, std::uint16_t mem_id) {
    if (mem_id)
        return {EOPNOTSUPP, fmt::format("{} in memory allocator {} (nr_mem_id): upio's ports have regions of their own",
                                        what, mem_id)};
    if (tx_slots || rx_slots || tx_rings || rx_rings)
        return {EOPNOTSUPP, fmt::format("{} with {}/{} slots and {}/{} rings: the daemon gives its ports the "
                                        "geometry it was started with (upio-vale --slots); ask for 0",
                                        what, tx_slots, rx_slots, tx_rings, rx_rings)};
    return {};
}

// This process's switches, then the daemons': the bridge indices of VALE_LIST.
struct Listed {
    std::string sw;
    std::vector<std::pair<std::uint32_t, std::string>> ports; // index, "valeX:P"
};

std::vector<Listed> all_switches() {
    std::vector<Listed> out;
    for (const std::string& sw : upio::vale::list_switches()) {
        auto info = upio::vale::describe(sw);
        if (!info) continue;
        Listed l{sw, {}};
        for (const auto& p : info.value().ports) l.ports.emplace_back(p.index, p.name);
        out.push_back(std::move(l));
    }
    if (auto d = upio::vale::daemon_switches(); d)
        for (const auto& s : d.value()) {
            Listed l{s.name, {}};
            for (const auto& p : s.ports) l.ports.emplace_back(p.index, p.name);
            out.push_back(std::move(l));
        }
    return out;
}

} // namespace

Result vale_attach(const char* nr_name, nmreq_vale_attach& a) {
    Target t;
    if (Result r = split(nr_name, t); !r) return r;
    if (a.reg.nr_mode == NR_REG_NIC_SW || a.reg.nr_mode == NR_REG_SW)
        return {EOPNOTSUPP, "attaching the host stack (vale-ctl -h, NR_REG_NIC_SW): upio's ports have no host rings; "
                            "attach tap:NAME to reach the kernel's stack"};
    if (Result r = geometry("an attached port", a.reg.nr_tx_slots, a.reg.nr_rx_slots, a.reg.nr_tx_rings,
                            a.reg.nr_rx_rings, a.reg.nr_mem_id);
        !r)
        return r;
    std::string port;
    if (Result r = translate_name(t.rest, port); !r) return r;
    const std::string full = t.sw + ":" + t.name;
    auto done = upio::vale::daemon_command('a', fmt::format("{}={}", full, port));
    if (!done) return refusal(done.error(), t, {{EEXIST, EBUSY}}); // netmap: EBUSY for a port the switch has
    a.port_index = daemon_index(t.sw, full);
    return {};
}

Result vale_detach(const char* nr_name, nmreq_vale_detach& d) {
    Target t;
    if (Result r = split(nr_name, t); !r) return r;
    const std::string full = t.sw + ":" + t.name;
    const std::uint32_t index = daemon_index(t.sw, full);
    auto done = upio::vale::daemon_command('d', full);
    if (!done) return refusal(done.error(), t, {{ENOENT, ENXIO}}); // netmap: ENXIO for no such port
    d.port_index = index;
    return {};
}

Result vale_newif(const char* nr_name, nmreq_vale_newif* n) {
    if (std::string_view(nr_name).find(':') == std::string_view::npos)
        return {EOPNOTSUPP, fmt::format("a persistent interface '{}' without a switch: upio's persistent ports live "
                                        "on a daemon's switch from the start; name it valeX:{}",
                                        nr_name, nr_name)};
    Target t;
    if (Result r = split(nr_name, t); !r) return r;
    if (t.name != t.rest) return {EINVAL, fmt::format("'{}': a persistent port's name takes letters, digits, '_', "
                                                      "'.' and '-'", nr_name)};
    if (n)
        if (Result r = geometry("a persistent port", n->nr_tx_slots, n->nr_rx_slots, n->nr_tx_rings,
                                n->nr_rx_rings, n->nr_mem_id);
            !r)
            return r;
    auto done = upio::vale::daemon_command('n', t.sw + ":" + t.name);
    if (!done) return refusal(done.error(), t);
    return {};
}

Result vale_delif(const char* nr_name) {
    if (std::string_view(nr_name).find(':') == std::string_view::npos)
        return {ENXIO, fmt::format("no persistent interface '{}': upio's persistent ports are named valeX:NAME",
                                   nr_name)};
    Target t;
    if (Result r = split(nr_name, t); !r) return r;
    auto done = upio::vale::daemon_command('r', t.sw + ":" + t.name);
    if (!done) return refusal(done.error(), t, {{ENOENT, ENXIO}}); // netmap: ENXIO for no such interface
    return {};
}

Result vale_list(const char* nr_name, nmreq_vale_list& l, char* name_out) {
    const std::vector<Listed> switches = all_switches();
    if (*nr_name) { // the indices of one port
        const std::string_view nm(nr_name);
        if (nm.substr(0, 4) != NM_BDG_NAME) return {EINVAL, fmt::format("'{}' is not a VALE name", nm)};
        const std::string_view sw = nm.substr(0, nm.find(':'));
        bool found = false;
        for (std::size_t b = 0; b < switches.size(); b++) {
            if (switches[b].sw != sw) continue;
            if (!found) { // the switch, as netmap answers for a port it lacks
                l.nr_bridge_idx = std::uint16_t(b);
                l.nr_port_idx = nm_bdg_noport;
                found = true;
            }
            for (const auto& [index, name] : switches[b].ports)
                if (name == nm) {
                    l.nr_bridge_idx = std::uint16_t(b);
                    l.nr_port_idx = index;
                    return {};
                }
        }
        if (!found) return {ENOENT, fmt::format("no switch {} in this process or a daemon", sw)};
        return {};
    }
    // Walk: the first port at or after (nr_bridge_idx, nr_port_idx).
    for (std::size_t b = l.nr_bridge_idx; b < switches.size(); b++) {
        const std::uint32_t from = b == l.nr_bridge_idx ? l.nr_port_idx : 0;
        const std::pair<std::uint32_t, std::string>* best = nullptr;
        for (const auto& p : switches[b].ports)
            if (p.first >= from && (!best || p.first < best->first)) best = &p;
        if (!best) continue;
        l.nr_bridge_idx = std::uint16_t(b);
        l.nr_port_idx = best->first;
        std::snprintf(name_out, NETMAP_REQ_IFNAMSIZ, "%s", best->second.c_str());
        return {};
    }
    return {ENOENT, ""}; // the end of the walk, as netmap says it
}

} // namespace upio_netmap
