// Virtio-net headers on VALE ports: what the switch does between a port
// whose frames start with a header and one whose frames do not.
//
// A port with a header (Port::set_vnet_hdr_len: 10 bytes, struct
// virtio_net_hdr, or 12, virtio_net_hdr_mrg_rxbuf) carries the kernel's
// offload metadata with every frame: "the checksum from csum_start on is
// still to be completed" (NEEDS_CSUM) and "this is a TCP/UDP segment of up
// to 64 KiB to be cut into gso_size pieces" (gso_type, gso_size), or "this
// UDP datagram goes out as IPv4 fragments of gso_size bytes" (UFO). Between
// two such ports the header and the frame pass together (the header
// converted when the lengths differ). Toward a port without a header -- a
// pipe, a NIC, a plain application -- the switch does what the hardware
// would have done:
//
//   plan()   reads and checks the header and the frame's Ethernet, IPv4/IPv6
//            and TCP/UDP headers once, in the sender's pass 1; a frame whose
//            header lies (gso_size 0, csum_start or the headers beyond the
//            frame, an unknown gso_type) is dropped there and counted.
//   slots()  how many destination slots the output takes (every segment is
//            a frame of its own, a chain where it is longer than a buffer).
//   emit()   writes the output into the reserved slots: the segments with
//            their headers rewritten as Linux's GSO does (IPv4 total length,
//            id + i and header checksum; IPv6 payload length; TCP sequence
//            number + i * gso_size, FIN and PSH on the last segment only, CWR
//            on the first only; UDP length) and every TCP/UDP checksum
//            completed; or a UFO datagram's IPv4 fragments, as Linux's
//            udp4_ufo_fragment() and inet_gso_segment() write them (with
//            NEEDS_CSUM the UDP checksum over the whole datagram in the
//            first; every fragment with the datagram's IPv4 header and id,
//            its fragment offset, MF on all but the last and DF clear, its
//            total length and header checksum; the UDP length the
//            datagram's; one fragment alone is the datagram, DF kept); or
//            the frame with its checksum completed as skb_checksum_help()
//            completes it.
//
// UFO: gso_size counts the fragment's IP payload (the UDP header included,
// as Linux's virtio_net_hdr_to_skb() takes it) and is rounded down to a
// multiple of 8, the unit of the fragment offset; Linux's own senders only
// ever give such a size (ip_ufo_append_data()), its software UFO does not
// round and would write wrong offsets for another. An IPv4 header with
// options (some to be copied into every fragment, some into the first only,
// RFC 791) and UFO over IPv6 (a fragment header to insert, an
// identification to choose) are refused as unsupported.
//
// emit() uses the plan's lengths and offsets only, never re-reads them from
// the frame: the sender may rewrite its buffers between the passes, which
// then spoils its own checksums but never makes the switch write more slots
// than it reserved or read outside the fragments.
//
// A destination that could finish the work itself (a NIC with TSO and
// checksum offload) would say so with a header of its own: it then gets the
// header and the whole frame, as a header port does.
#pragma once

#include <upio/netmap.h>

#include <cstddef>
#include <cstdint>

namespace upio::vale::offload {

// struct virtio_net_hdr (virtio 1.x, little-endian), as Linux's
// include/uapi/linux/virtio_net.h.
inline constexpr std::uint8_t F_NEEDS_CSUM = 1;
inline constexpr std::uint8_t F_DATA_VALID = 2;
inline constexpr std::uint8_t GSO_NONE = 0;
inline constexpr std::uint8_t GSO_TCPV4 = 1;
inline constexpr std::uint8_t GSO_UDP = 3; // UFO: IPv4 fragmentation (IPv6: not supported, dropped)
inline constexpr std::uint8_t GSO_TCPV6 = 4;
inline constexpr std::uint8_t GSO_UDP_L4 = 5;
inline constexpr std::uint8_t GSO_ECN = 0x80;
inline constexpr std::uint32_t hdr_len_plain = 10; // virtio_net_hdr
inline constexpr std::uint32_t hdr_len_mrg = 12;   // virtio_net_hdr_mrg_rxbuf (num_buffers)

constexpr bool valid_hdr_len(std::uint32_t n) noexcept { return n == 0 || n == hdr_len_plain || n == hdr_len_mrg; }

struct VnetHdr {
    std::uint8_t flags = 0, gso_type = 0;
    std::uint16_t hdr_len = 0, gso_size = 0, csum_start = 0, csum_offset = 0;
};
VnetHdr read_hdr(const unsigned char* p) noexcept;   // 10 bytes, little-endian
void write_hdr(unsigned char* p, const VnetHdr& h) noexcept;

// One piece of a frame as the sender's slots hold it.
struct Frag {
    const char* buf;
    std::uint32_t len;
};

// What the switch does with one frame from a port with a `hdr` byte header
// on its way to a port without one. Offsets count from the frame's first
// byte after the header.
struct Plan {
    enum Kind : std::uint8_t {
        strip, // nothing to complete: the frame without its header
        csum,  // complete the checksum at csum_start + csum_offset
        tcp4, tcp6, udp4, udp6, // segment
        frag4, // UFO: IPv4 fragments of the UDP datagram from l4 on
    };
    std::uint8_t kind = strip;
    std::uint8_t hdr = 0;       // the source's header length (0, 10 or 12)
    std::uint16_t csum_start = 0, csum_offset = 0; // frag4: csum_start is l4 if NEEDS_CSUM, else 0
    std::uint16_t l3 = 0, l4 = 0; // network and transport header offsets
    std::uint16_t hdrs = 0;       // every header, up to the payload (frag4: up to l4, the UDP header is payload)
    std::uint16_t mss = 0;        // payload bytes per segment (frag4: per fragment, a multiple of 8)
    std::uint32_t len = 0;        // frame bytes after the header
    std::uint32_t nseg = 1;       // segments (1 unless kind is tcp*/udp*/frag4)
};

enum class Verdict : std::uint8_t { ok, malformed, unsupported };

// Reads the header (`hdr` bytes) and the frame's headers from `n` fragments
// of `len` bytes in all; fills `p`. Never reads outside the fragments.
Verdict plan(const Frag* f, std::uint32_t n, std::uint32_t len, std::uint32_t hdr, Plan& p) noexcept;

// Destination slots the output of a frame takes in buffers of `dbs` bytes,
// toward a port with a `dst_hdr` byte header (conversions from a port
// without a header, or between 10 and 12 bytes, are header rewrites: the
// plan is then of kind strip with `hdr` the source's length); 0 when the
// output cannot be written (the headers do not fit one destination buffer).
std::uint32_t slots(const Plan& p, std::uint32_t dst_hdr, std::uint32_t dbs) noexcept;

// Where emit() writes: a ring's slots and the buffer of a slot.
struct Dest {
    netmap_slot* slot;
    std::uint32_t num_slots;
    std::uint32_t buf_size;
    char* (*buf)(const void* ctx, const netmap_slot& s) noexcept;
    const void* ctx;
};

// Writes the output of a frame (`slots(p, dst_hdr, d.buf_size)` slots from
// `j` on, which the caller reserved) and returns the slot after it.
std::uint32_t emit(const Plan& p, const Frag* f, std::uint32_t n, std::uint32_t dst_hdr, const Dest& d,
                   std::uint32_t j) noexcept;

// The Internet checksum (RFC 1071) over spans of any length and alignment.
class Csum {
public:
    void add(const void* data, std::size_t n) noexcept;
    // The 16-bit one's complement sum of what was added, as a host number
    // whose high byte goes first on the wire.
    std::uint16_t sum() const noexcept;

private:
    std::uint64_t acc_ = 0; // native-order 16-bit words
    bool odd_ = false;      // an odd number of bytes so far
};

} // namespace upio::vale::offload
