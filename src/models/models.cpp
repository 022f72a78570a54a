// Software NIC models behind "ixgbe:" and "e1000:" names (upio/models.hpp).
//
// A family's driver reaches devices through a device opener; enabling the
// family installs one that builds a model for the PCI function asked for and
// wires it: to the other function of its device (back to back), or, with a
// wire port, function 0 to that port (model_wire.hpp). The drivers are used
// only through their opener hooks, in install_opener() below.
#include "models/model_wire.hpp"

#include <upio/models.hpp>

#include "drivers/e1000/e1000.hpp"
#include "drivers/e1000/model/e1000_model.hpp"
#include "drivers/ixgbe/ixgbe.hpp"
#include "drivers/ixgbe/model/ixgbe_model.hpp"

#include <fmt/format.h>

#include <map>
#include <mutex>

namespace upio::models {
namespace {

using drivers::model::DeviceModel;
using e1000::model::E1000Model;
using ixgbe::model::IxgbeModel;

constexpr int num_families = 2;

class ModelDevice;

// One family's models and wire. Under `mu`.
struct FamilyState {
    std::map<PciAddress, ModelDevice*> devices; // owned by their adapters
    std::unique_ptr<detail::PortWire> wire;
};

std::mutex mu;
FamilyState families[num_families];

FamilyState& state(Family f) noexcept { return families[int(f)]; }

// What differs between the families' models.
struct Ops {
    std::unique_ptr<Device> (*make)(const PciAddress& addr); // a DeviceModel
    bool (*receive)(DeviceModel& m, const std::uint8_t* frame, std::size_t len);
    void (*connect)(DeviceModel& a, DeviceModel& b);
};

const Ops ops[num_families] = {
    { // ixgbe: an 82599ES
        [](const PciAddress& addr) -> std::unique_ptr<Device> {
            ixgbe::model::ModelConfig cfg;
            cfg.address = addr;
            cfg.mac[5] = std::uint8_t(addr.function + 1);
            return std::make_unique<IxgbeModel>(cfg);
        },
        [](DeviceModel& m, const std::uint8_t* f, std::size_t n) { return static_cast<IxgbeModel&>(m).receive(f, n); },
        [](DeviceModel& a, DeviceModel& b) { IxgbeModel::connect(static_cast<IxgbeModel&>(a), static_cast<IxgbeModel&>(b)); },
    },
    { // e1000: an 82574L
        [](const PciAddress& addr) -> std::unique_ptr<Device> {
            e1000::model::ModelConfig cfg;
            cfg.chip = e1000::model::Chip::i82574l;
            cfg.address = addr;
            cfg.mac[4] = addr.device;
            cfg.mac[5] = std::uint8_t(addr.function + 1);
            return std::make_unique<E1000Model>(cfg);
        },
        [](DeviceModel& m, const std::uint8_t* f, std::size_t n) { return static_cast<E1000Model&>(m).receive(f, n); },
        [](DeviceModel& a, DeviceModel& b) { E1000Model::connect(static_cast<E1000Model&>(a), static_cast<E1000Model&>(b)); },
    },
};

// The device a driver gets: a model that unhooks itself before it goes.
// The adapter owns it and destroys it when the port closes, or at once when
// the port fails to open; the wire's thread and the table must not reach the
// model after that. A wrapper rather than a subclass: the unhooking must be
// done before any part of the model is destroyed, while its timer may still
// call into it.
class ModelDevice final : public Device, public detail::ModelInlet {
public:
    ModelDevice(Family f, std::unique_ptr<Device> d)
        : family_(f), dev_(std::move(d)), m_(&dynamic_cast<DeviceModel&>(*dev_)) {}
    ~ModelDevice() override {
        {
            std::lock_guard lk(mu);
            FamilyState& st = state(family_);
            if (auto it = st.devices.find(m_->address()); it != st.devices.end() && it->second == this)
                st.devices.erase(it);
            if (st.wire) st.wire->detach(this); // waits for a frame on its way in
        }
        m_->set_wire({}); // waits for a frame on its way out
        // a peer wired back to back reaches m_ through its inlet, which the
        // model's destructor closes
    }

    DeviceModel& model() noexcept { return *m_; }

    // -- detail::ModelInlet
    bool receive(const std::uint8_t* frame, std::size_t len) override { return ops[int(family_)].receive(*m_, frame, len); }

    // -- Device
    std::string describe() const override { return m_->describe(); }
    PciAddress address() const override { return m_->address(); }
    std::uint16_t vendor_id() const override { return m_->vendor_id(); }
    std::uint16_t device_id() const override { return m_->device_id(); }
    int numa_node() const override { return m_->numa_node(); }
    std::uint32_t read32(std::uint32_t offset) noexcept override { return m_->read32(offset); }
    void write32(std::uint32_t offset, std::uint32_t value) noexcept override { m_->write32(offset, value); }
    Result<std::uint32_t> config_read(std::uint32_t offset, unsigned width) override {
        return m_->config_read(offset, width);
    }
    Status config_write(std::uint32_t offset, unsigned width, std::uint32_t value) override {
        return m_->config_write(offset, width, value);
    }
    Status set_bus_master(bool on) override { return m_->set_bus_master(on); }
    Status reset() override { return m_->reset(); }
    Status dma_map(MemoryRegion& region) override { return m_->dma_map(region); }
    Status dma_unmap(MemoryRegion& region) override { return m_->dma_unmap(region); }
    Result<std::vector<int>> enable_interrupts(IrqKind kind, unsigned count) override {
        return m_->enable_interrupts(kind, count);
    }
    void disable_interrupts() noexcept override { m_->disable_interrupts(); }
    void unmask_intx() noexcept override { m_->unmask_intx(); }

private:
    Family family_;
    std::unique_ptr<Device> dev_; // the model (DeviceModel's destructor is not public)
    DeviceModel* m_;              // dev_ as a model
};

Result<std::unique_ptr<Device>> open_model(Family f, const PciAddress& addr) {
    auto d = std::make_unique<ModelDevice>(f, ops[int(f)].make(addr));
    std::lock_guard lk(mu);
    FamilyState& st = state(f);
    if (st.wire && addr.function == 0) {
        st.wire->attach(d->model(), d.get());
    } else if (!st.wire) {
        PciAddress peer = addr;
        peer.function ^= 1;
        if (auto it = st.devices.find(peer); it != st.devices.end())
            ops[int(f)].connect(d->model(), it->second->model());
    }
    st.devices[addr] = d.get();
    return std::unique_ptr<Device>(std::move(d));
}

Result<std::unique_ptr<Device>> open_ixgbe(const PciAddress& addr) { return open_model(Family::ixgbe, addr); }
Result<std::unique_ptr<Device>> open_e1000(const PciAddress& addr) { return open_model(Family::e1000, addr); }

// The one place that reaches into the drivers: how their port types open a
// PCI function. `on` false: through VFIO again.
void install_opener(Family f, bool on) {
    switch (f) {
    case Family::ixgbe: ixgbe::Factory::set_device_opener(on ? &open_ixgbe : nullptr); break;
    case Family::e1000: e1000::Factory::set_device_opener(on ? &open_e1000 : nullptr); break;
    }
}

// Takes the family's wire out of the table and stops it, under mu: a model
// being destroyed meanwhile either detached itself first or waits until the
// wire has let go of it.
std::unique_ptr<detail::PortWire> take_wire(Family f) {
    std::lock_guard lk(mu);
    std::unique_ptr<detail::PortWire> w = std::move(state(f).wire);
    if (w) w->stop();
    return w;
}

} // namespace

const char* family_name(Family f) noexcept { return f == Family::ixgbe ? "ixgbe" : "e1000"; }

Status enable(Family family, const Options& opts) {
    std::unique_ptr<detail::PortWire> w;
    if (!opts.wire.empty()) {
        auto made = detail::PortWire::open(opts.wire, opts.wire_options);
        if (!made) return std::move(made).error();
        w = std::move(made.value());
    }
    take_wire(family).reset(); // a wire of an earlier enable()
    {
        std::lock_guard lk(mu);
        state(family).wire = std::move(w);
    }
    install_opener(family, true);
    return {};
}

void disable(Family family) noexcept {
    install_opener(family, false);
    take_wire(family).reset();
}

void stop_wires() noexcept {
    std::lock_guard lk(mu);
    for (FamilyState& st : families)
        if (st.wire) st.wire->stop();
}

void close_wires() noexcept {
    for (int f = 0; f < num_families; f++) take_wire(Family(f)).reset();
}

std::vector<WireCounters> wire_counters() {
    std::vector<WireCounters> out;
    std::lock_guard lk(mu);
    for (int f = 0; f < num_families; f++) {
        if (!families[f].wire) continue;
        WireCounters c = families[f].wire->counters();
        c.family = Family(f);
        out.push_back(std::move(c));
    }
    return out;
}

} // namespace upio::models
