// pkt-gen frames: Ethernet + IPv4 + UDP with correct checksums.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pktgen {

using Mac = std::array<std::uint8_t, 6>;

struct FrameSpec {
    Mac src_mac{0x02, 0, 0, 0, 0, 1};
    Mac dst_mac{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    std::uint32_t src_ip = 0x0a000001; // 10.0.0.1
    std::uint32_t dst_ip = 0x0a010001; // 10.1.0.1
    std::uint16_t src_port = 1234;
    std::uint16_t dst_port = 4321;
    std::size_t size = 60; // frame length without the FCS, >= 42
};

// An inclusive range of values, walked in order or at random (-s/-d/-l/-z/-Z).
struct Range {
    std::uint32_t lo = 0, hi = 0;
    bool random = false;
    std::uint32_t pick(std::uint64_t n, std::uint64_t& rng) const noexcept {
        if (lo == hi) return lo;
        std::uint64_t span = std::uint64_t(hi) - lo + 1;
        if (!random) return lo + std::uint32_t(n % span);
        rng ^= rng << 13; // xorshift64
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return lo + std::uint32_t(rng % span);
    }
};

// What a sender varies per packet.
struct Variation {
    Range src_ip, dst_ip, src_port, dst_port, size;
    bool any() const noexcept {
        return src_ip.lo != src_ip.hi || dst_ip.lo != dst_ip.hi || src_port.lo != src_port.hi ||
               dst_port.lo != dst_port.hi || size.lo != size.hi;
    }
};

// Payload layout of sequenced and timed frames, right after the UDP header:
// the sequence number (8 bytes), the send time (8 bytes, CLOCK_MONOTONIC ns)
// and the tag of the clock that time is on (2 bytes, clock_tag()).
constexpr std::size_t seq_offset = 42, stamp_offset = 50, clock_offset = 58;

// Which CLOCK_MONOTONIC a stamp is on: a hash of the kernel's boot id, never
// 0 (0: no stamp). Processes on one host (one boot) share the clock and the
// tag; a frame from another host carries another tag, and its stamp means
// nothing here.
std::uint16_t clock_tag() noexcept;

// Writes a whole frame of `size` bytes into `buf` (headers, pattern, the
// sequence number and time stamp when asked, with the stamp this host's
// clock tag, checksums). Returns its length.
std::uint16_t write_frame(std::uint8_t* buf, const FrameSpec& spec, std::size_t size, const std::uint64_t* seq,
                          const std::uint64_t* stamp);
// Turns a received frame around (MACs, IPs and ports swapped); checksums stay valid.
void swap_addresses(std::uint8_t* frame) noexcept;
std::uint64_t frame_seq(const std::uint8_t* frame) noexcept;
std::uint64_t frame_stamp(const std::uint8_t* frame) noexcept;
// The clock tag of a frame of at least clock_offset + 2 bytes (0: none).
std::uint16_t frame_clock(const std::uint8_t* frame) noexcept;

constexpr std::size_t eth_hlen = 14, ip_hlen = 20, udp_hlen = 8;
constexpr std::size_t headers = eth_hlen + ip_hlen + udp_hlen; // 42
constexpr std::size_t min_frame = 60, max_frame = 9018;
static_assert(clock_offset + 2 <= min_frame, "every frame has room for the stamp and its clock tag");

// Builds a frame of spec.size bytes (payload: a byte pattern).
std::vector<std::uint8_t> build_frame(const FrameSpec& spec);
// Internet checksum (RFC 1071) of `data`, folded, not inverted.
std::uint16_t csum_fold(std::span<const std::uint8_t> data, std::uint32_t sum = 0);
// True when the frame is Ethernet/IPv4/UDP with valid IP and UDP checksums.
bool verify_frame(std::span<const std::uint8_t> frame);

bool parse_mac(std::string_view s, Mac& out);
bool parse_ipv4(std::string_view s, std::uint32_t& out);
// "10.0.0.1", "10.0.0.1-10.0.0.9", with an optional ":PORT" or ":LO-HI"; or
// netmap's "10.0.0.1:1000-10.0.0.9:1999" (ports: the first end's when the
// second has none).
bool parse_ip_range(std::string_view s, Range& ip, Range& port);

} // namespace pktgen
