// netmap's port names and register modes, as upio port names.
#include "names.hpp"

#include <fmt/format.h>

#include <cctype>
#include <cerrno>

namespace upio_netmap {

namespace {

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// "vale" followed by the switch's own name and a ':' (netmap: NM_BDG_NAME).
bool is_vale(std::string_view name) {
    auto colon = name.find(':');
    return starts_with(name, NM_BDG_NAME) && colon != std::string_view::npos && colon > 4;
}

// A pipe NAME for upio from netmap's parent port: upio's pipe names take
// letters, digits, '_', '.' and '-'; netmap's "valeA:p" becomes "valeA.p".
Result translate_pipe_parent(std::string_view parent, std::string& out) {
    if (parent.empty()) return {EINVAL, "a pipe needs a parent name before '{' or '}'"};
    for (char c : parent) {
        char m = c == ':' ? '.' : c;
        if (!(std::isalnum(static_cast<unsigned char>(m)) || m == '_' || m == '.' || m == '-'))
            return {EINVAL, fmt::format("'{}' in a pipe's parent name: upio's pipe names take letters, digits, "
                                        "'_', '.' and '-'",
                                        c)};
        out += m;
    }
    return {};
}

} // namespace

Result translate_name(std::string_view nm, std::string& out) {
    out.clear();
    // libnetmap and the legacy nm_open pass netmap's names without "netmap:"
    // ("eth0", "p{1"); VALE names keep their prefix ("vale0:a").
    if (starts_with(nm, "netmap:")) nm.remove_prefix(7);
    if (nm.empty()) return {EINVAL, "an empty port name"};
    const bool vale = is_vale(nm);
    if (!vale && nm.find(':') != std::string_view::npos) {
        // Any other TYPE:BODY is a upio port name ("tap:t0", "pipe:x{0"):
        // netmap programs can reach every upio port type.
        out = std::string(nm);
        return {};
    }
    auto brace = nm.find_first_of("{}");
    if (brace != std::string_view::npos) {
        // A pipe: "x{N" and "valeA:p{N" are pipes of their parent port.
        std::string_view num = nm.substr(brace + 1);
        if (num.empty()) return {EINVAL, "a pipe needs a number after '{' or '}'"};
        for (char c : num)
            if (!std::isdigit(static_cast<unsigned char>(c)))
                return {EINVAL, fmt::format("pipe '{}': upio's pipes are numbered (x{{0, x}}0)", num)};
        out = "pipe:";
        if (Result r = translate_pipe_parent(nm.substr(0, brace), out); !r) return r;
        out += nm[brace];
        out += num;
        return {};
    }
    if (vale) {
        out = std::string(nm);
        return {};
    }
    out = fmt::format("netif:{}", nm);
    return {};
}

Result register_suffix(const nmreq_register& reg, std::string& name, bool& ring_selected) {
    ring_selected = false;
    const std::uint64_t monitor = NR_MONITOR_TX | NR_MONITOR_RX | NR_ZCOPY_MON;
    if (reg.nr_flags & monitor) return {EOPNOTSUPP, "monitor ports (NR_MONITOR_TX/RX, NR_ZCOPY_MON) are not supported"};
    std::string opts;
    switch (reg.nr_mode) {
    case NR_REG_DEFAULT:
    case NR_REG_ALL_NIC:
        break;
    case NR_REG_ONE_NIC:
        opts += fmt::format(",ring={}", reg.nr_ringid);
        ring_selected = true;
        break;
    case NR_REG_PIPE_MASTER:
    case NR_REG_PIPE_SLAVE: {
        // The deprecated form: the pipe's number in nr_ringid.
        std::string parent;
        if (starts_with(name, "netif:")) parent = name.substr(6);
        else if (starts_with(name, "vale")) parent = name;
        else return {EINVAL, "NR_REG_PIPE_MASTER/SLAVE on a name that is not netmap:X or valeA:X"};
        name = "pipe:";
        if (Result r = translate_pipe_parent(parent, name); !r) return r;
        name += fmt::format("{}{}", reg.nr_mode == NR_REG_PIPE_MASTER ? '{' : '}', reg.nr_ringid);
        break;
    }
    case NR_REG_SW:
    case NR_REG_NIC_SW:
    case NR_REG_ONE_SW:
        return {EOPNOTSUPP, "host rings (NR_REG_SW, NR_REG_NIC_SW, NR_REG_ONE_SW, '^', '*'): upio's ports have none; "
                            "to reach the kernel's stack open a tap: port"};
    case NR_REG_NULL:
        return {EOPNOTSUPP, "NR_REG_NULL (a port without rings) is not supported"};
    default:
        return {EINVAL, fmt::format("nr_mode {} is not a netmap register mode", reg.nr_mode)};
    }
    if ((reg.nr_flags & NR_TX_RINGS_ONLY) && (reg.nr_flags & NR_RX_RINGS_ONLY))
        return {EINVAL, "NR_TX_RINGS_ONLY and NR_RX_RINGS_ONLY together"};
    if (reg.nr_flags & NR_TX_RINGS_ONLY) opts += ",tx";
    if (reg.nr_flags & NR_RX_RINGS_ONLY) opts += ",rx";
    name += opts;
    return {};
}

} // namespace upio_netmap
