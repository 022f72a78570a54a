// Virtio-net headers on VALE ports: checks, segmentation and checksums (see
// offload.hpp). Byte layouts: RFC 791 (IPv4), RFC 8200 (IPv6), RFC 9293
// (TCP), RFC 768 (UDP); what Linux writes into each segment:
// net/ipv4/tcp_offload.c tcp_gso_segment(), net/ipv4/af_inet.c
// inet_gso_segment(), net/ipv4/udp_offload.c __udp_gso_segment() and
// udp4_ufo_fragment(), net/core/dev.c skb_checksum_help().
#include "vale/offload.hpp"

#include <upio/chain.hpp>

#include <algorithm>
#include <bit>
#include <cstring>

namespace upio::vale::offload {
namespace {

constexpr std::uint32_t max_head = 192; // room for every header the plan reads
constexpr std::uint8_t ip_tcp = 6, ip_udp = 17;
constexpr std::uint8_t tcp_fin = 0x01, tcp_psh = 0x08, tcp_cwr = 0x80;
constexpr std::uint16_t ip_mf = 0x2000, ip_offset = 0x1fff; // IPv4 flags and fragment offset

std::uint16_t be16(const unsigned char* p) noexcept { return std::uint16_t(p[0] << 8 | p[1]); }
void put16(unsigned char* p, std::uint16_t v) noexcept {
    p[0] = std::uint8_t(v >> 8);
    p[1] = std::uint8_t(v);
}
std::uint32_t be32(const unsigned char* p) noexcept {
    return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | p[3];
}
void put32(unsigned char* p, std::uint32_t v) noexcept {
    put16(p, std::uint16_t(v >> 16));
    put16(p + 2, std::uint16_t(v));
}

// Reads the fragments in order; what lies beyond them reads as zeros (the
// plan's lengths come from the same fragments, so only a bug would get there).
class Reader {
public:
    Reader(const Frag* f, std::uint32_t n) noexcept : f_(f), n_(n) {}
    // Calls sink(ptr, len) for the next `cnt` bytes, piece by piece.
    template <class Sink>
    void take(std::uint32_t cnt, Sink&& sink) noexcept {
        static const char zeros[64] = {};
        while (cnt) {
            if (i_ == n_) {
                const std::uint32_t c = std::min<std::uint32_t>(cnt, sizeof zeros);
                sink(zeros, c);
                cnt -= c;
                continue;
            }
            const std::uint32_t c = std::min(cnt, f_[i_].len - used_);
            if (c) sink(f_[i_].buf + used_, c);
            cnt -= c;
            used_ += c;
            if (used_ == f_[i_].len) {
                i_++;
                used_ = 0;
            }
        }
    }
    void copy(std::uint32_t cnt, unsigned char* dst) noexcept {
        take(cnt, [&](const char* p, std::uint32_t c) {
            std::memcpy(dst, p, c);
            dst += c;
        });
    }
    void skip(std::uint32_t cnt) noexcept {
        take(cnt, [](const char*, std::uint32_t) {});
    }

private:
    const Frag* f_;
    std::uint32_t n_, i_ = 0, used_ = 0;
};

// An output frame of `len` bytes from slot `j0` on: every slot but the last
// full, as split_frame() lays a chain out, so byte `off` is in slot
// j0 + off / buf_size.
class Out {
public:
    Out(const Dest& d, std::uint32_t j0, std::uint32_t len) noexcept : d_(d), j0_(j0), len_(len) {}
    void write(std::uint32_t off, const void* src, std::uint32_t n) noexcept {
        const char* s = static_cast<const char*>(src);
        while (n) {
            std::uint32_t in;
            char* p = at(off, in);
            const std::uint32_t c = std::min(n, in);
            std::memcpy(p, s, c);
            s += c;
            off += c;
            n -= c;
        }
    }
    void sum(std::uint32_t off, std::uint32_t n, Csum& c) noexcept {
        while (n) {
            std::uint32_t in;
            const char* p = at(off, in);
            const std::uint32_t k = std::min(n, in);
            c.add(p, k);
            off += k;
            n -= k;
        }
    }
    // Sets the slots' lengths and flags; returns the slot after the frame.
    std::uint32_t finish() noexcept {
        const std::uint32_t ns = chain_slots(len_, d_.buf_size);
        std::uint32_t j = j0_, left = len_;
        for (std::uint32_t k = 0; k < ns; k++) {
            const std::uint32_t room = std::min(left, d_.buf_size);
            left -= room;
            d_.slot[j].len = std::uint16_t(room);
            d_.slot[j].flags = left ? NS_MOREFRAG : 0;
            j = j + 1 == d_.num_slots ? 0 : j + 1;
        }
        return j;
    }

private:
    char* at(std::uint32_t off, std::uint32_t& contiguous) noexcept {
        std::uint32_t j = j0_ + off / d_.buf_size;
        if (j >= d_.num_slots) j -= d_.num_slots; // a frame is shorter than a ring
        const std::uint32_t o = off % d_.buf_size;
        contiguous = std::min(d_.buf_size - o, len_ - off);
        return d_.buf(d_.ctx, d_.slot[j]) + o;
    }
    const Dest& d_;
    std::uint32_t j0_, len_;
};

std::uint32_t segment_len(const Plan& p, std::uint32_t i) noexcept {
    const std::uint32_t payload = p.len - p.hdrs;
    return p.hdrs + (i + 1 < p.nseg ? p.mss : payload - (p.nseg - 1) * std::uint32_t(p.mss));
}

// The header a destination with `dst_hdr` bytes gets: the source's (read
// from the frame) or, from a port without one, "nothing to do".
void converted_hdr(const Plan& p, const Frag* f, std::uint32_t n, std::uint32_t dst_hdr, unsigned char* out) noexcept {
    std::memset(out, 0, hdr_len_mrg);
    if (p.hdr) Reader(f, n).copy(hdr_len_plain, out);
    if (dst_hdr == hdr_len_mrg) out[10] = 1; // num_buffers: the frame is in one "buffer" (a chain)
}

std::uint32_t emit_segments(const Plan& p, const Frag* f, std::uint32_t n, const Dest& d, std::uint32_t j) noexcept {
    unsigned char orig[max_head], h[max_head];
    Reader r(f, n);
    r.skip(p.hdr);
    r.copy(p.hdrs, orig);
    const bool v4 = p.kind == Plan::tcp4 || p.kind == Plan::udp4;
    const bool tcp = p.kind == Plan::tcp4 || p.kind == Plan::tcp6;
    const std::uint16_t id = v4 ? be16(orig + p.l3 + 4) : 0;
    const std::uint32_t seq = tcp ? be32(orig + p.l4 + 4) : 0;
    for (std::uint32_t i = 0; i < p.nseg; i++) {
        const std::uint32_t len = segment_len(p, i), pl = len - p.hdrs, l4len = len - p.l4;
        std::memcpy(h, orig, p.hdrs);
        if (v4) {
            put16(h + p.l3 + 2, std::uint16_t(len - p.l3));
            put16(h + p.l3 + 4, std::uint16_t(id + i));
            put16(h + p.l3 + 10, 0);
            Csum ic;
            ic.add(h + p.l3, p.l4 - p.l3);
            put16(h + p.l3 + 10, std::uint16_t(~ic.sum()));
        } else {
            put16(h + p.l3 + 4, std::uint16_t(len - p.l3 - 40));
        }
        unsigned char* l4 = h + p.l4;
        if (tcp) {
            put32(l4 + 4, seq + i * std::uint32_t(p.mss));
            if (i > 0) l4[13] &= std::uint8_t(~tcp_cwr);
            if (i + 1 < p.nseg) l4[13] &= std::uint8_t(~(tcp_fin | tcp_psh));
            put16(l4 + 16, 0);
        } else {
            put16(l4 + 4, std::uint16_t(l4len));
            put16(l4 + 6, 0);
        }
        Csum c; // the pseudo-header, then the transport header and payload
        if (v4)
            c.add(h + p.l3 + 12, 8);
        else
            c.add(h + p.l3 + 8, 32);
        const unsigned char ph[4] = {0, tcp ? ip_tcp : ip_udp, std::uint8_t(l4len >> 8), std::uint8_t(l4len)};
        c.add(ph, 4);
        c.add(l4, p.hdrs - p.l4);
        Out o(d, j, len);
        std::uint32_t at = p.hdrs;
        r.take(pl, [&](const char* s, std::uint32_t k) {
            o.write(at, s, k);
            c.add(s, k);
            at += k;
        });
        std::uint16_t sum = std::uint16_t(~c.sum());
        if (!tcp && sum == 0) sum = 0xffff; // UDP: 0 means "no checksum"
        put16(l4 + (tcp ? 16 : 6), sum);
        o.write(0, h, p.hdrs);
        j = o.finish();
    }
    return j;
}

// UFO (plan kind frag4): the UDP datagram from p.l4 on cut into IPv4
// fragments of p.mss bytes (a multiple of 8), each behind a copy of the
// Ethernet and IPv4 headers. The UDP header goes out in the first fragment;
// its checksum, summed over the whole datagram on the way, is written there
// once the last fragment is out.
std::uint32_t emit_fragments(const Plan& p, const Frag* f, std::uint32_t n, const Dest& d, std::uint32_t j) noexcept {
    unsigned char h[max_head], udp[8];
    Reader r(f, n);
    r.skip(p.hdr);
    r.copy(p.hdrs, h);
    const std::uint32_t dlen = p.len - p.hdrs; // the UDP datagram (plan: at most 65535 - 20)
    const bool csum = p.csum_start != 0;
    const std::uint16_t frag0 = be16(h + p.l3 + 6) & std::uint16_t(~(ip_mf | ip_offset)); // a lone fragment keeps DF
    const std::uint32_t j0 = j;
    Csum c; // the pseudo-header, then the datagram
    c.add(h + p.l3 + 12, 8);
    const unsigned char ph[4] = {0, ip_udp, std::uint8_t(dlen >> 8), std::uint8_t(dlen)};
    c.add(ph, 4);
    for (std::uint32_t i = 0; i < p.nseg; i++) {
        const std::uint32_t len = segment_len(p, i);
        Out o(d, j, len);
        std::uint32_t at = p.hdrs;
        if (i == 0) { // plan: the first fragment holds the whole UDP header (mss >= 8)
            r.copy(8, udp);
            put16(udp + 4, std::uint16_t(dlen));
            if (csum) put16(udp + 6, 0);
            c.add(udp, 8);
            o.write(at, udp, 8);
            at += 8;
        }
        r.take(len - at, [&](const char* s, std::uint32_t k) {
            o.write(at, s, k);
            if (csum) c.add(s, k);
            at += k;
        });
        put16(h + p.l3 + 2, std::uint16_t(len - p.l3));
        const std::uint32_t off = i * std::uint32_t(p.mss) / 8;
        put16(h + p.l3 + 6, p.nseg == 1 ? frag0 : std::uint16_t((off & ip_offset) | (i + 1 < p.nseg ? ip_mf : 0)));
        put16(h + p.l3 + 10, 0);
        Csum ic;
        ic.add(h + p.l3, p.hdrs - p.l3);
        put16(h + p.l3 + 10, std::uint16_t(~ic.sum()));
        o.write(0, h, p.hdrs);
        j = o.finish();
    }
    if (csum) {
        std::uint16_t sum = std::uint16_t(~c.sum());
        if (sum == 0) sum = 0xffff; // UDP: 0 means "no checksum"
        const unsigned char b[2] = {std::uint8_t(sum >> 8), std::uint8_t(sum)};
        Out(d, j0, segment_len(p, 0)).write(std::uint32_t(p.hdrs) + 6, b, 2);
    }
    return j;
}

} // namespace

VnetHdr read_hdr(const unsigned char* p) noexcept {
    auto le16 = [p](int o) { return std::uint16_t(p[o] | p[o + 1] << 8); };
    return VnetHdr{p[0], p[1], le16(2), le16(4), le16(6), le16(8)};
}

void write_hdr(unsigned char* p, const VnetHdr& h) noexcept {
    auto le16 = [p](int o, std::uint16_t v) {
        p[o] = std::uint8_t(v);
        p[o + 1] = std::uint8_t(v >> 8);
    };
    p[0] = h.flags;
    p[1] = h.gso_type;
    le16(2, h.hdr_len);
    le16(4, h.gso_size);
    le16(6, h.csum_start);
    le16(8, h.csum_offset);
}

void Csum::add(const void* data, std::size_t n) noexcept {
    const auto* p = static_cast<const unsigned char*>(data);
    if (!n) return;
    // Native-order words: the sum is the same up to a byte swap (RFC 1071
    // 2(B)), undone in sum(). A byte at an odd position is a high byte.
    const bool little = std::endian::native == std::endian::little;
    if (odd_) {
        acc_ += little ? std::uint64_t(*p) << 8 : *p;
        p++;
        n--;
        odd_ = false;
    }
    std::uint64_t a = 0;
    for (; n >= 8; p += 8, n -= 8) {
        std::uint64_t w;
        std::memcpy(&w, p, 8);
        a += (w & 0xffffffffu) + (w >> 32);
    }
    for (; n >= 2; p += 2, n -= 2) {
        std::uint16_t w;
        std::memcpy(&w, p, 2);
        a += w;
    }
    if (n) {
        a += little ? *p : std::uint64_t(*p) << 8;
        odd_ = true;
    }
    acc_ += a;
    if (acc_ < a) acc_++; // end-around carry (not reached below 2^48 bytes)
}

std::uint16_t Csum::sum() const noexcept {
    std::uint64_t s = acc_;
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    const auto v = std::uint16_t(s);
    return std::endian::native == std::endian::little ? std::uint16_t(v << 8 | v >> 8) : v;
}

Verdict plan(const Frag* f, std::uint32_t n, std::uint32_t len, std::uint32_t hdr, Plan& p) noexcept {
    p = Plan{};
    p.hdr = std::uint8_t(hdr);
    if (!valid_hdr_len(hdr) || len < hdr + 14) return Verdict::malformed;
    p.len = len - hdr;
    if (hdr == 0) return Verdict::ok;
    unsigned char head[max_head];
    const std::uint32_t got = std::min(len, max_head);
    Reader(f, n).copy(got, head);
    const VnetHdr v = read_hdr(head);
    const unsigned char* e = head + hdr;
    const std::uint32_t avail = got - hdr; // frame bytes in `head`
    const std::uint8_t gso = v.gso_type & std::uint8_t(~GSO_ECN);
    const bool needs_csum = v.flags & F_NEEDS_CSUM;
    if (gso == GSO_NONE) {
        if (!needs_csum) return Verdict::ok;
        // As skb_partial_csum_set(): the field lies inside the frame.
        if (std::uint32_t(v.csum_start) + v.csum_offset + 2 > p.len) return Verdict::malformed;
        p.kind = Plan::csum;
        p.csum_start = v.csum_start;
        p.csum_offset = v.csum_offset;
        return Verdict::ok;
    }
    if (gso != GSO_TCPV4 && gso != GSO_TCPV6 && gso != GSO_UDP_L4 && gso != GSO_UDP) return Verdict::unsupported;
    if (v.gso_size == 0) return Verdict::malformed;
    // Ethernet, up to two VLAN tags.
    std::uint32_t l3 = 14;
    std::uint16_t type = be16(e + 12);
    for (int tags = 0; (type == 0x8100 || type == 0x88a8) && tags < 2; tags++) {
        if (avail < l3 + 4) return Verdict::malformed;
        type = be16(e + l3 + 2);
        l3 += 4;
    }
    std::uint32_t l4;
    std::uint8_t proto;
    bool v4;
    if (type == 0x0800) {
        if (avail < l3 + 20 || (e[l3] >> 4) != 4 || (e[l3] & 15) < 5) return Verdict::malformed;
        l4 = l3 + (e[l3] & 15) * 4u;
        proto = e[l3 + 9];
        if (be16(e + l3 + 6) & (ip_mf | ip_offset)) return Verdict::malformed; // a fragment already
        if (gso == GSO_UDP && l4 != l3 + 20) return Verdict::unsupported;    // UFO with IPv4 options
        v4 = true;
    } else if (type == 0x86dd) {
        if (avail < l3 + 40 || (e[l3] >> 4) != 6) return Verdict::malformed;
        l4 = l3 + 40;
        proto = e[l3 + 6];
        if (proto != ip_tcp && proto != ip_udp) return Verdict::unsupported; // extension headers
        if (gso == GSO_UDP) return Verdict::unsupported;                     // UFO over IPv6
        v4 = false;
    } else {
        return Verdict::malformed;
    }
    if ((gso == GSO_TCPV4 && (!v4 || proto != ip_tcp)) || (gso == GSO_TCPV6 && (v4 || proto != ip_tcp)) ||
        ((gso == GSO_UDP_L4 || gso == GSO_UDP) && proto != ip_udp))
        return Verdict::malformed;
    std::uint32_t hdrs;
    if (proto == ip_tcp) {
        if (avail < l4 + 20 || (e[l4 + 12] >> 4) < 5) return Verdict::malformed;
        hdrs = l4 + (e[l4 + 12] >> 4) * 4u;
    } else {
        hdrs = l4 + 8;
    }
    if (hdrs > avail || hdrs > p.len) return Verdict::malformed;
    if (needs_csum && v.csum_start != l4) return Verdict::malformed; // the checksum is not where the headers say
    p.l3 = std::uint16_t(l3);
    p.l4 = std::uint16_t(l4);
    if (gso == GSO_UDP) {
        // Fragments of gso_size bytes of the datagram (UDP header included),
        // rounded down to the 8-byte unit of the fragment offset.
        if (v.gso_size < 8 || p.len - l3 > 0xffff) return Verdict::malformed;
        p.kind = Plan::frag4;
        p.csum_start = needs_csum ? std::uint16_t(l4) : 0;
        p.hdrs = std::uint16_t(l4);
        p.mss = std::uint16_t(v.gso_size & ~7u);
        p.nseg = (p.len - l4 + p.mss - 1) / p.mss; // hdrs <= p.len: at least the UDP header
        return Verdict::ok;
    }
    p.kind = proto == ip_tcp ? (v4 ? Plan::tcp4 : Plan::tcp6) : (v4 ? Plan::udp4 : Plan::udp6);
    p.hdrs = std::uint16_t(hdrs);
    p.mss = v.gso_size;
    const std::uint32_t payload = p.len - hdrs;
    p.nseg = payload ? (payload + p.mss - 1) / p.mss : 1;
    return Verdict::ok;
}

std::uint32_t slots(const Plan& p, std::uint32_t dst_hdr, std::uint32_t dbs) noexcept {
    if (dst_hdr || p.kind == Plan::strip || p.kind == Plan::csum) return chain_slots(p.len + dst_hdr, dbs);
    const std::uint32_t last = segment_len(p, p.nseg - 1);
    return (p.nseg - 1) * chain_slots(std::uint32_t(p.hdrs) + p.mss, dbs) + chain_slots(last, dbs);
}

std::uint32_t emit(const Plan& p, const Frag* f, std::uint32_t n, std::uint32_t dst_hdr, const Dest& d,
                   std::uint32_t j) noexcept {
    if (dst_hdr || p.kind == Plan::strip || p.kind == Plan::csum) {
        Out o(d, j, p.len + dst_hdr);
        if (dst_hdr) {
            unsigned char h[hdr_len_mrg];
            converted_hdr(p, f, n, dst_hdr, h);
            o.write(0, h, dst_hdr);
        }
        Reader r(f, n);
        r.skip(p.hdr);
        std::uint32_t at = dst_hdr;
        r.take(p.len, [&](const char* s, std::uint32_t k) {
            o.write(at, s, k);
            at += k;
        });
        if (!dst_hdr && p.kind == Plan::csum) { // as skb_checksum_help()
            Csum c;
            o.sum(p.csum_start, p.len - p.csum_start, c);
            std::uint16_t sum = std::uint16_t(~c.sum());
            if (sum == 0) sum = 0xffff; // CSUM_MANGLED_0
            const unsigned char b[2] = {std::uint8_t(sum >> 8), std::uint8_t(sum)};
            o.write(std::uint32_t(p.csum_start) + p.csum_offset, b, 2);
        }
        return o.finish();
    }
    return p.kind == Plan::frag4 ? emit_fragments(p, f, n, d, j) : emit_segments(p, f, n, d, j);
}

} // namespace upio::vale::offload
