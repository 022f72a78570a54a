#include "frame.hpp"

#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstring>

namespace pktgen {
namespace {

void put16(std::uint8_t* p, std::uint16_t v) {
    p[0] = std::uint8_t(v >> 8);
    p[1] = std::uint8_t(v);
}
void put32(std::uint8_t* p, std::uint32_t v) {
    put16(p, std::uint16_t(v >> 16));
    put16(p + 2, std::uint16_t(v));
}
std::uint16_t get16(const std::uint8_t* p) { return std::uint16_t(p[0] << 8 | p[1]); }

std::uint32_t pseudo_header_sum(const std::uint8_t* ip, std::uint16_t udp_len) {
    std::uint32_t sum = 0;
    for (int i = 12; i < 20; i += 2) sum += get16(ip + i); // source and destination addresses
    return sum + 17 + udp_len;                             // protocol UDP, UDP length
}

} // namespace

std::uint16_t csum_fold(std::span<const std::uint8_t> d, std::uint32_t sum) {
    std::size_t i = 0;
    for (; i + 1 < d.size(); i += 2) sum += get16(&d[i]);
    if (i < d.size()) sum += std::uint32_t(d[i]) << 8;
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return std::uint16_t(sum);
}

std::vector<std::uint8_t> build_frame(const FrameSpec& s) {
    std::size_t size = s.size < min_frame ? min_frame : s.size;
    std::vector<std::uint8_t> f(size, 0);
    write_frame(f.data(), s, size, nullptr, nullptr);
    return f;
}

std::uint16_t write_frame(std::uint8_t* p, const FrameSpec& s, std::size_t size, const std::uint64_t* seq,
                          const std::uint64_t* stamp) {
    if (size < min_frame) size = min_frame;
    std::memset(p + 12, 0, headers - 12);
    std::memcpy(p, s.dst_mac.data(), 6);
    std::memcpy(p + 6, s.src_mac.data(), 6);
    put16(p + 12, 0x0800);
    std::uint8_t* ip = p + eth_hlen;
    const auto ip_len = std::uint16_t(size - eth_hlen);
    ip[0] = 0x45; // version 4, 5 words
    put16(ip + 2, ip_len);
    put16(ip + 6, 0x4000); // don't fragment
    ip[8] = 64;            // TTL
    ip[9] = 17;            // UDP
    put32(ip + 12, s.src_ip);
    put32(ip + 16, s.dst_ip);
    put16(ip + 10, std::uint16_t(~csum_fold({ip, ip_hlen})));
    std::uint8_t* udp = ip + ip_hlen;
    const auto udp_len = std::uint16_t(ip_len - ip_hlen);
    put16(udp, s.src_port);
    put16(udp + 2, s.dst_port);
    put16(udp + 4, udp_len);
    for (std::size_t i = headers; i < size; i++) p[i] = std::uint8_t('a' + (i - headers) % 26);
    if (seq) std::memcpy(p + seq_offset, seq, 8);
    if (stamp) {
        std::memcpy(p + stamp_offset, stamp, 8);
        static const std::uint16_t tag = clock_tag();
        std::memcpy(p + clock_offset, &tag, 2); // size >= min_frame = clock_offset + 2
    }
    std::uint16_t c = std::uint16_t(~csum_fold({udp, udp_len}, pseudo_header_sum(ip, udp_len)));
    put16(udp + 6, c == 0 ? 0xffff : c);
    return std::uint16_t(size);
}

void swap_addresses(std::uint8_t* f) noexcept {
    std::uint8_t t[6];
    std::memcpy(t, f, 6);
    std::memcpy(f, f + 6, 6);
    std::memcpy(f + 6, t, 6);
    std::uint8_t* ip = f + eth_hlen;
    std::memcpy(t, ip + 12, 4);
    std::memcpy(ip + 12, ip + 16, 4);
    std::memcpy(ip + 16, t, 4);
    std::uint8_t* udp = ip + ip_hlen;
    std::memcpy(t, udp, 2);
    std::memcpy(udp, udp + 2, 2);
    std::memcpy(udp + 2, t, 2);
}

std::uint64_t frame_seq(const std::uint8_t* f) noexcept {
    std::uint64_t v;
    std::memcpy(&v, f + seq_offset, 8);
    return v;
}

std::uint16_t frame_clock(const std::uint8_t* f) noexcept {
    std::uint16_t v;
    std::memcpy(&v, f + clock_offset, 2);
    return v;
}

std::uint16_t clock_tag() noexcept {
    // FNV-1a over the boot id; the host name when /proc has none.
    char id[64] = {};
    if (std::FILE* f = std::fopen("/proc/sys/kernel/random/boot_id", "r")) {
        if (!std::fgets(id, sizeof id, f)) id[0] = 0;
        std::fclose(f);
    }
    if (!id[0]) ::gethostname(id, sizeof id - 1);
    std::uint32_t h = 2166136261u;
    for (const char* c = id; *c; c++) h = (h ^ std::uint8_t(*c)) * 16777619u;
    const auto tag = std::uint16_t(h ^ (h >> 16));
    return tag ? tag : 1;
}

std::uint64_t frame_stamp(const std::uint8_t* f) noexcept {
    std::uint64_t v;
    std::memcpy(&v, f + stamp_offset, 8);
    return v;
}

bool verify_frame(std::span<const std::uint8_t> f) {
    if (f.size() < headers || get16(&f[12]) != 0x0800) return false;
    const std::uint8_t* ip = &f[eth_hlen];
    if (ip[0] != 0x45 || ip[9] != 17) return false;
    const std::uint16_t ip_len = get16(ip + 2);
    if (ip_len < ip_hlen + udp_hlen || eth_hlen + ip_len > f.size()) return false;
    if (csum_fold({ip, ip_hlen}) != 0xffff) return false;
    const std::uint8_t* udp = ip + ip_hlen;
    const std::uint16_t udp_len = get16(udp + 4);
    if (udp_len != ip_len - ip_hlen) return false;
    return get16(udp + 6) == 0 || csum_fold({udp, udp_len}, pseudo_header_sum(ip, udp_len)) == 0xffff;
}

bool parse_ip_range(std::string_view s, Range& ip, Range& port) {
    // netmap's form, IP:PORT-IP[:PORT]: each end of the range whole
    if (auto dash = s.find('-'); dash != std::string_view::npos) {
        const std::string_view a = s.substr(0, dash), b = s.substr(dash + 1);
        if (a.find(':') != std::string_view::npos && b.find('.') != std::string_view::npos) {
            const auto bc = b.find(':');
            Range ip_a, port_a, ip_b, port_b;
            if (!parse_ip_range(a, ip_a, port_a) || !parse_ip_range(b.substr(0, bc), ip_b, port_b)) return false;
            std::uint32_t port_hi = port_a.lo;
            if (bc != std::string_view::npos) {
                const std::string_view ps = b.substr(bc + 1);
                auto r = std::from_chars(ps.data(), ps.data() + ps.size(), port_hi);
                if (r.ec != std::errc() || r.ptr != ps.data() + ps.size() || port_hi > 65535) return false;
            }
            if (ip_b.lo < ip_a.lo || port_hi < port_a.lo) return false;
            ip.lo = ip_a.lo;
            ip.hi = ip_b.lo;
            port.lo = port_a.lo;
            port.hi = port_hi;
            return true;
        }
    }
    auto colon = s.find(':');
    std::string_view ips = s.substr(0, colon);
    auto dash = ips.find('-');
    std::uint32_t lo, hi;
    if (!parse_ipv4(ips.substr(0, dash), lo)) return false;
    hi = lo;
    if (dash != std::string_view::npos && !parse_ipv4(ips.substr(dash + 1), hi)) return false;
    if (hi < lo) return false;
    ip.lo = lo;
    ip.hi = hi;
    if (colon == std::string_view::npos) return true;
    std::string_view ps = s.substr(colon + 1);
    auto pd = ps.find('-');
    auto num = [](std::string_view v, std::uint32_t& out) {
        auto r = std::from_chars(v.data(), v.data() + v.size(), out);
        return r.ec == std::errc() && r.ptr == v.data() + v.size() && out <= 65535;
    };
    if (!num(ps.substr(0, pd), lo)) return false;
    hi = lo;
    if (pd != std::string_view::npos && !num(ps.substr(pd + 1), hi)) return false;
    if (hi < lo) return false;
    port.lo = lo;
    port.hi = hi;
    return true;
}

bool parse_mac(std::string_view s, Mac& out) {
    Mac m{};
    for (int i = 0; i < 6; i++) {
        if (s.size() < 2) return false;
        unsigned v = 0;
        auto r = std::from_chars(s.data(), s.data() + 2, v, 16);
        if (r.ec != std::errc() || r.ptr != s.data() + 2) return false;
        m[std::size_t(i)] = std::uint8_t(v);
        s.remove_prefix(2);
        if (i < 5) {
            if (s.empty() || s[0] != ':') return false;
            s.remove_prefix(1);
        }
    }
    if (!s.empty()) return false;
    out = m;
    return true;
}

bool parse_ipv4(std::string_view s, std::uint32_t& out) {
    std::uint32_t a = 0;
    for (int i = 0; i < 4; i++) {
        unsigned v = 0;
        auto r = std::from_chars(s.data(), s.data() + s.size(), v);
        if (r.ec != std::errc() || v > 255) return false;
        a = a << 8 | v;
        s.remove_prefix(std::size_t(r.ptr - s.data()));
        if (i < 3) {
            if (s.empty() || s[0] != '.') return false;
            s.remove_prefix(1);
        }
    }
    if (!s.empty()) return false;
    out = a;
    return true;
}

} // namespace pktgen
