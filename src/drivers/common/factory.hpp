// drivers/common/factory.hpp -- what every NIC driver's port-type factory
// shares: the chip table lookup, one adapter per PCI function, and how the
// factory reaches a device.
//
// A driver declares its factory in one line and keeps its public names:
//
//   using Factory = drivers::NicFactory<E1000Adapter, DriverOptions, &make_adapter>;
//
// and its port-type descriptor in another:
//
//   const PortType& port_type() {
//       static const PortType t = Factory::port_type("e1000", "8254x / 82574L / ... bound to vfio-pci");
//       return t;
//   }
//
// A second open of "DRIVER:ADDR-N" joins the adapter the first one created
// (several threads, one ring pair each). The device comes from
// upio::open_pci_device (VFIO, implemented by core) unless a test installs
// another opener (software models): drivers never include core's VFIO.
#pragma once

#include <upio/backend/adapter.hpp>
#include <upio/backend/device.hpp>
#include <upio/backend/port_type.hpp>
#include <upio/port.hpp>

#include <fmt/format.h>

#include <map>
#include <memory>
#include <mutex>

namespace upio::drivers {

// How a factory reaches a device: upio::open_pci_device by default; tests
// install models.
using DeviceOpener = Result<std::unique_ptr<Device>> (*)(const PciAddress&);

// The entry of a driver's chip table (elements with a device_id) for an
// Intel device, or nullptr.
template <class ChipInfo, std::size_t N>
const ChipInfo* find_intel_chip(const ChipInfo (&chips)[N], std::uint16_t vendor_id,
                                std::uint16_t device_id) noexcept {
    if (vendor_id != 0x8086) return nullptr;
    for (const ChipInfo& c : chips)
        if (c.device_id == device_id) return &c;
    return nullptr;
}

// The chip entry for `dev`, or ENODEV naming the device, what the driver is
// ("an e1000-family NIC") and the chips it knows.
template <class ChipInfo, std::size_t N>
Result<const ChipInfo*> known_chip(const ChipInfo (&chips)[N], const Device& dev, const char* what,
                                   const char* known) {
    if (const ChipInfo* c = find_intel_chip(chips, dev.vendor_id(), dev.device_id())) return c;
    return make_error(ENODEV, fmt::format("{}: device {:04x}:{:04x} is not {} this driver knows ({})", dev.describe(),
                                          dev.vendor_id(), dev.device_id(), what, known));
}

// known_chip, and then ENOTSUP for a chip the driver knows but cannot drive
// yet: `why_not(chip)` says why and what to use instead (nullptr: it can).
template <class ChipInfo, std::size_t N>
Result<const ChipInfo*> supported_chip(const ChipInfo (&chips)[N], const Device& dev, const char* what,
                                       const char* known, const char* (*why_not)(const ChipInfo&)) {
    auto chip = known_chip(chips, dev, what, known);
    if (!chip) return chip;
    if (const char* why = why_not(*chip.value()))
        return make_error(ENOTSUP, fmt::format("{}: {} ({:04x}): {}", dev.describe(), chip.value()->name,
                                               chip.value()->device_id, why));
    return chip;
}

// One adapter per PCI function, made by `make` on the device the opener
// returns.
template <class AdapterT, class Options>
class AdapterTable {
public:
    using Make = Result<std::shared_ptr<AdapterT>> (*)(std::unique_ptr<Device>, const PortOptions&, const Options&);
    explicit AdapterTable(Make make) : make_(make) {}

    Result<std::shared_ptr<Adapter>> open(const PciAddress& addr, const PortOptions& opts) {
        std::lock_guard lk(mu_);
        if (auto it = adapters_.find(addr); it != adapters_.end())
            if (auto a = it->second.lock()) return std::shared_ptr<Adapter>(std::move(a));
        auto dev = (opener_ ? opener_ : &open_pci_device)(addr);
        if (!dev) return std::move(dev).error();
        auto a = make_(std::move(dev.value()), opts, defaults_);
        if (!a) return std::move(a).error();
        adapters_[addr] = a.value();
        return std::shared_ptr<Adapter>(std::move(a.value()));
    }
    void set_device_opener(DeviceOpener opener) {
        std::lock_guard lk(mu_);
        opener_ = opener;
    }
    void set_default_options(const Options& o) {
        std::lock_guard lk(mu_);
        defaults_ = o;
    }

private:
    std::mutex mu_;
    std::map<PciAddress, std::weak_ptr<AdapterT>> adapters_;
    DeviceOpener opener_ = nullptr;
    Options defaults_{};
    Make make_;
};

// A driver's port-type factory: its one AdapterTable and the calls the
// driver's namespace exposes (open, set_device_opener,
// set_default_options) and its port-type descriptor.
template <class AdapterT, class Options,
          Result<std::shared_ptr<AdapterT>> (*Make)(std::unique_ptr<Device>, const PortOptions&, const Options&)>
struct NicFactory {
    static AdapterTable<AdapterT, Options>& table() {
        static AdapterTable<AdapterT, Options> t(Make);
        return t;
    }
    // The adapter of the function at `addr`: the one already open, or a new
    // one on the device the opener returns.
    static Result<std::shared_ptr<Adapter>> open(const PciAddress& addr, const PortOptions& opts) {
        return table().open(addr, opts);
    }
    // Replaces how open reaches a device (nullptr: open_pci_device again).
    static void set_device_opener(DeviceOpener opener) { table().set_device_opener(opener); }
    // Driver options for adapters created from now on.
    static void set_default_options(const Options& o) { table().set_default_options(o); }

    // The port type's factory: the adapter of the PCI address that is the
    // name's body.
    static Result<std::shared_ptr<Adapter>> open_name(const PortName& pn, const PortOptions& opts) {
        auto addr = PciAddress::parse(pn.body);
        if (!addr) return std::move(addr).error();
        return open(addr.value(), opts);
    }
    // The descriptor of "TYPE:DDDD:BB:DD.F" (with the -N and /T /R
    // shorthands: a PCI address never ends in '-' or contains '/').
    static PortType port_type(std::string type, std::string summary) {
        PortType d;
        d.syntax = type + ":DDDD:BB:DD.F";
        d.name = std::move(type);
        d.summary = std::move(summary);
        d.shorthands = shorthand_ring | shorthand_dir;
        d.parse = &parse_pci_body;
        d.open = &open_name;
        return d;
    }
};

} // namespace upio::drivers
