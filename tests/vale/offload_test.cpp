// The switch's software offloads (src/vale/offload.cpp): hand-built GSO
// frames with their virtio-net header, segmented and checksummed, compared
// byte for byte with segments built here the way Linux's GSO builds them
// (a reference written independently: byte-wise checksums, fresh headers).
#include "vale/offload.hpp"

#include <upio/chain.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace {

using namespace upio::vale::offload;
using Bytes = std::vector<unsigned char>;

// RFC 1071, one byte at a time.
std::uint16_t ref_sum(const Bytes& b, std::size_t from, std::size_t to, std::uint32_t acc = 0) {
    for (std::size_t i = from; i < to; i++) acc += (i - from) % 2 == 0 ? b[i] << 8 : b[i];
    while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
    return std::uint16_t(acc);
}
void put16(Bytes& b, std::size_t o, std::uint16_t v) {
    b[o] = std::uint8_t(v >> 8);
    b[o + 1] = std::uint8_t(v);
}
void put32(Bytes& b, std::size_t o, std::uint32_t v) {
    put16(b, o, std::uint16_t(v >> 16));
    put16(b, o + 2, std::uint16_t(v));
}

struct Flow {
    bool v6 = false;
    bool udp = false;
    std::uint32_t seq = 0xfffff000; // wraps during the stream
    std::uint16_t ip_id = 0xfffe;   // wraps too
    std::uint8_t tcp_flags = 0x18;  // ACK|PSH
    std::uint32_t tcp_opts = 12;    // timestamps
};

// One packet of `flow` with `payload`: Ethernet, IPv4/IPv6, TCP/UDP, every
// length and checksum filled in (what the kernel sends with offloads off).
Bytes packet(const Flow& f, const Bytes& payload, std::uint32_t seq, std::uint16_t id, std::uint8_t flags) {
    const std::size_t l3 = 14, l4 = l3 + (f.v6 ? 40 : 20), th = f.udp ? 8 : 20 + f.tcp_opts, hl = l4 + th;
    Bytes b(hl + payload.size());
    const unsigned char mac[12] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1};
    std::memcpy(b.data(), mac, 12);
    put16(b, 12, f.v6 ? 0x86dd : 0x0800);
    const std::uint8_t proto = f.udp ? 17 : 6;
    if (!f.v6) {
        b[l3] = 0x45;
        put16(b, l3 + 2, std::uint16_t(b.size() - l3));
        put16(b, l3 + 4, id);
        put16(b, l3 + 6, 0x4000); // DF
        b[l3 + 8] = 64;
        b[l3 + 9] = proto;
        put32(b, l3 + 12, 0x0ac80001);
        put32(b, l3 + 16, 0x0ac80002);
        put16(b, l3 + 10, std::uint16_t(~ref_sum(b, l3, l4)));
    } else {
        b[l3] = 0x60;
        put16(b, l3 + 4, std::uint16_t(b.size() - l4));
        b[l3 + 6] = proto;
        b[l3 + 7] = 64;
        for (int i = 0; i < 16; i++) b[l3 + 8 + i] = std::uint8_t(0xfd + i), b[l3 + 24 + i] = std::uint8_t(0x20 + i);
    }
    put16(b, l4, 40000);
    put16(b, l4 + 2, 5201);
    if (f.udp) {
        put16(b, l4 + 4, std::uint16_t(b.size() - l4));
    } else {
        put32(b, l4 + 4, seq);
        put32(b, l4 + 8, 0x12345678);
        b[l4 + 12] = std::uint8_t((th / 4) << 4);
        b[l4 + 13] = flags;
        put16(b, l4 + 14, 502);
        for (std::size_t i = 0; i < f.tcp_opts; i++) b[l4 + 20 + i] = i < 2 ? 1 : std::uint8_t(i);
    }
    if (!payload.empty()) std::memcpy(b.data() + hl, payload.data(), payload.size()); // an empty datagram: no data()
    // pseudo-header
    std::uint32_t acc = 0;
    const std::size_t sa = f.v6 ? l3 + 8 : l3 + 12, alen = f.v6 ? 32 : 8;
    for (std::size_t i = 0; i < alen; i += 2) acc += b[sa + i] << 8 | b[sa + i + 1];
    acc += proto + std::uint32_t(b.size() - l4);
    std::uint16_t c = std::uint16_t(~ref_sum(b, l4, b.size(), acc));
    if (f.udp && c == 0) c = 0xffff;
    put16(b, l4 + (f.udp ? 6 : 16), c);
    return b;
}

Bytes pattern(std::size_t n, unsigned seed = 7) {
    Bytes p(n);
    for (std::size_t i = 0; i < n; i++) p[i] = std::uint8_t(i * 131 + seed + (i >> 8));
    return p;
}

// A destination ring of `n` slots over buffers of `bs` bytes.
struct Ring {
    std::uint32_t bs;
    std::vector<netmap_slot> slot;
    std::vector<char> mem;
    Ring(std::uint32_t n, std::uint32_t bs_) : bs(bs_), slot(n), mem(std::size_t(n + 1) * bs_, char(0x5a)) {
        for (std::uint32_t i = 0; i < n; i++) slot[i].buf_idx = i + 1;
    }
    Dest dest() {
        return Dest{slot.data(), std::uint32_t(slot.size()), bs,
                    [](const void* ctx, const netmap_slot& s) noexcept {
                        auto* r = static_cast<const Ring*>(ctx);
                        return const_cast<char*>(r->mem.data()) + std::size_t(s.buf_idx) * r->bs;
                    },
                    this};
    }
    // The frames from slot `j` to `end`, chains joined.
    std::vector<Bytes> frames(std::uint32_t j, std::uint32_t end) {
        std::vector<Bytes> out;
        Bytes cur;
        while (j != end) {
            const netmap_slot& s = slot[j];
            const char* p = mem.data() + std::size_t(s.buf_idx) * bs;
            cur.insert(cur.end(), p, p + s.len);
            if (!(s.flags & NS_MOREFRAG)) out.push_back(std::move(cur)), cur.clear();
            j = j + 1 == slot.size() ? 0 : j + 1;
        }
        EXPECT_TRUE(cur.empty()) << "a chain does not end";
        return out;
    }
};

// The frame split into fragments of the sizes in `cuts` (repeated).
struct Frags {
    std::vector<Frag> f;
    Frags(const Bytes& b, std::vector<std::uint32_t> cuts) {
        std::size_t at = 0;
        for (std::size_t k = 0; at < b.size(); k++) {
            const std::uint32_t c = std::min<std::uint32_t>(cuts[k % cuts.size()], std::uint32_t(b.size() - at));
            f.push_back({reinterpret_cast<const char*>(b.data()) + at, c});
            at += c;
        }
    }
};

Bytes with_hdr(const VnetHdr& h, const Bytes& frame, std::uint32_t hdr_len = 10) {
    Bytes b(hdr_len, 0);
    write_hdr(b.data(), h);
    b.insert(b.end(), frame.begin(), frame.end());
    return b;
}

// The GSO frame the kernel hands over for `payload`: one packet with the
// whole payload, the transport checksum holding only the pseudo-header sum.
Bytes gso_frame(const Flow& f, const Bytes& payload, std::uint8_t flags, VnetHdr& h) {
    Bytes b = packet(f, payload, f.seq, f.ip_id, flags);
    const std::size_t l4 = f.v6 ? 54 : 34;
    std::uint32_t acc = 0;
    const std::size_t sa = f.v6 ? 22 : 26, alen = f.v6 ? 32 : 8;
    for (std::size_t i = 0; i < alen; i += 2) acc += b[sa + i] << 8 | b[sa + i + 1];
    acc += (f.udp ? 17 : 6) + std::uint32_t(b.size() - l4);
    while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
    put16(b, l4 + (f.udp ? 6 : 16), std::uint16_t(acc)); // CHECKSUM_PARTIAL: the folded pseudo-header
    h.flags = F_NEEDS_CSUM;
    h.gso_type = f.udp ? GSO_UDP_L4 : f.v6 ? GSO_TCPV6 : GSO_TCPV4;
    h.csum_start = std::uint16_t(l4);
    h.csum_offset = f.udp ? 6 : 16;
    h.hdr_len = std::uint16_t(l4 + (f.udp ? 8 : 20 + f.tcp_opts));
    return b;
}

void check_segmentation(const Flow& f, std::size_t payload_len, std::uint16_t mss, std::uint32_t dbs,
                        std::vector<std::uint32_t> cuts) {
    const Bytes payload = pattern(payload_len);
    const std::uint8_t flags = f.tcp_flags;
    VnetHdr h;
    Bytes frame = gso_frame(f, payload, flags, h);
    h.gso_size = mss;
    const Bytes in = with_hdr(h, frame);
    Frags fr(in, cuts);
    Plan p;
    ASSERT_EQ(plan(fr.f.data(), std::uint32_t(fr.f.size()), std::uint32_t(in.size()), 10, p), Verdict::ok);
    const std::uint32_t nseg = std::uint32_t((payload_len + mss - 1) / mss);
    ASSERT_EQ(p.nseg, nseg);
    Ring r(4096, dbs);
    const std::uint32_t start = 4090; // the output wraps around the ring
    const std::uint32_t need = slots(p, 0, dbs);
    const std::uint32_t end = emit(p, fr.f.data(), std::uint32_t(fr.f.size()), 0, r.dest(), start);
    EXPECT_EQ(end, (start + need) % 4096);
    const auto out = r.frames(start, end);
    ASSERT_EQ(out.size(), nseg);
    for (std::uint32_t i = 0; i < nseg; i++) {
        const std::size_t off = std::size_t(i) * mss, n = std::min<std::size_t>(mss, payload_len - off);
        const Bytes part(payload.begin() + std::ptrdiff_t(off), payload.begin() + std::ptrdiff_t(off + n));
        std::uint8_t fl = flags;
        if (i > 0) fl &= std::uint8_t(~0x80);              // CWR on the first segment only
        if (i + 1 < nseg) fl &= std::uint8_t(~(0x01 | 0x08)); // FIN, PSH on the last only
        const Bytes want = packet(f, part, f.seq + i * mss, std::uint16_t(f.ip_id + i), fl);
        EXPECT_EQ(out[i], want) << "segment " << i << " of " << nseg;
    }
}

TEST(Offload, TcpV4SegmentsAsLinuxGso) {
    Flow f;
    f.tcp_flags = 0x80 | 0x10 | 0x08 | 0x01; // CWR ACK PSH FIN
    check_segmentation(f, 64000 - 66, 1448, 2048, {10, 50, 2048});
    check_segmentation(f, 5000, 1448, 1024, {7, 1, 300, 2048});     // segments span two buffers
    check_segmentation(f, 1448 * 3, 1448, 2048, {2048});            // an exact multiple
    check_segmentation(f, 100, 1448, 2048, {2048});                 // shorter than one segment
}

TEST(Offload, TcpV6SegmentsAsLinuxGso) {
    Flow f;
    f.v6 = true;
    f.tcp_flags = 0x80 | 0x10 | 0x08;
    check_segmentation(f, 30001, 1428, 2048, {2048});
    check_segmentation(f, 30001, 1000, 512, {3, 2048});
}

TEST(Offload, UdpL4SegmentsAsLinuxGso) {
    Flow f;
    f.udp = true;
    check_segmentation(f, 9000, 1400, 2048, {2048});
    f.v6 = true;
    check_segmentation(f, 9000, 1400, 2048, {33, 2048});
}

// The IPv4 fragments Linux's software UFO (udp4_ufo_fragment(),
// inet_gso_segment()) makes of `whole`, a complete UDP/IPv4 packet: `frag`
// bytes of the datagram each, the datagram's id in all, MF on all but the
// last, the offset in 8-byte units; a datagram of one fragment as it is.
std::vector<Bytes> ref_fragments(const Bytes& whole, std::size_t frag) {
    const std::size_t l3 = 14, l4 = 34, dlen = whole.size() - l4;
    if (dlen <= frag) return {whole};
    std::vector<Bytes> out;
    for (std::size_t off = 0; off < dlen; off += frag) {
        const std::size_t n = std::min(frag, dlen - off);
        Bytes b(whole.begin(), whole.begin() + l4);
        b.insert(b.end(), whole.begin() + std::ptrdiff_t(l4 + off), whole.begin() + std::ptrdiff_t(l4 + off + n));
        put16(b, l3 + 2, std::uint16_t(b.size() - l3));
        put16(b, l3 + 6, std::uint16_t(off / 8 | (off + n < dlen ? 0x2000 : 0)));
        put16(b, l3 + 10, 0);
        put16(b, l3 + 10, std::uint16_t(~ref_sum(b, l3, l4)));
        out.push_back(std::move(b));
    }
    return out;
}

// A UFO frame (NEEDS_CSUM: its UDP checksum the pseudo-header sum; without:
// the complete checksum) of `payload_len` bytes cut with `gso_size`.
void check_ufo(std::size_t payload_len, std::uint16_t gso_size, std::uint32_t dbs, std::vector<std::uint32_t> cuts,
               bool needs_csum) {
    Flow f;
    f.udp = true;
    const Bytes payload = pattern(payload_len, unsigned(gso_size));
    const Bytes whole = packet(f, payload, 0, f.ip_id, 0);
    VnetHdr h;
    const Bytes frame = needs_csum ? gso_frame(f, payload, 0, h) : whole;
    h.gso_type = GSO_UDP;
    h.gso_size = gso_size;
    const Bytes in = with_hdr(h, frame);
    Frags fr(in, cuts);
    Plan p;
    ASSERT_EQ(plan(fr.f.data(), std::uint32_t(fr.f.size()), std::uint32_t(in.size()), 10, p), Verdict::ok);
    EXPECT_EQ(p.kind, Plan::frag4);
    const std::size_t frag = gso_size & ~7u; // the fragment offset counts 8-byte units
    const auto want = ref_fragments(whole, frag);
    ASSERT_EQ(p.nseg, want.size());
    Ring r(4096, dbs);
    const std::uint32_t start = 4093; // the output wraps around the ring
    const std::uint32_t need = slots(p, 0, dbs);
    r.slot[(start + need) % 4096].len = 4321;
    const std::uint32_t end = emit(p, fr.f.data(), std::uint32_t(fr.f.size()), 0, r.dest(), start);
    EXPECT_EQ(end, (start + need) % 4096);
    EXPECT_EQ(r.slot[end].len, 4321) << "a slot beyond the reserved ones written";
    const auto out = r.frames(start, end);
    ASSERT_EQ(out.size(), want.size());
    for (std::size_t i = 0; i < out.size(); i++)
        EXPECT_EQ(out[i], want[i]) << "fragment " << i << " of " << want.size() << " (gso_size " << gso_size << ")";
}

TEST(Offload, UfoFragmentsAsLinux) {
    for (bool needs_csum : {true, false}) {
        check_ufo(9000, 1480, 2048, {2048}, needs_csum);
        check_ufo(65535 - 20 - 8, 1480, 2048, {100, 2048}, needs_csum); // the largest IPv4 datagram
        check_ufo(5000, 1480, 512, {7, 1, 300, 2048}, needs_csum);       // fragments span buffers
        check_ufo(1472 * 3 - 8, 1472, 2048, {2048}, needs_csum);         // an exact multiple
        check_ufo(3001, 1473, 2048, {5, 2048}, needs_csum);              // gso_size rounded down to 1472
        check_ufo(3001, 13, 2048, {2048}, needs_csum); // 8 bytes a fragment: the UDP header alone first
        check_ufo(1000, 1480, 2048, {2048}, needs_csum); // one fragment: the datagram as it was (DF kept)
        check_ufo(0, 8, 2048, {2048}, needs_csum);       // an empty datagram
    }
}

TEST(Offload, CompletesAChecksumAsSkbChecksumHelp) {
    for (bool udp : {false, true}) {
        Flow f;
        f.udp = udp;
        const Bytes payload = pattern(777);
        VnetHdr h;
        Bytes frame = gso_frame(f, payload, 0x18, h);
        h.gso_type = GSO_NONE;
        const Bytes in = with_hdr(h, frame, 12);
        Frags fr(in, {5, 2048});
        Plan p;
        ASSERT_EQ(plan(fr.f.data(), std::uint32_t(fr.f.size()), std::uint32_t(in.size()), 12, p), Verdict::ok);
        EXPECT_EQ(p.kind, Plan::csum);
        Ring r(16, 256);
        const std::uint32_t end = emit(p, fr.f.data(), std::uint32_t(fr.f.size()), 0, r.dest(), 0);
        EXPECT_EQ(end, slots(p, 0, 256));
        const auto out = r.frames(0, end);
        ASSERT_EQ(out.size(), 1u);
        EXPECT_EQ(out[0], packet(f, payload, f.seq, f.ip_id, 0x18));
    }
}

TEST(Offload, HeadersAreConvertedBetweenLengths) {
    Flow f;
    const Bytes frame = packet(f, pattern(3000), 1, 2, 0x10);
    VnetHdr h;
    h.flags = F_DATA_VALID;
    for (std::uint32_t from : {0u, 10u, 12u})
        for (std::uint32_t to : {10u, 12u}) {
            const Bytes in = from ? with_hdr(h, frame, from) : frame;
            Frags fr(in, {100, 2048});
            Plan p;
            ASSERT_EQ(plan(fr.f.data(), std::uint32_t(fr.f.size()), std::uint32_t(in.size()), from, p), Verdict::ok);
            Ring r(16, 2048);
            const std::uint32_t end = emit(p, fr.f.data(), std::uint32_t(fr.f.size()), to, r.dest(), 0);
            const auto out = r.frames(0, end);
            ASSERT_EQ(out.size(), 1u);
            Bytes want(to, 0);
            if (from) want[0] = F_DATA_VALID;
            if (to == 12) want[10] = 1; // num_buffers
            want.insert(want.end(), frame.begin(), frame.end());
            EXPECT_EQ(out[0], want) << from << " -> " << to;
        }
}

TEST(Offload, AHeaderlessFrameLosesNothing) {
    Flow f;
    const Bytes in = packet(f, pattern(60), 1, 2, 0x10);
    Frags fr(in, {2048});
    Plan p;
    ASSERT_EQ(plan(fr.f.data(), 1, std::uint32_t(in.size()), 10, p), Verdict::ok); // an all-zero header
    EXPECT_EQ(p.kind, Plan::strip);
}

TEST(Offload, LyingHeadersAreRefused) {
    Flow f;
    VnetHdr good;
    const Bytes frame = gso_frame(f, pattern(4000), 0x10, good);
    good.gso_size = 1448;
    auto verdict = [&](VnetHdr h, Bytes fr, std::uint32_t hl = 10) {
        const Bytes in = with_hdr(h, fr, hl);
        Frag one{reinterpret_cast<const char*>(in.data()), std::uint32_t(in.size())};
        Plan p;
        return plan(&one, 1, std::uint32_t(in.size()), hl, p);
    };
    EXPECT_EQ(verdict(good, frame), Verdict::ok);
    VnetHdr h = good;
    h.gso_size = 0;
    EXPECT_EQ(verdict(h, frame), Verdict::malformed) << "gso_size 0";
    h = good;
    h.csum_start = 35;
    EXPECT_EQ(verdict(h, frame), Verdict::malformed) << "csum_start not at the TCP header";
    h = good;
    h.gso_type = GSO_NONE;
    h.csum_start = std::uint16_t(frame.size() - 10);
    EXPECT_EQ(verdict(h, frame), Verdict::malformed) << "csum_start + csum_offset beyond the frame";
    h.csum_start = 0xffff;
    h.csum_offset = 0xffff;
    EXPECT_EQ(verdict(h, frame), Verdict::malformed);
    h = good;
    h.gso_type = GSO_TCPV6;
    EXPECT_EQ(verdict(h, frame), Verdict::malformed) << "TCPv6 on an IPv4 frame";
    h.gso_type = GSO_UDP_L4;
    EXPECT_EQ(verdict(h, frame), Verdict::malformed) << "UDP on a TCP frame";
    h.gso_type = GSO_UDP;
    EXPECT_EQ(verdict(h, frame), Verdict::malformed) << "UFO on a TCP frame";
    h.gso_type = 77;
    EXPECT_EQ(verdict(h, frame), Verdict::unsupported);
    Bytes cut(frame.begin(), frame.begin() + 50); // the TCP header beyond the frame
    EXPECT_EQ(verdict(good, cut), Verdict::malformed);
    Bytes doff = frame;
    doff[34 + 12] = 0xf0; // 60 bytes of TCP header
    EXPECT_EQ(verdict(good, Bytes(doff.begin(), doff.begin() + 80)), Verdict::malformed);
    Bytes frag = frame;
    frag[14 + 6] = 0x20; // MF
    EXPECT_EQ(verdict(good, frag), Verdict::malformed);
    Bytes ihl = frame;
    ihl[14] = 0x44;
    EXPECT_EQ(verdict(good, ihl), Verdict::malformed);
    EXPECT_EQ(verdict(good, Bytes(frame.begin(), frame.begin() + 3)), Verdict::malformed) << "shorter than Ethernet";
    Plan p;
    EXPECT_EQ(plan(nullptr, 0, 0, 11, p), Verdict::malformed) << "not a header length";
}

TEST(Offload, LyingUfoHeadersAreRefused) {
    for (bool v6 : {false, true}) {
        Flow f;
        f.udp = true;
        f.v6 = v6;
        VnetHdr h;
        const Bytes frame = gso_frame(f, pattern(4000), 0, h);
        h.gso_type = GSO_UDP;
        h.gso_size = 1480;
        const auto verdict = [](const VnetHdr& v, const Bytes& fr) {
            const Bytes in = with_hdr(v, fr);
            Frag one{reinterpret_cast<const char*>(in.data()), std::uint32_t(in.size())};
            Plan p;
            return plan(&one, 1, std::uint32_t(in.size()), 10, p);
        };
        if (v6) {
            EXPECT_EQ(verdict(h, frame), Verdict::unsupported) << "UFO over IPv6";
            continue;
        }
        EXPECT_EQ(verdict(h, frame), Verdict::ok);
        VnetHdr g = h;
        g.gso_size = 7;
        EXPECT_EQ(verdict(g, frame), Verdict::malformed) << "less than one 8-byte unit a fragment";
        g.gso_size = 8;
        EXPECT_EQ(verdict(g, frame), Verdict::ok);
        Bytes opts = frame;
        opts[14] = 0x46; // an IPv4 option
        EXPECT_EQ(verdict(h, opts), Verdict::unsupported) << "UFO with IPv4 options";
        Bytes frag = frame;
        frag[14 + 7] = 1; // a fragment offset: a fragment already
        EXPECT_EQ(verdict(h, frag), Verdict::malformed);
        EXPECT_EQ(verdict(h, Bytes(frame.begin(), frame.begin() + 40)), Verdict::malformed) << "no whole UDP header";
        g = h;
        g.csum_start = 14;
        EXPECT_EQ(verdict(g, frame), Verdict::malformed) << "csum_start not at the UDP header";
    }
}

// emit() after the sender rewrote its frame: it writes exactly the slots
// slots() reserved from the plan, never the one after them.
void emits_only_what_it_reserved(const Plan& p, const Frag& one) {
    Ring r(64, 2048);
    const std::uint32_t need = slots(p, 0, 2048);
    ASSERT_LT(need, 64u);
    r.slot[need].len = 4321;
    EXPECT_EQ(emit(p, &one, 1, 0, r.dest(), 0), need);
    EXPECT_EQ(r.slot[need].len, 4321);
}

TEST(Offload, ARewrittenFrameCannotMakeTheOutputLonger) {
    // The sender changes its frame between the plan and the copy: the
    // output still takes exactly the slots planned.
    Flow f;
    VnetHdr h;
    Bytes frame = gso_frame(f, pattern(20000), 0x10, h);
    h.gso_size = 1000;
    Bytes in = with_hdr(h, frame);
    Frag one{reinterpret_cast<const char*>(in.data()), std::uint32_t(in.size())};
    Plan p;
    ASSERT_EQ(plan(&one, 1, std::uint32_t(in.size()), 10, p), Verdict::ok);
    write_hdr(in.data(), VnetHdr{F_NEEDS_CSUM, GSO_TCPV4, 0, 1, 0xffff, 0xffff});
    in[10 + 34 + 12] = 0xf0;
    in[10 + 14] = 0x4f;
    emits_only_what_it_reserved(p, one);

    // The same with a UFO datagram whose lengths are rewritten.
    f.udp = true;
    Bytes dgram = gso_frame(f, pattern(20000), 0, h);
    h.gso_type = GSO_UDP;
    h.gso_size = 1000;
    in = with_hdr(h, dgram);
    one = Frag{reinterpret_cast<const char*>(in.data()), std::uint32_t(in.size())};
    ASSERT_EQ(plan(&one, 1, std::uint32_t(in.size()), 10, p), Verdict::ok);
    write_hdr(in.data(), VnetHdr{F_NEEDS_CSUM, GSO_UDP, 0, 8, 0xffff, 0xffff});
    in[10 + 14] = 0x4f;
    in[10 + 16] = in[10 + 17] = in[10 + 38] = in[10 + 39] = 0xff; // IPv4 total length, UDP length
    emits_only_what_it_reserved(p, one);
}

TEST(Offload, ChecksumOfPiecesEqualsTheWhole) {
    const Bytes b = pattern(1001, 3);
    for (std::size_t cut1 : {0u, 1u, 3u, 8u, 500u})
        for (std::size_t cut2 : {cut1, cut1 + 1, cut1 + 9, std::size_t(1001)}) {
            Csum c;
            c.add(b.data(), cut1);
            c.add(b.data() + cut1, cut2 - cut1);
            c.add(b.data() + cut2, b.size() - cut2);
            EXPECT_EQ(c.sum(), ref_sum(b, 0, b.size())) << cut1 << " " << cut2;
        }
}

} // namespace
