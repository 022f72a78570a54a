// upio/backend/iova.hpp -- BACKEND API: I/O virtual addresses as their own type.
//
// An IOVA is the address a device uses for DMA. Under an IOMMU it is
// allocated by upio inside the ranges the IOMMU reports; in no-IOMMU mode it
// is a physical address. It is never the process's virtual address, and the
// type keeps the two from being mixed up.
#pragma once

#if defined(UPIO_USER_API_ONLY)
#error "upio/backend/iova.hpp is backend API; this program is built on the user API only (UPIO_USER_API_ONLY)"
#endif

#include <compare>
#include <cstdint>

namespace upio {

struct Iova {
    std::uint64_t value = 0;

    constexpr Iova operator+(std::uint64_t off) const noexcept { return Iova{value + off}; }
    constexpr std::uint64_t operator-(Iova other) const noexcept { return value - other.value; }
    constexpr auto operator<=>(const Iova&) const = default;
};

} // namespace upio
