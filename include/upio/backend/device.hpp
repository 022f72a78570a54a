// upio/backend/device.hpp -- BACKEND API: the only way a driver reaches hardware.
//
// A driver sees a PCI function as: 32-bit registers in BAR0, config space,
// DMA mapping of memory regions, and interrupts delivered to eventfds.
// VfioDevice (src/core/vfio) implements this for real devices bound to
// vfio-pci; software device models implement it for tests, so the same
// driver code runs on both.
#pragma once

#if defined(UPIO_USER_API_ONLY)
#error "upio/backend/device.hpp is backend API; this program is built on the user API only (UPIO_USER_API_ONLY)"
#endif

#include <upio/backend/iova.hpp>
#include <upio/backend/memory_region.hpp>
#include <upio/error.hpp>
#include <upio/port_name.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace upio {

enum class IrqKind { msix, msi, intx };

class Device {
public:
    virtual ~Device() = default;

    // "0000:01:00.0 (vfio)" or "82599 model": used in error messages.
    virtual std::string describe() const = 0;
    virtual PciAddress address() const = 0;
    virtual std::uint16_t vendor_id() const = 0;
    virtual std::uint16_t device_id() const = 0;
    // NUMA node of the device, -1 when unknown.
    virtual int numa_node() const { return -1; }

    // BAR0 registers. Data path (tail writes): no allocation, no throw.
    virtual std::uint32_t read32(std::uint32_t offset) noexcept = 0;
    virtual void write32(std::uint32_t offset, std::uint32_t value) noexcept = 0;

    // PCI config space (width 1, 2 or 4 bytes).
    virtual Result<std::uint32_t> config_read(std::uint32_t offset, unsigned width) = 0;
    virtual Status config_write(std::uint32_t offset, unsigned width, std::uint32_t value) = 0;
    virtual Status set_bus_master(bool on) = 0;
    // Function-level reset where the device supports it.
    virtual Status reset() = 0;

    // Makes the whole region reachable by the device and installs its IOVA
    // page table (MemoryRegion::iova then works). Unmap before the region
    // goes away.
    virtual Status dma_map(MemoryRegion& region) = 0;
    virtual Status dma_unmap(MemoryRegion& region) = 0;

    // Enables `count` interrupt vectors of `kind` and returns one eventfd per
    // vector (the device fails with a clear error when it lacks the kind).
    virtual Result<std::vector<int>> enable_interrupts(IrqKind kind, unsigned count) = 0;
    virtual void disable_interrupts() noexcept = 0;
    // INTx is masked by the kernel when it fires; unmask after handling.
    virtual void unmask_intx() noexcept {}
    // An eventfd that becomes readable when the host asks for the device
    // back (VFIO's request interrupt: a hot-unplug or an unbind is waiting
    // for the device's user to let go); -1 when the device has none. A
    // driver treats it as removal: it stops using the device and fails its
    // syncs, so the application closes the port and the host can go on.
    virtual int request_fd() noexcept { return -1; }
};

// The PCI function at `addr` as a Device, through VFIO (bound to vfio-pci;
// the error says how to bind it). Implemented by core; every driver's
// port-type factory opens devices through it unless a test installs another
// opener, so no driver needs core's VFIO headers.
Result<std::unique_ptr<Device>> open_pci_device(const PciAddress& addr);

} // namespace upio
