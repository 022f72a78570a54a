// drivers/ixgbe/ixgbe_regs.hpp -- the registers and bits this driver uses,
// nothing more: the 82599's map, with what the X540 and X550 do differently.
//
// Sources. Offsets, bit positions and section numbers are those of the Intel
// 82599 10 GbE Controller Datasheet (chapter 8 "Programming Interface" for
// the registers, 4.6 for the initialisation sequence, 7.1/7.2/7.3 for
// receive, transmit and interrupts). Every offset and bit below was checked
// against two independent public copies of that map:
//   [L] Linux drivers/net/ethernet/intel/ixgbe/ixgbe_type.h (Intel's shared
//       code: per-MAC offsets as *_8259X / *_X540 / *_X550 / *_X550EM_a);
//   [S] Snabb's 82599 driver register tables (apps/intel/intel10g*.lua),
//       transcribed from the datasheet's register summary;
// and, for the registers the 82599 inherited unchanged (statistics block,
// EITR semantics), against the 82598 datasheet's register pages.
// tests/ixgbe/ixgbe_regs_test.cpp pins every value; docs/ixgbe.md has the
// table of what was checked where.
//
// Aliases. [L] programs RETA, RSSRK and MRQC at their 82598-compatible
// aliases (0x05C00, 0x05C80, 0x05818), SRRCTL/DCA_RXCTRL of queues 0-15 at
// 0x02100/0x02200 and RAL/RAH 0-15 at 0x05400; the 82599, X540 and X550 also
// decode the addresses used here ([S] and the datasheet list those as the
// registers' own).
//
// X540 and X550 ([L]'s per-MAC tables and its X540/X550 code): every
// register used here sits at the same offset with the same bits, except
//   - RSS: the X550 has a 512-entry redirection table, RETA (entries 0-127)
//     plus ERETA (0x0EE80, entries 128-511), with 6-bit queue indices (64
//     queues); the 82599 and X540 have 128 4-bit entries (16 queues). RSSRK
//     and MRQC are the same (MRQC.MULTIPLE_RSS only matters with SR-IOV);
//   - link: the X540 and X550 have an internal copper PHY run by firmware;
//     the MAC follows it, AUTOC is not the link control, LINKS reports it
//     (X550: LINKS bit 27 marks the NBASE-T speeds 2.5 and 5 Gb/s);
//   - receive packet buffer: 384 KiB instead of 512 KiB;
//   - X550EM_a moves EEC to 0x15FF8 (also FLA, GRC, SWSM, FWSM); X550EM
//     parts are refused (ixgbe.cpp), so only the 0x10010 EEC is used.
//
// Per-queue registers: queues 0-63 of the receive block sit at
// 0x01000 + 0x40 * n, queues 64-127 at 0x0D000 + 0x40 * (n - 64) (8.2.3.8);
// the driver uses at most 64 queue pairs, so only the first block.
#pragma once

#include "drivers/common/regs.hpp"

#include <cstdint>

namespace upio::ixgbe {

using drivers::Reg;
using drivers::RegArray;

// -- General control and status (8.2.3.1, 8.2.3.2)       checked: [L] [S]
inline constexpr Reg CTRL{0x00000, "CTRL"};         // device control (8.2.3.1.1)
inline constexpr Reg STATUS{0x00008, "STATUS"};     // device status (8.2.3.1.2)
inline constexpr Reg CTRL_EXT{0x00018, "CTRL_EXT"}; // extended device control (8.2.3.1.3)
inline constexpr Reg EEC{0x10010, "EEC"};           // EEPROM/flash control (8.2.3.2.1); X550EM_a: 0x15FF8

inline constexpr std::uint32_t CTRL_PCIE_MASTER_DISABLE = 1u << 2;
inline constexpr std::uint32_t STATUS_GIO = 1u << 19; // PCIe master enable status: requests may be pending
inline constexpr std::uint32_t CTRL_LRST = 1u << 3; // link reset
inline constexpr std::uint32_t CTRL_RST = 1u << 26; // device reset, self-clearing
inline constexpr std::uint32_t CTRL_RST_MASK = CTRL_LRST | CTRL_RST;

inline constexpr std::uint32_t CTRL_EXT_NS_DIS = 1u << 16;   // no-snoop disable
inline constexpr std::uint32_t CTRL_EXT_DRV_LOAD = 1u << 28; // a driver owns the device

inline constexpr std::uint32_t EEC_PRES = 1u << 8;    // EEPROM present
inline constexpr std::uint32_t EEC_AUTO_RD = 1u << 9; // EEPROM auto-read done ([L] EEC_ARD)

// -- Interrupts (8.2.3.5, 7.3)                              checked: [L]
inline constexpr Reg EICR{0x00800, "EICR"}; // extended interrupt cause (8.2.3.5.1)
inline constexpr Reg EICS{0x00808, "EICS"}; // cause set
inline constexpr Reg EIAC{0x00810, "EIAC"}; // auto clear (8.2.3.5.4)
inline constexpr Reg EIMS{0x00880, "EIMS"}; // mask set / read (8.2.3.5.3)
inline constexpr Reg EIMC{0x00888, "EIMC"}; // mask clear (8.2.3.5.5)
inline constexpr Reg EIAM{0x00890, "EIAM"}; // auto mask (8.2.3.5.6)
inline constexpr Reg GPIE{0x00898, "GPIE"}; // general purpose interrupt enable (8.2.3.5.18)
inline constexpr RegArray IVAR{0x00900, 4, "IVAR"};      // 64 of them (8.2.3.5.16)
inline constexpr Reg IVAR_MISC{0x00A00, "IVAR_MISC"};    // other causes (8.2.3.5.17)
inline constexpr RegArray EIMS_EX{0x00AA0, 4, "EIMS_EX"}; // vectors 0-31, 32-63 (8.2.3.5.8)
inline constexpr RegArray EIMC_EX{0x00AB0, 4, "EIMC_EX"}; // (8.2.3.5.9)
inline constexpr RegArray EIAM_EX{0x00AD0, 4, "EIAM_EX"}; // (8.2.3.5.7)
inline constexpr RegArray EITR_LO{0x00820, 4, "EITR"};    // vectors 0-23 (8.2.3.5.12)
inline constexpr RegArray EITR_HI{0x12300, 4, "EITR"};    // vectors 24-127, index - 24

constexpr Reg EITR(unsigned v) noexcept {
    return v < 24 ? EITR_LO[v] : Reg{EITR_HI.base + (v - 24) * 4, "EITR", int(v)};
}

inline constexpr std::uint32_t EICR_RTXQ_MASK = 0xffffu; // queue causes in EICR (legacy view)
inline constexpr std::uint32_t EICR_LSC = 1u << 20;      // link status change
inline constexpr std::uint32_t GPIE_MSIX_MODE = 1u << 4;
inline constexpr std::uint32_t GPIE_OCD = 1u << 5;       // other clear disable
inline constexpr std::uint32_t GPIE_EIAME = 1u << 30;    // extended interrupt auto mask enable
inline constexpr std::uint32_t GPIE_PBA_SUPPORT = 1u << 31;
inline constexpr std::uint32_t IVAR_ALLOC_VAL = 0x80;    // INT_Alloc_val, per byte
inline constexpr std::uint32_t EITR_INTERVAL_MASK = 0x0ff8; // ITR interval, 11:3, 2.048 us units (1 and 10 GbE)
inline constexpr unsigned EITR_INTERVAL_SHIFT = 3;
inline constexpr unsigned EITR_UNIT_NS = 2048;
inline constexpr std::uint32_t EITR_CNT_WDIS = 1u << 31;    // write without clearing the counter
inline constexpr unsigned max_msix_vectors = 64;

// -- Receive (8.2.3.7, 8.2.3.8)                             checked: [L] [S]
inline constexpr Reg RDRXCTL{0x02F00, "RDRXCTL"}; // receive DMA control (8.2.3.8.8)
inline constexpr Reg RXCTRL{0x03000, "RXCTRL"};   // receive control (8.2.3.8.10)
inline constexpr RegArray RXPBSIZE{0x03C00, 4, "RXPBSIZE"}; // packet buffer size (8.2.3.8.9)
inline constexpr Reg RXCSUM{0x05000, "RXCSUM"};   // checksum control (8.2.3.7.5)
inline constexpr Reg FCTRL{0x05080, "FCTRL"};     // filter control (8.2.3.7.1)
inline constexpr Reg MCSTCTRL{0x05090, "MCSTCTRL"}; // multicast control (8.2.3.7.7)
inline constexpr RegArray MTA{0x05200, 4, "MTA"}; // multicast table, 128 (8.2.3.7.8)
inline constexpr RegArray RAL{0x0A200, 8, "RAL"}; // receive address low (8.2.3.7.9)
inline constexpr RegArray RAH{0x0A204, 8, "RAH"}; // receive address high (8.2.3.7.10)
inline constexpr RegArray RETA{0x0EB00, 4, "RETA"};   // redirection table, 32 (8.2.3.7.15); [L]: alias 0x05C00
inline constexpr RegArray RSSRK{0x0EB80, 4, "RSSRK"}; // RSS random key, 10 (8.2.3.7.16); [L]: alias 0x05C80
inline constexpr Reg MRQC{0x0EC80, "MRQC"};           // multiple receive queues command (8.2.3.7.12); [L]: 0x05818
inline constexpr RegArray ERETA{0x0EE80, 4, "ERETA"}; // X550 only: redirection entries 128-511, 96 ([L])
inline constexpr RegArray FCRTH{0x03260, 4, "FCRTH"}; // flow control high water, per packet buffer, 8 ([L] FCRTH_82599)
inline constexpr Reg SECRXCTRL{0x08D00, "SECRXCTRL"}; // security rx control ([L])
inline constexpr Reg SECRXSTAT{0x08D04, "SECRXSTAT"}; // security rx status ([L])

inline constexpr std::uint32_t RDRXCTL_CRCSTRIP = 1u << 1;
inline constexpr std::uint32_t RDRXCTL_DMAIDONE = 1u << 3;   // DMA init done (read only)
inline constexpr std::uint32_t RDRXCTL_RSCFRSTSIZE = 0x1fu << 17; // must be 0 (4.6.7)
inline constexpr std::uint32_t RDRXCTL_RSCACKC = 1u << 25;   // must be 1 (8.2.3.8.8)
inline constexpr std::uint32_t RDRXCTL_FCOE_WRFIX = 1u << 26; // must be 1 (8.2.3.8.8)
inline constexpr std::uint32_t RXCTRL_RXEN = 1u << 0;
// 4.6.7: RXCTRL.RXEN changes only while the security rx path is halted
// (SECRXCTRL.RX_DIS set, SECRXSTAT.SECRX_RDY seen); 82599 errata: frames
// arriving as receive is enabled could otherwise hang the rx DMA ([L]
// ixgbe_enable_rx_dma_82599)
inline constexpr std::uint32_t SECRXCTRL_RX_DIS = 1u << 1;
inline constexpr std::uint32_t SECRXSTAT_SECRX_RDY = 1u << 0;
// FCRTH[n] must hold RXPBSIZE[n] - 24 KiB whether or not flow control is on
// (4.6.3.2, "must be set by default")
inline constexpr std::uint32_t fcrth_headroom = 0x6000;
inline constexpr std::uint32_t RXCSUM_PCSD = 1u << 13; // descriptors carry the RSS hash
inline constexpr std::uint32_t FCTRL_SBP = 1u << 1;   // store bad packets
inline constexpr std::uint32_t FCTRL_MPE = 1u << 8;   // multicast promiscuous
inline constexpr std::uint32_t FCTRL_UPE = 1u << 9;   // unicast promiscuous
inline constexpr std::uint32_t FCTRL_BAM = 1u << 10;  // accept broadcast
inline constexpr std::uint32_t MCSTCTRL_MFE = 1u << 2; // multicast filter (MTA) enable
inline constexpr std::uint32_t RAH_AV = 1u << 31;     // address valid
inline constexpr std::uint32_t MRQC_MRQE_MASK = 0xfu; // 3:0
inline constexpr std::uint32_t MRQC_RSS = 0x1u;       // RSS only
inline constexpr std::uint32_t MRQC_RSS_TCPIPV4 = 1u << 16;
inline constexpr std::uint32_t MRQC_RSS_IPV4 = 1u << 17;
inline constexpr std::uint32_t MRQC_RSS_IPV6 = 1u << 20;
inline constexpr std::uint32_t MRQC_RSS_TCPIPV6 = 1u << 21;
inline constexpr std::uint32_t MRQC_RSS_UDPIPV4 = 1u << 22;
inline constexpr std::uint32_t MRQC_RSS_UDPIPV6 = 1u << 23;
inline constexpr unsigned reta_entries = 128;        // 82599, X540: 4-bit entries, 4 per register
inline constexpr unsigned rss_max_queues = 16;       // a RETA entry names one of 16 queues
inline constexpr unsigned reta_entries_x550 = 512;   // RETA + ERETA, 6-bit entries
inline constexpr unsigned rss_max_queues_x550 = 64;
inline constexpr std::uint32_t RETA_ENTRY_MASK = 0xf;       // per byte
inline constexpr std::uint32_t RETA_ENTRY_MASK_X550 = 0x3f; // per byte

// per receive queue n < 64: base + 0x40 * n (8.2.3.8.1 - 8.2.3.8.7)
inline constexpr RegArray RDBAL{0x01000, 0x40, "RDBAL"};
inline constexpr RegArray RDBAH{0x01004, 0x40, "RDBAH"};
inline constexpr RegArray RDLEN{0x01008, 0x40, "RDLEN"};
inline constexpr RegArray DCA_RXCTRL{0x0100C, 0x40, "DCA_RXCTRL"};
inline constexpr RegArray RDH{0x01010, 0x40, "RDH"};
inline constexpr RegArray SRRCTL{0x01014, 0x40, "SRRCTL"};
inline constexpr RegArray RDT{0x01018, 0x40, "RDT"};
inline constexpr RegArray RXDCTL{0x01028, 0x40, "RXDCTL"};

inline constexpr std::uint32_t XDCTL_ENABLE = 1u << 25;  // RXDCTL/TXDCTL queue enable
inline constexpr std::uint32_t TXDCTL_SWFLSH = 1u << 26;
inline constexpr unsigned TXDCTL_PTHRESH_SHIFT = 0;      // 6:0
inline constexpr unsigned TXDCTL_HTHRESH_SHIFT = 8;      // 14:8
inline constexpr unsigned TXDCTL_WTHRESH_SHIFT = 16;     // 22:16
// DCA_RXCTRL bit 12: reserved, must be cleared (4.6.7, 8.2.3.11.1); [L]
// names no bit 12, [S] and ixy clear it too
inline constexpr std::uint32_t DCA_RXCTRL_RSVD12 = 1u << 12;

// SRRCTL on the 82599 (8.2.3.8.7); the igb layout differs in BSIZEPACKET's
// width and DROP_EN's position, so these are not the shared adv:: ones.
inline constexpr std::uint32_t SRRCTL_BSIZEPKT_MASK = 0x1fu; // 4:0, 1 KiB units
inline constexpr std::uint32_t max_rx_buf_size = 16u << 10;  // "from 1 KB to 16 KB" (8.2.3.8.7)
inline constexpr unsigned SRRCTL_BSIZEPKT_SHIFT = 10;        // bytes >> 10
inline constexpr std::uint32_t SRRCTL_DESCTYPE_MASK = 0x7u << 25;
inline constexpr std::uint32_t SRRCTL_DESCTYPE_ADV_ONEBUF = 0x1u << 25;
inline constexpr std::uint32_t SRRCTL_DROP_EN = 1u << 28;

// Receive descriptor write-back (7.1.6.2), advanced one-buffer layout
// (drivers/common/adv_desc.hpp) with the 82599's extended errors in
// status_error 31:20, valid in the EOP descriptor only. Dropped on:
// RXE (29), "MAC error" (CRC, length, undersize, oversize, symbol -- only
// stored with FCTRL.SBP, which is never set), and the 82598's split of it
// that [L] keeps in IXGBE_RXDADV_ERR_FRAME_ERR_MASK (0x3B000000: CE 24, LE
// 25, PE 27, OSE 28, USE 29); HBO (23), header buffer overflow, which needs
// header split (never selected here). Not on IPE (31) / L4E (30): checksum
// errors, reported only with checksum offload (off), and not frame errors.
//                                                          checked: [L]
inline constexpr std::uint32_t RXDADV_ERR_HBO = 1u << 23;
inline constexpr std::uint32_t RXDADV_ERR_CE = 1u << 24;
inline constexpr std::uint32_t RXDADV_ERR_LE = 1u << 25;
inline constexpr std::uint32_t RXDADV_ERR_PE = 1u << 27;
inline constexpr std::uint32_t RXDADV_ERR_OSE = 1u << 28;
inline constexpr std::uint32_t RXDADV_ERR_RXE = 1u << 29; // 82598: USE
inline constexpr std::uint32_t RXDADV_ERR_FRAME =
    RXDADV_ERR_HBO | RXDADV_ERR_CE | RXDADV_ERR_LE | RXDADV_ERR_PE | RXDADV_ERR_OSE | RXDADV_ERR_RXE;

// -- Transmit (8.2.3.9)                                     checked: [L] [S]
inline constexpr Reg DMATXCTL{0x04A80, "DMATXCTL"};   // DMA tx control (8.2.3.9.2)
inline constexpr Reg DTXMXSZRQ{0x08100, "DTXMXSZRQ"}; // max bytes of outstanding reads (8.2.3.9.1)
inline constexpr Reg MTQC{0x08120, "MTQC"};           // multiple tx queues command (8.2.3.9.15)
inline constexpr Reg RTTDCS{0x04900, "RTTDCS"};       // DCB tx descriptor plane control (8.2.3.10.2)
inline constexpr RegArray TXPBSIZE{0x0CC00, 4, "TXPBSIZE"}; // (8.2.3.9.13)
inline constexpr RegArray TXPBTHRESH{0x04950, 4, "TXPBTHRESH"}; // tx packet buffer threshold, KiB, 8 ([L])
inline constexpr std::uint32_t DMATXCTL_TE = 1u << 0; // transmit enable
inline constexpr std::uint32_t RTTDCS_ARBDIS = 1u << 6;

// per transmit queue n < 128: base + 0x40 * n (8.2.3.9.5 - 8.2.3.9.10)
inline constexpr RegArray TDBAL{0x06000, 0x40, "TDBAL"};
inline constexpr RegArray TDBAH{0x06004, 0x40, "TDBAH"};
inline constexpr RegArray TDLEN{0x06008, 0x40, "TDLEN"};
inline constexpr RegArray TDH{0x06010, 0x40, "TDH"};
inline constexpr RegArray TDT{0x06018, 0x40, "TDT"};
inline constexpr RegArray TXDCTL{0x06028, 0x40, "TXDCTL"};

// -- MAC (8.2.3.22)                                         checked: [L] [S]
inline constexpr Reg HLREG0{0x04240, "HLREG0"}; // MAC core control 0 (8.2.3.22.8)
inline constexpr Reg MAXFRS{0x04268, "MAXFRS"}; // max frame size (8.2.3.22.13)
inline constexpr Reg AUTOC{0x042A0, "AUTOC"};   // auto-negotiation control (8.2.3.22.19)
inline constexpr Reg LINKS{0x042A4, "LINKS"};   // link status (8.2.3.22.20)
inline constexpr std::uint32_t HLREG0_TXCRCEN = 1u << 0;
inline constexpr std::uint32_t HLREG0_RXCRCSTRP = 1u << 1;
inline constexpr std::uint32_t HLREG0_JUMBOEN = 1u << 2;
inline constexpr std::uint32_t HLREG0_TXPADEN = 1u << 10;
inline constexpr std::uint32_t HLREG0_LPBK = 1u << 15;
inline constexpr unsigned MAXFRS_MFS_SHIFT = 16; // 31:16, bytes including the CRC
inline constexpr std::uint32_t AUTOC_FLU = 1u << 0; // force link up
inline constexpr std::uint32_t AUTOC_RESTART_AN = 1u << 12;
inline constexpr std::uint32_t AUTOC_LMS_MASK = 0x7u << 13; // link mode select
inline constexpr std::uint32_t AUTOC_LMS_10G_SERIAL = 0x3u << 13;
inline constexpr std::uint32_t LINKS_LINK_UP = 1u << 30;
inline constexpr std::uint32_t LINKS_SPEED_MASK = 0x3u << 28; // 29:28
inline constexpr std::uint32_t LINKS_SPEED_100M = 0x1u << 28;
inline constexpr std::uint32_t LINKS_SPEED_1G = 0x2u << 28;
inline constexpr std::uint32_t LINKS_SPEED_10G = 0x3u << 28;
// X550: with LINKS_SPEED_10G this bit means 2.5 Gb/s, with LINKS_SPEED_100M
// 5 Gb/s (NBASE-T); reserved on the 82599 and X540 ([L] LINKS_SPEED_NON_STD)
inline constexpr std::uint32_t LINKS_SPEED_NON_STD = 1u << 27;

// -- Statistics, clear on read (8.2.3.23)                  checked: [L] [S], 82598 datasheet 4.4.3.9
inline constexpr Reg CRCERRS{0x04000, "CRCERRS"};
inline constexpr Reg RLEC{0x04040, "RLEC"}; // length errors
inline constexpr Reg GPRC{0x04074, "GPRC"}; // good packets received
inline constexpr Reg BPRC{0x04078, "BPRC"};
inline constexpr Reg MPRC{0x0407C, "MPRC"};
inline constexpr Reg GPTC{0x04080, "GPTC"}; // good packets transmitted
inline constexpr Reg GORCL{0x04088, "GORCL"}; // good octets received, 35:0 over L/H
inline constexpr Reg GORCH{0x0408C, "GORCH"};
inline constexpr Reg GOTCL{0x04090, "GOTCL"};
inline constexpr Reg GOTCH{0x04094, "GOTCH"};
inline constexpr Reg RUC{0x040A4, "RUC"}; // undersize
inline constexpr Reg ROC{0x040AC, "ROC"}; // oversize
inline constexpr Reg TPR{0x040D0, "TPR"};
inline constexpr Reg TPT{0x040D4, "TPT"};
inline constexpr RegArray MPC{0x03FA0, 4, "MPC"}; // missed packets (packet buffer full), per buffer, 8

inline constexpr std::uint32_t stats_first = 0x03FA0, stats_end = 0x04100; // the clear-on-read block

// Per-queue statistics (8.2.3.23): 16 counter sets; RQSMR maps each
// receive queue to one of them (one byte per queue, 4 queues a register,
// bits 3:0 the counter). QPRDC counts the frames a queue dropped because it
// had no free descriptor (SRRCTL.DROP_EN set); without DROP_EN such frames
// wait in the packet buffer and, when it overflows, count in MPC.
inline constexpr RegArray RQSMR{0x02300, 4, "RQSMR"};      // 32 registers
inline constexpr RegArray QPRDC{0x01430, 0x40, "QPRDC"};   // 16 counters, clear on read
inline constexpr unsigned queue_stat_counters = 16;

} // namespace upio::ixgbe
