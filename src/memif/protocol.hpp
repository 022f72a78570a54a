// The memif wire format: control messages and the shared ring layout.
//
// memif (the shared-memory packet interface of DPDK's net_memif and FD.io's
// libmemif) connects a CLIENT and a SERVER over an AF_UNIX SOCK_SEQPACKET
// socket. Every control message is exactly 128 bytes: a u16 type, then the
// type's body; region memfds and ring eventfds travel as SCM_RIGHTS.
//
//   server                      client
//   HELLO  ------------------->            versions, limits
//          <------------------- INIT       version, interface id, secret
//   ACK    ------------------->
//          <------------------- ADD_REGION index, size     + memfd
//   ACK    ------------------->            (once per region)
//          <------------------- ADD_RING   dir, index, region, offset,
//   ACK    ------------------->            log2 size       + eventfd
//          <------------------- CONNECT    (once per ring, then CONNECT)
//   CONNECTED ---------------->
//   DISCONNECT <-------------->            either side, any time: code, reason
//
// The client creates every region and eventfd. A region starts with the
// rings; a ring is a 128-byte header and 2^n descriptors:
//
//   +0   u32 cookie (0x3E31F20)  u16 flags (MASK_INT)  u16 head   (cache line 0)
//   +64  u16 tail                                                 (cache line 1)
//   +128 desc[2^n]: u16 flags (NEXT)  u16 region  u32 length  u32 offset  u32 metadata
//
// Indices run free (u16) and are masked with 2^n - 1. On both rings the
// client writes head and the server writes tail:
//   C2S (client -> server): the client fills [tail, head) and advances head;
//       the server consumes and advances tail.
//   S2C (server -> client): the client offers empty buffers in [tail, head)
//       (length = their capacity) and advances head; the server fills them,
//       sets each length, and advances tail.
// A receiver that polls sets MASK_INT in its ring's flags; while it is
// clear, the sender writes the ring's eventfd after publishing.
//
// Everything here is what the peer wrote: decode() checks every field a
// message can carry on its own (sizes, versions, flags, string bounds, the
// descriptors that come with it); what depends on the session (region and
// ring indices against what was announced) is checked by the handshake.
#pragma once

#include <upio/error.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace upio::memif {

inline constexpr std::uint16_t version = 0x0200; // 2.0: major << 8 | minor
inline constexpr std::uint32_t ring_cookie = 0x3E31F20;
inline constexpr std::size_t msg_size = 128;
inline constexpr std::size_t name_size = 32;
inline constexpr std::size_t secret_size = 24;
inline constexpr std::size_t reason_size = 96;
// Limits this implementation announces and enforces.
inline constexpr std::uint32_t max_regions = 256;      // DPDK's zero-copy client may send one per memseg list
inline constexpr std::uint32_t max_log2_ring_size = 14; // 16384 descriptors
inline constexpr std::uint64_t max_region_bytes = std::uint64_t(1) << 36;

enum class MsgType : std::uint16_t {
    none = 0,
    ack = 1,
    hello = 2,
    init = 3,
    add_region = 4,
    add_ring = 5,
    connect = 6,
    connected = 7,
    disconnect = 8,
};
const char* type_name(MsgType t) noexcept;

inline constexpr std::uint16_t ring_flag_c2s = 1;  // ADD_RING flags: the ring carries client -> server
inline constexpr std::uint16_t desc_flag_next = 1; // descriptor: the frame continues in the next one
inline constexpr std::uint16_t ring_flag_mask_int = 1; // ring flags: the receiver polls, no eventfd writes

struct Hello {
    std::string name; // the server's application name (display only)
    std::uint16_t min_version = version, max_version = version;
    std::uint16_t max_region = 0;   // highest region index accepted
    std::uint16_t max_s2c_ring = 0; // highest ring index accepted, per direction
    std::uint16_t max_c2s_ring = 0;
    std::uint8_t max_log2_ring_size = 0;
};
struct Init {
    std::uint16_t version = memif::version;
    std::uint32_t id = 0;
    std::uint8_t mode = 0; // 0: ethernet (the only mode upio speaks)
    std::string secret;    // at most secret_size bytes
    std::string name;
};
struct AddRegion {
    std::uint16_t index = 0;
    std::uint64_t size = 0;
};
struct AddRing {
    std::uint16_t flags = 0; // ring_flag_c2s
    std::uint16_t index = 0;
    std::uint16_t region = 0;
    std::uint32_t offset = 0;
    std::uint8_t log2_size = 0;
    std::uint16_t private_hdr_size = 0;
    bool c2s() const noexcept { return flags & ring_flag_c2s; }
};
struct Disconnect {
    std::uint32_t code = 0;
    std::string reason;
};

// One control message. Only the member of `type` is meaningful; `if_name`
// is CONNECT's or CONNECTED's.
struct Message {
    MsgType type = MsgType::none;
    Hello hello;
    Init init;
    AddRegion add_region;
    AddRing add_ring;
    std::string if_name;
    Disconnect disconnect;
};

// How many descriptors a message of `t` must carry (ADD_REGION and ADD_RING
// one, the others none).
unsigned fds_expected(MsgType t) noexcept;

using Wire = std::array<std::uint8_t, msg_size>;
// The 128 bytes of `m` (strings cut to their field, NUL-padded).
Wire encode(const Message& m);
// Parses and checks one received message of `bytes` with `nfds` descriptors
// attached. Refuses a size other than 128, an unknown type, a wrong number
// of descriptors, HELLO with min > max, INIT of a mode other than ethernet,
// ADD_REGION of size 0 or above max_region_bytes, ADD_RING with unknown
// flags, a log2 size of 0 or above max_log2_ring_size, or a private header;
// strings stop at their field's end, bytes that are not printable ASCII
// become '?'. The error says which field is wrong (it becomes the reason of
// our DISCONNECT). Pure: any input.
Result<Message> decode(std::span<const std::uint8_t> bytes, unsigned nfds);

// -- the shared ring layout

struct Desc {
    std::uint16_t flags;
    std::uint16_t region;
    std::uint32_t length;
    std::uint32_t offset;
    std::uint32_t metadata;
};
static_assert(sizeof(Desc) == 16);

struct RingHeader {
    std::uint32_t cookie;
    std::uint16_t flags;
    std::uint16_t head; // written by the client
    std::uint8_t pad0[56];
    std::uint16_t tail; // written by the server
    std::uint8_t pad1[62];
};
static_assert(sizeof(RingHeader) == 128);
static_assert(offsetof(RingHeader, head) == 6);
static_assert(offsetof(RingHeader, tail) == 64);

inline std::uint64_t ring_bytes(unsigned log2_size) noexcept {
    return sizeof(RingHeader) + (std::uint64_t(sizeof(Desc)) << log2_size);
}

// -- the socket

// Sends one message, with `fd` attached when >= 0. Control path.
Status send_msg(int sock, const Message& m, int fd = -1);

// One received message and the descriptor that came with it (-1: none).
struct Received {
    Message msg;
    int fd = -1; // owned by the caller
};
// Receives one message; EOF and errors are errors (ECONNRESET for EOF). Any
// descriptor that came with a refused message is closed here, so a peer
// cannot make upio leak descriptors; so is every descriptor past the first.
Result<Received> recv_msg(int sock);

} // namespace upio::memif
