// --ixgbe-model: "ixgbe:" ports open software 82599s instead of VFIO devices.
// Functions 0 and 1 of one PCI device are wired back to back, like the two
// ports of a dual-port card joined by a cable, so pkt-gen runs end to end on
// simulated hardware:
//   pkt-gen --ixgbe-model -f txrx -i ixgbe:0000:01:00.0 -i ixgbe:0000:01:00.1
#include "pktgen.hpp"

#include "drivers/ixgbe/ixgbe.hpp"
#include "drivers/ixgbe/model/ixgbe_model.hpp"

#include <map>
#include <mutex>

namespace pktgen {
namespace {

std::mutex mu;
std::map<upio::PciAddress, upio::ixgbe::model::IxgbeModel*> models; // owned by their adapters

upio::Result<std::unique_ptr<upio::Device>> open_model(const upio::PciAddress& addr) {
    upio::ixgbe::model::ModelConfig cfg;
    cfg.address = addr;
    cfg.mac[5] = std::uint8_t(addr.function + 1);
    auto m = std::make_unique<upio::ixgbe::model::IxgbeModel>(cfg);
    std::lock_guard lk(mu);
    upio::PciAddress peer = addr;
    peer.function ^= 1;
    if (auto it = models.find(peer); it != models.end()) upio::ixgbe::model::IxgbeModel::connect(*m, *it->second);
    models[addr] = m.get();
    return std::unique_ptr<upio::Device>(std::move(m));
}

} // namespace

void use_ixgbe_models() { upio::ixgbe::set_device_opener(&open_model); }

} // namespace pktgen
