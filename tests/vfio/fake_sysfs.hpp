// A throwaway sysfs + /dev tree for testing the PCI and VFIO code without
// VFIO: directories, attribute files and the symlinks the kernel would make.
#pragma once

#include <upio/port_name.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace upio::test {

class FakeSysfs {
public:
    FakeSysfs() {
        char tmpl[] = "/tmp/upio-fake-sysfs-XXXXXX";
        dir_ = ::mkdtemp(tmpl);
        std::filesystem::create_directories(sys() + "/bus/pci/devices");
        std::filesystem::create_directories(sys() + "/bus/pci/drivers");
        std::filesystem::create_directories(dev());
    }
    ~FakeSysfs() { std::filesystem::remove_all(dir_); }
    FakeSysfs(const FakeSysfs&) = delete;
    FakeSysfs& operator=(const FakeSysfs&) = delete;

    std::string sys() const { return dir_ + "/sys"; }
    std::string dev() const { return dir_ + "/dev"; }

    // A function with the attribute files libpci reads; BAR0 128 KiB.
    void add_device(const std::string& addr, const std::string& vendor = "0x8086",
                    const std::string& device = "0x10d3", const std::string& cls = "0x020000") {
        std::string d = sys() + "/devices/pci0000:00/" + addr;
        std::filesystem::create_directories(d);
        write(d + "/vendor", vendor);
        write(d + "/device", device);
        write(d + "/class", cls);
        write(d + "/irq", "11");
        write(d + "/numa_node", "-1");
        write(d + "/resource",
              "0x00000000febc0000 0x00000000febdffff 0x0000000000040200\n" + zero_lines(12));
        std::filesystem::create_directory_symlink("../../../devices/pci0000:00/" + addr,
                                                  sys() + "/bus/pci/devices/" + addr);
    }
    void bind(const std::string& addr, const std::string& driver) {
        std::string drv = sys() + "/bus/pci/drivers/" + driver;
        std::filesystem::create_directories(drv);
        std::string link = sys() + "/devices/pci0000:00/" + addr + "/driver";
        std::filesystem::remove(link);
        std::filesystem::create_directory_symlink("../../../bus/pci/drivers/" + driver, link);
    }
    void set_group(const std::string& addr, int group) {
        std::string g = sys() + "/kernel/iommu_groups/" + std::to_string(group);
        std::filesystem::create_directories(g + "/devices");
        std::filesystem::create_directory_symlink("../../../../devices/pci0000:00/" + addr,
                                                  g + "/devices/" + addr);
        std::filesystem::create_directory_symlink("../../../kernel/iommu_groups/" + std::to_string(group),
                                                  sys() + "/devices/pci0000:00/" + addr + "/iommu_group");
    }
    static void write(const std::string& path, const std::string& text) {
        std::filesystem::create_directories(std::filesystem::path(path).parent_path());
        std::ofstream(path) << text << (text.empty() || text.back() != '\n' ? "\n" : "");
    }

private:
    static std::string zero_lines(int n) {
        std::string s;
        for (int i = 0; i < n; ++i)
            s += "0x0000000000000000 0x0000000000000000 0x0000000000000000\n";
        return s;
    }
    std::string dir_;
};

} // namespace upio::test
