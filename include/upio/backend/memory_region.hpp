// upio/backend/memory_region.hpp -- BACKEND API: a memory region, rings and
// packet buffers in one mapping (upio/memory.hpp describes the layout and
// MemoryConfig).
#pragma once

#if defined(UPIO_USER_API_ONLY)
#error "upio/backend/memory_region.hpp is backend API; this program is built on the user API only (UPIO_USER_API_ONLY)"
#endif

#include <upio/backend/iova.hpp>
#include <upio/error.hpp>
#include <upio/memory.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

struct netmap_slot;

namespace upio {

class MemoryRegion {
public:
    // Buffers 0 and 1 are reserved, as in netmap.
    static constexpr std::uint32_t first_buf = 2;

    // Maps and pre-faults a region with the given areas. `name` appears in
    // errors and in the hugepage warning. `device_object_bytes` is room for
    // what a device reads and writes besides buffers (descriptor rings,
    // alloc_device_object): it lies between the objects area and the
    // buffers, and only it and the buffers are ever DMA-mapped, so a device
    // that writes where it should not cannot reach the rings and netmap_ifs
    // an application reads (device_offset()).
    static Result<std::shared_ptr<MemoryRegion>> create(std::string_view name, std::size_t object_bytes,
                                                        std::uint32_t num_bufs, const MemoryConfig& cfg,
                                                        std::size_t device_object_bytes = 0);
    // Maps a region another process created with MemoryConfig::shared (its
    // fd() received over a unix socket): `object_bytes` and the buffer
    // geometry come from that process and are checked against the file's
    // size. The mapping owns `fd` (closed with the region). Its allocators
    // start empty: the creator hands out objects with add_free_objects().
    static Result<std::shared_ptr<MemoryRegion>> attach(std::string_view name, int fd, std::size_t object_bytes,
                                                        std::uint32_t num_bufs, std::uint32_t buf_size);
    ~MemoryRegion();
    MemoryRegion(const MemoryRegion&) = delete;
    MemoryRegion& operator=(const MemoryRegion&) = delete;

    char* base() const noexcept { return base_; }
    std::size_t size() const noexcept { return size_; }
    std::uint32_t num_bufs() const noexcept { return num_bufs_; }
    std::uint32_t buf_size() const noexcept { return buf_size_; }
    bool on_hugepages() const noexcept { return huge_; }
    int numa_node() const noexcept { return node_; }
    // The node it was asked for (MemoryConfig::numa_node as the creator set it; -1: none).
    int requested_numa_node() const noexcept { return requested_node_; }
    const std::string& name() const noexcept { return name_; }
    // The memfd behind a shared region (MemoryConfig::shared, or attach());
    // -1 for a private one. Owned by the region: dup() it to keep it.
    int fd() const noexcept { return fd_; }
    // Bytes before the buffer area (the objects area, page aligned).
    std::size_t object_bytes() const noexcept { return std::size_t(bufs_ - base_); }
    // Offset of the first byte a device may reach: the device objects, then
    // the buffers (4 KiB aligned). A DMA mapping covers [device_offset(),
    // size()) only; iova() stays linear over the whole region.
    std::size_t device_offset() const noexcept { return device_off_; }
    // Offsets, for what another process must find in a shared region (no
    // pointers in shared memory): offset_of(p) for p inside the region, at()
    // the way back. at() checks nothing: check offsets with contains().
    std::size_t offset_of(const void* p) const noexcept { return std::size_t(static_cast<const char*>(p) - base_); }
    char* at(std::size_t offset) const noexcept { return base_ + offset; }

    // -- data path: no checks beyond valid_buf(), no allocation
    bool valid_buf(std::uint32_t idx) const noexcept { return idx - first_buf < num_bufs_ - first_buf; }
    char* buf(std::uint32_t idx) const noexcept { return bufs_ + std::size_t(idx) * buf_size_; }
    std::uint32_t buf_index(const void* p) const noexcept {
        return std::uint32_t((static_cast<const char*>(p) - bufs_) / buf_size_);
    }
    // offset from `from` (a ring) to buffer 0, for netmap_ring::buf_ofs
    std::int64_t buf_ofs_from(const void* from) const noexcept {
        return bufs_ - static_cast<const char*>(from);
    }
    bool contains(const void* p, std::size_t len) const noexcept {
        auto c = static_cast<const char*>(p);
        return c >= base_ && len <= size_ && std::size_t(c - base_) <= size_ - len;
    }
    // IOVA of a byte in the region; valid once a device has mapped it.
    Iova iova(const void* p) const noexcept {
        std::size_t off = std::size_t(static_cast<const char*>(p) - base_);
        return Iova{iova_pages_[off >> iova_shift_] + (off & ((std::size_t(1) << iova_shift_) - 1))};
    }
    Iova buf_iova(std::uint32_t idx) const noexcept { return iova(buf(idx)); }
    bool dma_mapped() const noexcept { return !iova_pages_.empty(); }

    // -- control path
    // Granularity of the backing pages (2 MiB on hugepages, else 4 KiB).
    std::size_t page_size() const noexcept { return page_size_; }
    // Installs the IOVA of every page (`1 << shift` bytes each) of the region.
    void set_iova_map(unsigned shift, std::vector<std::uint64_t> page_iovas);
    void clear_iova_map();

    // A buffer for the caller alone (a backend's stand-in buffer): nothing
    // an application's memory names ever returns it to the free list, only
    // free_buf() does.
    Result<std::uint32_t> alloc_buf();
    // Back to the free list, unless it is free already. Only for a buffer
    // the caller holds itself (never an index read from shared memory).
    void free_buf(std::uint32_t idx);
    std::uint32_t free_bufs() const;

    // -- who holds the buffers that are not free (control path)
    //
    // Buffers change hands without the region seeing it: pipes swap slots
    // between their ends, an application swaps ring buffers with its extra
    // buffers. So the region does not track which buffer is whose; it knows
    // the places buffers can be (the slots of every ring made in it, every
    // open Port's extra-buffer list, indices a backend registered with
    // add_held, buffers taken with alloc_buf()), and an
    // index read from an application's memory is freed only when no other
    // such place holds it (see release_bufs).
    //
    // Gives each of the ring's `n` slots a free buffer and registers the
    // slots as a holder. All or nothing: ENOMEM leaves the slots untouched.
    Status add_ring(netmap_slot* slots, std::uint32_t n);
    // Forgets a ring registered with add_ring (its buffers stay in use: free
    // them with release_bufs).
    void remove_ring(const netmap_slot* slots);
    // Registers `n` buffer indices a backend keeps outside any ring (the
    // buffers a zero-copy backend swaps with slots) as a holder; its owner
    // may rewrite them meanwhile. remove_held() before they go.
    void add_held(const std::uint32_t* idx, std::uint32_t n);
    void remove_held(const std::uint32_t* idx);
    // Builds an extra-buffer list of `n` free buffers at `*head` (netmap's
    // ni_bufs_head: each buffer's first word links to the next, 0 ends it)
    // and registers it as a holder. All or nothing.
    Status add_extra_list(std::uint32_t* head, std::uint32_t n);
    // Forgets the list at `head` and frees the buffers it names now (memory
    // an application writes): at most `max` of them, each only if it is a
    // buffer of the region, in use, not listed earlier in this list (the
    // walk ends at a repeat, so a cycle ends), and held by no registered
    // ring, no other open list, no add_held() holder and no alloc_buf() caller. Returns how many
    // entries were refused (also added to refused_bufs()).
    std::uint32_t release_extra_list(std::uint32_t* head, std::uint32_t max);
    // Frees buffers named by memory an application writes (the slots of a
    // ring being destroyed, after remove_ring), with the checks of
    // release_extra_list; index 0 (an unfilled slot) is skipped. Returns
    // how many were refused.
    std::uint32_t release_bufs(const std::vector<std::uint32_t>& idx);
    // Indices release_extra_list / release_bufs refused since the region was made.
    std::uint64_t refused_bufs() const;
    // Space for rings and netmap_if structures, 128-byte aligned; never
    // DMA-mapped.
    Result<void*> alloc_object(std::size_t bytes);
    // Space a device reads and writes (descriptor rings), 128-byte aligned,
    // from the device objects area (create's device_object_bytes).
    Result<void*> alloc_device_object(std::size_t bytes);
    // Either kind back.
    void free_object(void* p);
    // Gives [offset, offset + bytes) of the objects area to the object
    // allocator (an attached region: the space its creator set aside for
    // this process). Control path.
    Status add_free_objects(std::size_t offset, std::size_t bytes);

private:
    MemoryRegion() = default;

    std::string name_;
    char* base_ = nullptr;
    char* bufs_ = nullptr;
    std::size_t size_ = 0;
    std::size_t page_size_ = 4096;
    std::size_t device_off_ = 0; // device objects, then buffers
    std::uint32_t num_bufs_ = 0;
    std::uint32_t buf_size_ = 0;
    bool huge_ = false;
    int node_ = -1;
    int requested_node_ = -1;
    int fd_ = -1;         // memfd of a shared region
    bool attached_ = false; // mapped from another process's memfd
    unsigned iova_shift_ = 12;
    std::vector<std::uint64_t> iova_pages_;

    // Every buffer the holders registered below do not hold: for each, an
    // index of the region, under mu_. Reads slots other threads may be
    // swapping (twice, in opposite orders: a buffer moved once between two
    // rings meanwhile is seen in one of them).
    std::vector<bool> held_elsewhere() const;
    void free_locked(std::uint32_t idx);

    mutable std::mutex mu_; // guards the allocators and the holders below (control path)
    std::vector<std::uint32_t> free_list_;
    std::vector<bool> is_free_;
    std::vector<bool> is_private_; // taken with alloc_buf(): its caller's alone
    std::vector<std::pair<netmap_slot*, std::uint32_t>> rings_; // registered rings: slots, count
    std::vector<std::uint32_t*> extra_lists_;                  // registered ni_bufs_head of open Ports
    std::vector<std::pair<const std::uint32_t*, std::uint32_t>> held_; // add_held: indices, count
    std::uint64_t refused_ = 0;
    std::map<std::size_t, std::size_t> free_objects_;        // offset -> bytes
    std::map<std::size_t, std::size_t> free_device_objects_; // offset -> bytes, at or after device_off_
    std::map<std::size_t, std::size_t> used_objects_;
    Result<void*> alloc_from(std::map<std::size_t, std::size_t>& pool, std::size_t bytes, const char* what);
};

} // namespace upio
