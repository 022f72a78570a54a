// The port-name grammar (see upio/port_name.hpp), parsed in one place.
#include <upio/netmap.h>
#include <upio/port_name.hpp>

#include <fmt/format.h>

#include <cctype>
#include <charconv>

namespace upio {
namespace {

Error bad(std::string_view name, std::string_view what) {
    return make_error(EINVAL, fmt::format("bad port name '{}': {}", name, what));
}

bool parse_uint(std::string_view s, std::uint32_t& out, int base = 10) {
    if (s.empty()) return false;
    auto r = std::from_chars(s.data(), s.data() + s.size(), out, base);
    return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

bool valid_ident(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-')) return false;
    return true;
}

} // namespace

std::string PciAddress::str() const {
    return fmt::format("{:04x}:{:02x}:{:02x}.{:x}", domain, bus, device, function);
}

Result<PciAddress> PciAddress::parse(std::string_view s) {
    // DDDD:BB:DD.F, all hex; domain may be omitted as in lspci ("01:00.0")
    auto err = [&](std::string_view what) {
        return make_error(EINVAL, fmt::format("bad PCI address '{}': {} (expected DDDD:BB:DD.F, e.g. 0000:01:00.0)",
                                              s, what));
    };
    std::string_view rest = s;
    PciAddress a;
    std::uint32_t v = 0;
    auto c1 = rest.find(':');
    if (c1 == std::string_view::npos) return err("no ':'");
    auto c2 = rest.find(':', c1 + 1);
    if (c2 != std::string_view::npos) {
        if (!parse_uint(rest.substr(0, c1), v, 16) || v > 0xffff) return err("domain is not 1-4 hex digits");
        a.domain = std::uint16_t(v);
        rest = rest.substr(c1 + 1);
        c1 = rest.find(':');
    }
    if (!parse_uint(rest.substr(0, c1), v, 16) || v > 0xff || c1 > 2) return err("bus is not 1-2 hex digits");
    a.bus = std::uint8_t(v);
    rest = rest.substr(c1 + 1);
    auto dot = rest.find('.');
    if (dot == std::string_view::npos) return err("no '.' before the function");
    if (!parse_uint(rest.substr(0, dot), v, 16) || v > 0x1f) return err("device is not a hex number 00..1f");
    a.device = std::uint8_t(v);
    if (!parse_uint(rest.substr(dot + 1), v, 16) || v > 7) return err("function is not a digit 0..7");
    a.function = std::uint8_t(v);
    return a;
}

Result<PortName> PortName::parse(std::string_view name) {
    PortName p;
    p.full = std::string(name);
    // netmap_if::ni_name holds the name as opened, with its terminator
    if (name.size() >= NM_IFNAMSIZ)
        return bad(name, fmt::format("{} characters; a port name has at most {}", name.size(), NM_IFNAMSIZ - 1));
    auto colon = name.find(':');
    if (colon == std::string_view::npos || colon == 0)
        return bad(name, "expected TYPE:NAME (pipe:NAME{N, valeX:Y, ixgbe:DDDD:BB:DD.F, e1000:DDDD:BB:DD.F, "
                         "netif:IF, tap:NAME)");
    std::string_view type = name.substr(0, colon);
    std::string_view body = name.substr(colon + 1);

    // A kernel interface may end with "@xdp" or "@packet" (its back end); it
    // comes after every other suffix, as netmap's "@options".
    std::string_view mode;
    if (type == "netif") {
        if (auto at = body.rfind('@'); at != std::string_view::npos) {
            mode = body.substr(at + 1);
            if (mode != "xdp" && mode != "packet")
                return bad(name, fmt::format("back end '@{}' must be @xdp (AF_XDP) or @packet (AF_PACKET)", mode));
            body = body.substr(0, at);
        }
    }

    // Suffixes first: "/T" or "/R", then "-N".
    if (auto slash = body.rfind('/'); slash != std::string_view::npos) {
        std::string_view d = body.substr(slash + 1);
        if (d == "T")
            p.dir = Dir::tx_only;
        else if (d == "R")
            p.dir = Dir::rx_only;
        else
            return bad(name, fmt::format("direction '/{}' must be /T (tx only) or /R (rx only)", d));
        body = body.substr(0, slash);
    }
    auto take_ring = [&](std::string_view& b) -> Status {
        auto dash = b.rfind('-');
        if (dash == std::string_view::npos) return {};
        std::string_view n = b.substr(dash + 1);
        std::uint32_t r = 0;
        if (n.empty() || n.find_first_not_of("0123456789") != std::string_view::npos) return {}; // part of a name
        if (!parse_uint(n, r) || r > 4095) return bad(name, fmt::format("ring '-{}' must be a number 0..4095", n));
        p.ring = int(r);
        b = b.substr(0, dash);
        return {};
    };

    if (type == "pipe") {
        auto brace = body.find_first_of("{}");
        if (brace == std::string_view::npos)
            return bad(name, "a pipe needs '{N' (master) or '}N' (slave) after its name");
        std::string_view pname = body.substr(0, brace);
        if (!valid_ident(pname)) return bad(name, fmt::format("pipe name '{}' must be letters, digits, _ . -", pname));
        p.pipe_master = body[brace] == '{';
        std::string_view num = body.substr(brace + 1);
        if (Status s = take_ring(num); !s) return s.error();
        if (!parse_uint(num, p.pipe_id) || p.pipe_id > 1023)
            return bad(name, fmt::format("pipe number '{}' must be 0..1023", num));
        p.type = "pipe";
        p.group = std::string(pname);
        return p;
    }
    if (type.starts_with("vale")) {
        if (Status s = take_ring(body); !s) return s.error();
        if (!valid_ident(type.substr(4)) && type.size() > 4)
            return bad(name, fmt::format("switch name '{}' must be vale followed by letters or digits", type));
        if (!valid_ident(body)) return bad(name, fmt::format("VALE port name '{}' must be letters, digits, _ . -", body));
        p.type = "vale";
        p.group = std::string(type);
        p.port = std::string(body);
        return p;
    }
    if (type == "ixgbe" || type == "e1000") {
        // the address itself contains '-'-free hex; the ring suffix follows it
        if (Status s = take_ring(body); !s) return s.error();
        auto a = PciAddress::parse(body);
        if (!a) return bad(name, a.error().message);
        p.type = std::string(type);
        p.pci = a.value();
        p.group = p.pci.str();
        return p;
    }
    if (type == "netif" || type == "tap") {
        if (Status s = take_ring(body); !s) return s.error();
        if (body.empty() || body.size() > 15 || body.find('/') != std::string_view::npos)
            return bad(name, fmt::format("interface name '{}' must be 1..15 characters without '/'", body));
        p.type = std::string(type);
        p.group = std::string(body);
        p.port = std::string(mode); // netif: the back end asked for ("xdp", "packet"; empty: AF_XDP, else AF_PACKET)
        return p;
    }
    return bad(name, fmt::format("unknown port type '{}' (known: pipe, valeX, ixgbe, e1000, netif, tap)", type));
}

} // namespace upio
