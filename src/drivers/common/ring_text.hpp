// drivers/common/ring_text.hpp -- text a NIC driver hands to Adapter::explain().
//
// explain(kring, rc) runs on the data path's error branch (Port::sync_one,
// on the thread that owns the ring) and returns a const char*; it must not
// allocate or throw. A driver keeps one RingText per ring and formats into
// it there: snprintf into a fixed buffer, nothing else. One writer per ring
// (its owner thread), so no locking.
//
//   const char* explain(const KRing& k, int rc) const noexcept override {
//       if (rc == -ETIMEDOUT) return text_[k.ring_id].format("TX hang: TDH=%u TDT=%u", h, t);
//       return Adapter::explain(k, rc);
//   }
#pragma once

#include <cstdarg>
#include <cstddef>
#include <cstdio>

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
    const char* c_str() const noexcept { return buf_; }

private:
    char buf_[capacity] = {};
};

} // namespace upio::drivers
