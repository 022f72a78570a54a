// upio/pci.hpp -- what the system knows about a PCI function.
//
// Enumeration goes through libpci's sysfs back end only (never raw port
// I/O), plus a few sysfs links libpci does not cover reliably (driver,
// IOMMU group). The sysfs root is configurable so tests can point it at a
// fake tree; by default it is $UPIO_SYSFS_ROOT, else "/sys".
#pragma once

#include <upio/error.hpp>
#include <upio/port_name.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace upio {

struct PciBar {
    unsigned index = 0;       // BAR number, 0..5
    std::uint64_t start = 0;  // bus address as the kernel assigned it
    std::uint64_t size = 0;
    bool io = false;          // I/O port BAR rather than memory
    bool is64 = false;
    bool prefetchable = false;
};

struct PciDeviceInfo {
    PciAddress address;
    std::uint16_t vendor_id = 0;
    std::uint16_t device_id = 0;
    std::uint32_t class_code = 0; // base class << 16 | subclass << 8 | prog-if
    std::string name;             // from pci.ids when installed, else ""
    std::string driver;           // bound kernel driver, "" when none
    int iommu_group = -1;         // -1: no IOMMU group (IOMMU off or absent)
    int numa_node = -1;           // -1: unknown / single node
    std::vector<PciBar> bars;     // only the BARs that are present

    bool is_network() const noexcept { return (class_code >> 16) == 0x02; }
};

struct PciOptions {
    std::string sysfs_root; // "" -> $UPIO_SYSFS_ROOT, else "/sys"
};

// The sysfs root after applying the defaults above.
std::string pci_sysfs_root(const PciOptions& opts = {});

// Every PCI function the system lists, sorted by address.
Result<std::vector<PciDeviceInfo>> pci_enumerate(const PciOptions& opts = {});
// One function; a clear error when the address does not exist.
Result<PciDeviceInfo> pci_lookup(const PciAddress& addr, const PciOptions& opts = {});

} // namespace upio
