// One adapter per PCI function: the table behind every NIC driver's
// port-type factory. A second open of "DRIVER:ADDR-N" joins the adapter the
// first one created (several threads, one ring pair each).
#pragma once

#include <upio/backend.hpp>
#include <upio/device.hpp>
#include <upio/port.hpp>

#include "core/vfio.hpp"

#include <fmt/format.h>

#include <map>
#include <memory>
#include <mutex>

namespace upio::drivers {

// How a factory reaches a device: VFIO by default; tests install models.
using DeviceOpener = Result<std::unique_ptr<Device>> (*)(const PciAddress&);

inline Result<std::unique_ptr<Device>> open_vfio_device(const PciAddress& addr) {
    auto d = VfioDevice::open(addr);
    if (!d) return std::move(d).error();
    return std::unique_ptr<Device>(std::move(d.value()));
}

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

template <class AdapterT, class Options>
class AdapterTable {
public:
    using Make = Result<std::shared_ptr<AdapterT>> (*)(std::unique_ptr<Device>, const PortOptions&, const Options&);
    explicit AdapterTable(Make make) : make_(make) {}

    Result<std::shared_ptr<Adapter>> open(const PciAddress& addr, const PortOptions& opts) {
        std::lock_guard lk(mu_);
        if (auto it = adapters_.find(addr); it != adapters_.end())
            if (auto a = it->second.lock()) return std::shared_ptr<Adapter>(std::move(a));
        auto dev = (opener_ ? opener_ : &open_vfio_device)(addr);
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

} // namespace upio::drivers
