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

constexpr std::size_t eth_hlen = 14, ip_hlen = 20, udp_hlen = 8;
constexpr std::size_t headers = eth_hlen + ip_hlen + udp_hlen; // 42
constexpr std::size_t min_frame = 60, max_frame = 9018;

// Builds a frame of spec.size bytes (payload: a byte pattern).
std::vector<std::uint8_t> build_frame(const FrameSpec& spec);
// Internet checksum (RFC 1071) of `data`, folded, not inverted.
std::uint16_t csum_fold(std::span<const std::uint8_t> data, std::uint32_t sum = 0);
// True when the frame is Ethernet/IPv4/UDP with valid IP and UDP checksums.
bool verify_frame(std::span<const std::uint8_t> frame);

bool parse_mac(std::string_view s, Mac& out);
bool parse_ipv4(std::string_view s, std::uint32_t& out);

} // namespace pktgen
