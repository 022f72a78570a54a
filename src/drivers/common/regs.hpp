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
//
// Surprise removal. A device that left the bus (hot-unplugged, its PCIe
// link down) answers every read with all-ones. STATUS (BAR0 0x00008 on
// every NIC these drivers know) never reads 0xffffffff on a present one, so
// a read of all-ones anywhere is checked against it (present()); once it
// says so the device is gone for good: gone() is true, the on_removed hook
// runs once (a driver wakes its waiters there), every wait fails at once
// with ENODEV instead of polling to its timeout, so close does not hang.
#pragma once

#include <upio/backend/device.hpp>
#include <upio/error.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
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

// What Port::last_error() says after a sync failed with ENODEV on a removed device.
inline constexpr const char* removed_text =
    "device removed (its registers read all-ones: unplugged, or its PCIe link is down); close the port";

class Regs {
public:
    static constexpr std::uint32_t presence_reg = 0x00008; // STATUS

    explicit Regs(Device& dev) noexcept : dev_(&dev) {}
    Regs(const Regs&) = delete;
    Regs& operator=(const Regs&) = delete;

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

    // -- surprise removal (see above)
    // The device was found gone. A relaxed load: cheap enough for every sync.
    bool gone() const noexcept { return gone_.load(std::memory_order_relaxed); }
    // Reads STATUS: false (and gone() from now on) when it reads all-ones.
    bool present() const noexcept;
    // The device is gone without a read saying so (the host asked for it
    // back: Device::request_fd).
    void mark_gone() const noexcept;
    // Runs once, on the thread that finds the device gone. Control path: set
    // it before the device is used.
    void set_on_removed(std::function<void()> f) { on_removed_ = std::move(f); }

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
    Status removed_error(std::string_view what) const;
    Device* dev_;
    mutable std::atomic<bool> gone_{false};
    std::function<void()> on_removed_;
};

// A register and the value a step writes to it.
struct RegWrite {
    Reg reg;
    std::uint32_t value;
};

// A software reset of an Intel NIC that may be mastering the bus, the shape
// both drivers share with their own registers and timing:
//   1. `quiesce` written in order (interrupts masked, rx/tx off), then a read
//      of `status` to flush them (posted writes);
//   2. the master disable flow, when the part has one (PCIe): `master_disable`
//      set in `ctrl`, then wait until `master_enable` clears in `status`, i.e.
//      no DMA request of the device's is outstanding and none can hang the
//      bus across the reset (e1000 [L] e1000_disable_pcie_master; 82599
//      4.2.1.6.1, 5.2.5.3.2);
//   3. `settle` for transactions in flight;
//   4. the `reset` bits of `ctrl` (self-clearing), no register access for 1 ms,
//      then wait until they read back clear. When master enable did not clear
//      in time, `resets_when_busy` resets in a row (the 82599 specification
//      update asks for two); the reset goes ahead in any case.
// The waits are bounded by `timeout` each; the error is the reset's.
struct ResetFlow {
    std::span<const RegWrite> quiesce;
    Reg ctrl;
    Reg status;
    std::uint32_t master_disable = 0; // CTRL bit; 0: no master disable flow (conventional PCI)
    std::uint32_t master_enable = 0;  // STATUS bit that clears once no request is outstanding
    std::uint32_t reset = 0;          // CTRL reset bits
    std::chrono::milliseconds settle{0};
    unsigned resets_when_busy = 1;
    std::chrono::milliseconds timeout{100};
};

// Writes every (register, value) of `writes`, in order.
inline void write_all(const Regs& r, std::span<const RegWrite> writes) noexcept {
    for (const RegWrite& w : writes) r.set(w.reg, w.value);
}

// Runs `flow` (see ResetFlow). Control path.
Status reset_after_master_disable(const Regs& r, const ResetFlow& flow) noexcept;

} // namespace upio::drivers
