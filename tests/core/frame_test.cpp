// pkt-gen's frames are valid Ethernet/IPv4/UDP with correct checksums.
#include "frame.hpp"

#include <gtest/gtest.h>

namespace pktgen {
namespace {

TEST(Frame, ChecksumsVerifyForEverySize) {
    for (std::size_t size : {60u, 61u, 64u, 128u, 1514u, 9018u}) {
        FrameSpec s;
        s.size = size;
        auto f = build_frame(s);
        ASSERT_EQ(f.size(), size);
        EXPECT_TRUE(verify_frame(f)) << size;
        f[50] ^= 1; // corrupt the payload: the UDP checksum must catch it
        EXPECT_FALSE(verify_frame(f)) << size;
    }
}

TEST(Frame, KnownIpHeaderChecksum) {
    // 10.0.0.1 -> 10.1.0.1, 46-byte IP packet, TTL 64, DF: checksum by hand = 0x26bd
    FrameSpec s;
    auto f = build_frame(s);
    EXPECT_EQ(f[14 + 10], 0x26);
    EXPECT_EQ(f[14 + 11], 0xbd);
}

TEST(Frame, ParsesMacAndIp) {
    Mac m;
    EXPECT_TRUE(parse_mac("00:1b:21:aa:bb:0c", m));
    EXPECT_EQ(m[5], 0x0c);
    EXPECT_FALSE(parse_mac("00:1b:21:aa:bb", m));
    EXPECT_FALSE(parse_mac("00:1b:21:aa:bb:0c:11", m));
    std::uint32_t ip;
    EXPECT_TRUE(parse_ipv4("192.168.1.2", ip));
    EXPECT_EQ(ip, 0xc0a80102u);
    EXPECT_FALSE(parse_ipv4("256.1.1.1", ip));
    EXPECT_FALSE(parse_ipv4("1.2.3", ip));
}

TEST(Frame, IpRangesInBothForms) {
    struct Case {
        const char* text;
        std::uint32_t ip_lo, ip_hi, port_lo, port_hi;
    };
    const Case cases[] = {
        {"10.0.0.1", 0x0a000001, 0x0a000001, 7, 7},
        {"10.0.0.1-10.0.0.9:100-109", 0x0a000001, 0x0a000009, 100, 109}, // addresses, then ports
        {"10.0.0.1:1000-10.0.0.9:1999", 0x0a000001, 0x0a000009, 1000, 1999}, // netmap's: each end whole
        {"10.0.0.1:1000-10.0.0.1:1009", 0x0a000001, 0x0a000001, 1000, 1009},
        {"10.0.0.1:1000-10.0.0.4", 0x0a000001, 0x0a000004, 1000, 1000},
        {"10.0.0.1:1000-1999", 0x0a000001, 0x0a000001, 1000, 1999},
    };
    for (const Case& c : cases) {
        Range ip{}, port{7, 7};
        ASSERT_TRUE(parse_ip_range(c.text, ip, port)) << c.text;
        EXPECT_EQ(ip.lo, c.ip_lo) << c.text;
        EXPECT_EQ(ip.hi, c.ip_hi) << c.text;
        EXPECT_EQ(port.lo, c.port_lo) << c.text;
        EXPECT_EQ(port.hi, c.port_hi) << c.text;
    }
    for (const char* bad : {"10.0.0.9:1000-10.0.0.1:1999", "10.0.0.1:2000-10.0.0.9:1000", "10.0.0.1:1-10.0.0.9:70000",
                            "10.0.0.1:x-10.0.0.9:1", "10.0.0.1-"}) {
        Range ip{}, port{};
        EXPECT_FALSE(parse_ip_range(bad, ip, port)) << bad;
    }
}

} // namespace
} // namespace pktgen
