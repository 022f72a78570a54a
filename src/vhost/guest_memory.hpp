// The front end's memory as SET_MEM_TABLE describes it: up to eight regions,
// each a file (memfd, hugetlbfs) mapped here, with its guest physical range
// and the front end's own virtual range.
//
// Translations never return a pointer whose range leaves a mapping: a
// guest-physical address (descriptors) or a front-end address (rings) is
// looked up with its length, and anything not inside one region is refused.
#pragma once

#include "vhost/protocol.hpp"

#include <upio/error.hpp>

#include <cstddef>
#include <cstdint>
#include <span>

namespace upio::vhost {

struct GuestRegion {
    std::uint64_t gpa = 0;  // guest physical start
    std::uint64_t size = 0;
    std::uint64_t uva = 0;  // front end's virtual start
    char* host = nullptr;   // our address of gpa
    void* map = nullptr;    // the whole mapping (from file offset 0)
    std::size_t map_len = 0;
};

class GuestMemory {
public:
    GuestMemory() = default;
    ~GuestMemory() { clear(); }
    GuestMemory(const GuestMemory&) = delete;
    GuestMemory& operator=(const GuestMemory&) = delete;

    // Replaces the table: checks every region (a size, no wrap-around, no
    // overlap with another region in guest or front-end addresses, inside
    // its file), maps them all or none. Takes ownership of the fds (closed
    // here, mapped or not).
    Status set(std::span<const MemRegionMsg> regions, std::span<const int> fds);
    // Maps nothing more: a test or the fuzzer gives memory it owns.
    Status set_unowned(std::span<const GuestRegion> regions);
    void clear() noexcept;
    bool empty() const noexcept { return n_ == 0; }
    std::uint32_t size() const noexcept { return n_; }
    const GuestRegion& region(std::uint32_t i) const noexcept { return r_[i]; }

    // Our address of guest-physical [gpa, gpa+len), when it lies inside one
    // region; else nullptr. len 0 is refused.
    char* gpa_to_host(std::uint64_t gpa, std::uint64_t len) const noexcept {
        const GuestRegion* r = find_gpa(gpa);
        if (!r || len == 0 || len > r->size - (gpa - r->gpa)) return nullptr;
        return r->host + (gpa - r->gpa);
    }
    // The part of [gpa, gpa+len) that is contiguous here: its address, and
    // in `n` how many bytes (<= len) lie in the region holding gpa. nullptr
    // when gpa is in no region.
    char* gpa_span(std::uint64_t gpa, std::uint64_t len, std::uint64_t& n) const noexcept {
        const GuestRegion* r = find_gpa(gpa);
        if (!r) return nullptr;
        const std::uint64_t left = r->size - (gpa - r->gpa);
        n = len < left ? len : left;
        return r->host + (gpa - r->gpa);
    }
    // Same as gpa_to_host, for the front end's virtual addresses (rings).
    char* uva_to_host(std::uint64_t uva, std::uint64_t len) const noexcept;

private:
    const GuestRegion* find_gpa(std::uint64_t gpa) const noexcept {
        for (std::uint32_t i = 0; i < n_; i++) // at most eight; QEMU gives one or two
            if (gpa - r_[i].gpa < r_[i].size) return &r_[i];
        return nullptr;
    }
    static Status check(std::span<const GuestRegion> regions);

    GuestRegion r_[max_mem_regions];
    std::uint32_t n_ = 0;
    bool owned_ = false;
};

} // namespace upio::vhost
