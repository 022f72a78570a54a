// The e1000 register map against a second transcription (tier: unit).
//
// The driver (e1000_regs.hpp, e1000.cpp's family traits) and the software
// model both use the driver's map, so a wrong offset there would be mirrored
// by the model and pass every model test. These rows are transcribed again,
// independently, from the datasheets' register tables -- 8254x SDM
// (section 13), 82574 datasheet (10.2), 82576 datasheet (8) -- and checked
// against Linux's e1000/e1000e/igb register definitions [L]. An edit that
// moves an offset or a bit fails here, naming the mnemonic and the section.
#include "drivers/e1000/e1000.hpp"
#include "drivers/e1000/e1000_regs.hpp"

#include "../common/regs_test_util.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

using namespace upio::e1000;
using upio::test::BitFact;
using upio::test::RegFact;

namespace {

const RegFact reg_facts[] = {
    // 8254x SDM table 13-2 and the sections below; the same offsets on the 82574 and 82576
    {"CTRL", "13.4.1", 0x00000, CTRL},
    {"STATUS", "13.4.2", 0x00008, STATUS},
    {"EECD", "13.4.3 (82574/82576: EEC)", 0x00010, EECD},
    {"EERD", "13.4.4", 0x00014, EERD},
    {"CTRL_EXT", "13.4.6", 0x00018, CTRL_EXT},
    {"MDIC", "13.4.7", 0x00020, MDIC},
    {"ICR", "13.4.17", 0x000C0, ICR},
    {"ITR", "13.4.18", 0x000C4, ITR},
    {"ICS", "13.4.19", 0x000C8, ICS},
    {"IMS", "13.4.20", 0x000D0, IMS},
    {"IMC", "13.4.21", 0x000D8, IMC},
    {"RCTL", "13.4.22", 0x00100, RCTL},
    {"TCTL", "13.4.33", 0x00400, TCTL},
    {"TIPG", "13.4.34", 0x00410, TIPG},
    {"RXCSUM", "13.4 (82576 8.10)", 0x05000, RXCSUM},
    {"MTA[0]", "13.5.1", 0x05200, MTA[0]},
    {"MTA[127]", "13.5.1", 0x053FC, MTA[127]},
    {"RAL[0]", "13.5.2", 0x05400, RAL[0]},
    {"RAH[0]", "13.5.3", 0x05404, RAH[0]},
    {"RAL[15]", "13.5.2", 0x05478, RAL[15]},
    {"CRCERRS", "13.7", 0x04000, CRCERRS},
    {"MPC", "13.7", 0x04010, MPC},
    {"GPRC", "13.7", 0x04074, GPRC},
    {"BPRC", "13.7", 0x04078, BPRC},
    {"MPRC", "13.7", 0x0407C, MPRC},
    {"GPTC", "13.7", 0x04080, GPTC},
    {"GORCL", "13.7", 0x04088, GORCL},
    {"GORCH", "13.7", 0x0408C, GORCH},
    {"GOTCL", "13.7", 0x04090, GOTCL},
    {"GOTCH", "13.7", 0x04094, GOTCH},
    {"RNBC", "13.7", 0x040A0, RNBC},
    {"RUC", "13.7", 0x040A4, RUC},
    {"ROC", "13.7", 0x040AC, ROC},
    {"TPR", "13.7", 0x040D0, TPR},
    {"TPT", "13.7", 0x040D4, TPT},
    // 82574 MSI-X (10.2.4)
    {"EIAC", "82574 10.2.4 (EIAC)", 0x000DC, EIAC_82574},
    {"IAM", "82574 10.2.4 (IAM)", 0x000E0, IAM},
    {"IVAR", "82574 10.2.4 (IVAR)", 0x000E4, IVAR_82574},
    {"EITR[0]", "82574 10.2.4 (EITR)", 0x000E8, EITR_82574[0]},
    {"EITR[4]", "82574 10.2.4 (EITR)", 0x000F8, EITR_82574[4]},
    // 82576 extended interrupts (8.8)
    {"GPIE", "82576 8.8 (GPIE)", 0x01514, GPIE},
    {"EICS", "82576 8.8 (EICS)", 0x01520, EICS},
    {"EIMS", "82576 8.8 (EIMS)", 0x01524, EIMS},
    {"EIMC", "82576 8.8 (EIMC)", 0x01528, EIMC},
    {"EIAC", "82576 8.8 (EIAC)", 0x0152C, EIAC},
    {"EIAM", "82576 8.8 (EIAM)", 0x01530, EIAM},
    {"EICR", "82576 8.8 (EICR)", 0x01580, EICR},
    {"EITR[0]", "82576 8.8 (EITR)", 0x01680, EITR[0]},
    {"EITR[8]", "82576 8.8 (EITR)", 0x016A0, EITR[8]},
    {"IVAR[0]", "82576 8.8 (IVAR)", 0x01700, IVAR0[0]},
    {"IVAR[7]", "82576 8.8 (IVAR)", 0x0171C, IVAR0[7]},
    {"IVAR_MISC", "82576 8.8 (IVAR_MISC)", 0x01740, IVAR_MISC},
    // 82576 multiple queues (8.10)
    {"MRQC", "82576 8.10 (MRQC)", 0x05818, MRQC},
    {"RETA[0]", "82576 8.10 (RETA)", 0x05C00, RETA[0]},
    {"RETA[31]", "82576 8.10 (RETA)", 0x05C7C, RETA[31]},
    {"RSSRK[0]", "82576 8.10 (RSSRK)", 0x05C80, RSSRK[0]},
    {"RSSRK[9]", "82576 8.10 (RSSRK)", 0x05CA4, RSSRK[9]},
};

const BitFact bit_facts[] = {
    {"CTRL.GIO_MASTER_DISABLE", "82574 10.2.2 (CTRL), 82576 8.2 (CTRL); [L] E1000_CTRL_GIO_MASTER_DISABLE", 1u << 2,
     CTRL_GIO_MASTER_DISABLE},
    {"CTRL.ASDE", "13.4.1", 1u << 5, CTRL_ASDE},
    {"CTRL.SLU", "13.4.1", 1u << 6, CTRL_SLU},
    {"CTRL.RST", "13.4.1", 1u << 26, CTRL_RST},
    {"CTRL.PHY_RST", "13.4.1", 1u << 31, CTRL_PHY_RST},
    {"STATUS.FD", "13.4.2", 1u << 0, STATUS_FD},
    {"STATUS.LU", "13.4.2", 1u << 1, STATUS_LU},
    {"STATUS.SPEED", "13.4.2", 3u << 6, STATUS_SPEED_MASK},
    {"STATUS.GIO_MASTER_ENABLE", "82574 10.2.2 (STATUS), 82576 8.2 (STATUS); [L] E1000_STATUS_GIO_MASTER_ENABLE", 1u << 19,
     STATUS_GIO_MASTER_ENABLE},
    {"EEC.AUTO_RD", "82574 10.2.2.4, 82576 8.4.1", 1u << 9, EECD_AUTO_RD},
    {"EERD.DONE (8254x)", "13.4.4", 1u << 4, EERD_DONE_8254X},
    {"EERD.DONE (82574, 82576)", "82574 10.2.2.5, 82576 8.4.3", 1u << 1, EERD_DONE_NEW},
    {"MDIC.READY", "13.4.7", 1u << 28, MDIC_READY},
    {"MDIC.E", "13.4.7", 1u << 30, MDIC_ERROR},
    {"CTRL_EXT.EIAME", "82574 10.2.2.3", 1u << 24, CTRL_EXT_EIAME},
    {"CTRL_EXT.IAME", "82574 10.2.2.3", 1u << 27, CTRL_EXT_IAME},
    {"CTRL_EXT.PBA_SUPPORT", "82574 10.2.2.3", 1u << 31, CTRL_EXT_PBA_SUPPORT},
    {"ICR.TXDW", "13.4.17", 1u << 0, ICR_TXDW},
    {"ICR.LSC", "13.4.17", 1u << 2, ICR_LSC},
    {"ICR.RXDMT0", "13.4.17", 1u << 4, ICR_RXDMT0},
    {"ICR.RXO", "13.4.17", 1u << 6, ICR_RXO},
    {"ICR.RXT0", "13.4.17", 1u << 7, ICR_RXT0},
    {"ICR.RxQ0", "82574 10.2.4 (ICR)", 1u << 20, ICR_RXQ0},
    {"ICR.TxQ0", "82574 10.2.4 (ICR)", 1u << 22, ICR_TXQ0},
    {"ICR.Other", "82574 10.2.4 (ICR)", 1u << 24, ICR_OTHER},
    {"ICR.INTA", "82576 8.8 (ICR)", 1u << 31, ICR_INTA},
    {"IVAR.INT_ALLOC_VAL (82574)", "82574 10.2.4 (IVAR)", 1u << 3, IVAR_82574_VALID},
    {"IVAR.Other (82574 shift)", "82574 10.2.4 (IVAR)", 16, IVAR_82574_OTHER},
    {"IVAR.TxQ0 (82574 shift)", "82574 10.2.4 (IVAR)", 8, IVAR_82574_TXQ0},
    {"GPIE.NSICR", "82576 8.8 (GPIE)", 1u << 0, GPIE_NSICR},
    {"GPIE.Multiple_MSIX", "82576 8.8 (GPIE)", 1u << 4, GPIE_MULTIPLE_MSIX},
    {"GPIE.EIAME", "82576 8.8 (GPIE)", 1u << 30, GPIE_EIAME},
    {"GPIE.PBA_support", "82576 8.8 (GPIE)", 1u << 31, GPIE_PBA_SUPPORT},
    {"IVAR.INT_Alloc_val (82576)", "82576 8.8 (IVAR)", 1u << 7, IVAR_VALID},
    {"RCTL.EN", "13.4.22", 1u << 1, RCTL_EN},
    {"RCTL.UPE", "13.4.22", 1u << 3, RCTL_UPE},
    {"RCTL.MPE", "13.4.22", 1u << 4, RCTL_MPE},
    {"RCTL.BAM", "13.4.22", 1u << 15, RCTL_BAM},
    {"RCTL.BSIZE", "13.4.22", 3u << 16, RCTL_BSIZE_MASK},
    {"RCTL.SECRC", "13.4.22", 1u << 26, RCTL_SECRC},
    {"TCTL.EN", "13.4.33", 1u << 1, TCTL_EN},
    {"TCTL.PSP", "13.4.33", 1u << 3, TCTL_PSP},
    {"RXDCTL.ENABLE", "82576 8.10 (RXDCTL), 8.12 (TXDCTL)", 1u << 25, XDCTL_ENABLE},
    {"RAH.AV", "13.5.3", 1u << 31, RAH_AV},
    {"RXCSUM.PCSD", "82576 8.10 (RXCSUM)", 1u << 13, RXCSUM_PCSD},
    // legacy descriptors (3.2.4, 3.3.3), as 64-bit words: status at bit 32, command at 24
    {"RDESC.STATUS.DD", "3.2.4", 1ull << 32, LRXD_STAT_DD},
    {"RDESC.STATUS.EOP", "3.2.4", 1ull << 33, LRXD_STAT_EOP},
    {"TDESC.CMD.EOP", "3.3.3", 1ull << 24, LTXD_CMD_EOP},
    {"TDESC.CMD.IFCS", "3.3.3", 1ull << 25, LTXD_CMD_IFCS},
    {"TDESC.CMD.RS", "3.3.3", 1ull << 27, LTXD_CMD_RS},
    {"TDESC.STATUS.DD", "3.3.3", 1ull << 32, LTXD_STAT_DD},
};

TEST(E1000Regs, OffsetsMatchTheSecondTranscription) {
    upio::test::expect_reg_facts(reg_facts);
}

TEST(E1000Regs, BitsMatchTheSecondTranscription) {
    upio::test::expect_bit_facts(bit_facts);
}

// The queue registers the driver programs, as each family's traits place them.
TEST(E1000Regs, QueueRegistersPerFamily) {
    struct QueueFacts {
        const char* where;
        std::uint32_t rdbal, tdbal, stride; // queue 0's RDBAL / TDBAL, and the step to queue n
    };
    // 8254x 13.4.25-29 / 13.4.38-42 (queue 0); 82574 10.2 (RDBAL, TDBAL:
    // 0x100 apart; the driver uses queue 0); 82576 8.10 / 8.12 (0x40 apart)
    const QueueFacts legacy{"8254x/82574", 0x02800, 0x03800, 0x100};
    const QueueFacts adv{"82576/I350", 0x0C000, 0x0E000, 0x40};
    for (auto [family, f, queues] : {std::tuple{Family::i8254x, legacy, 1u}, {Family::i82574, legacy, 1u},
                                     {Family::i82576, adv, 8u}, {Family::i350, adv, 8u}}) {
        const FamilyTraits& t = traits(family);
        EXPECT_EQ(t.max_queues, queues) << f.where;
        for (unsigned q = 0; q < queues; q++) {
            EXPECT_EQ(t.rdbal[q].offset, f.rdbal + f.stride * q) << f.where << " RDBAL[" << q << "]";
            EXPECT_EQ(t.tdbal[q].offset, f.tdbal + f.stride * q) << f.where << " TDBAL[" << q << "]";
        }
    }
    // the other registers of a queue, from its RDBAL / TDBAL
    EXPECT_EQ(0x02804u - 0x02800, Q_BAH);    // RDBAH 13.4.26
    EXPECT_EQ(0x02808u - 0x02800, Q_LEN);    // RDLEN 13.4.27
    EXPECT_EQ(0x02810u - 0x02800, Q_H);      // RDH 13.4.28
    EXPECT_EQ(0x02818u - 0x02800, Q_T);      // RDT 13.4.29
    EXPECT_EQ(0x03818u - 0x03800, Q_T);      // TDT 13.4.42
    EXPECT_EQ(0x0C00Cu - 0x0C000, Q_SRRCTL); // 82576 SRRCTL
    EXPECT_EQ(0x0C028u - 0x0C000, Q_DCTL);   // 82576 RXDCTL
    EXPECT_EQ(0x0E028u - 0x0E000, Q_DCTL);   // 82576 TXDCTL
    EXPECT_EQ(0x0C030u - 0x0C000, Q_RQDPC);  // 82576 RQDPC
}

} // namespace
