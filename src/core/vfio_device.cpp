// core/vfio_device.cpp -- one PCI function through VFIO: BAR0, config
// space, reset, interrupts to eventfds.
#include "core/pci.hpp"
#include "core/vfio.hpp"

#include <fmt/format.h>

#include <cstring>

#include <fcntl.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

namespace upio {

namespace {

bool noiommu_enabled(const std::string& sysfs_root, std::string& why) {
    std::string param = sysfs_root + "/module/vfio/parameters/enable_unsafe_noiommu_mode";
    auto v = sysfs::read_line(param);
    if (!v) {
        why = "this kernel has no VFIO no-IOMMU mode (built without CONFIG_VFIO_NOIOMMU, as Debian's kernels "
              "are); enable the IOMMU instead (intel_iommu=on or amd_iommu=on on the kernel command line)";
        return false;
    }
    if (*v != "Y" && *v != "1") {
        why = "VFIO no-IOMMU mode is off; enable it with: echo 1 > " + param +
              " (unsafe: the device can then DMA anywhere in memory)";
        return false;
    }
    return true;
}

// Region info with its capability chain (argsz grows when caps exist).
Result<std::vector<std::uint8_t>> region_info(int fd, std::uint32_t index) {
    std::vector<std::uint8_t> buf(sizeof(vfio_region_info));
    for (int pass = 0; pass < 2; ++pass) {
        auto* info = reinterpret_cast<vfio_region_info*>(buf.data());
        info->argsz = std::uint32_t(buf.size());
        info->index = index;
        if (::ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, info) != 0)
            return make_error(errno, fmt::format("VFIO_DEVICE_GET_REGION_INFO({}) failed: {}", index,
                                                 std::strerror(errno)));
        if (info->argsz <= buf.size())
            break;
        buf.assign(info->argsz, 0);
    }
    return buf;
}

const vfio_info_cap_header* find_cap(const std::vector<std::uint8_t>& buf, std::uint16_t id) {
    auto* info = reinterpret_cast<const vfio_region_info*>(buf.data());
    if (!(info->flags & VFIO_REGION_INFO_FLAG_CAPS))
        return nullptr;
    for (std::uint32_t off = info->cap_offset; off && off + sizeof(vfio_info_cap_header) <= buf.size();) {
        auto* hdr = reinterpret_cast<const vfio_info_cap_header*>(buf.data() + off);
        if (hdr->id == id)
            return hdr;
        off = hdr->next;
    }
    return nullptr;
}

unsigned irq_index(IrqKind kind) {
    switch (kind) {
    case IrqKind::msix: return VFIO_PCI_MSIX_IRQ_INDEX;
    case IrqKind::msi: return VFIO_PCI_MSI_IRQ_INDEX;
    case IrqKind::intx: return VFIO_PCI_INTX_IRQ_INDEX;
    }
    return VFIO_PCI_INTX_IRQ_INDEX;
}

const char* irq_name(IrqKind kind) {
    return kind == IrqKind::msix ? "MSI-X" : kind == IrqKind::msi ? "MSI" : "INTx";
}

} // namespace

Result<std::unique_ptr<VfioDevice>> VfioDevice::open(const PciAddress& addr, const VfioOptions& opts_in,
                                                     std::shared_ptr<VfioContainer> container) {
    VfioOptions opts = opts_in;
    std::string root = opts.sysfs();
    std::string name = addr.str();
    if (!sysfs::exists(sysfs::device_dir(root, addr)))
        return make_error(ENODEV, "no PCI device " + name + " (" + sysfs::device_dir(root, addr) +
                                      " is missing); run upio-setup status to list devices");
    std::string drv = sysfs::driver(root, addr);
    if (drv.empty())
        return make_error(ENODEV, name + " has no driver; run upio-setup bind " + name);
    if (drv != "vfio-pci")
        return make_error(EBUSY, name + " is bound to " + drv + "; run upio-setup bind " + name);
    int group = sysfs::iommu_group(root, addr);
    if (group < 0)
        return make_error(ENODEV, name + " has no IOMMU group: the IOMMU is off; boot with intel_iommu=on "
                                         "(or amd_iommu=on)");

    std::string dev = opts.dev();
    if (opts.mode == VfioMode::automatic) {
        bool has_iommu_node = sysfs::exists(dev + "/vfio/" + std::to_string(group));
        bool has_noiommu_node = sysfs::exists(dev + "/vfio/noiommu-" + std::to_string(group));
        opts.mode = (!has_iommu_node && has_noiommu_node) ? VfioMode::noiommu : VfioMode::iommu;
    }
    if (opts.mode == VfioMode::noiommu) {
        std::string why;
        if (!noiommu_enabled(root, why))
            return make_error(ENOTSUP, name + ": " + why);
    }
    auto g = VfioGroup::open(group, opts);
    if (!g)
        return std::move(g).error();
    if (!container) {
        auto c = VfioContainer::open(opts);
        if (!c)
            return std::move(c).error();
        container = std::move(c.value());
    }
    if (auto st = g.value().attach(std::move(container)); !st)
        return std::move(st).error();
    int fd = ::ioctl(g.value().fd(), VFIO_GROUP_GET_DEVICE_FD, name.c_str());
    if (fd < 0)
        return make_error(errno, name + ": VFIO_GROUP_GET_DEVICE_FD failed: " + std::strerror(errno));
    std::unique_ptr<VfioDevice> d(new VfioDevice(std::move(g.value()), UniqueFd(fd), addr));
    auto numa = sysfs::read_line(sysfs::device_dir(root, addr) + "/numa_node");
    d->numa_node_ = numa ? std::atoi(numa->c_str()) : -1;
    if (auto st = d->init(opts.mmap_bar0); !st)
        return std::move(st).error();
    return d;
}

Result<std::unique_ptr<Device>> open_pci_device(const PciAddress& addr) {
    auto d = VfioDevice::open(addr);
    if (!d) return std::move(d).error();
    return std::unique_ptr<Device>(std::move(d.value()));
}

Status VfioDevice::init(bool mmap_bar0) {
    vfio_device_info info{};
    info.argsz = sizeof info;
    if (::ioctl(fd_.get(), VFIO_DEVICE_GET_INFO, &info) != 0)
        return make_error(errno, describe() + ": VFIO_DEVICE_GET_INFO failed: " + std::strerror(errno));
    if (!(info.flags & VFIO_DEVICE_FLAGS_PCI))
        return make_error(ENODEV, describe() + " is not a PCI device");
    device_flags_ = info.flags;
    auto cfg = region_info(fd_.get(), VFIO_PCI_CONFIG_REGION_INDEX);
    if (!cfg)
        return std::move(cfg).error();
    config_offset_ = reinterpret_cast<vfio_region_info*>(cfg.value().data())->offset;
    auto ids = config_read(PCI_VENDOR_ID, 4);
    if (!ids)
        return std::move(ids).error();
    vendor_ = std::uint16_t(ids.value() & 0xffff);
    device_ = std::uint16_t(ids.value() >> 16);
    enable_request_irq();
    return map_bar0(mmap_bar0);
}

// The request interrupt (VFIO_PCI_REQ_IRQ_INDEX, Linux 4.0 and later): the
// kernel signals it when it wants the device back (hot-unplug, unbind) and
// waits for the user to close it. Optional: without it a removal is seen
// when registers read all-ones.
void VfioDevice::enable_request_irq() noexcept {
    vfio_irq_info info{};
    info.argsz = sizeof info;
    info.index = VFIO_PCI_REQ_IRQ_INDEX;
    if (::ioctl(fd_.get(), VFIO_DEVICE_GET_IRQ_INFO, &info) != 0 || info.count < 1)
        return;
    UniqueFd e(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (e.get() < 0)
        return;
    std::uint8_t buf[sizeof(vfio_irq_set) + sizeof(std::int32_t)] = {};
    auto* set = reinterpret_cast<vfio_irq_set*>(buf);
    set->argsz = sizeof buf;
    set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
    set->index = VFIO_PCI_REQ_IRQ_INDEX;
    set->start = 0;
    set->count = 1;
    const std::int32_t fd = e.get();
    std::memcpy(set->data, &fd, sizeof fd);
    if (::ioctl(fd_.get(), VFIO_DEVICE_SET_IRQS, set) == 0)
        req_fd_ = std::move(e);
}

// BAR0 is mapped as a PROT_NONE reservation with the mmappable areas mapped
// over it. When the kernel marks the MSI-X table as not mappable (sparse
// mmap capability), registers there go through pread/pwrite.
Status VfioDevice::map_bar0(bool mmap_bar0) {
    auto buf = region_info(fd_.get(), VFIO_PCI_BAR0_REGION_INDEX);
    if (!buf)
        return std::move(buf).error();
    auto* info = reinterpret_cast<vfio_region_info*>(buf.value().data());
    if (info->size == 0)
        return make_error(ENODEV, describe() + " has no BAR0");
    bar0_offset_ = info->offset;
    bar0_size_ = info->size;
    if (!mmap_bar0 || !(info->flags & VFIO_REGION_INFO_FLAG_MMAP))
        return Status::success(); // every access through pread/pwrite
    void* res = ::mmap(nullptr, bar0_size_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (res == MAP_FAILED)
        return make_error(errno, describe() + ": cannot reserve address space for BAR0");
    bar0_ = static_cast<char*>(res);
    std::vector<Area> want;
    auto* sparse = find_cap(buf.value(), VFIO_REGION_INFO_CAP_SPARSE_MMAP);
    if (sparse) {
        auto* s = reinterpret_cast<const vfio_region_info_cap_sparse_mmap*>(sparse);
        for (std::uint32_t i = 0; i < s->nr_areas; ++i)
            if (s->areas[i].size)
                want.push_back({std::uint32_t(s->areas[i].offset), std::uint32_t(s->areas[i].size)});
    } else {
        want.push_back({0, std::uint32_t(bar0_size_)});
    }
    for (const auto& a : want) {
        void* p = ::mmap(bar0_ + a.offset, a.size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd_.get(),
                         off_t(bar0_offset_ + a.offset));
        if (p == MAP_FAILED)
            return make_error(errno, fmt::format("{}: mmap of BAR0 [{:#x}, +{:#x}) failed: {}", describe(),
                                                 a.offset, a.size, std::strerror(errno)));
        areas_.push_back(a);
    }
    whole_bar0_ = areas_.size() == 1 && areas_[0].offset == 0 && areas_[0].size == bar0_size_;
    return Status::success();
}

VfioDevice::~VfioDevice() {
    disable_interrupts();
    if (req_fd_.get() >= 0) {
        vfio_irq_set set{};
        set.argsz = sizeof set;
        set.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;
        set.index = VFIO_PCI_REQ_IRQ_INDEX;
        ::ioctl(fd_.get(), VFIO_DEVICE_SET_IRQS, &set);
    }
    if (bar0_)
        ::munmap(bar0_, bar0_size_);
}

std::string VfioDevice::describe() const { return addr_.str() + " (vfio)"; }

bool VfioDevice::bar0_fully_mapped() const noexcept { return whole_bar0_; }

bool VfioDevice::mapped(std::uint32_t offset) const noexcept {
    if (whole_bar0_)
        return offset + 4 <= bar0_size_;
    for (const auto& a : areas_)
        if (offset >= a.offset && offset + 4 <= a.offset + a.size)
            return true;
    return false;
}

std::uint32_t VfioDevice::read32(std::uint32_t offset) noexcept {
    if (mapped(offset))
        return *reinterpret_cast<volatile std::uint32_t*>(bar0_ + offset);
    std::uint32_t v = 0xffffffff;
    if (::pread(fd_.get(), &v, 4, off_t(bar0_offset_ + offset)) != 4)
        return 0xffffffff;
    return v;
}

void VfioDevice::write32(std::uint32_t offset, std::uint32_t value) noexcept {
    if (mapped(offset)) {
        *reinterpret_cast<volatile std::uint32_t*>(bar0_ + offset) = value;
        return;
    }
    (void)!::pwrite(fd_.get(), &value, 4, off_t(bar0_offset_ + offset));
}

Result<std::uint32_t> VfioDevice::config_read(std::uint32_t offset, unsigned width) {
    if (width != 1 && width != 2 && width != 4)
        return make_error(EINVAL, fmt::format("config space access of width {} (use 1, 2 or 4)", width));
    std::uint32_t v = 0;
    if (::pread(fd_.get(), &v, width, off_t(config_offset_ + offset)) != ssize_t(width))
        return make_error(EIO, fmt::format("{}: config read at {:#x} failed: {}", describe(), offset,
                                           std::strerror(errno)));
    return v;
}

Status VfioDevice::config_write(std::uint32_t offset, unsigned width, std::uint32_t value) {
    if (width != 1 && width != 2 && width != 4)
        return make_error(EINVAL, fmt::format("config space access of width {} (use 1, 2 or 4)", width));
    if (::pwrite(fd_.get(), &value, width, off_t(config_offset_ + offset)) != ssize_t(width))
        return make_error(EIO, fmt::format("{}: config write at {:#x} failed: {}", describe(), offset,
                                           std::strerror(errno)));
    return Status::success();
}

Status VfioDevice::set_bus_master(bool on) {
    auto cmd = config_read(PCI_COMMAND, 2);
    if (!cmd)
        return std::move(cmd).error();
    std::uint32_t v = on ? (cmd.value() | PCI_COMMAND_MASTER | PCI_COMMAND_MEMORY)
                         : (cmd.value() & ~std::uint32_t(PCI_COMMAND_MASTER));
    return config_write(PCI_COMMAND, 2, v);
}

Status VfioDevice::reset() {
    if (!(device_flags_ & VFIO_DEVICE_FLAGS_RESET))
        return make_error(ENOTSUP, describe() + " offers no reset through VFIO; reset it through its own "
                                                "control register instead");
    if (::ioctl(fd_.get(), VFIO_DEVICE_RESET) != 0)
        return make_error(errno, describe() + ": VFIO_DEVICE_RESET failed: " + std::strerror(errno));
    return Status::success();
}

Status VfioDevice::dma_map(MemoryRegion& region) { return group_.container()->map_region(region); }
Status VfioDevice::dma_unmap(MemoryRegion& region) { return group_.container()->unmap_region(region); }

unsigned VfioDevice::irq_count(IrqKind kind) const {
    vfio_irq_info info{};
    info.argsz = sizeof info;
    info.index = irq_index(kind);
    if (::ioctl(fd_.get(), VFIO_DEVICE_GET_IRQ_INFO, &info) != 0)
        return 0;
    return info.count;
}

Result<std::vector<int>> VfioDevice::enable_interrupts(IrqKind kind, unsigned count) {
    disable_interrupts();
    unsigned avail = irq_count(kind);
    if (count == 0 || avail < count)
        return make_error(ENOTSUP, fmt::format("{} has {} {} vector(s), {} requested{}", describe(), avail,
                                               irq_name(kind), count,
                                               avail == 0 ? "; use another interrupt kind or poll" : ""));
    std::vector<UniqueFd> fds;
    std::vector<std::uint8_t> buf(sizeof(vfio_irq_set) + count * sizeof(std::int32_t));
    auto* set = reinterpret_cast<vfio_irq_set*>(buf.data());
    set->argsz = std::uint32_t(buf.size());
    set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
    set->index = irq_index(kind);
    set->start = 0;
    set->count = count;
    for (unsigned i = 0; i < count; ++i) {
        int e = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (e < 0)
            return make_error(errno, std::string("eventfd: ") + std::strerror(errno));
        fds.emplace_back(e);
        std::memcpy(set->data + i * sizeof(std::int32_t), &e, sizeof e);
    }
    if (::ioctl(fd_.get(), VFIO_DEVICE_SET_IRQS, set) != 0)
        return make_error(errno, fmt::format("{}: enabling {} {} vector(s) failed: {}", describe(), count,
                                             irq_name(kind), std::strerror(errno)));
    irq_index_ = int(set->index);
    std::vector<int> out;
    for (auto& f : fds)
        out.push_back(f.get());
    eventfds_ = std::move(fds);
    return out;
}

void VfioDevice::disable_interrupts() noexcept {
    if (irq_index_ < 0)
        return;
    vfio_irq_set set{};
    set.argsz = sizeof set;
    set.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;
    set.index = std::uint32_t(irq_index_);
    set.start = 0;
    set.count = 0;
    ::ioctl(fd_.get(), VFIO_DEVICE_SET_IRQS, &set);
    irq_index_ = -1;
    eventfds_.clear();
}

void VfioDevice::unmask_intx() noexcept {
    if (irq_index_ != VFIO_PCI_INTX_IRQ_INDEX)
        return;
    vfio_irq_set set{};
    set.argsz = sizeof set;
    set.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK;
    set.index = VFIO_PCI_INTX_IRQ_INDEX;
    set.start = 0;
    set.count = 1;
    ::ioctl(fd_.get(), VFIO_DEVICE_SET_IRQS, &set);
}

} // namespace upio
