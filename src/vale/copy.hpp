// Frame copies for the VALE data path.
//
// Short frames dominate the packet rate, and a call into memcpy costs more
// than the copy of 60 bytes. copy_frame() moves exactly `len` bytes with
// 16-, 32- and 64-byte blocks, the last block overlapping the previous one
// instead of a byte loop. It never reads or writes past `len`: a frame must
// not carry stale bytes of the sender's buffer into another port's memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace upio::vale::detail {

template <std::size_t N>
inline void block(char* d, const char* s) noexcept {
    std::memcpy(d, s, N); // a fixed size: the compiler emits vector moves, no call
}

inline void copy_frame(char* d, const char* s, std::size_t len) noexcept {
    // Source and destination overlapping: only ports that share one region
    // (a program's own) can arrange it, by rewriting a slot of their own
    // ring; a byte-exact move then, never an overlapping copy.
    if (d < s + len && s < d + len) [[unlikely]] {
        std::memmove(d, s, len);
        return;
    }
    if (len >= 64) [[likely]] {
        std::size_t i = 0;
        for (; i + 64 <= len; i += 64) block<64>(d + i, s + i);
        if (i != len) block<64>(d + len - 64, s + len - 64);
        return;
    }
    if (len >= 32) {
        block<32>(d, s);
        block<32>(d + len - 32, s + len - 32);
    } else if (len >= 16) {
        block<16>(d, s);
        block<16>(d + len - 16, s + len - 16);
    } else if (len >= 8) {
        block<8>(d, s);
        block<8>(d + len - 8, s + len - 8);
    } else {
        for (std::size_t i = 0; i < len; i++) d[i] = s[i];
    }
}

} // namespace upio::vale::detail
