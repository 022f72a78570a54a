// The ixgbe register map against the checked facts (tier: unit).
//
// Each row is a register or bit as the 82599 datasheet names it, with the
// section it comes from and the value it has there; the value was checked
// against Linux's ixgbe_type.h [L] and Snabb's register tables [S] (see
// ixgbe_regs.hpp). The map must agree: an edit that moves an offset or a bit
// fails here, naming the mnemonic.
#include "drivers/ixgbe/ixgbe_regs.hpp"

#include "../common/regs_test_util.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

using namespace upio::ixgbe;
using upio::test::BitFact;
using upio::test::RegFact;

namespace {

const RegFact reg_facts[] = {
    {"CTRL", "8.2.3.1.1", 0x00000, CTRL},
    {"STATUS", "8.2.3.1.2", 0x00008, STATUS},
    {"CTRL_EXT", "8.2.3.1.3", 0x00018, CTRL_EXT},
    {"EEC", "8.2.3.2.1", 0x10010, EEC},
    {"EICR", "8.2.3.5.1", 0x00800, EICR},
    {"EICS", "8.2.3.5", 0x00808, EICS},
    {"EIAC", "8.2.3.5.4", 0x00810, EIAC},
    {"EIMS", "8.2.3.5.3", 0x00880, EIMS},
    {"EIMC", "8.2.3.5.5", 0x00888, EIMC},
    {"EIAM", "8.2.3.5.6", 0x00890, EIAM},
    {"GPIE", "8.2.3.5.18", 0x00898, GPIE},
    {"IVAR[0]", "8.2.3.5.16", 0x00900, IVAR[0]},
    {"IVAR[63]", "8.2.3.5.16", 0x009FC, IVAR[63]},
    {"IVAR_MISC", "8.2.3.5.17", 0x00A00, IVAR_MISC},
    {"EIMS_EX[1]", "8.2.3.5.8", 0x00AA4, EIMS_EX[1]},
    {"EIMC_EX[1]", "8.2.3.5.9", 0x00AB4, EIMC_EX[1]},
    {"EIAM_EX[1]", "8.2.3.5.7", 0x00AD4, EIAM_EX[1]},
    {"EITR[0]", "8.2.3.5.12", 0x00820, EITR(0)},
    {"EITR[23]", "8.2.3.5.12", 0x0087C, EITR(23)},
    {"EITR[24]", "8.2.3.5.12", 0x12300, EITR(24)},
    {"EITR[63]", "8.2.3.5.12", 0x1239C, EITR(63)},
    {"RDBAL[0]", "8.2.3.8.1-7", 0x01000, RDBAL[0]},
    {"RDBAH[0]", "8.2.3.8.1-7", 0x01004, RDBAH[0]},
    {"RDLEN[0]", "8.2.3.8.1-7", 0x01008, RDLEN[0]},
    {"DCA_RXCTRL[0]", "8.2.3.11.1", 0x0100C, DCA_RXCTRL[0]},
    {"RDH[0]", "8.2.3.8.1-7", 0x01010, RDH[0]},
    {"SRRCTL[0]", "8.2.3.8.1-7", 0x01014, SRRCTL[0]},
    {"RDT[0]", "8.2.3.8.1-7", 0x01018, RDT[0]},
    {"RXDCTL[0]", "8.2.3.8.1-7", 0x01028, RXDCTL[0]},
    {"RXDCTL[63]", "8.2.3.8.1-7", 0x01FE8, RXDCTL[63]},
    {"RDRXCTL", "8.2.3.8.8", 0x02F00, RDRXCTL},
    {"RXCTRL", "8.2.3.8.10", 0x03000, RXCTRL},
    {"RXPBSIZE[0]", "8.2.3.8.9", 0x03C00, RXPBSIZE[0]},
    {"FCRTH[0]", "[L] FCRTH_82599", 0x03260, FCRTH[0]},
    {"FCRTH[7]", "[L] FCRTH_82599", 0x0327C, FCRTH[7]},
    {"SECRXCTRL", "[L]", 0x08D00, SECRXCTRL},
    {"SECRXSTAT", "[L]", 0x08D04, SECRXSTAT},
    {"TXPBTHRESH[0]", "[L]", 0x04950, TXPBTHRESH[0]},
    {"RXPBSIZE[7]", "8.2.3.8.9", 0x03C1C, RXPBSIZE[7]},
    {"RXCSUM", "8.2.3.7.5", 0x05000, RXCSUM},
    {"FCTRL", "8.2.3.7.1", 0x05080, FCTRL},
    {"MCSTCTRL", "8.2.3.7.7", 0x05090, MCSTCTRL},
    {"MTA[0]", "8.2.3.7.8", 0x05200, MTA[0]},
    {"MTA[127]", "8.2.3.7.8", 0x053FC, MTA[127]},
    {"RAL[0]", "8.2.3.7.9", 0x0A200, RAL[0]},
    {"RAH[0]", "8.2.3.7.10", 0x0A204, RAH[0]},
    {"RAL[127]", "8.2.3.7.9", 0x0A5F8, RAL[127]},
    {"RETA[0]", "8.2.3.7.15", 0x0EB00, RETA[0]},
    {"RETA[31]", "8.2.3.7.15", 0x0EB7C, RETA[31]},
    {"RSSRK[0]", "8.2.3.7.16", 0x0EB80, RSSRK[0]},
    {"RSSRK[9]", "8.2.3.7.16", 0x0EBA4, RSSRK[9]},
    {"MRQC", "8.2.3.7.12", 0x0EC80, MRQC},
    {"ERETA[0]", "X550 datasheet (Linux IXGBE_ERETA)", 0x0EE80, ERETA[0]},
    {"ERETA[95]", "X550 datasheet (Linux IXGBE_ERETA)", 0x0EFFC, ERETA[95]},
    {"DMATXCTL", "8.2.3.9.2", 0x04A80, DMATXCTL},
    {"DTXMXSZRQ", "8.2.3.9.1", 0x08100, DTXMXSZRQ},
    {"MTQC", "8.2.3.9.15", 0x08120, MTQC},
    {"RTTDCS", "8.2.3.10.2", 0x04900, RTTDCS},
    {"TXPBSIZE[0]", "8.2.3.9.13", 0x0CC00, TXPBSIZE[0]},
    {"TDBAL[0]", "8.2.3.9.5-10", 0x06000, TDBAL[0]},
    {"TDBAH[0]", "8.2.3.9.5-10", 0x06004, TDBAH[0]},
    {"TDLEN[0]", "8.2.3.9.5-10", 0x06008, TDLEN[0]},
    {"TDH[0]", "8.2.3.9.5-10", 0x06010, TDH[0]},
    {"TDT[0]", "8.2.3.9.5-10", 0x06018, TDT[0]},
    {"TXDCTL[0]", "8.2.3.9.5-10", 0x06028, TXDCTL[0]},
    {"TXDCTL[127]", "8.2.3.9.5-10", 0x07FE8, TXDCTL[127]},
    {"HLREG0", "8.2.3.22.8", 0x04240, HLREG0},
    {"MAXFRS", "8.2.3.22.13", 0x04268, MAXFRS},
    {"AUTOC", "8.2.3.22.19", 0x042A0, AUTOC},
    {"LINKS", "8.2.3.22.20", 0x042A4, LINKS},
    {"CRCERRS", "8.2.3.23", 0x04000, CRCERRS},
    {"RLEC", "8.2.3.23", 0x04040, RLEC},
    {"GPRC", "8.2.3.23", 0x04074, GPRC},
    {"BPRC", "8.2.3.23", 0x04078, BPRC},
    {"MPRC", "8.2.3.23", 0x0407C, MPRC},
    {"GPTC", "8.2.3.23", 0x04080, GPTC},
    {"GORCL", "8.2.3.23", 0x04088, GORCL},
    {"GORCH", "8.2.3.23", 0x0408C, GORCH},
    {"GOTCL", "8.2.3.23", 0x04090, GOTCL},
    {"GOTCH", "8.2.3.23", 0x04094, GOTCH},
    {"RUC", "8.2.3.23", 0x040A4, RUC},
    {"ROC", "8.2.3.23", 0x040AC, ROC},
    {"TPR", "8.2.3.23", 0x040D0, TPR},
    {"TPT", "8.2.3.23", 0x040D4, TPT},
    {"MPC[0]", "8.2.3.23", 0x03FA0, MPC[0]},
    {"MPC[7]", "8.2.3.23", 0x03FBC, MPC[7]},
    {"RQSMR[0]", "8.2.3.23", 0x02300, RQSMR[0]},
    {"RQSMR[31]", "8.2.3.23", 0x0237C, RQSMR[31]},
    {"QPRDC[0]", "8.2.3.23", 0x01430, QPRDC[0]},
    {"QPRDC[15]", "8.2.3.23", 0x017F0, QPRDC[15]},
};

const BitFact bit_facts[] = {
    {"CTRL.PCIE_MASTER_DISABLE (bit 2)", "8.2.3.1.1", 1u << 2, CTRL_PCIE_MASTER_DISABLE},
    {"STATUS.GIO Master Enable Status (bit 19)", "8.2.3.1.2", 1u << 19, STATUS_GIO},
    {"SECRXCTRL.RX_DIS (bit 1)", "[L]", 1u << 1, SECRXCTRL_RX_DIS},
    {"SECRXSTAT.SECRX_RDY (bit 0)", "[L]", 1u << 0, SECRXSTAT_SECRX_RDY},
    {"CTRL.LRST (bit 3)", "8.2.3.1.1", 1u << 3, CTRL_LRST},
    {"CTRL.RST (bit 26)", "8.2.3.1.1", 1u << 26, CTRL_RST},
    {"CTRL_EXT.NS_DIS (bit 16)", "8.2.3.1.3", 1u << 16, CTRL_EXT_NS_DIS},
    {"CTRL_EXT.DRV_LOAD (bit 28)", "8.2.3.1.3", 1u << 28, CTRL_EXT_DRV_LOAD},
    {"EEC.PRES (bit 8)", "8.2.3.2.1", 1u << 8, EEC_PRES},
    {"EEC.AUTO_RD (bit 9)", "8.2.3.2.1", 1u << 9, EEC_AUTO_RD},
    {"EICR.RTxQ (15:0)", "8.2.3.5.1", 0xffffu, EICR_RTXQ_MASK},
    {"EICR.LSC (bit 20)", "8.2.3.5.1", 1u << 20, EICR_LSC},
    {"GPIE.Multiple_MSIX (bit 4)", "8.2.3.5.18", 1u << 4, GPIE_MSIX_MODE},
    {"GPIE.OCD (bit 5)", "8.2.3.5.18", 1u << 5, GPIE_OCD},
    {"GPIE.EIAME (bit 30)", "8.2.3.5.18", 1u << 30, GPIE_EIAME},
    {"GPIE.PBA_support (bit 31)", "8.2.3.5.18", 1u << 31, GPIE_PBA_SUPPORT},
    {"IVAR.INT_Alloc_val (bit 7 of a byte)", "8.2.3.5.16", 0x80, IVAR_ALLOC_VAL},
    {"EITR.ITR_Interval (11:3)", "8.2.3.5.12", 0x0ff8, EITR_INTERVAL_MASK},
    {"EITR.CNT_WDIS (bit 31)", "8.2.3.5.12", 1u << 31, EITR_CNT_WDIS},
    {"RDRXCTL.CRCStrip (bit 1)", "8.2.3.8.8", 1u << 1, RDRXCTL_CRCSTRIP},
    {"RDRXCTL.DMAIDONE (bit 3)", "8.2.3.8.8", 1u << 3, RDRXCTL_DMAIDONE},
    {"RDRXCTL.RSCFRSTSIZE (21:17)", "8.2.3.8.8", 0x1fu << 17, RDRXCTL_RSCFRSTSIZE},
    {"RDRXCTL.RSCACKC (bit 25)", "8.2.3.8.8", 1u << 25, RDRXCTL_RSCACKC},
    {"RDRXCTL.FCOE_WRFIX (bit 26)", "8.2.3.8.8", 1u << 26, RDRXCTL_FCOE_WRFIX},
    {"RXCTRL.RXEN (bit 0)", "8.2.3.8.10", 1u << 0, RXCTRL_RXEN},
    {"RXCSUM.PCSD (bit 13)", "8.2.3.7.5", 1u << 13, RXCSUM_PCSD},
    {"FCTRL.SBP (bit 1)", "8.2.3.7.1", 1u << 1, FCTRL_SBP},
    {"FCTRL.MPE (bit 8)", "8.2.3.7.1", 1u << 8, FCTRL_MPE},
    {"FCTRL.UPE (bit 9)", "8.2.3.7.1", 1u << 9, FCTRL_UPE},
    {"FCTRL.BAM (bit 10)", "8.2.3.7.1", 1u << 10, FCTRL_BAM},
    {"MCSTCTRL.MFE (bit 2)", "8.2.3.7.7", 1u << 2, MCSTCTRL_MFE},
    {"RAH.AV (bit 31)", "8.2.3.7.10", 1u << 31, RAH_AV},
    {"MRQC.MRQE (3:0)", "8.2.3.7.12", 0xfu, MRQC_MRQE_MASK},
    {"MRQC.MRQE = RSS (0001b)", "8.2.3.7.12", 0x1u, MRQC_RSS},
    {"MRQC.TcpIPv4 (bit 16)", "8.2.3.7.12", 1u << 16, MRQC_RSS_TCPIPV4},
    {"MRQC.IPv4 (bit 17)", "8.2.3.7.12", 1u << 17, MRQC_RSS_IPV4},
    {"MRQC.IPv6 (bit 20)", "8.2.3.7.12", 1u << 20, MRQC_RSS_IPV6},
    {"MRQC.TcpIPv6 (bit 21)", "8.2.3.7.12", 1u << 21, MRQC_RSS_TCPIPV6},
    {"MRQC.UdpIPv4 (bit 22)", "8.2.3.7.12", 1u << 22, MRQC_RSS_UDPIPV4},
    {"MRQC.UdpIPv6 (bit 23)", "8.2.3.7.12", 1u << 23, MRQC_RSS_UDPIPV6},
    {"RXDCTL/TXDCTL.ENABLE (bit 25)", "8.2.3.8.1-7", 1u << 25, XDCTL_ENABLE},
    {"TXDCTL.SWFLSH (bit 26)", "8.2.3.9.5-10", 1u << 26, TXDCTL_SWFLSH},
    {"TXDCTL.WTHRESH (22:16) shift", "8.2.3.9.5-10", 16, TXDCTL_WTHRESH_SHIFT},
    {"SRRCTL.BSIZEPACKET shift (1 KiB units)", "8.2.3.8.7", 10, SRRCTL_BSIZEPKT_SHIFT},
    {"SRRCTL.DESCTYPE (27:25)", "8.2.3.8.7", 0x7u << 25, SRRCTL_DESCTYPE_MASK},
    {"SRRCTL.DESCTYPE = advanced one buffer (001b)", "8.2.3.8.7", 0x1u << 25, SRRCTL_DESCTYPE_ADV_ONEBUF},
    {"SRRCTL.Drop_En (bit 28)", "8.2.3.8.7", 1u << 28, SRRCTL_DROP_EN},
    {"DMATXCTL.TE (bit 0)", "8.2.3.9.2", 1u << 0, DMATXCTL_TE},
    {"RTTDCS.ARBDIS (bit 6)", "8.2.3.10.2", 1u << 6, RTTDCS_ARBDIS},
    {"HLREG0.TXCRCEN (bit 0)", "8.2.3.22.8", 1u << 0, HLREG0_TXCRCEN},
    {"HLREG0.RXCRCSTRP (bit 1)", "8.2.3.22.8", 1u << 1, HLREG0_RXCRCSTRP},
    {"HLREG0.JUMBOEN (bit 2)", "8.2.3.22.8", 1u << 2, HLREG0_JUMBOEN},
    {"HLREG0.TXPADEN (bit 10)", "8.2.3.22.8", 1u << 10, HLREG0_TXPADEN},
    {"HLREG0.LPBK (bit 15)", "8.2.3.22.8", 1u << 15, HLREG0_LPBK},
    {"MAXFRS.MFS shift (31:16)", "8.2.3.22.13", 16, MAXFRS_MFS_SHIFT},
    {"AUTOC.FLU (bit 0)", "8.2.3.22.19", 1u << 0, AUTOC_FLU},
    {"AUTOC.Restart_AN (bit 12)", "8.2.3.22.19", 1u << 12, AUTOC_RESTART_AN},
    {"AUTOC.LMS (15:13)", "8.2.3.22.19", 0x7u << 13, AUTOC_LMS_MASK},
    {"AUTOC.LMS = 10G serial (011b)", "8.2.3.22.19", 0x3u << 13, AUTOC_LMS_10G_SERIAL},
    {"LINKS.Link_Up (bit 30)", "8.2.3.22.20", 1u << 30, LINKS_LINK_UP},
    {"LINKS.LINK_SPEED (29:28)", "8.2.3.22.20", 0x3u << 28, LINKS_SPEED_MASK},
    {"LINKS.LINK_SPEED = 10 Gb/s (11b)", "8.2.3.22.20", 0x3u << 28, LINKS_SPEED_10G},
    {"LINKS.LINK_SPEED = 1 Gb/s (10b)", "8.2.3.22.20", 0x2u << 28, LINKS_SPEED_1G},
    {"LINKS.LINK_SPEED = 100 Mb/s (01b)", "8.2.3.22.20", 0x1u << 28, LINKS_SPEED_100M},
    {"LINKS bit 27 (X550: 2.5/5 Gb/s)", "X550 datasheet (Linux LINKS_SPEED_NON_STD)", 1u << 27,
     LINKS_SPEED_NON_STD},
};

TEST(IxgbeRegs, OffsetsMatchTheCheckedFacts) {
    upio::test::expect_reg_facts(reg_facts);
}

TEST(IxgbeRegs, BitsMatchTheCheckedFacts) {
    upio::test::expect_bit_facts(bit_facts);
}

TEST(IxgbeRegs, PerQueueRegistersFollowTheirStrides) {
    // receive and transmit queues 0-63 at base + 0x40 * n (8.2.3.8, 8.2.3.9)
    for (unsigned q = 0; q < 64; q++) {
        EXPECT_EQ(RDT[q].offset, 0x01018u + 0x40 * q) << q;
        EXPECT_EQ(RXDCTL[q].offset, 0x01028u + 0x40 * q) << q;
        EXPECT_EQ(TDT[q].offset, 0x06018u + 0x40 * q) << q;
        EXPECT_EQ(TXDCTL[q].offset, 0x06028u + 0x40 * q) << q;
        EXPECT_EQ(EITR(q).offset, q < 24 ? 0x00820u + 4 * q : 0x12300u + 4 * (q - 24)) << q;
    }
    // QPRDC[n] shares the 0x40 stride of the queue block, 16 of them
    for (unsigned n = 0; n < queue_stat_counters; n++) EXPECT_EQ(QPRDC[n].offset, 0x01430u + 0x40 * n) << n;
    // the redirection table sizes: 128 4-bit entries, X550 512 6-bit ones
    EXPECT_EQ(reta_entries, 128u);
    EXPECT_EQ(reta_entries_x550, 128u + 4 * 96);
    EXPECT_EQ(RETA_ENTRY_MASK, 0xfu);
    EXPECT_EQ(RETA_ENTRY_MASK_X550, 0x3fu);
}

} // namespace
