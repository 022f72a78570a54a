// drivers/common/regs.hpp -- register access helpers shared by the NIC drivers.
//
// A register is named by a Reg: its BAR0 offset and its datasheet mnemonic
// (plus the queue or entry index for per-queue registers), so that every
// wait on hardware can say which register it watched and what it expected.
//
//   Regs r(dev);
//   r.set_flags(CTRL, CTRL_RST);
//   if (Status s = r.wait_clear(CTRL, CTRL_RST, 100ms, "reset to complete"); !s) return s;
//
// get/set/set_flags/clear_flags are plain MMIO accesses (usable on the data
// path); wait_set/wait_clear are control path and always bounded.
#pragma once

#include <upio/device.hpp>
#include <upio/error.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace upio::drivers {

struct Reg {
    std::uint32_t offset = 0;
    const char* name = "";
    int index = -1; // queue / entry index for register arrays, -1 for a single register

    std::string str() const; // "CTRL" or "RXDCTL[3]"
};

// A register array: Reg for entry i is at base + i * stride.
struct RegArray {
    std::uint32_t base = 0;
    std::uint32_t stride = 4;
    const char* name = "";

    constexpr Reg operator[](unsigned i) const noexcept {
        return Reg{base + i * stride, name, int(i)};
    }
};

// A statistics register and the field of a driver's HwStats it accumulates
// into: a 32-bit counter, or a low/high pair (hi.offset != 0) read low first.
template <class Stats>
struct StatReg {
    Reg lo;
    Reg hi;
    std::uint64_t Stats::*field;
};

class Regs {
public:
    explicit Regs(Device& dev) noexcept : dev_(&dev) {}

    std::uint32_t get(const Reg& r) const noexcept { return dev_->read32(r.offset); }
    void set(const Reg& r, std::uint32_t v) const noexcept { dev_->write32(r.offset, v); }
    void set_flags(const Reg& r, std::uint32_t f) const noexcept { set(r, get(r) | f); }
    void clear_flags(const Reg& r, std::uint32_t f) const noexcept { set(r, get(r) & ~f); }
    // Replaces the bits of `mask` with `v` (v already shifted into place).
    void set_field(const Reg& r, std::uint32_t mask, std::uint32_t v) const noexcept {
        set(r, (get(r) & ~mask) | (v & mask));
    }

    // Polls until all bits of `mask` are set (cleared), at most `timeout`.
    // The error names the device, the register, the bits, what the wait was
    // for (`what`) and the last value read.
    Status wait_set(const Reg& r, std::uint32_t mask, std::chrono::milliseconds timeout,
                    std::string_view what) const;
    Status wait_clear(const Reg& r, std::uint32_t mask, std::chrono::milliseconds timeout,
                      std::string_view what) const;

    Device& device() const noexcept { return *dev_; }

    // Adds every counter of `regs` (they clear on read) to its field of
    // `out`; `hi_mask`: the bits of a high register that count (a 36-bit
    // counter has 4).
    template <class Stats, std::size_t N>
    void accumulate(const StatReg<Stats> (&regs)[N], Stats& out, std::uint32_t hi_mask) const noexcept {
        for (const StatReg<Stats>& s : regs) {
            std::uint64_t v = get(s.lo);
            if (s.hi.offset) v |= std::uint64_t(get(s.hi) & hi_mask) << 32;
            out.*s.field += v;
        }
    }

private:
    Status wait(const Reg& r, std::uint32_t mask, bool set, std::chrono::milliseconds timeout,
                std::string_view what) const;
    Device* dev_;
};

} // namespace upio::drivers
