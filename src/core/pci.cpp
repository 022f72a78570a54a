// core/pci.cpp -- PCI enumeration through libpci's sysfs back end.
//
// libpci reports fatal errors through a callback that must not return; we
// turn that into a longjmp back to a guard that holds no C++ objects, so a
// broken or fake sysfs tree yields an Error instead of exit(). What libpci
// was holding at that moment (an open directory, a device) is leaked: a
// one-off on a path that already failed.
#include "core/pci.hpp"

#include <upio/pci.hpp>

#include <algorithm>
#include <csetjmp>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <system_error>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

extern "C" {
#include <pci/pci.h>
}

namespace upio {
namespace sysfs {

std::string device_dir(const std::string& root, const PciAddress& addr) {
    return root + "/bus/pci/devices/" + addr.str();
}

bool exists(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
}

std::optional<std::string> link_name(const std::string& path) {
    char buf[4096];
    ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
    if (n <= 0)
        return std::nullopt;
    std::string target(buf, std::size_t(n));
    auto slash = target.find_last_of('/');
    return slash == std::string::npos ? target : target.substr(slash + 1);
}

std::optional<std::string> read_line(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    if (!in || !std::getline(in, line))
        return std::nullopt;
    return line;
}

std::string driver(const std::string& root, const PciAddress& addr) {
    return link_name(device_dir(root, addr) + "/driver").value_or("");
}

int iommu_group(const std::string& root, const PciAddress& addr) {
    auto name = link_name(device_dir(root, addr) + "/iommu_group");
    if (!name)
        return -1;
    char* end = nullptr;
    long g = std::strtol(name->c_str(), &end, 10);
    return (end && *end == '\0' && g >= 0) ? int(g) : -1;
}

std::vector<std::string> group_devices(const std::string& root, int group) {
    std::vector<std::string> out;
    std::string dir = root + "/kernel/iommu_groups/" + std::to_string(group) + "/devices";
    if (DIR* d = ::opendir(dir.c_str())) {
        while (dirent* e = ::readdir(d))
            if (e->d_name[0] != '.')
                out.emplace_back(e->d_name);
        ::closedir(d);
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::string describe_devices(const std::string& root, const std::vector<std::string>& addrs) {
    std::string s;
    for (const auto& a : addrs) {
        auto drv = link_name(root + "/bus/pci/devices/" + a + "/driver");
        if (!s.empty())
            s += ", ";
        s += a + " (" + (drv ? *drv : std::string("no driver")) + ")";
    }
    return s;
}

} // namespace sysfs

namespace {

thread_local std::jmp_buf* pci_jump = nullptr;
thread_local char pci_message[512];

// gnu::noreturn, not [[noreturn]]: libpci's error pointer has the GNU attribute in its
// type, and clang will not assign a function without it.
[[gnu::noreturn]] void on_pci_error(char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(pci_message, sizeof pci_message, fmt, ap);
    va_end(ap);
    std::longjmp(*pci_jump, 1);
}

void on_pci_warning(char*, ...) {}

// Scans the bus and fills every device. Holds no C++ objects: the error
// callback may longjmp out of libpci back to here. Returns false on error.
bool scan_guarded(pci_access* a, unsigned flags) {
    std::jmp_buf jb;
    pci_jump = &jb;
    if (setjmp(jb) != 0) {
        pci_jump = nullptr;
        return false;
    }
    pci_init(a);
    pci_scan_bus(a);
    for (pci_dev* d = a->devices; d; d = d->next)
        pci_fill_info(d, int(flags));
    pci_jump = nullptr;
    return true;
}

// Name from pci.ids, guarded the same way; buf is left empty on failure.
void name_guarded(pci_access* a, pci_dev* d, char* buf, int len) {
    std::jmp_buf jb;
    pci_jump = &jb;
    buf[0] = '\0';
    if (setjmp(jb) == 0) {
        if (!pci_lookup_name(a, buf, len, PCI_LOOKUP_DEVICE | PCI_LOOKUP_NO_NUMBERS, d->vendor_id, d->device_id))
            buf[0] = '\0';
    } else {
        buf[0] = '\0';
    }
    pci_jump = nullptr;
}

struct AccessDeleter {
    void operator()(pci_access* a) const { pci_cleanup(a); }
};

int read_int(const std::string& path, int fallback) {
    auto line = sysfs::read_line(path);
    if (!line)
        return fallback;
    char* end = nullptr;
    long v = std::strtol(line->c_str(), &end, 0);
    return end == line->c_str() ? fallback : int(v);
}

PciDeviceInfo convert(const std::string& root, pci_dev* d, const char* name) {
    PciDeviceInfo info;
    info.address = PciAddress{std::uint16_t(d->domain), std::uint8_t(d->bus), std::uint8_t(d->dev),
                              std::uint8_t(d->func)};
    info.vendor_id = d->vendor_id;
    info.device_id = d->device_id;
    info.class_code = std::uint32_t(d->device_class) << 8;
    auto cls = sysfs::read_line(sysfs::device_dir(root, info.address) + "/class");
    if (cls)
        info.class_code = std::uint32_t(std::strtoul(cls->c_str(), nullptr, 16));
    info.name = name;
    info.driver = sysfs::driver(root, info.address);
    info.iommu_group = sysfs::iommu_group(root, info.address);
    info.numa_node = read_int(sysfs::device_dir(root, info.address) + "/numa_node", -1);
    for (unsigned i = 0; i < 6; ++i) {
        if (d->size[i] == 0)
            continue;
        PciBar bar;
        bar.index = i;
        bar.size = d->size[i];
        auto raw = d->base_addr[i];
        bar.io = (raw & PCI_BASE_ADDRESS_SPACE_IO) != 0;
        bar.start = bar.io ? (raw & PCI_BASE_ADDRESS_IO_MASK) : (raw & PCI_BASE_ADDRESS_MEM_MASK);
        bar.is64 = !bar.io && (raw & PCI_BASE_ADDRESS_MEM_TYPE_MASK) == PCI_BASE_ADDRESS_MEM_TYPE_64;
        bar.prefetchable = !bar.io && (raw & PCI_BASE_ADDRESS_MEM_PREFETCH) != 0;
        info.bars.push_back(bar);
    }
    return info;
}

} // namespace

std::string pci_sysfs_root(const PciOptions& opts) {
    if (!opts.sysfs_root.empty())
        return opts.sysfs_root;
    const char* env = std::getenv("UPIO_SYSFS_ROOT");
    return (env && *env) ? env : "/sys";
}

Result<std::vector<PciDeviceInfo>> pci_enumerate(const PciOptions& opts) {
    std::string root = pci_sysfs_root(opts);
    std::string bus = root + "/bus/pci";
    if (!sysfs::exists(bus + "/devices"))
        return make_error(ENOENT, bus + "/devices does not exist: sysfs is not mounted at " + root +
                                      " or the system has no PCI bus (mount -t sysfs sysfs /sys)");
    // libpci treats a malformed entry as fatal; name it ourselves first (its
    // own error path cannot free what it was scanning).
    if (DIR* d = ::opendir((bus + "/devices").c_str())) {
        std::string bad;
        while (dirent* e = ::readdir(d))
            if (e->d_name[0] != '.' && !PciAddress::parse(e->d_name) && bad.empty())
                bad = e->d_name;
        ::closedir(d);
        if (!bad.empty())
            return make_error(EIO, bus + "/devices/" + bad + " is not a PCI address: is " + root +
                                       " really a sysfs tree?");
    }
    std::unique_ptr<pci_access, AccessDeleter> a(pci_alloc());
    if (!a)
        return make_error(ENOMEM, "libpci: pci_alloc failed");
    a->method = PCI_ACCESS_SYS_BUS_PCI; // never fall back to raw port I/O
    a->error = on_pci_error;
    a->warning = on_pci_warning;
    a->debug = on_pci_warning;
    pci_set_param(a.get(), const_cast<char*>("sysfs.path"), const_cast<char*>(bus.c_str()));
    if (!scan_guarded(a.get(), PCI_FILL_IDENT | PCI_FILL_CLASS | PCI_FILL_BASES | PCI_FILL_SIZES))
        return make_error(EIO, std::string("libpci could not read ") + bus + ": " + pci_message);
    std::vector<PciDeviceInfo> out;
    char name[256];
    for (pci_dev* d = a->devices; d; d = d->next) {
        name_guarded(a.get(), d, name, sizeof name);
        out.push_back(convert(root, d, name));
    }
    std::sort(out.begin(), out.end(),
              [](const PciDeviceInfo& x, const PciDeviceInfo& y) { return x.address < y.address; });
    return out;
}

Result<PciDeviceInfo> pci_lookup(const PciAddress& addr, const PciOptions& opts) {
    std::string root = pci_sysfs_root(opts);
    if (!sysfs::exists(sysfs::device_dir(root, addr)))
        return make_error(ENODEV, "no PCI device " + addr.str() + " (" + sysfs::device_dir(root, addr) +
                                      " does not exist); run upio-setup status to list devices");
    auto all = pci_enumerate(opts);
    if (!all)
        return std::move(all).error();
    for (auto& d : all.value())
        if (d.address == addr)
            return d;
    return make_error(ENODEV, "libpci does not list " + addr.str() + " although sysfs has it");
}

} // namespace upio
