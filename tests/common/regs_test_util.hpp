// A driver's register map against a second transcription of its datasheet
// (tests/*/..._regs_test.cpp, tier: unit). The test's tables are typed again
// from the datasheet, not copied from the map: an edit that moves an offset
// or a bit fails, naming the mnemonic and the section.
#pragma once

#include "drivers/common/regs.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <span>
#include <string>

namespace upio::test {

struct RegFact {
    const char* mnemonic;   // as in the datasheet; "RXDCTL[3]" for an array entry
    const char* section;    // where the datasheet defines it
    std::uint32_t offset;   // BAR0
    drivers::Reg reg;       // the map's
};

struct BitFact {
    const char* mnemonic;   // REGISTER.FIELD
    const char* section;
    std::uint64_t value;    // the field's mask (or value) in the register
    std::uint64_t map;      // the map's
};

// Every offset as transcribed, and the map's name is the datasheet's
// mnemonic (what errors print).
inline void expect_reg_facts(std::span<const RegFact> facts) {
    for (const RegFact& f : facts) {
        EXPECT_EQ(f.reg.offset, f.offset) << f.mnemonic << " (" << f.section << ") moved: the map says 0x" << std::hex
                                          << f.reg.offset << ", the datasheet 0x" << f.offset;
        std::string name = f.mnemonic;
        name = name.substr(0, name.find('['));
        EXPECT_EQ(std::string(f.reg.name), name) << f.mnemonic;
    }
}

inline void expect_bit_facts(std::span<const BitFact> facts) {
    for (const BitFact& b : facts)
        EXPECT_EQ(b.map, b.value) << b.mnemonic << " (" << b.section << "): the map says 0x" << std::hex << b.map
                                  << ", the datasheet 0x" << b.value;
}

} // namespace upio::test
