// VALE ports with virtio-net headers (netmap's PORT_HDR): a GSO frame from a
// header port reaches a plain port as checksummed segments, a plain frame
// reaches a header port behind an empty header, lengths are converted, a
// lying header is dropped and counted.
#include "vale_helpers.hpp"

#include <upio/chain.hpp>

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace upio::test {
namespace {

using Bytes = std::vector<unsigned char>;

std::uint16_t sum16(const unsigned char* p, std::size_t n, std::uint32_t acc = 0) {
    for (std::size_t i = 0; i < n; i++) acc += i % 2 == 0 ? p[i] << 8 : p[i];
    while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
    return std::uint16_t(acc);
}

// A TCP/IPv4 frame of `payload` bytes from mac(1) to mac(2), its checksum
// left to the hardware (the pseudo-header sum), behind a virtio-net header of
// `hl` bytes asking for segments of `mss`.
Bytes gso_frame(std::uint32_t hl, std::uint32_t payload, std::uint16_t mss, std::uint16_t gso_size_override = 0xffff) {
    const std::uint32_t l3 = 14, l4 = 34, hdrs = 54, len = hdrs + payload;
    Bytes b(hl + len, 0);
    unsigned char* h = b.data();
    h[0] = 1;                           // NEEDS_CSUM
    h[1] = 1;                           // GSO_TCPV4
    const std::uint16_t gs = gso_size_override == 0xffff ? mss : gso_size_override;
    h[4] = std::uint8_t(gs), h[5] = std::uint8_t(gs >> 8);
    h[6] = l4, h[8] = 16;               // csum_start, csum_offset
    unsigned char* e = b.data() + hl;
    const Mac d = mac(2), s = mac(1);
    std::memcpy(e, d.data(), 6);
    std::memcpy(e + 6, s.data(), 6);
    e[12] = 0x08;
    unsigned char* ip = e + l3;
    ip[0] = 0x45, ip[2] = std::uint8_t((len - l3) >> 8), ip[3] = std::uint8_t(len - l3);
    ip[4] = 0x12, ip[5] = 0x34, ip[6] = 0x40, ip[8] = 64, ip[9] = 6;
    ip[12] = 10, ip[15] = 1, ip[16] = 10, ip[19] = 2;
    const std::uint16_t ic = std::uint16_t(~sum16(ip, 20));
    ip[10] = std::uint8_t(ic >> 8), ip[11] = std::uint8_t(ic);
    unsigned char* th = e + l4;
    th[0] = 0x9c, th[1] = 0x40, th[2] = 0x14, th[3] = 0x51;
    th[4] = 0, th[5] = 0, th[6] = 0x10, th[7] = 0; // seq 4096
    th[12] = 0x50, th[13] = 0x18;                  // ACK PSH
    for (std::uint32_t i = 0; i < payload; i++) e[hdrs + i] = std::uint8_t(i * 13 + 1);
    std::uint32_t acc = 0;
    for (int i = 12; i < 20; i += 2) acc += ip[i] << 8 | ip[i + 1];
    acc += 6 + (len - l4);
    while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
    th[16] = std::uint8_t(acc >> 8), th[17] = std::uint8_t(acc);
    return b;
}

void send_chain(Port& p, const Bytes& frame) {
    netmap_ring* r = p.tx_ring(0);
    ASSERT_GE(nm_ring_space(r), chain_slots(frame.size(), r->nr_buf_size));
    r->head = r->cur = nm_put_chain(r, r->cur, frame.data(), frame.size());
    ASSERT_EQ(p.txsync(), 0);
}

// Every segment holds a valid IPv4 and TCP checksum.
void expect_valid(const std::vector<char>& seg) {
    const auto* e = reinterpret_cast<const unsigned char*>(seg.data());
    ASSERT_GE(seg.size(), 54u);
    EXPECT_EQ(sum16(e + 14, 20), 0xffff) << "IPv4 header checksum";
    const std::uint32_t l4len = std::uint32_t(seg.size()) - 34;
    std::uint32_t acc = 6 + l4len;
    for (int i = 26; i < 34; i += 2) acc += e[i] << 8 | e[i + 1];
    EXPECT_EQ(sum16(e + 34, l4len, acc), 0xffff) << "TCP checksum";
    EXPECT_EQ((e[16] << 8 | e[17]), int(seg.size() - 14)) << "IPv4 total length";
}

TEST(ValeVnet, AGsoFrameReachesAPlainPortAsSegments) {
    const std::string sw = unique_switch();
    auto h = vopen(sw + ":h"), p = vopen(sw + ":p");
    ASSERT_TRUE(h && p);
    ASSERT_TRUE(h->set_vnet_hdr_len(10).ok());
    EXPECT_EQ(h->vnet_hdr_len(), 10u);
    send_chain(*h, gso_frame(10, 5000, 1448));
    const auto got = drain(*p);
    ASSERT_EQ(got.size(), 4u); // 1448 * 3 + 656
    std::uint32_t seq = 4096;
    for (std::size_t i = 0; i < got.size(); i++) {
        expect_valid(got[i].bytes);
        const auto* e = reinterpret_cast<const unsigned char*>(got[i].bytes.data());
        EXPECT_EQ(got[i].bytes.size(), 54u + (i < 3 ? 1448 : 656));
        EXPECT_EQ(std::uint32_t(e[38] << 24 | e[39] << 16 | e[40] << 8 | e[41]), seq);
        EXPECT_EQ((e[18] << 8 | e[19]), int(0x1234 + i)) << "IP id";
        EXPECT_EQ(e[47] & 0x08, i == 3 ? 0x08 : 0) << "PSH on the last segment only";
        seq += 1448;
    }
}

TEST(ValeVnet, APlainFrameReachesAHeaderPortBehindAnEmptyHeader) {
    const std::string sw = unique_switch();
    auto h = vopen(sw + ":h"), p = vopen(sw + ":p");
    ASSERT_TRUE(h && p);
    ASSERT_TRUE(h->set_vnet_hdr_len(12).ok());
    ASSERT_TRUE(send(p->tx_ring(0), mac(9), mac(8), 1, 2, 100));
    ASSERT_EQ(p->txsync(), 0);
    ASSERT_EQ(h->rxsync(), 0);
    netmap_ring* r = h->rx_ring(0);
    ASSERT_EQ(nm_ring_space(r), 1u);
    const netmap_slot& s = r->slot[r->cur];
    ASSERT_EQ(s.len, 112);
    const auto* b = reinterpret_cast<const unsigned char*>(NETMAP_BUF(r, s.buf_idx));
    for (int i = 0; i < 12; i++) EXPECT_EQ(b[i], i == 10 ? 1 : 0) << "header byte " << i; // num_buffers 1
    EXPECT_EQ(std::memcmp(b + 12, mac(9).data(), 6), 0);
}

TEST(ValeVnet, HeaderPortsPassTheFrameWholeAndConvertLengths) {
    const std::string sw = unique_switch();
    auto a = vopen(sw + ":a"), b = vopen(sw + ":b");
    ASSERT_TRUE(a && b);
    ASSERT_TRUE(a->set_vnet_hdr_len(10).ok());
    ASSERT_TRUE(b->set_vnet_hdr_len(12).ok());
    const Bytes f = gso_frame(10, 20000, 1448);
    send_chain(*a, f);
    ASSERT_EQ(b->rxsync(), 0);
    netmap_ring* r = b->rx_ring(0);
    std::vector<unsigned char> got(70000);
    std::uint32_t next;
    const std::size_t n = nm_get_chain(r, r->cur, got.data(), got.size(), next);
    ASSERT_EQ(n, f.size() + 2);
    EXPECT_EQ(std::memcmp(got.data(), f.data(), 10), 0) << "the header, as sent";
    EXPECT_EQ(got[10], 1);
    EXPECT_EQ(std::memcmp(got.data() + 12, f.data() + 10, f.size() - 10), 0) << "the frame, untouched";
}

TEST(ValeVnet, ALyingHeaderIsDroppedAndCounted) {
    const std::string sw = unique_switch();
    auto h = vopen(sw + ":h"), p = vopen(sw + ":p");
    ASSERT_TRUE(h && p);
    ASSERT_TRUE(h->set_vnet_hdr_len(10).ok());
    send_chain(*h, gso_frame(10, 3000, 1448, 0)); // gso_size 0
    Bytes far = gso_frame(10, 3000, 1448);
    far[6] = 0xff, far[7] = 0xff; // csum_start beyond the frame
    send_chain(*h, far);
    EXPECT_TRUE(drain(*p).empty());
    auto st = vale::port_stats(sw + ":h");
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(st->drop_malformed, 2u);
    send_chain(*h, gso_frame(10, 3000, 1448)); // the port still works
    EXPECT_EQ(drain(*p).size(), 3u);
}

TEST(ValeVnet, TheNetmapApiSetsAndGetsTheLength) {
    const std::string sw = unique_switch();
    nm_desc* d = nm_open((sw + ":x").c_str(), nullptr, 0, nullptr);
    ASSERT_NE(d, nullptr) << nm_last_error();
    nmreq_port_hdr req{12, 0};
    EXPECT_EQ(nm_ctrl(d->fd, NETMAP_REQ_PORT_HDR_SET, &req), 0);
    req.nr_hdr_len = 0;
    EXPECT_EQ(nm_ctrl(d->fd, NETMAP_REQ_PORT_HDR_GET, &req), 0);
    EXPECT_EQ(req.nr_hdr_len, 12u);
    req.nr_hdr_len = 11;
    EXPECT_EQ(nm_ctrl(d->fd, NETMAP_REQ_PORT_HDR_SET, &req), -1);
    EXPECT_EQ(errno, EINVAL);
    nm_close(d);
    auto pipe = Port::open("pipe:vnet" + std::to_string(::getpid()) + "{0", vopts());
    ASSERT_TRUE(pipe.ok());
    const Status s = pipe.value()->set_vnet_hdr_len(10);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, EOPNOTSUPP);
}

} // namespace
} // namespace upio::test
