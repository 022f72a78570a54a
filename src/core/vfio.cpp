// core/vfio.cpp -- container and group: IOMMU setup, IOVA allocation, DMA.
//
// The device side (BAR0, config space, interrupts) is in vfio_device.cpp.
#include "core/vfio.hpp"

#include "core/pci.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <fcntl.h>
#include <linux/vfio.h>
#include <sys/ioctl.h>
#include <unistd.h>

namespace upio {

// ---------------------------------------------------------------- UniqueFd

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
        reset();
        fd_ = o.release();
    }
    return *this;
}

void UniqueFd::reset() noexcept {
    if (fd_ >= 0)
        ::close(fd_);
    fd_ = -1;
}

// ---------------------------------------------------------------- options

namespace {

std::string env_or(const char* name, const char* fallback) {
    const char* v = std::getenv(name);
    return (v && *v) ? v : fallback;
}

std::uint64_t align_up(std::uint64_t v, std::uint64_t a) { return (v + a - 1) & ~(a - 1); }

} // namespace

std::string VfioOptions::sysfs() const { return sysfs_root.empty() ? env_or("UPIO_SYSFS_ROOT", "/sys") : sysfs_root; }
std::string VfioOptions::dev() const { return dev_root.empty() ? env_or("UPIO_DEV_ROOT", "/dev") : dev_root; }

// ---------------------------------------------------------------- container

Result<std::shared_ptr<VfioContainer>> VfioContainer::open(const VfioOptions& opts) {
    std::string dir = opts.dev() + "/vfio";
    std::string path = dir + "/vfio";
    if (!sysfs::exists(dir))
        return make_error(ENOENT, dir + " does not exist: VFIO is not loaded or this kernel has none; run "
                                        "upio-setup bind ADDR (it loads vfio-pci), and boot with "
                                        "intel_iommu=on (or amd_iommu=on) on a kernel with CONFIG_VFIO");
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == EACCES || e == EPERM)
            return make_error(e, "no permission to open " + path + "; run as root");
        return make_error(e, "cannot open " + path + ": " + std::strerror(e) +
                                 "; load the vfio module (modprobe vfio-pci)");
    }
    UniqueFd owned(fd);
    int api = ::ioctl(fd, VFIO_GET_API_VERSION);
    if (api != VFIO_API_VERSION)
        return make_error(EPROTO, fmt::format("{}: VFIO API version {} (expected {})", path, api, VFIO_API_VERSION));
    return std::shared_ptr<VfioContainer>(new VfioContainer(std::move(owned), opts));
}

VfioContainer::~VfioContainer() {
    if (!fd_ || noiommu_)
        return;
    for (auto [iova, len] : iova_.used()) {
        vfio_iommu_type1_dma_unmap u{};
        u.argsz = sizeof u;
        u.iova = iova;
        u.size = len;
        ::ioctl(fd_.get(), VFIO_IOMMU_UNMAP_DMA, &u);
    }
}

Status VfioContainer::set_iommu(bool noiommu) {
    if (iommu_set_)
        return noiommu == noiommu_ ? Status::success()
                                   : make_error(EINVAL, "cannot mix IOMMU and no-IOMMU groups in one VFIO container");
    int type = VFIO_NOIOMMU_IOMMU;
    if (!noiommu) {
        if (::ioctl(fd_.get(), VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) == 1)
            type = VFIO_TYPE1v2_IOMMU;
        else if (::ioctl(fd_.get(), VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) == 1)
            type = VFIO_TYPE1_IOMMU;
        else
            return make_error(ENOTSUP, "VFIO has no type1 IOMMU backend; run modprobe vfio_iommu_type1");
    } else if (::ioctl(fd_.get(), VFIO_CHECK_EXTENSION, VFIO_NOIOMMU_IOMMU) != 1) {
        return make_error(ENOTSUP, "VFIO offers no no-IOMMU backend; set "
                                   "/sys/module/vfio/parameters/enable_unsafe_noiommu_mode to 1");
    }
    if (::ioctl(fd_.get(), VFIO_SET_IOMMU, type) != 0) {
        int e = errno;
        if (e == EPERM)
            return make_error(e, "VFIO_SET_IOMMU: permission denied; the IOMMU lacks interrupt remapping "
                                 "(QEMU: -device intel-iommu,intremap=on) or the process lacks rights; as a "
                                 "last resort load vfio_iommu_type1 with allow_unsafe_interrupts=1");
        return make_error(e, std::string("VFIO_SET_IOMMU failed: ") + std::strerror(e));
    }
    iommu_set_ = true;
    noiommu_ = noiommu;
    return noiommu ? Status::success() : read_iova_ranges();
}

// The usable IOVA ranges come from the IOVA_RANGE capability of
// VFIO_IOMMU_GET_INFO (kernel >= 5.4): they exclude reserved windows such as
// the MSI doorbell and end at the IOMMU's address width.
Status VfioContainer::read_iova_ranges() {
    std::vector<std::uint8_t> buf(sizeof(vfio_iommu_type1_info));
    auto* info = reinterpret_cast<vfio_iommu_type1_info*>(buf.data());
    info->argsz = std::uint32_t(buf.size());
    if (::ioctl(fd_.get(), VFIO_IOMMU_GET_INFO, info) != 0)
        return make_error(errno, std::string("VFIO_IOMMU_GET_INFO failed: ") + std::strerror(errno));
    if (info->argsz > buf.size()) {
        buf.assign(info->argsz, 0);
        info = reinterpret_cast<vfio_iommu_type1_info*>(buf.data());
        info->argsz = std::uint32_t(buf.size());
        if (::ioctl(fd_.get(), VFIO_IOMMU_GET_INFO, info) != 0)
            return make_error(errno, std::string("VFIO_IOMMU_GET_INFO failed: ") + std::strerror(errno));
    }
    std::vector<IovaRange> ranges;
    if (info->flags & VFIO_IOMMU_INFO_CAPS) {
        for (std::uint32_t off = info->cap_offset; off && off + sizeof(vfio_info_cap_header) <= buf.size();) {
            auto* hdr = reinterpret_cast<vfio_info_cap_header*>(buf.data() + off);
            if (hdr->id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
                auto* cap = reinterpret_cast<vfio_iommu_type1_info_cap_iova_range*>(hdr);
                for (std::uint32_t i = 0; i < cap->nr_iovas; ++i)
                    ranges.push_back({cap->iova_ranges[i].start, cap->iova_ranges[i].end});
            }
            off = hdr->next;
        }
    }
    if (ranges.empty()) // old kernel: assume a 39-bit IOMMU without the MSI window
        ranges = {{0, 0xfedfffffull}, {0xfef00000ull, (1ull << 39) - 1}};
    iova_.set_ranges(std::move(ranges));
    return Status::success();
}

// ---------------------------------------------------------------- IOVA space

Result<std::uint64_t> IovaAllocator::allocate(std::uint64_t len, std::uint64_t align) {
    if (len == 0 || align == 0 || (align & (align - 1)) != 0)
        return make_error(EINVAL, fmt::format("bad IOVA request: {} bytes aligned to {}", len, align));
    // Inclusive ends throughout: a range may end at 2^64 - 1.
    auto fits = [&](std::uint64_t cand, const IovaRange& r) {
        return cand >= r.first && cand <= r.last && len - 1 <= r.last - cand;
    };
    for (const auto& r : ranges_) {
        std::uint64_t cand = align_up(std::max(r.first, lowest), align);
        bool wrapped = cand < r.first;
        for (auto [start, size] : used_) {
            if (wrapped || start + size - 1 < cand)
                continue;
            if (start > cand + (len - 1) && cand + (len - 1) >= cand)
                break;
            std::uint64_t next = align_up(start + size, align);
            wrapped = start + size == 0 || next < start;
            cand = next;
        }
        if (!wrapped && fits(cand, r)) {
            used_[cand] = len;
            return cand;
        }
    }
    return make_error(ENOSPC, fmt::format("no free IOVA range of {} bytes in the IOMMU's usable ranges", len));
}

bool IovaAllocator::release(std::uint64_t start) { return used_.erase(start) == 1; }

Result<Iova> VfioContainer::map(void* va, std::size_t len, std::size_t align) {
    std::lock_guard lk(mu_);
    return map_locked(va, len, align);
}

Status VfioContainer::unmap(Iova iova, std::size_t len) {
    std::lock_guard lk(mu_);
    return unmap_locked(iova, len);
}

Result<Iova> VfioContainer::map_locked(void* va, std::size_t len, std::size_t align, std::size_t skip) {
    if (!iommu_set_)
        return make_error(EINVAL, "VFIO container has no group attached yet; open a device first");
    if (noiommu_)
        return make_error(EINVAL, "no-IOMMU container: DMA addresses are physical; map memory regions instead");
    if (skip % 4096 != 0 || skip >= len)
        return make_error(EINVAL, fmt::format("a DMA mapping that leaves out its first {} of {} bytes", skip, len));
    auto iova = iova_.allocate(len, std::max<std::size_t>(align, 4096));
    if (!iova)
        return std::move(iova).error();
    vfio_iommu_type1_dma_map m{};
    m.argsz = sizeof m;
    m.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
    m.vaddr = reinterpret_cast<std::uintptr_t>(va) + skip;
    m.iova = iova.value() + skip;
    m.size = len - skip;
    if (::ioctl(fd_.get(), VFIO_IOMMU_MAP_DMA, &m) != 0) {
        int e = errno;
        iova_.release(iova.value());
        std::string hint = e == ENOMEM ? "; raise the locked-memory limit (ulimit -l) or run as root"
                         : e == EINVAL ? "; the IOVA is outside what the IOMMU accepts"
                                       : "";
        return make_error(e, fmt::format("VFIO_IOMMU_MAP_DMA of {} bytes at IOVA {:#x} failed: {}{}", m.size,
                                         std::uint64_t(m.iova), std::strerror(e), hint));
    }
    return Iova{iova.value()};
}

Status VfioContainer::unmap_locked(Iova iova, std::size_t len, std::size_t skip) {
    auto it = iova_.used().find(iova.value);
    if (it == iova_.used().end() || it->second != len)
        return make_error(EINVAL, fmt::format("IOVA {:#x} (+{}) is not a mapping of this container", iova.value, len));
    vfio_iommu_type1_dma_unmap u{};
    u.argsz = sizeof u;
    u.iova = iova.value + skip;
    u.size = len - skip;
    if (::ioctl(fd_.get(), VFIO_IOMMU_UNMAP_DMA, &u) != 0)
        return make_error(errno, fmt::format("VFIO_IOMMU_UNMAP_DMA at {:#x} failed: {}", std::uint64_t(u.iova),
                                             std::strerror(errno)));
    iova_.release(iova.value);
    return Status::success();
}

namespace {

// No-IOMMU mode: the device sees physical addresses, read from pagemap
// (needs CAP_SYS_ADMIN; otherwise the kernel reports PFN 0).
Result<std::vector<std::uint64_t>> physical_pages(const MemoryRegion& r, std::size_t page) {
    UniqueFd fd(::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC));
    if (!fd)
        return make_error(errno, std::string("cannot open /proc/self/pagemap: ") + std::strerror(errno));
    std::vector<std::uint64_t> pages;
    for (std::size_t off = 0; off < r.size(); off += page) {
        auto va = reinterpret_cast<std::uintptr_t>(r.base() + off);
        volatile char touch = r.base()[off]; // make sure the page is present
        (void)touch;
        std::uint64_t entry = 0;
        if (::pread(fd.get(), &entry, sizeof entry, off_t(va / 4096 * 8)) != sizeof entry)
            return make_error(EIO, "cannot read /proc/self/pagemap");
        std::uint64_t pfn = entry & ((1ull << 55) - 1);
        if (!(entry >> 63) || pfn == 0)
            return make_error(EPERM, "no physical address for " + r.name() +
                                         " in /proc/self/pagemap; no-IOMMU mode needs root (CAP_SYS_ADMIN)");
        pages.push_back(pfn * 4096);
    }
    return pages;
}

} // namespace

Status VfioContainer::map_region(MemoryRegion& region) {
    std::lock_guard lk(mu_);
    if (regions_.count(&region))
        return Status::success();
    std::size_t page = region.page_size();
    unsigned shift = unsigned(__builtin_ctzll(page));
    std::size_t len = align_up(region.size(), page);
    std::vector<std::uint64_t> pages;
    std::uint64_t iova = 0;
    if (noiommu_) {
        auto phys = physical_pages(region, page);
        if (!phys)
            return std::move(phys).error();
        pages = std::move(phys.value());
    } else {
        // the rings and netmap_ifs before device_offset() stay out of the
        // device's reach; iova() stays linear over the whole region
        auto m = map_locked(region.base(), len, page, region.device_offset());
        if (!m)
            return std::move(m).error();
        iova = m.value().value;
        for (std::size_t off = 0; off < len; off += page)
            pages.push_back(iova + off);
    }
    region.set_iova_map(shift, std::move(pages));
    regions_[&region] = {iova, len};
    return Status::success();
}

Status VfioContainer::unmap_region(MemoryRegion& region) {
    std::lock_guard lk(mu_);
    auto it = regions_.find(&region);
    if (it == regions_.end())
        return make_error(EINVAL, region.name() + " is not DMA-mapped by this VFIO container");
    Status st;
    if (!noiommu_)
        st = unmap_locked(Iova{it->second.first}, it->second.second, region.device_offset());
    region.clear_iova_map();
    regions_.erase(it);
    return st;
}

// ---------------------------------------------------------------- group

namespace {

bool driver_allows_vfio(const std::string& drv) {
    return drv.empty() || drv == "vfio-pci" || drv == "pci-stub" || drv == "pcieport";
}

Error not_viable(const std::string& sysfs_root, int group) {
    auto devs = sysfs::group_devices(sysfs_root, group);
    std::string fix;
    for (const auto& d : devs) {
        auto drv = sysfs::link_name(sysfs_root + "/bus/pci/devices/" + d + "/driver").value_or("");
        if (!driver_allows_vfio(drv))
            fix += " " + d;
    }
    return make_error(EBUSY, fmt::format("IOMMU group {} is not viable: every device in it must be bound to "
                                         "vfio-pci or to no driver; it holds {}{}",
                                         group, sysfs::describe_devices(sysfs_root, devs),
                                         fix.empty() ? std::string() : "; run upio-setup bind" + fix));
}

} // namespace

Status vfio_group_viable(int group, const VfioOptions& opts) {
    std::string root = opts.sysfs();
    for (const auto& d : sysfs::group_devices(root, group))
        if (!driver_allows_vfio(sysfs::link_name(root + "/bus/pci/devices/" + d + "/driver").value_or("")))
            return not_viable(root, group);
    return Status::success();
}

Result<VfioGroup> VfioGroup::open(int group, const VfioOptions& opts) {
    // Our own check first: unlike the kernel's flag it names the devices.
    if (auto st = vfio_group_viable(group, opts); !st)
        return std::move(st).error();
    std::string dir = opts.dev() + "/vfio";
    if (!sysfs::exists(dir))
        return make_error(ENOENT, dir + " does not exist: VFIO is not loaded or this kernel has none; run "
                                        "upio-setup bind ADDR (it loads vfio-pci), and boot with "
                                        "intel_iommu=on (or amd_iommu=on) on a kernel with CONFIG_VFIO");
    bool noiommu = opts.mode == VfioMode::noiommu;
    std::string path = dir + "/" + (noiommu ? "noiommu-" : "") + std::to_string(group);
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == EACCES || e == EPERM)
            return make_error(e, "no permission to open " + path +
                                     "; run as root, or hand the group to your user with "
                                     "upio-setup bind --user $USER ADDR");
        if (e == EBUSY)
            return make_error(e, path + " is busy: another process (or another VfioGroup here) has it open");
        if (e == ENOENT)
            return make_error(e, path + " does not exist: no device of IOMMU group " + std::to_string(group) +
                                     " is bound to vfio-pci; run upio-setup bind ADDR");
        return make_error(e, "cannot open " + path + ": " + std::strerror(e));
    }
    UniqueFd owned(fd);
    vfio_group_status status{};
    status.argsz = sizeof status;
    if (::ioctl(fd, VFIO_GROUP_GET_STATUS, &status) != 0)
        return make_error(errno, path + " is not a VFIO group: VFIO_GROUP_GET_STATUS failed: " +
                                     std::strerror(errno));
    if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE))
        return not_viable(opts.sysfs(), group);
    return VfioGroup(std::move(owned), group, noiommu);
}

Status VfioGroup::attach(std::shared_ptr<VfioContainer> container) {
    if (container_)
        return make_error(EBUSY, fmt::format("IOMMU group {} is already in a container", group_));
    int cfd = container->fd();
    if (::ioctl(fd_.get(), VFIO_GROUP_SET_CONTAINER, &cfd) != 0)
        return make_error(errno, fmt::format("IOMMU group {}: VFIO_GROUP_SET_CONTAINER failed: {}", group_,
                                             std::strerror(errno)));
    container_ = std::move(container);
    return container_->set_iommu(noiommu_);
}

VfioGroup::~VfioGroup() {
    if (fd_ && container_)
        ::ioctl(fd_.get(), VFIO_GROUP_UNSET_CONTAINER);
}

} // namespace upio
