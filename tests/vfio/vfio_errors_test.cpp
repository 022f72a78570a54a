// VFIO and PCI error paths on a host without VFIO: every failure names the
// device and says what to run. Uses a fake sysfs/dev tree where the real one
// cannot produce the situation.
#include "../common/require.hpp"
#include "core/vfio.hpp"
#include "fake_sysfs.hpp"

#include <upio/pci.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace upio;
using upio::test::FakeSysfs;
using ::testing::HasSubstr;

namespace {

const PciAddress nic{0, 0, 3, 0};

class VfioErrors : public ::testing::Test {
protected:
    FakeSysfs fake;
    VfioOptions opts() const {
        VfioOptions o;
        o.sysfs_root = fake.sys();
        o.dev_root = fake.dev();
        return o;
    }
    void SetUp() override { fake.add_device("0000:00:03.0"); }
    std::string open_error(const VfioOptions& o) {
        auto r = VfioDevice::open(nic, o);
        EXPECT_FALSE(r.ok());
        return r ? std::string() : r.error().message;
    }
};

TEST_F(VfioErrors, NoSuchDevice) {
    auto r = VfioDevice::open(PciAddress{0, 0, 9, 0}, opts());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ENODEV);
    EXPECT_THAT(r.error().message, HasSubstr("no PCI device 0000:00:09.0"));
    EXPECT_THAT(r.error().message, HasSubstr("upio-setup status"));
}

TEST_F(VfioErrors, BoundToAnotherDriver) {
    fake.bind("0000:00:03.0", "e1000e");
    EXPECT_EQ(open_error(opts()), "0000:00:03.0 is bound to e1000e; run upio-setup bind 0000:00:03.0");
}

TEST_F(VfioErrors, NoDriver) {
    EXPECT_THAT(open_error(opts()), HasSubstr("has no driver; run upio-setup bind 0000:00:03.0"));
}

TEST_F(VfioErrors, NoIommuGroup) {
    fake.bind("0000:00:03.0", "vfio-pci");
    EXPECT_THAT(open_error(opts()), HasSubstr("no IOMMU group: the IOMMU is off; boot with intel_iommu=on"));
}

TEST_F(VfioErrors, NoDevVfio) {
    fake.bind("0000:00:03.0", "vfio-pci");
    fake.set_group("0000:00:03.0", 5);
    std::string msg = open_error(opts());
    EXPECT_THAT(msg, HasSubstr(fake.dev() + "/vfio does not exist"));
    EXPECT_THAT(msg, HasSubstr("upio-setup bind"));
}

TEST_F(VfioErrors, GroupNodeMissing) {
    fake.bind("0000:00:03.0", "vfio-pci");
    fake.set_group("0000:00:03.0", 5);
    std::filesystem::create_directories(fake.dev() + "/vfio");
    EXPECT_THAT(open_error(opts()), HasSubstr("/vfio/5 does not exist: no device of IOMMU group 5 is bound"));
}

TEST_F(VfioErrors, GroupNotViable) {
    fake.add_device("0000:00:03.1");
    fake.bind("0000:00:03.0", "vfio-pci");
    fake.bind("0000:00:03.1", "e1000e");
    fake.set_group("0000:00:03.0", 5);
    fake.set_group("0000:00:03.1", 5);
    auto r = VfioDevice::open(nic, opts());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, EBUSY);
    EXPECT_EQ(r.error().message,
              "IOMMU group 5 is not viable: every device in it must be bound to vfio-pci or to no driver; it "
              "holds 0000:00:03.0 (vfio-pci), 0000:00:03.1 (e1000e); run upio-setup bind 0000:00:03.1");
    EXPECT_FALSE(vfio_group_viable(5, opts()));
}

TEST_F(VfioErrors, NotAVfioGroupNode) {
    fake.bind("0000:00:03.0", "vfio-pci");
    fake.set_group("0000:00:03.0", 5);
    FakeSysfs::write(fake.dev() + "/vfio/5", "");
    EXPECT_THAT(open_error(opts()), HasSubstr("is not a VFIO group"));
}

// Runs VfioDevice::open as an unprivileged user (root reads any file) and
// returns its error message.
std::string open_as_nobody(const VfioOptions& o) {
    int p[2];
    if (::pipe(p) != 0)
        return "pipe failed";
    pid_t pid = ::fork();
    if (pid == 0) {
        ::close(p[0]);
        if (::setgid(65534) != 0 || ::setuid(65534) != 0)
            ::_exit(2);
        auto r = VfioDevice::open(nic, o);
        std::string m = r ? "opened" : r.error().message;
        (void)!::write(p[1], m.data(), m.size());
        ::_exit(0);
    }
    ::close(p[1]);
    std::string out;
    char buf[512];
    for (ssize_t n; (n = ::read(p[0], buf, sizeof buf)) > 0;)
        out.append(buf, std::size_t(n));
    ::close(p[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return out;
}

TEST_F(VfioErrors, NoPermission) {
    if (::geteuid() != 0)
        UPIO_MISSING_PREREQUISITE("needs root to create the situation");
    fake.bind("0000:00:03.0", "vfio-pci");
    fake.set_group("0000:00:03.0", 5);
    FakeSysfs::write(fake.dev() + "/vfio/5", "");
    ::chmod((fake.dev() + "/vfio/5").c_str(), 0600);
    // The fake tree lives in a 0700 mkdtemp directory: open it up for nobody.
    for (auto p = std::filesystem::path(fake.dev()).parent_path(); p != "/tmp"; p = p.parent_path())
        ::chmod(p.c_str(), 0755);
    std::string msg = open_as_nobody(opts());
    EXPECT_THAT(msg, HasSubstr("no permission to open " + fake.dev() + "/vfio/5"));
    EXPECT_THAT(msg, HasSubstr("upio-setup bind --user"));
}

TEST_F(VfioErrors, NoIommuModeMissingFromKernel) {
    fake.bind("0000:00:03.0", "vfio-pci");
    fake.set_group("0000:00:03.0", 5);
    auto o = opts();
    o.mode = VfioMode::noiommu;
    EXPECT_THAT(open_error(o), HasSubstr("this kernel has no VFIO no-IOMMU mode"));
}

TEST_F(VfioErrors, NoIommuModeOff) {
    fake.bind("0000:00:03.0", "vfio-pci");
    fake.set_group("0000:00:03.0", 5);
    FakeSysfs::write(fake.sys() + "/module/vfio/parameters/enable_unsafe_noiommu_mode", "N");
    auto o = opts();
    o.mode = VfioMode::noiommu;
    EXPECT_THAT(open_error(o), HasSubstr("no-IOMMU mode is off; enable it with: echo 1 >"));
}

TEST_F(VfioErrors, NoIommuChosenAutomaticallyFromDevNode) {
    fake.bind("0000:00:03.0", "vfio-pci");
    fake.set_group("0000:00:03.0", 5);
    FakeSysfs::write(fake.dev() + "/vfio/noiommu-5", "");
    EXPECT_THAT(open_error(opts()), HasSubstr("no VFIO no-IOMMU mode"));
}

// The real host: no VFIO in this kernel (skipped where there is).
TEST(VfioHost, ContainerWithoutDevVfio) {
    if (std::filesystem::exists("/dev/vfio"))
        GTEST_SKIP() << "/dev/vfio exists here";
    auto c = VfioContainer::open();
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().code, ENOENT);
    EXPECT_THAT(c.error().message, HasSubstr("/dev/vfio does not exist"));
}

TEST(VfioHost, EveryRealNicIsRefusedWithAReason) {
    auto devs = pci_enumerate();
    if (!devs)
        UPIO_MISSING_PREREQUISITE(devs.error().message);
    for (const auto& d : devs.value()) {
        if (!d.is_network() || d.driver == "vfio-pci")
            continue;
        auto r = VfioDevice::open(d.address);
        ASSERT_FALSE(r);
        EXPECT_THAT(r.error().message, HasSubstr("upio-setup bind " + d.address.str()));
    }
}

} // namespace
