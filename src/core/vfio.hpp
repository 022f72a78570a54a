// core/vfio.hpp -- PCI functions bound to vfio-pci, driven from userspace.
//
//   VfioContainer  /dev/vfio/vfio: the IOMMU context; owns the IOVA space
//                  (allocated inside the ranges the IOMMU reports) and the
//                  DMA mappings. Shared by the groups attached to it.
//   VfioGroup      /dev/vfio/<N> (or noiommu-<N>): the unit of isolation;
//                  usable only when every function in it is bound to
//                  vfio-pci or to no driver.
//   VfioDevice     one function: BAR0 registers, config space, reset,
//                  interrupts to eventfds. Implements upio::Device.
//
// None is copyable. A group is move-only; a container is shared (through
// shared_ptr) by the groups in it; a device lives behind unique_ptr, as a
// Device. Each releases what it holds in its destructor: interrupts disabled,
// BAR0 unmapped, DMA mappings removed, descriptors closed. Nothing here exits
// or aborts: every failure is an Error that says what to run (usually
// upio-setup; scripts/upio-setup in a source tree). Container and group:
// vfio.cpp; device: vfio_device.cpp.
//
// Opening a device, in order: sysfs (exists, bound to vfio-pci, IOMMU group,
// group viable) -> /dev/vfio/<N> -> /dev/vfio/vfio -> type1 IOMMU and its IOVA
// ranges -> device fd, config space, BAR0.
#pragma once

#include <upio/backend/device.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace upio {

// An owned file descriptor.
class UniqueFd {
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) noexcept : fd_(fd) {}
    UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
    UniqueFd& operator=(UniqueFd&& o) noexcept;
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    ~UniqueFd() { reset(); }

    int get() const noexcept { return fd_; }
    int release() noexcept { int f = fd_; fd_ = -1; return f; }
    void reset() noexcept;
    explicit operator bool() const noexcept { return fd_ >= 0; }

private:
    int fd_ = -1;
};

enum class VfioMode {
    automatic, // IOMMU when the device has a VFIO group, else no-IOMMU if enabled
    iommu,     // type1 IOMMU only
    noiommu,   // unsafe no-IOMMU mode only (IOVA = physical address)
};

struct VfioOptions {
    std::string sysfs_root; // "" -> $UPIO_SYSFS_ROOT, else "/sys"
    std::string dev_root;   // "" -> $UPIO_DEV_ROOT, else "/dev"
    VfioMode mode = VfioMode::automatic;
    // false: BAR0 goes through pread/pwrite on the device fd, as the areas a
    // sparse mmap leaves out do (slow; for debugging and for testing that path).
    bool mmap_bar0 = true;

    std::string sysfs() const;
    std::string dev() const;
};

struct IovaRange {
    std::uint64_t first = 0, last = 0; // inclusive
};

// First-fit allocation of IOVA space inside the ranges the IOMMU accepts.
// Never hands out the first megabyte (a zero IOVA hides bugs).
class IovaAllocator {
public:
    static constexpr std::uint64_t lowest = 1ull << 20;

    void set_ranges(std::vector<IovaRange> ranges) { ranges_ = std::move(ranges); }
    const std::vector<IovaRange>& ranges() const noexcept { return ranges_; }
    // `align` is a power of two; the block is [result, result + len).
    Result<std::uint64_t> allocate(std::uint64_t len, std::uint64_t align);
    // Gives back a block returned by allocate(); false if there is none at `start`.
    bool release(std::uint64_t start);
    // Blocks in use: start -> length.
    const std::map<std::uint64_t, std::uint64_t>& used() const noexcept { return used_; }

private:
    std::vector<IovaRange> ranges_;
    std::map<std::uint64_t, std::uint64_t> used_;
};

class VfioContainer {
public:
    // Opens <dev>/vfio/vfio and checks the API version. The IOMMU type is set
    // when the first group is attached.
    static Result<std::shared_ptr<VfioContainer>> open(const VfioOptions& opts = {});
    ~VfioContainer();
    VfioContainer(const VfioContainer&) = delete;
    VfioContainer& operator=(const VfioContainer&) = delete;

    int fd() const noexcept { return fd_.get(); }
    bool noiommu() const noexcept { return noiommu_; }
    bool iommu_set() const noexcept { return iommu_set_; }
    const std::vector<IovaRange>& iova_ranges() const noexcept { return iova_.ranges(); }

    // Called by VfioGroup after attaching itself: selects type1 (or the
    // no-IOMMU type) and reads the usable IOVA ranges.
    Status set_iommu(bool noiommu);

    // The mapping calls below are thread-safe (several ports may share one
    // container); they are control-path calls.

    // Maps [va, va+len) for device DMA at an IOVA allocated inside the usable
    // ranges and aligned to `align` (a power of two). len is page-aligned.
    Result<Iova> map(void* va, std::size_t len, std::size_t align);
    Status unmap(Iova iova, std::size_t len);

    // MemoryRegion helpers: map the whole region and install its page table.
    Status map_region(MemoryRegion& region);
    Status unmap_region(MemoryRegion& region);

private:
    explicit VfioContainer(UniqueFd fd, VfioOptions opts) : fd_(std::move(fd)), opts_(std::move(opts)) {}
    Status read_iova_ranges();
    // Reserves IOVAs for [va, va + len) and maps all but its first `skip`
    // bytes (4 KiB aligned): what a device must not reach keeps its place
    // in the IOVA layout without being mapped.
    Result<Iova> map_locked(void* va, std::size_t len, std::size_t align, std::size_t skip = 0);
    // Undoes map_locked with the same `skip` (a region's device_offset()).
    Status unmap_locked(Iova iova, std::size_t len, std::size_t skip = 0);

    std::mutex mu_; // guards iova_ and regions_
    UniqueFd fd_;
    VfioOptions opts_;
    bool iommu_set_ = false;
    bool noiommu_ = false;
    IovaAllocator iova_; // its used() blocks are exactly the live DMA mappings
    std::map<const MemoryRegion*, std::pair<std::uint64_t, std::size_t>> regions_;
};

class VfioGroup {
public:
    // Checks that the group is viable (every function in it bound to
    // vfio-pci or to no driver) and opens <dev>/vfio/<N> (noiommu-<N> in
    // no-IOMMU mode). Permission and "not bound" errors come from here.
    static Result<VfioGroup> open(int group, const VfioOptions& opts = {});
    VfioGroup(VfioGroup&&) noexcept = default;
    VfioGroup& operator=(VfioGroup&&) noexcept = default;
    ~VfioGroup();

    // Puts the group in the container; the first group sets the container's
    // IOMMU type.
    Status attach(std::shared_ptr<VfioContainer> container);

    int fd() const noexcept { return fd_.get(); }
    int number() const noexcept { return group_; }
    bool noiommu() const noexcept { return noiommu_; }
    const std::shared_ptr<VfioContainer>& container() const noexcept { return container_; }

private:
    VfioGroup(UniqueFd fd, int group, bool noiommu) : fd_(std::move(fd)), group_(group), noiommu_(noiommu) {}

    UniqueFd fd_;
    int group_ = -1;
    bool noiommu_ = false;
    std::shared_ptr<VfioContainer> container_;
};

// The sysfs side of viability: an error naming the group's devices and their
// drivers when one is bound to a driver other than vfio-pci (or pci-stub,
// pcieport, which VFIO tolerates).
Status vfio_group_viable(int group, const VfioOptions& opts = {});

class VfioDevice final : public Device {
public:
    // Opens `addr`, which must be bound to vfio-pci. With no container given,
    // a new one is created; pass one to put several devices in one IOVA space.
    static Result<std::unique_ptr<VfioDevice>> open(const PciAddress& addr, const VfioOptions& opts = {},
                                                    std::shared_ptr<VfioContainer> container = nullptr);
    ~VfioDevice() override;
    VfioDevice(const VfioDevice&) = delete;
    VfioDevice& operator=(const VfioDevice&) = delete;

    std::string describe() const override;
    PciAddress address() const override { return addr_; }
    std::uint16_t vendor_id() const override { return vendor_; }
    std::uint16_t device_id() const override { return device_; }
    int numa_node() const override { return numa_node_; }

    std::uint32_t read32(std::uint32_t offset) noexcept override;
    void write32(std::uint32_t offset, std::uint32_t value) noexcept override;

    Result<std::uint32_t> config_read(std::uint32_t offset, unsigned width) override;
    Status config_write(std::uint32_t offset, unsigned width, std::uint32_t value) override;
    Status set_bus_master(bool on) override;
    Status reset() override;

    Status dma_map(MemoryRegion& region) override;
    Status dma_unmap(MemoryRegion& region) override;

    Result<std::vector<int>> enable_interrupts(IrqKind kind, unsigned count) override;
    void disable_interrupts() noexcept override;
    void unmask_intx() noexcept override;
    int request_fd() noexcept override { return req_fd_.get(); }

    // -- VFIO specifics, for tools and tests
    const VfioGroup& group() const noexcept { return group_; }
    std::size_t bar0_size() const noexcept { return bar0_size_; }
    // True when every register of BAR0 is reachable through the mapping
    // (false: some areas, e.g. the MSI-X table, go through pread/pwrite).
    bool bar0_fully_mapped() const noexcept;
    unsigned irq_count(IrqKind kind) const;

private:
    struct Area {
        std::uint32_t offset = 0, size = 0;
    };
    VfioDevice(VfioGroup group, UniqueFd fd, PciAddress addr)
        : group_(std::move(group)), fd_(std::move(fd)), addr_(addr) {}
    Status init(bool mmap_bar0);
    Status map_bar0(bool mmap_bar0);
    void enable_request_irq() noexcept;
    bool mapped(std::uint32_t offset) const noexcept;

    VfioGroup group_;
    UniqueFd fd_;
    PciAddress addr_;
    std::uint16_t vendor_ = 0, device_ = 0;
    int numa_node_ = -1;
    std::uint32_t device_flags_ = 0;
    std::uint64_t config_offset_ = 0;
    std::uint64_t bar0_offset_ = 0; // region offset in the device fd
    std::size_t bar0_size_ = 0;
    char* bar0_ = nullptr;          // PROT_NONE reservation with mapped areas
    std::vector<Area> areas_;       // mmapped parts of BAR0
    bool whole_bar0_ = false;
    int irq_index_ = -1;            // enabled VFIO irq index, -1 none
    std::vector<UniqueFd> eventfds_;
    UniqueFd req_fd_;               // VFIO_PCI_REQ_IRQ_INDEX's eventfd, when the kernel offers it
};

} // namespace upio
