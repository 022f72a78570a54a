// Helpers for the e1000 driver tests on the software model.
#pragma once

#include "drivers/e1000/e1000.hpp"
#include "drivers/e1000/model/e1000_model.hpp"

#include <upio/netmap_user.h>
#include <upio/port.hpp>

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <memory>
#include <vector>

namespace upio::e1000::test {

using model::Chip;
using model::E1000Model;
using model::ModelConfig;
using Frame = std::vector<std::uint8_t>;

inline PortOptions small_opts(std::uint32_t slots = 64, std::uint32_t rings = 1) {
    PortOptions o;
    o.tx_slots = o.rx_slots = slots;
    o.rings = rings;
    o.memory.hugepages = HugepagePolicy::never;
    return o;
}

inline DriverOptions fast_opts() {
    DriverOptions d;
    d.link_timeout = std::chrono::milliseconds(200);
    d.tx_hang_timeout = std::chrono::milliseconds(50);
    return d;
}

// A model and the adapter driving it (the adapter owns the model).
struct Nic {
    E1000Model* model = nullptr;
    std::shared_ptr<E1000Adapter> adapter;
};

inline Result<Nic> make_nic(ModelConfig cfg, const PortOptions& o = small_opts(),
                            const DriverOptions& d = fast_opts()) {
    auto m = std::make_unique<E1000Model>(cfg);
    E1000Model* raw = m.get();
    auto a = make_adapter(std::move(m), o, d);
    if (!a) return std::move(a).error();
    return Nic{raw, std::move(a.value())};
}

// Models that Port::open("e1000:ADDR") reaches, by PCI address: the test
// registers a config, the real factory builds the model through the opener.
struct ModelRegistry {
    std::map<PciAddress, ModelConfig> configs;
    std::map<PciAddress, E1000Model*> models;

    static ModelRegistry& get() {
        static ModelRegistry r;
        return r;
    }
    static Result<std::unique_ptr<Device>> open(const PciAddress& a) {
        auto& r = get();
        auto it = r.configs.find(a);
        if (it == r.configs.end()) return make_error(ENODEV, "no model at " + a.str());
        ModelConfig c = it->second;
        c.address = a;
        auto m = std::make_unique<E1000Model>(c);
        r.models[a] = m.get();
        return std::unique_ptr<Device>(std::move(m));
    }
};

// Registers the e1000 factory (the built-in table may not list it yet) and
// the model opener; returns the Port's model after open.
inline void use_models() {
    register_port_type("e1000", &open_adapter);
    set_device_opener(&ModelRegistry::open);
    set_default_options(fast_opts());
}

inline PciAddress pci(std::uint8_t dev) { return PciAddress{0, 0, dev, 0}; }

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

// Puts `f` into the tx ring's next slot; false when the ring is full.
inline bool put(netmap_ring* r, const Frame& f) {
    if (nm_ring_space(r) == 0) return false;
    netmap_slot& s = r->slot[r->cur];
    std::memcpy(NETMAP_BUF(r, s.buf_idx), f.data(), f.size());
    s.len = std::uint16_t(f.size());
    s.flags = 0;
    r->head = r->cur = nm_ring_next(r, r->cur);
    return true;
}

inline Frame slot_frame(netmap_ring* r, std::uint32_t i) {
    const netmap_slot& s = r->slot[i];
    auto* p = reinterpret_cast<std::uint8_t*>(NETMAP_BUF(r, s.buf_idx));
    return Frame(p, p + s.len);
}

} // namespace upio::e1000::test
