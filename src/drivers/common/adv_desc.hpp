// drivers/common/adv_desc.hpp -- advanced receive/transmit descriptors.
//
// The 82575/82576/I350 (igb) and the 82599/X540/X550 (ixgbe) share these
// layouts: 82576 datasheet 7.1.5 (receive) and 7.2.2.3 (transmit), 82599
// datasheet 7.1.6 and 7.2.3.2.4. A descriptor has a "read" format the driver
// writes and a "write-back" format the device writes over it, so the
// buffer address must be rewritten every time a descriptor is reused.
//
// Also here: SRRCTL, the per-queue receive control both families use to
// select these descriptors (82576 8.10.2, 82599 8.2.3.8.7).
#pragma once

#include <upio/backend/iova.hpp>

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace upio::drivers::adv {

// -- receive (one buffer per descriptor, no header split)
struct RxDesc {
    // read:       pkt_addr (63:0) | hdr_addr (127:64), hdr_addr bit 0 is DD's place
    // write-back: info (31:0) rss (63:32) | status_error (95:64) length (111:96) vlan (127:112)
    std::uint64_t lo;
    std::uint64_t hi;
};
static_assert(sizeof(RxDesc) == 16);

inline constexpr std::uint32_t RXD_STAT_DD = 1u << 0;  // descriptor done
inline constexpr std::uint32_t RXD_STAT_EOP = 1u << 1; // end of packet
inline constexpr unsigned RXD_LEN_SHIFT = 32;          // length in the high qword
inline constexpr std::uint64_t RXD_LEN_MASK = 0xffffull << RXD_LEN_SHIFT;
// Extended errors, status_error 31:20, valid in the EOP descriptor only. The
// two families place them differently, so each driver names its own mask
// (igb below, ixgbe in ixgbe_regs.hpp). 82576 7.1.5.2: the frame errors
// CE (24), SE (25), SEQ (26), CXE (28) and RXE (31) -- the 8254x errors
// byte moved up -- which Linux's igb drops on ([L]
// E1000_RXDEXT_ERR_FRAME_ERR_MASK, 0x97000000); HBO (23), header buffer
// overflow, can only be set with header split, which this driver never
// selects, so a device that sets it is not to be trusted either. The
// checksum errors TCPE (29) and IPE (30) are not frame errors (and are only
// reported with checksum offload, which is off).
inline constexpr std::uint32_t IGB_RXD_ERR_HBO = 1u << 23;
inline constexpr std::uint32_t IGB_RXD_ERR_CE = 1u << 24;
inline constexpr std::uint32_t IGB_RXD_ERR_SE = 1u << 25;
inline constexpr std::uint32_t IGB_RXD_ERR_SEQ = 1u << 26;
inline constexpr std::uint32_t IGB_RXD_ERR_CXE = 1u << 28;
inline constexpr std::uint32_t IGB_RXD_ERR_RXE = 1u << 31;
inline constexpr std::uint32_t IGB_RXD_ERR_FRAME =
    IGB_RXD_ERR_HBO | IGB_RXD_ERR_CE | IGB_RXD_ERR_SE | IGB_RXD_ERR_SEQ | IGB_RXD_ERR_CXE | IGB_RXD_ERR_RXE;

// -- transmit (data descriptor)
struct TxDesc {
    // read:       buffer_addr (63:0) | cmd_type_len (95:64) olinfo_status (127:96)
    // write-back: reserved (63:0)    | reserved (95:64)     status (127:96), DD = bit 96
    std::uint64_t addr;
    std::uint32_t cmd_type_len;
    std::uint32_t olinfo_status;
};
static_assert(sizeof(TxDesc) == 16);
static_assert(offsetof(TxDesc, olinfo_status) == 12);

inline constexpr std::uint32_t TXD_DTYP_DATA = 0x3u << 20; // advanced data descriptor
inline constexpr std::uint32_t TXD_DTYP_CTXT = 0x2u << 20; // advanced context descriptor
inline constexpr std::uint32_t TXD_DTYP_MASK = 0xfu << 20;
inline constexpr std::uint32_t TXD_DCMD_EOP = 1u << 24;    // end of packet
inline constexpr std::uint32_t TXD_DCMD_IFCS = 1u << 25;   // insert FCS
inline constexpr std::uint32_t TXD_DCMD_RS = 1u << 27;     // report status (write back DD)
inline constexpr std::uint32_t TXD_DCMD_DEXT = 1u << 29;   // descriptor extension (advanced)
inline constexpr std::uint32_t TXD_LEN_MASK = 0xffffu;     // DTALEN, 15:0
inline constexpr unsigned TXD_PAYLEN_SHIFT = 14;           // PAYLEN in olinfo_status 31:14
inline constexpr std::uint32_t TXD_STAT_DD = 1u << 0;      // in olinfo_status after write-back

// -- SRRCTL
inline constexpr std::uint32_t SRRCTL_BSIZEPKT_MASK = 0x7fu;           // 6:0, packet buffer in KiB
inline constexpr unsigned SRRCTL_BSIZEPKT_SHIFT = 10;                  // bytes >> 10
inline constexpr std::uint32_t SRRCTL_BSIZEHDR_MASK = 0xfu << 8;       // 11:8, header buffer in 64 B
inline constexpr std::uint32_t SRRCTL_DESCTYPE_MASK = 0x7u << 25;      // 27:25
inline constexpr std::uint32_t SRRCTL_DESCTYPE_LEGACY = 0x0u << 25;
inline constexpr std::uint32_t SRRCTL_DESCTYPE_ADV_ONEBUF = 0x1u << 25;
inline constexpr std::uint32_t SRRCTL_DROP_EN = 1u << 31;              // drop when no descriptor

// The descriptor operations the shared ring code (nic_ring.hpp) needs;
// `RxErrors`: the family's frame error bits in status_error.
template <std::uint32_t RxErrors>
struct FormatOf {
    using Rx = RxDesc;
    using Tx = TxDesc;

    // Hands a buffer to the device; clears DD (hdr_addr = 0).
    static void rx_arm(RxDesc& d, Iova buf) noexcept {
        d.lo = buf.value;
        d.hi = 0;
    }
    // -- what the device wrote back, from one acquire load of the high
    // qword (status, errors and length together)
    static constexpr std::uint64_t RX_DD = RXD_STAT_DD, RX_EOP = RXD_STAT_EOP;
    static std::uint64_t rx_word(const RxDesc& d) noexcept {
        return std::atomic_ref<std::uint64_t>(const_cast<std::uint64_t&>(d.hi)).load(std::memory_order_acquire);
    }
    static std::uint32_t rx_len(std::uint64_t w) noexcept { return std::uint16_t(w >> RXD_LEN_SHIFT); }
    static bool rx_error(std::uint64_t w) noexcept { return w & RxErrors; }
    // A whole frame in one descriptor that may reach the application: DD and
    // EOP, no error bit, 1 <= length <= bsz. One compare: rotated, the
    // length is the low word and status_error the high one, so the masked
    // word minus (DD|EOP, length 1) lies in [0, bsz - 1] exactly then (a
    // missing bit borrows, an extra one or a length 0 wraps: both land
    // above).
    static bool rx_frame_ok(std::uint64_t w, std::uint32_t bsz) noexcept {
        constexpr std::uint64_t mask = RX_DD | RX_EOP | RxErrors | RXD_LEN_MASK;
        constexpr std::uint64_t good = (std::uint64_t(RX_DD | RX_EOP) << 32) | 1;
        return std::rotr(w & mask, 32) - good <= std::uint64_t(bsz - 1);
    }
    // `paylen`: the whole packet's length on its first descriptor (PAYLEN),
    // ignored by the device on the others.
    static void tx_write(TxDesc& d, Iova buf, std::uint16_t len, std::uint32_t paylen, bool eop) noexcept {
        d.addr = buf.value;
        d.cmd_type_len = TXD_DTYP_DATA | TXD_DCMD_DEXT | TXD_DCMD_IFCS | TXD_DCMD_RS | (eop ? TXD_DCMD_EOP : 0) | len;
        d.olinfo_status = paylen << TXD_PAYLEN_SHIFT; // also clears DD
    }
    // The write-back word with DD (TX_DD), one acquire load.
    static constexpr std::uint32_t TX_DD = TXD_STAT_DD;
    static std::uint32_t tx_status(const TxDesc& d) noexcept {
        return std::atomic_ref<std::uint32_t>(const_cast<std::uint32_t&>(d.olinfo_status))
            .load(std::memory_order_acquire);
    }
    static bool tx_done(const TxDesc& d) noexcept { return tx_status(d) & TX_DD; }
};

// The 82576 / I350 layout (ixgbe's errors: ixgbe_regs.hpp).
using Format = FormatOf<IGB_RXD_ERR_FRAME>;

} // namespace upio::drivers::adv
