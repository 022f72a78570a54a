// Bounded waits on device registers.
#include "drivers/common/regs.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <thread>

namespace upio::drivers {

std::string Reg::str() const {
    return index < 0 ? std::string(name) : fmt::format("{}[{}]", name, index);
}

Status Regs::wait_set(const Reg& r, std::uint32_t mask, std::chrono::milliseconds timeout,
                      std::string_view what) const {
    return wait(r, mask, true, timeout, what);
}

Status Regs::wait_clear(const Reg& r, std::uint32_t mask, std::chrono::milliseconds timeout,
                        std::string_view what) const {
    return wait(r, mask, false, timeout, what);
}

bool Regs::present() const noexcept {
    if (gone()) return false;
    if (get(Reg{presence_reg, "STATUS"}) != 0xffffffffu) return true;
    mark_gone();
    return false;
}

void Regs::mark_gone() const noexcept {
    if (!gone_.exchange(true) && on_removed_) on_removed_();
}

Status Regs::removed_error(std::string_view what) const {
    return make_error(ENODEV, fmt::format("{}: the device is gone (STATUS reads 0xffffffff: unplugged, or its PCIe "
                                          "link is down), so no wait for {} can end; close the port",
                                          dev_->describe(), what));
}

Status Regs::wait(const Reg& r, std::uint32_t mask, bool set, std::chrono::milliseconds timeout,
                  std::string_view what) const {
    using clock = std::chrono::steady_clock;
    if (gone()) return removed_error(what);
    const auto deadline = clock::now() + timeout;
    // Poll fast first (most bits settle within microseconds), then back off
    // so a slow device (a link coming up) does not burn a core.
    auto pause = std::chrono::microseconds(1);
    std::uint32_t v = 0;
    for (;;) {
        v = get(r);
        if (v == 0xffffffffu && !present()) return removed_error(what);
        if (set ? (v & mask) == mask : (v & mask) == 0) return {};
        if (clock::now() >= deadline) break;
        std::this_thread::sleep_for(pause);
        pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(5));
    }
    return make_error(ETIMEDOUT, fmt::format("{}: timed out after {} ms waiting for {} ({} bits {:#010x} to be {}; "
                                             "last value {:#010x})",
                                             dev_->describe(), timeout.count(), what, r.str(), mask,
                                             set ? "set" : "clear", v));
}

Status reset_after_master_disable(const Regs& r, const ResetFlow& f) noexcept {
    write_all(r, f.quiesce);
    (void)r.get(f.status); // flush the writes
    bool idle = true;
    if (f.master_disable) {
        r.set_flags(f.ctrl, f.master_disable);
        idle = r.wait_clear(f.status, f.master_enable, f.timeout, "PCIe requests to complete").ok();
    }
    if (f.settle.count()) std::this_thread::sleep_for(f.settle);
    for (unsigned n = idle ? 1 : std::max(1u, f.resets_when_busy); n > 0; n--) {
        r.set_flags(f.ctrl, f.reset);
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        if (Status s = r.wait_clear(f.ctrl, f.reset, f.timeout, "the device reset to complete"); !s) return s;
    }
    return {};
}

} // namespace upio::drivers
