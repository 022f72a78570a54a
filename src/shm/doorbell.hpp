// Wake-ups between processes, as ptnetmap does them: a waiter announces in
// shared memory that it sleeps; a producer that published new indices
// writes the waiter's eventfd only when it finds that announcement. While
// both sides stream nobody sleeps and no system call is made.
//
//   waiter:   announce(flag) ; full fence ; re-read the indices ; sleep on its eventfd
//   producer: publish indices ; full fence ; ring(flag, fd)
//
// Either the waiter sees the new indices on its re-check, or the producer
// sees the flag. The flag lives in memory the other process can write: a
// peer that clears it costs the waiter a timeout, one that sets it costs
// the producer a system call per sync; neither touches anything else.
// Pipes use this for their ends; a switch daemon and its clients can use
// the same flags in a client's region and the same eventfds.
#pragma once

#include <atomic>
#include <cstdint>

#include <unistd.h>

namespace upio::shm {

// One flag on a cache line of its own.
struct alignas(64) Flag {
    std::uint32_t v = 0;
    char pad_[60];
};
static_assert(sizeof(Flag) == 64);

inline void announce(Flag& f, bool sleeping) noexcept {
    std::atomic_ref<std::uint32_t>(f.v).store(sleeping ? 1 : 0, std::memory_order_relaxed);
}

// After publishing: wakes the waiter behind `f` through `fd` if it
// announced sleep. Returns whether it wrote.
inline bool ring_if_sleeping(Flag& f, int fd) noexcept {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    std::atomic_ref<std::uint32_t> a(f.v);
    if (a.load(std::memory_order_relaxed) == 0 || a.exchange(0, std::memory_order_relaxed) == 0) return false;
    if (fd >= 0) {
        std::uint64_t one = 1;
        [[maybe_unused]] auto r = ::write(fd, &one, sizeof one);
    }
    return true;
}

} // namespace upio::shm
