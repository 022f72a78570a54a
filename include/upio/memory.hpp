// upio/memory.hpp -- how a port's memory is made: MemoryConfig.
//
// A region is one contiguous mapping split in two areas:
//
//   [ objects: netmap_if and netmap_ring structures | buffers: num_bufs x buf_size ]
//
// Buffer index <-> virtual address is arithmetic; virtual address <-> IOVA
// goes through a page table filled when a device maps the region for DMA.
// The region is backed by 2 MiB hugepages through libhugetlbfs when the
// system has them (one-line warning and normal pages otherwise), bound to a
// NUMA node through libnuma, and fully pre-faulted: nothing is allocated or
// faulted in on the data path. The region itself (MemoryRegion) is backend
// API: <upio/backend/memory_region.hpp>.
#pragma once

#include <cstddef>
#include <cstdint>

namespace upio {

enum class HugepagePolicy {
    prefer,  // hugepages when available, else normal pages and a warning
    require, // fail with an error when hugepages are not available
    never,   // normal pages
};

struct MemoryConfig {
    std::uint32_t buf_size = 2048; // bytes per buffer, a multiple of 64, <= 65535
    std::uint32_t num_bufs = 0;    // 0: enough for the rings (plus extra_bufs)
    std::size_t object_bytes = 0;  // 0: enough for the rings
    int numa_node = -1;            // -1: the device's node, else the calling thread's
    HugepagePolicy hugepages = HugepagePolicy::prefer;
    // Back the region with a memfd mapped MAP_SHARED (MFD_HUGETLB when
    // hugepages are used), so that another process can map it: the region's
    // fd() travels over a unix socket (SCM_RIGHTS). Same hugepage fallback
    // and NUMA placement as a private region.
    bool shared = false;
};

} // namespace upio
