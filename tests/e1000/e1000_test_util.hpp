// Helpers for the e1000 driver tests on the software model.
#pragma once

#include "drivers/e1000/e1000.hpp"
#include "drivers/e1000/model/e1000_model.hpp"

#include "../common/nic_test_util.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstring>

namespace upio::e1000::test {

using model::Chip;
using model::E1000Model;
using model::ModelConfig;
using upio::test::expect_has;
using upio::test::Frame;
using upio::test::put;
using upio::test::readable;
using upio::test::slot_frame;
using upio::test::small_opts;

inline DriverOptions fast_opts() { return upio::test::fast_driver_opts<DriverOptions>(); }

// A model and the adapter driving it (the adapter owns the model).
using Nic = upio::test::ModelNic<E1000Model, E1000Adapter>;

inline Result<Nic> make_nic(ModelConfig cfg, const PortOptions& o = small_opts(),
                            const DriverOptions& d = fast_opts()) {
    return upio::test::make_model_nic<E1000Model>(&make_adapter, cfg, o, d);
}

// Models that Port::open("e1000:ADDR") reaches, by PCI address.
using ModelRegistry = upio::test::ModelRegistry<E1000Model, ModelConfig>;

// Registers the e1000 factory (the built-in table may not list it yet) and
// the model opener; returns the Port's model after open.
inline void use_models() {
    register_port_type("e1000", &Factory::open_name);
    Factory::set_device_opener(&ModelRegistry::open);
    Factory::set_default_options(fast_opts());
}

inline PciAddress pci(std::uint8_t dev) { return PciAddress{0, 0, dev, 0}; }

// Opens "e1000:ADDR" through the real factory on a model built from `cfg`
// (model_at(addr) after a successful open).
inline Result<std::unique_ptr<Port>> open_on_model(const PciAddress& addr, const ModelConfig& cfg,
                                                   const PortOptions& o = small_opts()) {
    use_models();
    ModelRegistry::get().configs[addr] = cfg;
    return Port::open("e1000:" + addr.str(), o);
}
inline E1000Model* model_at(const PciAddress& addr) { return ModelRegistry::get().models[addr]; }

// An Ethernet frame to `dst` of `len` bytes whose payload starts with `seq`
// and continues with a pattern derived from it.
inline Frame make_frame(const std::array<std::uint8_t, 6>& dst, std::uint32_t seq, std::size_t len) {
    Frame f(len);
    std::memcpy(f.data(), dst.data(), 6);
    const std::uint8_t src[6] = {0x02, 0, 0, 0, 0, 0x01};
    std::memcpy(f.data() + 6, src, 6);
    f[12] = 0x88;
    f[13] = 0xb5;
    std::memcpy(f.data() + 14, &seq, 4);
    for (std::size_t i = 18; i < len; i++) f[i] = std::uint8_t(seq * 7 + i);
    return f;
}

// An IPv4/UDP frame to `dst` (on make_frame's): flows differ by the source
// port `sport`; the sequence number is at byte 42.
inline Frame udp_frame(const std::array<std::uint8_t, 6>& dst, std::uint32_t seq, std::uint16_t sport,
                       std::size_t len = 80) {
    Frame f = make_frame(dst, seq, len);
    f[12] = 0x08;
    f[13] = 0x00;
    f[14] = 0x45; // IPv4, 20-byte header
    f[23] = 17;   // UDP
    const std::uint8_t ips[8] = {10, 0, 0, 1, 10, 0, 0, 2};
    std::memcpy(&f[26], ips, 8);
    f[34] = std::uint8_t(sport >> 8);
    f[35] = std::uint8_t(sport);
    f[36] = 0x30;
    f[37] = 0x39;
    std::memcpy(&f[42], &seq, 4);
    return f;
}

inline std::uint32_t seq_of(const void* p) {
    std::uint32_t s;
    std::memcpy(&s, static_cast<const char*>(p) + 42, 4);
    return s;
}

} // namespace upio::e1000::test
