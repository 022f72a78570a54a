// The port-name grammar: every built-in type's syntax, the shared suffixes
// and options, the errors for bad names, and a type registered at run time.
#include <upio/backend/port_type.hpp>
#include <upio/netmap_user.h>
#include <upio/port.hpp>
#include <upio/port_name.hpp>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstring>

namespace upio {
namespace {

Result<PortName> parse(std::string_view n) { return PortName::parse(n); }

TEST(PortName, Pipes) {
    auto m = parse("pipe:x{3");
    ASSERT_TRUE(m.ok()) << m.error().message;
    EXPECT_EQ(m->type, "pipe");
    EXPECT_EQ(m->type_name(), "pipe");
    EXPECT_EQ(m->body, "x{3");
    EXPECT_EQ(m->ring, -1);
    EXPECT_EQ(m->dir, PortName::Dir::both);
    // ring selection and direction, as on every other port type
    auto r = parse("pipe:x}3-0/R");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->body, "x}3");
    EXPECT_EQ(r->ring, 0);
    EXPECT_EQ(r->dir, PortName::Dir::rx_only);
    // '-' inside a pipe's NAME is part of the name; after N it is a ring
    auto d = parse("pipe:a-b{0-1/T");
    ASSERT_TRUE(d.ok()) << d.error().message;
    EXPECT_EQ(d->body, "a-b{0");
    EXPECT_EQ(d->ring, 1);
    EXPECT_EQ(d->dir, PortName::Dir::tx_only);
    auto o = parse("pipe:x{3,ring=0,rx");
    ASSERT_TRUE(o.ok()) << o.error().message;
    EXPECT_EQ(o->ring, 0);
    EXPECT_EQ(o->dir, PortName::Dir::rx_only);
    EXPECT_TRUE(o->options.empty());
}

TEST(PortName, ValePortsMayContainDashes) {
    auto v = parse("vale0:a");
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v->type, "vale0");
    EXPECT_EQ(v->type_name(), "vale");
    EXPECT_EQ(v->body, "a");
    EXPECT_EQ(v->ring, -1);
    auto p = parse("vale0:p-1");
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ(p->body, "p-1"); // a port named p-1, not ring 1 of p
    EXPECT_EQ(p->ring, -1);
    auto r = parse("valeX:left-2/T");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->type, "valeX");
    EXPECT_EQ(r->body, "left-2");
    EXPECT_EQ(r->dir, PortName::Dir::tx_only);
    auto rx = parse("vale1:eth-left/R");
    ASSERT_TRUE(rx.ok());
    EXPECT_EQ(rx->body, "eth-left");
    EXPECT_EQ(rx->dir, PortName::Dir::rx_only);
    auto ring = parse("vale0:a,ring=2,tx");
    ASSERT_TRUE(ring.ok()) << ring.error().message;
    EXPECT_EQ(ring->ring, 2);
    EXPECT_EQ(ring->dir, PortName::Dir::tx_only);
}

TEST(PortName, PciPorts) {
    auto x = parse("ixgbe:0000:01:00.1-5");
    ASSERT_TRUE(x.ok()) << x.error().message;
    EXPECT_EQ(x->type, "ixgbe");
    EXPECT_EQ(x->body, "0000:01:00.1");
    EXPECT_EQ(x->ring, 5);
    auto a = PciAddress::parse(x->body);
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->bus, 1);
    EXPECT_EQ(a->function, 1);
    EXPECT_EQ(a->str(), "0000:01:00.1");
    auto e = parse("e1000:0000:00:1f.6/T");
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(e->body, "0000:00:1f.6");
    EXPECT_EQ(e->dir, PortName::Dir::tx_only);
    auto s = parse("e1000:01:00.0,ring=1");
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_EQ(s->body, "01:00.0");
    EXPECT_EQ(s->ring, 1);
}

TEST(PortName, InterfacesMayEndInDashDigits) {
    auto v = parse("netif:veth-1");
    ASSERT_TRUE(v.ok()) << v.error().message;
    EXPECT_EQ(v->body, "veth-1"); // the interface veth-1
    EXPECT_EQ(v->ring, -1);
    auto b = parse("netif:br-123456,ring=1");
    ASSERT_TRUE(b.ok()) << b.error().message;
    EXPECT_EQ(b->body, "br-123456");
    EXPECT_EQ(b->ring, 1);
    auto at = parse("netif:eth0@packet/T");
    ASSERT_TRUE(at.ok()) << at.error().message;
    EXPECT_EQ(at->body, "eth0@packet");
    EXPECT_EQ(at->dir, PortName::Dir::tx_only);
    auto opt = parse("netif:eth0,xdp,rx");
    ASSERT_TRUE(opt.ok()) << opt.error().message;
    EXPECT_EQ(opt->body, "eth0");
    ASSERT_EQ(opt->options.size(), 1u);
    EXPECT_EQ(opt->options[0].key, "xdp");
    EXPECT_NE(opt->option("xdp"), nullptr);
    EXPECT_EQ(opt->option("packet"), nullptr);
    EXPECT_EQ(opt->dir, PortName::Dir::rx_only);
    auto t = parse("tap:up-0/R");
    ASSERT_TRUE(t.ok()) << t.error().message;
    EXPECT_EQ(t->body, "up-0");
    EXPECT_EQ(t->dir, PortName::Dir::rx_only);
}

void expect_bad(std::string_view name, std::string_view mentions) {
    auto r = PortName::parse(name);
    ASSERT_FALSE(r.ok()) << name << " parsed";
    EXPECT_EQ(r.error().code, EINVAL);
    EXPECT_NE(r.error().message.find(mentions), std::string::npos)
        << "error for '" << name << "' should mention '" << mentions << "': " << r.error().message;
}

TEST(PortName, BadNamesSayWhichPartIsWrong) {
    expect_bad("", "TYPE:NAME");
    expect_bad("eth0", "TYPE:NAME");
    expect_bad("pipe:x", "'{N'");
    expect_bad("pipe:x{", "pipe number ''");
    expect_bad("pipe:x{abc", "pipe number 'abc'");
    expect_bad("pipe:x{2000", "pipe number '2000'");
    expect_bad("pipe:{1", "pipe name ''");
    expect_bad("pipe:x{1y", "'y' follows pipe:x{1");
    expect_bad("pipe:x{1-", "'-': the ring must be a number");
    expect_bad("pipe:x{1-1-2", "'-1-2': the ring must be a number");
    expect_bad(("vale0:" + std::string(58, 'p')), "64 characters; a port name has at most 63");
    EXPECT_TRUE(PortName::parse("vale0:" + std::string(57, 'p')).ok());
    expect_bad("vale0:", "VALE port name ''");
    expect_bad("vale0:a b", "VALE port name 'a b'");
    expect_bad("vale0:a/X", "direction '/X'");
    expect_bad("vale0:a/T/R", "direction '/T/R'");
    expect_bad("vale0:a,ring=99999", "'ring=99999': the ring must be a number 0..4095");
    expect_bad("vale0:a,ring=x", "'ring=x': the ring");
    expect_bad("vale0:a,ring", "ring=N");
    expect_bad("ixgbe:0000:01:00", "no '.'");
    expect_bad("ixgbe:0000:01:20.0", "device is not");
    expect_bad("e1000:0000:01:00.9", "function");
    expect_bad("e1000:zz:00.0", "bus");
    expect_bad("netif:", "interface name ''");
    expect_bad("netif:abcdefghijklmnop", "interface name 'abcdefghijklmnop'");
    expect_bad("netif:eth0@dpdk", "back end '@dpdk'");
    expect_bad("netif:eth0@xdp,packet", "back end given twice");
    expect_bad("tap:", "interface name ''");
}

TEST(PortName, OptionsAreCheckedAndNamed) {
    expect_bad("pipe:x{0,", "an empty option");
    expect_bad("pipe:x{0,,rx", "an empty option");
    expect_bad("pipe:x{0,fast", "unknown option 'fast' (pipe takes ring=N, tx, rx)");
    expect_bad("netif:eth0,zerocopy", "unknown option 'zerocopy' (netif takes ring=N, tx, rx, xdp, packet)");
    expect_bad("netif:eth0,xdp=1", "option 'xdp' takes no value");
    expect_bad("pipe:x{0-1,ring=1", "ring given twice");
    expect_bad("pipe:x{0/T,rx", "a direction is already given");
    expect_bad("vale0:a,tx,rx", "a direction is already given");
}

TEST(PortName, ShorthandOnlyWhereTheTypeTakesIt) {
    // VALE and interfaces take "/T" "/R" but no "-N"; a '-' is part of the name
    auto v = parse("vale0:a-1/T");
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v->body, "a-1");
    EXPECT_EQ(v->ring, -1);
    // a type whose BODY is a path takes no shorthand at all
    PortType t;
    t.name = "pathy";
    t.syntax = "pathy:PATH";
    register_port_type(std::move(t));
    auto p = parse("pathy:/run/upio/a.sock-1/T,ring=2");
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ(p->body, "/run/upio/a.sock-1/T");
    EXPECT_EQ(p->ring, 2);
    EXPECT_EQ(p->dir, PortName::Dir::both);
    expect_bad("pathy:", "nothing after 'pathy:' (pathy:PATH)");
}

TEST(PortName, UnknownTypeListsEveryRegisteredType) {
    auto r = PortName::parse("foo:bar");
    ASSERT_FALSE(r.ok());
    const std::string& m = r.error().message;
    EXPECT_NE(m.find("unknown port type 'foo'"), std::string::npos) << m;
    for (const PortType& t : registered_port_types()) {
        EXPECT_NE(m.find(t.syntax), std::string::npos) << t.name << " missing from: " << m;
    }
    for (const char* s : {"pipe:NAME{N | pipe:NAME}N[-N][/T|/R]", "valeX:PORT[/T|/R]", "ixgbe:DDDD:BB:DD.F[-N][/T|/R]",
                          "e1000:DDDD:BB:DD.F", "netif:IFNAME[@xdp|@packet][/T|/R]", "tap:IFNAME[/T|/R]"})
        EXPECT_NE(m.find(s), std::string::npos) << s << " missing from: " << m;
    // a family matches only its prefix followed by a name
    expect_bad("val:a", "unknown port type 'val'");
    expect_bad("vale#:a", "unknown port type 'vale#'");
}

// A brand-new port type, registered at run time and opened by its own name:
// "echo:NAME" is one ring pair whose txsync delivers to its own rx ring.
class Echo final : public Adapter {
public:
    explicit Echo(std::string name) : Adapter(std::move(name)) {}
    Status init() {
        MemoryConfig c;
        c.hugepages = HugepagePolicy::never;
        const RingConfig rc{1, 1, 64, 64};
        auto m = MemoryRegion::create(name(), ring_bytes(rc) + 4 * nifp_bytes(2), 200, c);
        if (!m) return std::move(m).error();
        return create_rings(std::move(m.value()), rc);
    }
    int txsync(KRing& t, unsigned) noexcept override {
        KRing& r = kring(Direction::rx, 0);
        std::uint32_t i = t.nr_hwcur.load(std::memory_order_relaxed);
        std::uint32_t j = r.nr_hwtail.load(std::memory_order_relaxed);
        const std::uint32_t rcur = r.nr_hwcur.load(std::memory_order_acquire);
        while (i != t.rhead && r.next(j) != rcur) { // swap the slot into the rx ring
            std::swap(t.ring->slot[i], r.ring->slot[j]);
            t.ring->slot[i].flags = NS_BUF_CHANGED;
            i = t.next(i);
            j = r.next(j);
            RingCounters::add(t.stats.packets, 1);
        }
        t.nr_hwcur.store(i, std::memory_order_relaxed);
        t.nr_hwtail.store(t.prev(i), std::memory_order_release);
        r.nr_hwtail.store(j, std::memory_order_release);
        return 0;
    }
    int rxsync(KRing& r, unsigned) noexcept override {
        r.nr_hwcur.store(r.rhead, std::memory_order_release);
        return 0;
    }
};

Result<std::shared_ptr<Adapter>> open_echo(const PortName& n, const PortOptions&) {
    if (n.option("fail")) return make_error(EIO, fmt::format("{}: asked to fail", n.full));
    auto a = std::make_shared<Echo>(n.full);
    if (Status s = a->init(); !s) return std::move(s).error();
    return std::shared_ptr<Adapter>(std::move(a));
}

TEST(PortType, RegisteredAtRunTimeOpensByItsOwnName) {
    expect_bad("echo:a", "unknown port type 'echo'");
    PortType t;
    t.name = "echo";
    t.syntax = "echo:NAME";
    t.summary = "a ring pair whose tx feeds its rx";
    t.options = {"fail"};
    t.parse = [](std::string_view, std::string_view body) -> Result<std::size_t> {
        if (body.empty()) return make_error(EINVAL, "echo needs a NAME");
        return body.size();
    };
    t.open = &open_echo;
    register_port_type(std::move(t));

    auto n = parse("echo:one");
    ASSERT_TRUE(n.ok()) << n.error().message;
    EXPECT_EQ(n->type_name(), "echo");
    auto bad = PortName::parse("zzz:x");
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().message.find("echo:NAME"), std::string::npos) << bad.error().message;
    expect_bad("echo:", "echo needs a NAME");

    auto failed = Port::open("echo:one,fail");
    ASSERT_FALSE(failed.ok());
    EXPECT_EQ(failed.error().code, EIO);

    auto p = Port::open("echo:one");
    ASSERT_TRUE(p.ok()) << p.error().message;
    Port& port = *p.value();
    netmap_ring* tx = port.tx_ring(0);
    for (std::uint32_t k = 0; k < 10; k++) {
        netmap_slot& s = tx->slot[tx->cur];
        std::memcpy(NETMAP_BUF(tx, s.buf_idx), &k, sizeof k);
        s.len = 60;
        tx->head = tx->cur = nm_ring_next(tx, tx->cur);
    }
    ASSERT_EQ(port.txsync(), 0) << port.last_error();
    ASSERT_EQ(port.rxsync(), 0) << port.last_error();
    netmap_ring* rx = port.rx_ring(0);
    ASSERT_EQ(nm_ring_space(rx), 10u);
    for (std::uint32_t k = 0; k < 10; k++) {
        const netmap_slot& s = rx->slot[rx->cur];
        std::uint32_t got = 0;
        std::memcpy(&got, NETMAP_BUF(rx, s.buf_idx), sizeof got);
        EXPECT_EQ(got, k);
        EXPECT_EQ(s.len, 60u);
        rx->head = rx->cur = nm_ring_next(rx, rx->cur);
    }
    EXPECT_EQ(port.rxsync(), 0);
    EXPECT_EQ(port.counters(Direction::tx).packets, 10u);
}

TEST(PortType, ReplacingTheFactoryKeepsTheSyntax) {
    // the form tests use to run a real type's names on a model
    register_port_type("echo2", &open_echo); // new: any BODY, no shorthand
    auto n = parse("echo2:a-1/T");
    ASSERT_TRUE(n.ok()) << n.error().message;
    EXPECT_EQ(n->body, "a-1/T");
    PortType t;
    t.name = "echo3";
    t.shorthands = shorthand_dir;
    t.parse = [](std::string_view, std::string_view body) -> Result<std::size_t> { return body.find('/'); };
    register_port_type(std::move(t));
    register_port_type("echo3", &open_echo);
    auto m = parse("echo3:x/R");
    ASSERT_TRUE(m.ok()) << m.error().message;
    EXPECT_EQ(m->body, "x");
    EXPECT_EQ(m->dir, PortName::Dir::rx_only);
    auto p = Port::open("echo3:x/R");
    ASSERT_TRUE(p.ok()) << p.error().message;
}

} // namespace
} // namespace upio
