// The port-name grammar: good names and the errors for bad ones.
#include <upio/port.hpp>
#include <upio/port_name.hpp>

#include <gtest/gtest.h>

namespace upio {
namespace {

TEST(PortName, Pipes) {
    auto m = PortName::parse("pipe:x{3");
    ASSERT_TRUE(m.ok()) << m.error().message;
    EXPECT_EQ(m->type, "pipe");
    EXPECT_EQ(m->group, "x");
    EXPECT_TRUE(m->pipe_master);
    EXPECT_EQ(m->pipe_id, 3u);
    auto s = PortName::parse("pipe:x}3");
    ASSERT_TRUE(s.ok());
    EXPECT_FALSE(s->pipe_master);
    // ring selection and direction, as on every other port type
    auto r = PortName::parse("pipe:x}3-0/R");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->pipe_id, 3u);
    EXPECT_EQ(r->ring, 0);
    EXPECT_EQ(r->dir, PortName::Dir::rx_only);
}

TEST(PortName, ValeWithRingAndDirection) {
    auto v = PortName::parse("vale0:a");
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v->type, "vale");
    EXPECT_EQ(v->group, "vale0");
    EXPECT_EQ(v->port, "a");
    EXPECT_EQ(v->ring, -1);
    auto r = PortName::parse("valeX:left-2/T");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->group, "valeX");
    EXPECT_EQ(r->port, "left");
    EXPECT_EQ(r->ring, 2);
    EXPECT_EQ(r->dir, PortName::Dir::tx_only);
    auto rx = PortName::parse("vale1:b/R");
    ASSERT_TRUE(rx.ok());
    EXPECT_EQ(rx->dir, PortName::Dir::rx_only);
}

TEST(PortName, PciPorts) {
    auto x = PortName::parse("ixgbe:0000:01:00.1-5");
    ASSERT_TRUE(x.ok()) << x.error().message;
    EXPECT_EQ(x->type, "ixgbe");
    EXPECT_EQ(x->pci.bus, 1);
    EXPECT_EQ(x->pci.function, 1);
    EXPECT_EQ(x->ring, 5);
    EXPECT_EQ(x->pci.str(), "0000:01:00.1");
    auto e = PortName::parse("e1000:0000:00:1f.6");
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(e->pci.device, 0x1f);
    EXPECT_EQ(e->pci.function, 6);
}

void expect_bad(const char* name, const char* mentions) {
    auto r = PortName::parse(name);
    ASSERT_FALSE(r.ok()) << name << " parsed";
    EXPECT_EQ(r.error().code, EINVAL);
    EXPECT_NE(r.error().message.find(mentions), std::string::npos)
        << "error for '" << name << "' should mention '" << mentions << "': " << r.error().message;
}

TEST(PortName, BadNamesSayWhichPartIsWrong) {
    expect_bad("", "TYPE:NAME");
    expect_bad("eth0", "TYPE:NAME");
    expect_bad("foo:bar", "unknown port type 'foo'");
    expect_bad("pipe:x", "'{N'");
    expect_bad("pipe:x{", "pipe number ''");
    expect_bad("pipe:x{abc", "pipe number 'abc'");
    expect_bad("pipe:{1", "pipe name ''");
    expect_bad(("vale0:" + std::string(58, 'p')).c_str(), "64 characters; a port name has at most 63");
    EXPECT_TRUE(PortName::parse("vale0:" + std::string(57, 'p')).ok());
    expect_bad("vale0:", "VALE port name ''");
    expect_bad("vale0:a/X", "direction '/X'");
    expect_bad("vale0:a-99999", "ring '-99999'");
    expect_bad("ixgbe:0000:01:00", "no '.'");
    expect_bad("ixgbe:0000:01:20.0", "device is not");
    expect_bad("e1000:0000:01:00.9", "function");
    expect_bad("e1000:zz:00.0", "bus");
}

} // namespace
} // namespace upio
