// drivers/common/ring_text.hpp -- text a NIC driver hands to Adapter::explain().
//
// explain(kring, rc) runs on the data path's error branch (Port::sync_one,
// on the thread that owns the ring) and returns a const char*; it must not
// allocate or throw. A driver keeps one RingText per ring and formats into
// it there: snprintf into a fixed buffer, nothing else. One writer per ring
// (its owner thread), so no locking.
//
//   const char* explain(const KRing& k, int rc) const noexcept override {
//       if (rc == -ETIMEDOUT) return text_[k.ring_id].tx_hang(k, timeout, "TDH=%u TDT=%u", h, t);
//       return Adapter::explain(k, rc);
//   }
#pragma once

#include <upio/backend/adapter.hpp>

#include <chrono>
#include <cstdarg>
#include <cstddef>
#include <cstdio>
#include <cstring>

namespace upio::drivers {

class RingText {
public:
    static constexpr std::size_t capacity = 192; // what Port::last_error() keeps, with the port's prefix

    // printf-style (checked by the compiler); truncates to capacity - 1
    // characters. Returns the text.
    [[gnu::format(printf, 2, 3)]] const char* format(const char* fmt, ...) noexcept {
        va_list ap;
        va_start(ap, fmt);
        std::vsnprintf(buf_, sizeof buf_, fmt, ap);
        va_end(ap);
        return buf_;
    }
    // A TX hang: "TX hang: descriptor F (N in flight) not written back (DD)
    // for T ms; " from the ring's indices (relaxed loads: the owner thread or
    // the control path), then the driver's registers and link as `fmt` says.
    [[gnu::format(printf, 4, 5)]] const char* tx_hang(const KRing& k, std::chrono::milliseconds timeout,
                                                      const char* fmt, ...) noexcept {
        const std::uint32_t first = k.next(k.nr_hwtail.load(std::memory_order_relaxed));
        const std::uint32_t cur = k.nr_hwcur.load(std::memory_order_relaxed);
        int n = std::snprintf(buf_, sizeof buf_, "TX hang: descriptor %u (%u in flight) not written back (DD) for %lld ms; ",
                              first, k.distance(first, cur), static_cast<long long>(timeout.count()));
        if (n < 0 || std::size_t(n) >= sizeof buf_) return buf_;
        va_list ap;
        va_start(ap, fmt);
        std::vsnprintf(buf_ + n, sizeof buf_ - std::size_t(n), fmt, ap);
        va_end(ap);
        return buf_;
    }
    // Appends to the text (truncated as format()).
    [[gnu::format(printf, 2, 3)]] const char* append(const char* fmt, ...) noexcept {
        const std::size_t n = std::strlen(buf_);
        if (n + 1 >= sizeof buf_) return buf_;
        va_list ap;
        va_start(ap, fmt);
        std::vsnprintf(buf_ + n, sizeof buf_ - n, fmt, ap);
        va_end(ap);
        return buf_;
    }
    const char* c_str() const noexcept { return buf_; }

private:
    char buf_[capacity] = {};
};

} // namespace upio::drivers
