// The part of the port-name grammar every name shares (see
// upio/port_name.hpp): TYPE, the shorthand suffixes and the comma options.
// Each type parses its own BODY; the registry of types is port_type.cpp.
#include <upio/backend/port_type.hpp>
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

namespace {

const char* shorthand_list(unsigned s) {
    switch (s & (shorthand_ring | shorthand_dir)) {
    case shorthand_ring | shorthand_dir: return "-N, /T, /R";
    case shorthand_ring: return "-N";
    case shorthand_dir: return "/T, /R";
    default: return "none";
    }
}

// "ring=N, tx, rx, xdp, packet"
std::string option_list(const PortType& t) {
    std::string s = "ring=N, tx, rx";
    for (const std::string& o : t.options) s += ", " + (o.ends_with('=') ? o + "VALUE" : o);
    return s;
}

Status set_ring(std::string_view name, PortName& p, std::string_view n, std::string_view spelled) {
    std::uint32_t r = 0;
    if (!parse_uint(n, r) || r > 4095)
        return bad(name, fmt::format("'{}': the ring must be a number 0..4095", spelled));
    if (p.ring >= 0) return bad(name, fmt::format("ring given twice ('{}' and ring {})", spelled, p.ring));
    p.ring = int(r);
    return {};
}

Status set_dir(std::string_view name, PortName& p, PortName::Dir d, std::string_view spelled) {
    if (p.dir != PortName::Dir::both)
        return bad(name, fmt::format("'{}': a direction is already given (leave both out for both directions)",
                                     spelled));
    p.dir = d;
    return {};
}

// What follows the type's BODY: ["-" N] ["/T" | "/R"], as far as the type takes them.
Status parse_shorthand(std::string_view name, const PortType& t, PortName& p, std::string_view rest) {
    const std::string_view all = rest;
    if ((t.shorthands & shorthand_ring) && rest.starts_with('-')) {
        auto end = rest.find('/');
        std::string_view n = rest.substr(1, end == std::string_view::npos ? end : end - 1);
        if (Status s = set_ring(name, p, n, rest.substr(0, end)); !s) return s;
        rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
    }
    if ((t.shorthands & shorthand_dir) && rest.starts_with('/')) {
        std::string_view d = rest.substr(1);
        if (d == "T") return set_dir(name, p, PortName::Dir::tx_only, rest);
        if (d == "R") return set_dir(name, p, PortName::Dir::rx_only, rest);
        return bad(name, fmt::format("direction '{}' must be /T (tx only) or /R (rx only)", rest));
    }
    if (rest.empty()) return {};
    return bad(name, fmt::format("'{}' follows {}:{}; {} takes only the suffixes {} there (options go after ',')",
                                 all, p.type, p.body, t.name, shorthand_list(t.shorthands)));
}

Status parse_option(std::string_view name, const PortType& t, PortName& p, std::string_view o) {
    if (o.empty()) return bad(name, "an empty option (two ',' in a row, or a ',' at the end)");
    if (o == "tx") return set_dir(name, p, PortName::Dir::tx_only, o);
    if (o == "rx") return set_dir(name, p, PortName::Dir::rx_only, o);
    auto eq = o.find('=');
    std::string_view key = o.substr(0, eq);
    if (key == "ring") {
        if (eq == std::string_view::npos) return bad(name, "option 'ring' needs a number: ring=N");
        return set_ring(name, p, o.substr(eq + 1), o);
    }
    for (const std::string& known : t.options) {
        const bool takes_value = known.ends_with('=');
        if (std::string_view(known).substr(0, known.size() - (takes_value ? 1 : 0)) != key) continue;
        if (takes_value != (eq != std::string_view::npos))
            return bad(name, takes_value ? fmt::format("option '{}' needs a value: {}VALUE", o, known)
                                         : fmt::format("option '{}' takes no value", key));
        p.options.push_back(PortOption{std::string(key),
                                       eq == std::string_view::npos ? std::string() : std::string(o.substr(eq + 1)),
                                       eq != std::string_view::npos});
        return {};
    }
    return bad(name, fmt::format("unknown option '{}' ({} takes {})", o, t.name, option_list(t)));
}

} // namespace

// The registry (port_type.cpp).
std::shared_ptr<const PortType> find_port_type(std::string_view type);
std::string port_type_list();

const PortOption* PortName::option(std::string_view key) const noexcept {
    for (const PortOption& o : options)
        if (o.key == key) return &o;
    return nullptr;
}

std::string_view PortName::type_name() const noexcept {
    return port_type_ ? std::string_view(port_type_->name) : std::string_view(type);
}

Result<PortName> PortName::parse(std::string_view name) {
    PortName p;
    p.full = std::string(name);
    // A bound of the names' own (netmap_if::ni_name holds only IFNAMSIZ-1
    // characters of it; the whole name stays in the Port's PortName).
    if (name.size() > max_port_name)
        return bad(name, fmt::format("{} characters; a port name has at most {}", name.size(), max_port_name));
    auto colon = name.find(':');
    if (colon == std::string_view::npos || colon == 0)
        return bad(name, fmt::format("expected TYPE:NAME; the registered types: {}", port_type_list()));
    p.type = std::string(name.substr(0, colon));
    auto t = find_port_type(p.type);
    if (!t)
        return bad(name, fmt::format("unknown port type '{}'; the registered types: {}", p.type, port_type_list()));
    p.port_type_ = t;

    std::string_view rest = name.substr(colon + 1);
    const auto comma = rest.find(',');
    const std::string_view body = rest.substr(0, comma);
    std::size_t own = body.size();
    if (t->parse) {
        auto r = t->parse(p.type, body);
        if (!r) return bad(name, r.error().message);
        own = std::min(r.value(), body.size());
    } else if (body.empty()) {
        return bad(name, fmt::format("nothing after '{}:' ({})", p.type, t->syntax));
    }
    p.body = std::string(body.substr(0, own));
    if (Status s = parse_shorthand(name, *t, p, body.substr(own)); !s) return std::move(s).error();
    if (comma != std::string_view::npos) {
        std::string_view opts = rest.substr(comma + 1);
        for (;;) {
            auto next = opts.find(',');
            if (Status s = parse_option(name, *t, p, opts.substr(0, next)); !s) return std::move(s).error();
            if (next == std::string_view::npos) break;
            opts = opts.substr(next + 1);
        }
    }
    if (t->check)
        if (Status s = t->check(p); !s) return bad(name, s.error().message);
    return p;
}

Result<std::size_t> parse_pci_body(std::string_view, std::string_view body) {
    const std::size_t end = std::min(body.find_first_of("-/"), body.size());
    auto a = PciAddress::parse(body.substr(0, end));
    if (!a) return std::move(a).error();
    return end;
}

} // namespace upio
