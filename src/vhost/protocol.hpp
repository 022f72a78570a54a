// The wire formats a vhost-user back end shares with its front end: the
// messages of QEMU's docs/interop/vhost-user.rst, and the split virtqueue and
// virtio_net_hdr of the virtio 1.x specification (sections 2.7, 5.1.6).
//
// Everything here lives in memory or arrives on a socket that the front end
// writes: read each field once, check it, then use the copy.
#pragma once

#include <cstddef>
#include <cstdint>

namespace upio::vhost {

// -- messages (vhost-user.rst, "Message types")
enum class Req : std::uint32_t {
    get_features = 1,
    set_features = 2,
    set_owner = 3,
    reset_owner = 4,
    set_mem_table = 5,
    set_log_base = 6,
    set_log_fd = 7,
    set_vring_num = 8,
    set_vring_addr = 9,
    set_vring_base = 10,
    get_vring_base = 11,
    set_vring_kick = 12,
    set_vring_call = 13,
    set_vring_err = 14,
    get_protocol_features = 15,
    set_protocol_features = 16,
    get_queue_num = 17,
    set_vring_enable = 18,
    send_rarp = 19,
    net_set_mtu = 20,
};

// Header: request, flags, payload size; all little-endian (x86 only here).
struct MsgHeader {
    std::uint32_t request;
    std::uint32_t flags;
    std::uint32_t size;
};
static_assert(sizeof(MsgHeader) == 12);

inline constexpr std::uint32_t msg_version = 0x1;      // flags bits 0-1
inline constexpr std::uint32_t msg_version_mask = 0x3;
inline constexpr std::uint32_t msg_reply = 1u << 2;      // a back end's answer
inline constexpr std::uint32_t msg_need_reply = 1u << 3; // REPLY_ACK asked for

// Payload of SET/GET_VRING_NUM, _BASE, _ENABLE.
struct VringState {
    std::uint32_t index;
    std::uint32_t num;
};
static_assert(sizeof(VringState) == 8);

// Payload of SET_VRING_ADDR: the front end's own (user) addresses.
struct VringAddr {
    std::uint32_t index;
    std::uint32_t flags; // bit 0: log (VHOST_VRING_F_LOG)
    std::uint64_t desc;
    std::uint64_t used;
    std::uint64_t avail;
    std::uint64_t log;
};
static_assert(sizeof(VringAddr) == 40);

// One region of SET_MEM_TABLE; its fd arrives in SCM_RIGHTS, in order.
struct MemRegionMsg {
    std::uint64_t guest_addr;  // guest physical address
    std::uint64_t size;
    std::uint64_t user_addr;   // the front end's virtual address of guest_addr
    std::uint64_t mmap_offset; // where guest_addr starts in the fd
};
static_assert(sizeof(MemRegionMsg) == 32);

inline constexpr std::uint32_t max_mem_regions = 8; // VHOST_MEMORY_BASELINE_NREGIONS
struct MemTableMsg {
    std::uint32_t nregions;
    std::uint32_t padding;
    MemRegionMsg regions[max_mem_regions];
};
static_assert(sizeof(MemTableMsg) == 8 + 8 * 32);
static_assert(offsetof(MemTableMsg, regions) == 8);

// SET_VRING_KICK/CALL/ERR: u64 payload, queue index in bits 0-7, bit 8 set
// when no fd is sent (the back end polls; the front end polls).
inline constexpr std::uint64_t vring_index_mask = 0xff;
inline constexpr std::uint64_t vring_nofd = 1u << 8;

inline constexpr std::size_t max_payload = sizeof(MemTableMsg);
inline constexpr std::size_t max_fds = max_mem_regions;

// -- feature bits (virtio 1.x section 6, 5.1.3; vhost-user.rst)
inline constexpr unsigned VIRTIO_NET_F_MRG_RXBUF = 15;
inline constexpr unsigned VIRTIO_NET_F_MQ = 22;
inline constexpr unsigned VIRTIO_F_ANY_LAYOUT = 27;
inline constexpr unsigned VIRTIO_RING_F_INDIRECT_DESC = 28;
inline constexpr unsigned VIRTIO_RING_F_EVENT_IDX = 29;
inline constexpr unsigned VHOST_USER_F_PROTOCOL_FEATURES = 30;
inline constexpr unsigned VIRTIO_F_VERSION_1 = 32;

inline constexpr unsigned VHOST_USER_PROTOCOL_F_MQ = 0;
inline constexpr unsigned VHOST_USER_PROTOCOL_F_REPLY_ACK = 3;

constexpr std::uint64_t bit(unsigned n) { return std::uint64_t(1) << n; }

// -- split virtqueue (virtio 1.x section 2.7)
struct VringDesc {
    std::uint64_t addr; // guest physical
    std::uint32_t len;
    std::uint16_t flags;
    std::uint16_t next;
};
static_assert(sizeof(VringDesc) == 16);
inline constexpr std::uint16_t VRING_DESC_F_NEXT = 1;
inline constexpr std::uint16_t VRING_DESC_F_WRITE = 2;
inline constexpr std::uint16_t VRING_DESC_F_INDIRECT = 4;

// avail: flags, idx, ring[num], used_event (EVENT_IDX)
struct VringAvail {
    std::uint16_t flags;
    std::uint16_t idx;
    std::uint16_t ring[];
};
inline constexpr std::uint16_t VRING_AVAIL_F_NO_INTERRUPT = 1;

struct VringUsedElem {
    std::uint32_t id;
    std::uint32_t len;
};
// used: flags, idx, ring[num], avail_event (EVENT_IDX)
struct VringUsed {
    std::uint16_t flags;
    std::uint16_t idx;
    VringUsedElem ring[];
};
inline constexpr std::uint16_t VRING_USED_F_NO_NOTIFY = 1;

inline constexpr std::uint32_t max_queue_size = 32768; // split rings: a power of two up to 2^15

// Ring sizes, the EVENT_IDX field at the end of each included.
constexpr std::size_t desc_bytes(std::uint32_t num) { return 16 * std::size_t(num); }
constexpr std::size_t avail_bytes(std::uint32_t num) { return 6 + 2 * std::size_t(num); }
constexpr std::size_t used_bytes(std::uint32_t num) { return 6 + 8 * std::size_t(num); }

// virtio 1.x 2.7.7.2: whether the driver asked for a notification when the
// index moves from `old_idx` to `new_idx`, given its event index.
constexpr bool need_event(std::uint16_t event, std::uint16_t new_idx, std::uint16_t old_idx) {
    return std::uint16_t(new_idx - event - 1) < std::uint16_t(new_idx - old_idx);
}

// -- virtio-net (section 5.1.6): the header in front of every frame. 12
// bytes with VERSION_1 or MRG_RXBUF (num_buffers), 10 otherwise.
struct VirtioNetHdr {
    std::uint8_t flags;
    std::uint8_t gso_type;
    std::uint16_t hdr_len;
    std::uint16_t gso_size;
    std::uint16_t csum_start;
    std::uint16_t csum_offset;
    std::uint16_t num_buffers;
};
static_assert(sizeof(VirtioNetHdr) == 12);

} // namespace upio::vhost
