// core/pci.hpp -- small sysfs readers shared by the PCI and VFIO code.
//
// Everything takes the sysfs root explicitly so tests can use a fake tree.
// Missing files are not errors here: callers decide what absence means.
#pragma once

#include <upio/error.hpp>
#include <upio/port_name.hpp>

#include <optional>
#include <string>
#include <vector>

namespace upio::sysfs {

// <root>/bus/pci/devices/<addr>
std::string device_dir(const std::string& root, const PciAddress& addr);
bool exists(const std::string& path);
// Last path component of a symlink's target, nullopt when there is no link.
std::optional<std::string> link_name(const std::string& path);
// First line of a small text file without the newline, nullopt on failure.
std::optional<std::string> read_line(const std::string& path);
// Bound driver ("" when none) and IOMMU group (-1 when none) of a device.
std::string driver(const std::string& root, const PciAddress& addr);
int iommu_group(const std::string& root, const PciAddress& addr);
// Addresses (as text) of the functions in an IOMMU group, sorted.
std::vector<std::string> group_devices(const std::string& root, int group);
// "0000:00:02.0 (e1000), 0000:00:02.1 (no driver)" for error messages.
std::string describe_devices(const std::string& root, const std::vector<std::string>& addrs);

} // namespace upio::sysfs
