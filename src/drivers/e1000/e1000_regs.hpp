// drivers/e1000/e1000_regs.hpp -- the registers and descriptor bits this
// driver uses, nothing more.
//
// Sources: "PCI/PCI-X Family of Gigabit Ethernet Controllers Software
// Developer's Manual" (8254x SDM), the 82574 GbE Controller Datasheet and the
// 82576 GbE Controller Datasheet; section numbers below are the 8254x SDM's
// unless marked 82574 or 82576. Offsets are in BAR0. Mnemonics are the
// datasheets', so the code can be grepped against the PDFs.
#pragma once

#include "drivers/common/adv_desc.hpp"
#include "drivers/common/regs.hpp"

#include <upio/backend/iova.hpp>

#include <atomic>
#include <cstdint>

namespace upio::e1000 {

using drivers::Reg;
using drivers::RegArray;

// -- General (13.4.1 - 13.4.6; 82574 10.2.2; 82576 8.2)
inline constexpr Reg CTRL{0x00000, "CTRL"};         // device control
inline constexpr Reg STATUS{0x00008, "STATUS"};     // device status
inline constexpr Reg EECD{0x00010, "EECD"};         // EEPROM/flash control (EEC on 82574/82576)
inline constexpr Reg EERD{0x00014, "EERD"};         // EEPROM read
inline constexpr Reg CTRL_EXT{0x00018, "CTRL_EXT"}; // extended device control
inline constexpr Reg MDIC{0x00020, "MDIC"};         // MDI control: PHY register access (13.4.7)

inline constexpr std::uint32_t CTRL_FD = 1u << 0;   // full duplex
inline constexpr std::uint32_t CTRL_LRST = 1u << 3; // link reset (8254x)
inline constexpr std::uint32_t CTRL_ASDE = 1u << 5; // auto-speed detection
inline constexpr std::uint32_t CTRL_SLU = 1u << 6;  // set link up
inline constexpr std::uint32_t CTRL_RST = 1u << 26; // device reset, self-clearing
// PCIe parts (82574, 82576, I350): GIO master disable, and in STATUS the
// master enable status that clears once no DMA request is outstanding ([L]
// E1000_CTRL_GIO_MASTER_DISABLE, E1000_STATUS_GIO_MASTER_ENABLE)
inline constexpr std::uint32_t CTRL_GIO_MASTER_DISABLE = 1u << 2;
inline constexpr std::uint32_t STATUS_GIO_MASTER_ENABLE = 1u << 19;
inline constexpr std::uint32_t CTRL_PHY_RST = 1u << 31;

// CTRL_EXT (82574 datasheet, CTRL_EXT): MSI-X mode wants PBA_SUPPORT ("should be set in
// MSI-X mode": writing IMS then also clears the vector's pending bit) and,
// for auto-masking on an MSI-X message, EIAME with the bits in IAM. IAME
// (auto-mask on an ICR read) stays clear.
inline constexpr std::uint32_t CTRL_EXT_EIAME = 1u << 24;
inline constexpr std::uint32_t CTRL_EXT_IAME = 1u << 27;
inline constexpr std::uint32_t CTRL_EXT_PBA_SUPPORT = 1u << 31;

inline constexpr std::uint32_t STATUS_FD = 1u << 0;
inline constexpr std::uint32_t STATUS_LU = 1u << 1;
inline constexpr unsigned STATUS_SPEED_SHIFT = 6; // 7:6: 00 10, 01 100, 1x 1000 Mb/s
inline constexpr std::uint32_t STATUS_SPEED_MASK = 3u << 6;

inline constexpr std::uint32_t EECD_PRES = 1u << 8;     // EEPROM present
inline constexpr std::uint32_t EECD_AUTO_RD = 1u << 9;  // auto-read done (82541+, 82574, 82576)

inline constexpr unsigned MDIC_REG_SHIFT = 16;     // 20:16 PHY register
inline constexpr unsigned MDIC_PHY_SHIFT = 21;     // 25:21 PHY address (1: the internal PHY)
inline constexpr std::uint32_t MDIC_OP_WRITE = 1u << 26;
inline constexpr std::uint32_t MDIC_OP_READ = 2u << 26;
inline constexpr std::uint32_t MDIC_READY = 1u << 28;
inline constexpr std::uint32_t MDIC_ERROR = 1u << 30;
inline constexpr unsigned PHY_ADDR = 1;
inline constexpr unsigned PHY_BMCR = 0;                 // PHY control (IEEE 802.3 22.2.4.1)
inline constexpr std::uint16_t BMCR_RESTART_AN = 1u << 9;
inline constexpr std::uint16_t BMCR_AN_ENABLE = 1u << 12;

// EERD layout differs: 8254x 13.4.4 (DONE bit 4, address 15:8);
// 82574 10.2.2.5 and 82576 8.4.3 (DONE bit 1, address 15:2). Data 31:16 in both.
inline constexpr std::uint32_t EERD_START = 1u << 0;
inline constexpr std::uint32_t EERD_DONE_8254X = 1u << 4;
inline constexpr unsigned EERD_ADDR_SHIFT_8254X = 8;
inline constexpr std::uint32_t EERD_DONE_NEW = 1u << 1;
inline constexpr unsigned EERD_ADDR_SHIFT_NEW = 2;
inline constexpr unsigned EERD_DATA_SHIFT = 16;

// -- Interrupts (13.4.17 - 13.4.21; 82576 8.8)
inline constexpr Reg ICR{0x000C0, "ICR"}; // cause, cleared on read
inline constexpr Reg ITR{0x000C4, "ITR"}; // throttling, 256 ns units
inline constexpr Reg ICS{0x000C8, "ICS"};
inline constexpr Reg IMS{0x000D0, "IMS"};
inline constexpr Reg IMC{0x000D8, "IMC"};

inline constexpr std::uint32_t ICR_TXDW = 1u << 0;   // descriptor written back
inline constexpr std::uint32_t ICR_LSC = 1u << 2;    // link status change
inline constexpr std::uint32_t ICR_RXDMT0 = 1u << 4; // rx descriptors below threshold
inline constexpr std::uint32_t ICR_RXO = 1u << 6;    // receiver overrun
inline constexpr std::uint32_t ICR_RXT0 = 1u << 7;   // receiver timer (a packet arrived)
inline constexpr std::uint32_t IMS_RX = ICR_RXT0 | ICR_RXDMT0 | ICR_RXO;
inline constexpr std::uint32_t IMS_TX = ICR_TXDW;
// 82576 ICR (8.8.x): bit 7 is RXDW (receive descriptor write-back, the
// 8254x's RXT0 position), bit 0 TXDW; bit 31 INTA: an interrupt is asserted
// (a cause in ICR that IMS enables).
inline constexpr std::uint32_t ICR_RXDW = 1u << 7;
inline constexpr std::uint32_t ICR_INTA = 1u << 31;

// 82574 MSI-X (82574 datasheet: ICR, IVAR, EIAC, IAM, EITR). In MSI-X mode a
// queue's write-back sets its own ICR bit (RxQ0, TxQ0, ...); IVAR maps each
// of the five causes to a vector; EIAC clears the ICR bit when its vector's
// message is sent and IAM (with CTRL_EXT.EIAME) masks it in IMS; EITR[v]
// throttles vector v (256 ns units, as ITR).
inline constexpr std::uint32_t ICR_RXQ0 = 1u << 20;
inline constexpr std::uint32_t ICR_RXQ1 = 1u << 21;
inline constexpr std::uint32_t ICR_TXQ0 = 1u << 22;
inline constexpr std::uint32_t ICR_TXQ1 = 1u << 23;
inline constexpr std::uint32_t ICR_OTHER = 1u << 24; // LSC and the other non-queue causes
inline constexpr Reg EIAC_82574{0x000DC, "EIAC"};
inline constexpr Reg IAM{0x000E0, "IAM"};
inline constexpr Reg IVAR_82574{0x000E4, "IVAR"};
inline constexpr RegArray EITR_82574{0x000E8, 4, "EITR"}; // vectors 0-4
// IVAR: a 4-bit entry per cause, vector in 2:0 and valid in 3, at these shifts
inline constexpr unsigned IVAR_82574_RXQ0 = 0, IVAR_82574_RXQ1 = 4, IVAR_82574_TXQ0 = 8, IVAR_82574_TXQ1 = 12,
                          IVAR_82574_OTHER = 16;
inline constexpr std::uint32_t IVAR_82574_VALID = 1u << 3;
inline constexpr unsigned MSIX_VECTORS_82574 = 5;

// 82576 extended interrupts (8.8.x). In MSI-X mode (GPIE.Multiple_MSIX) an
// EICR/EIMS bit per vector. Without it (MSI or INTx, one vector) the queue
// causes set ICR.RXDW / ICR.TXDW, which IMS enables, and the IVAR entries
// name the EICR bit (RxTxQ) a queue's cause also sets; EICR bit 31 (other
// cause) reflects an enabled ICR cause. GPIE.NSICR: every ICR read clears
// ICR (else only when IMS is 0 or INTA is set); an ICR read copies IAM
// (0x000E0, as on the 82574) into IMC (with NSICR, or when INTA is set).
inline constexpr Reg GPIE{0x01514, "GPIE"};
inline constexpr Reg EICS{0x01520, "EICS"};
inline constexpr Reg EIMS{0x01524, "EIMS"};
inline constexpr Reg EIMC{0x01528, "EIMC"};
inline constexpr Reg EIAC{0x0152C, "EIAC"}; // auto clear
inline constexpr Reg EIAM{0x01530, "EIAM"}; // auto mask
inline constexpr Reg EICR{0x01580, "EICR"};
inline constexpr RegArray EITR{0x01680, 4, "EITR"};  // 14:2 interval in 1 us units
// queue -> vector. 82576: IVAR[q % 8] holds queue q in bytes 0 (rx)
// and 1 (tx), queue q + 8 in bytes 2 and 3. I350: IVAR[q / 2] holds
// queue 2n in bytes 0 (rx) and 1 (tx), queue 2n + 1 in bytes 2 and 3.
inline constexpr RegArray IVAR0{0x01700, 4, "IVAR"};
inline constexpr Reg IVAR_MISC{0x01740, "IVAR_MISC"};
inline constexpr std::uint32_t GPIE_NSICR = 1u << 0;
inline constexpr std::uint32_t GPIE_MULTIPLE_MSIX = 1u << 4;
inline constexpr std::uint32_t GPIE_EIAME = 1u << 30;
inline constexpr std::uint32_t GPIE_PBA_SUPPORT = 1u << 31;
inline constexpr std::uint32_t IVAR_VALID = 1u << 7;
inline constexpr std::uint32_t EICR_OTHER = 1u << 31; // non-MSI-X mode: an enabled ICR cause

// -- Receive (13.4.22 - 13.4.32; 82576 8.10)
inline constexpr Reg RCTL{0x00100, "RCTL"};
inline constexpr std::uint32_t RCTL_EN = 1u << 1;
inline constexpr std::uint32_t RCTL_SBP = 1u << 2;
inline constexpr std::uint32_t RCTL_UPE = 1u << 3; // unicast promiscuous
inline constexpr std::uint32_t RCTL_MPE = 1u << 4; // multicast promiscuous
inline constexpr std::uint32_t RCTL_LPE = 1u << 5; // long packets
inline constexpr std::uint32_t RCTL_RDMTS_HALF = 0u << 8;
inline constexpr std::uint32_t RCTL_MO_MASK = 3u << 12;
inline constexpr std::uint32_t RCTL_BAM = 1u << 15; // accept broadcast
inline constexpr unsigned RCTL_BSIZE_SHIFT = 16;    // 17:16 with BSEX
inline constexpr std::uint32_t RCTL_BSIZE_MASK = 3u << 16;
inline constexpr std::uint32_t RCTL_BSEX = 1u << 25;
inline constexpr std::uint32_t RCTL_SECRC = 1u << 26; // strip the CRC

// Queue n's registers: 8254x/82574 at 0x2800 (+0x100 per queue on 82574),
// 82576 at 0xC000 + 0x40 n (queues 0-3 also aliased at the old offsets).
inline constexpr RegArray RDBAL_OLD{0x02800, 0x100, "RDBAL"};
inline constexpr RegArray RDBAL_ADV{0x0C000, 0x40, "RDBAL"};
inline constexpr RegArray TDBAL_OLD{0x03800, 0x100, "TDBAL"};
inline constexpr RegArray TDBAL_ADV{0x0E000, 0x40, "TDBAL"};
// offsets of the other registers of a queue from its RDBAL / TDBAL
inline constexpr std::uint32_t Q_BAH = 0x04, Q_LEN = 0x08, Q_SRRCTL = 0x0C, Q_H = 0x10, Q_T = 0x18,
                               Q_DCTL = 0x28, Q_RQDPC = 0x30;
inline constexpr std::uint32_t XDCTL_ENABLE = 1u << 25; // RXDCTL / TXDCTL queue enable (82576)

inline constexpr RegArray MTA{0x05200, 4, "MTA"};  // multicast table, 128 entries
inline constexpr RegArray RAL{0x05400, 8, "RAL"};  // receive address low
inline constexpr RegArray RAH{0x05404, 8, "RAH"};  // receive address high
inline constexpr std::uint32_t RAH_AV = 1u << 31;   // address valid
inline constexpr Reg MRQC{0x05818, "MRQC"};         // 82576 8.10.x multiple queues
inline constexpr RegArray RETA{0x05C00, 4, "RETA"}; // 82576 redirection table, 32 x 4 entries
inline constexpr RegArray RSSRK{0x05C80, 4, "RSSRK"}; // 82576 RSS key, 10 words
inline constexpr Reg RXCSUM{0x05000, "RXCSUM"};
inline constexpr std::uint32_t MRQC_RSS = 0x2;      // MRQE: RSS
inline constexpr std::uint32_t MRQC_RSS_FIELDS = (1u << 16) | (1u << 17) | (1u << 20) | (1u << 21) | (1u << 22) |
                                                 (1u << 23); // IPv4/IPv6 (+TCP, +UDP)
inline constexpr std::uint32_t RXCSUM_PCSD = 1u << 13;

// -- Transmit (13.4.33 - 13.4.44; 82576 8.12)
inline constexpr Reg TCTL{0x00400, "TCTL"};
inline constexpr Reg TIPG{0x00410, "TIPG"};
inline constexpr std::uint32_t TCTL_EN = 1u << 1;
inline constexpr std::uint32_t TCTL_PSP = 1u << 3; // pad short packets
inline constexpr unsigned TCTL_CT_SHIFT = 4;
inline constexpr unsigned TCTL_COLD_SHIFT = 12;
inline constexpr std::uint32_t TIPG_COPPER = 10u | (8u << 10) | (6u << 20); // IPGT, IPGR1, IPGR2 (13.4.34)

// -- Statistics (13.7; 82576 8.19), all cleared on read. 64-bit counters are
// read low word first.
inline constexpr Reg CRCERRS{0x04000, "CRCERRS"};
inline constexpr Reg MPC{0x04010, "MPC"};   // missed packets (no room)
inline constexpr Reg GPRC{0x04074, "GPRC"}; // good packets received
inline constexpr Reg BPRC{0x04078, "BPRC"};
inline constexpr Reg MPRC{0x0407C, "MPRC"};
inline constexpr Reg GPTC{0x04080, "GPTC"}; // good packets transmitted
inline constexpr Reg GORCL{0x04088, "GORCL"};
inline constexpr Reg GORCH{0x0408C, "GORCH"};
inline constexpr Reg GOTCL{0x04090, "GOTCL"};
inline constexpr Reg GOTCH{0x04094, "GOTCH"};
inline constexpr Reg RNBC{0x040A0, "RNBC"}; // receive no buffers
inline constexpr Reg RUC{0x040A4, "RUC"};   // undersize
inline constexpr Reg ROC{0x040AC, "ROC"};   // oversize
inline constexpr Reg TPR{0x040D0, "TPR"};   // total packets received
inline constexpr Reg TPT{0x040D4, "TPT"};   // total packets transmitted

// -- Legacy descriptors (3.2.4 receive, 3.3.3 transmit)
struct LegacyRxDesc {
    std::uint64_t addr;
    std::uint64_t hi; // length 15:0, checksum 31:16, status 39:32, errors 47:40, special 63:48
};
struct LegacyTxDesc {
    std::uint64_t addr;
    std::uint64_t hi; // length 15:0, cso 23:16, cmd 31:24, status 35:32, css 47:40, special 63:48
};
static_assert(sizeof(LegacyRxDesc) == 16 && sizeof(LegacyTxDesc) == 16);

inline constexpr std::uint64_t LRXD_STAT_DD = 1ull << 32;
inline constexpr std::uint64_t LRXD_STAT_EOP = 1ull << 33;
inline constexpr std::uint64_t LRXD_LEN_MASK = 0xffff;
// RDESC.ERRORS (3.2.3.2; 82574 7.1.4.x, the same byte), valid when EOP is
// set: CE (CRC or alignment error), SE (symbol error), SEQ (sequence
// error), CXE (carrier extension error), RXE (RX data error). Frames with
// them arrive only with RCTL.SBP set, which this driver never sets, so a
// device that reports one anyway is not trusted either way. TCPE and IPE
// (checksum errors, bits 5 and 6) are not frame errors and need checksum
// offload, which is off. ([L] E1000_RXD_ERR_FRAME_ERR_MASK, 0x97.)
inline constexpr unsigned LRXD_ERR_SHIFT = 40;
inline constexpr std::uint64_t LRXD_ERR_CE = 1ull << (LRXD_ERR_SHIFT + 0);
inline constexpr std::uint64_t LRXD_ERR_SE = 1ull << (LRXD_ERR_SHIFT + 1);
inline constexpr std::uint64_t LRXD_ERR_SEQ = 1ull << (LRXD_ERR_SHIFT + 2);
inline constexpr std::uint64_t LRXD_ERR_CXE = 1ull << (LRXD_ERR_SHIFT + 4);
inline constexpr std::uint64_t LRXD_ERR_RXE = 1ull << (LRXD_ERR_SHIFT + 7);
inline constexpr std::uint64_t LRXD_ERR_FRAME = LRXD_ERR_CE | LRXD_ERR_SE | LRXD_ERR_SEQ | LRXD_ERR_CXE | LRXD_ERR_RXE;
inline constexpr std::uint64_t LTXD_CMD_EOP = 1ull << 24;
inline constexpr std::uint64_t LTXD_CMD_IFCS = 1ull << 25;
inline constexpr std::uint64_t LTXD_CMD_RS = 1ull << 27;
inline constexpr std::uint64_t LTXD_CMD_DEXT = 1ull << 29;
inline constexpr std::uint64_t LTXD_STAT_DD = 1ull << 32;

// The legacy layout's operations for the shared ring code.
struct LegacyFormat {
    using Rx = LegacyRxDesc;
    using Tx = LegacyTxDesc;

    static void rx_arm(Rx& d, Iova buf) noexcept {
        d.addr = buf.value;
        d.hi = 0; // clears DD
    }
    // -- the write-back, as drivers::adv::FormatOf has it
    static constexpr std::uint64_t RX_DD = LRXD_STAT_DD, RX_EOP = LRXD_STAT_EOP;
    static std::uint64_t rx_word(const Rx& d) noexcept {
        return std::atomic_ref<std::uint64_t>(const_cast<std::uint64_t&>(d.hi)).load(std::memory_order_acquire);
    }
    static std::uint32_t rx_len(std::uint64_t w) noexcept { return std::uint16_t(w); }
    static bool rx_error(std::uint64_t w) noexcept { return w & LRXD_ERR_FRAME; }
    // DD, EOP, no error, 1 <= length <= bsz, in one compare: the length is
    // the low word already, status and errors sit above it.
    static bool rx_frame_ok(std::uint64_t w, std::uint32_t bsz) noexcept {
        constexpr std::uint64_t mask = LRXD_STAT_DD | LRXD_STAT_EOP | LRXD_ERR_FRAME | LRXD_LEN_MASK;
        constexpr std::uint64_t good = LRXD_STAT_DD | LRXD_STAT_EOP | 1;
        return (w & mask) - good <= std::uint64_t(bsz - 1);
    }
    static void tx_write(Tx& d, Iova buf, std::uint16_t len, std::uint32_t, bool eop) noexcept {
        d.addr = buf.value;
        d.hi = len | LTXD_CMD_IFCS | LTXD_CMD_RS | (eop ? LTXD_CMD_EOP : 0); // status = 0
    }
    static constexpr std::uint64_t TX_DD = LTXD_STAT_DD;
    static std::uint64_t tx_status(const Tx& d) noexcept {
        return std::atomic_ref<std::uint64_t>(const_cast<std::uint64_t&>(d.hi)).load(std::memory_order_acquire);
    }
    static bool tx_done(const Tx& d) noexcept { return tx_status(d) & TX_DD; }
};

} // namespace upio::e1000
