// Helpers for the ixgbe driver tests on the software 82599.
#pragma once

#include "drivers/ixgbe/ixgbe.hpp"
#include "drivers/ixgbe/model/ixgbe_model.hpp"

#include "../common/nic_test_util.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <mutex>
#include <vector>

namespace upio::ixgbe::test {

using model::IxgbeModel;
using model::ModelConfig;
using upio::test::expect_has;
using upio::test::Frame;
using upio::test::put;
using upio::test::slot_frame;
using upio::test::small_opts;
using Mac = std::array<std::uint8_t, 6>;

inline DriverOptions fast_opts() { return upio::test::fast_driver_opts<DriverOptions>(); }

inline Mac model_mac(std::uint8_t id) { return {0x02, 0x1b, 0x21, 0x00, 0x00, id}; }

// A model and the adapter driving it (the adapter owns the model).
using Nic = upio::test::ModelNic<IxgbeModel, IxgbeAdapter>;

inline Result<Nic> make_nic(ModelConfig cfg = {}, const PortOptions& o = small_opts(),
                            const DriverOptions& d = fast_opts()) {
    return upio::test::make_model_nic<IxgbeModel>(&make_adapter, cfg, o, d);
}

// Models that Port::open("ixgbe:ADDR") reaches, by PCI address.
using ModelRegistry = upio::test::ModelRegistry<IxgbeModel, ModelConfig>;

inline PciAddress pci(std::uint8_t dev) { return PciAddress{0, 0x01, dev, 0}; }

// Routes "ixgbe:" names to models; returns the config registered at `dev`.
inline void use_model(std::uint8_t dev, ModelConfig cfg = {}, const DriverOptions& d = fast_opts()) {
    Factory::set_device_opener(&ModelRegistry::open);
    Factory::set_default_options(d);
    cfg.mac = model_mac(dev);
    std::lock_guard lk(ModelRegistry::get().mu);
    ModelRegistry::get().configs[pci(dev)] = cfg;
}
inline IxgbeModel* model_at(std::uint8_t dev) {
    std::lock_guard lk(ModelRegistry::get().mu);
    return ModelRegistry::get().models[pci(dev)];
}

// A Port on a model at `dev`, opened through the real factory; what the
// model transmits is kept in `wire`.
struct ModelPort {
    std::vector<Frame> wire; // (outlives the port)
    std::unique_ptr<Port> port;
    IxgbeModel* model = nullptr;
    IxgbeAdapter* adapter = nullptr;

    explicit ModelPort(std::uint8_t dev, PortOptions o = small_opts(64), DriverOptions d = fast_opts(),
                       ModelConfig cfg = {}) {
        use_model(dev, cfg, d);
        auto p = Port::open("ixgbe:" + pci(dev).str(), o);
        if (!p.ok()) {
            ADD_FAILURE() << p.error().message;
            return;
        }
        port = std::move(p.value());
        model = model_at(dev);
        adapter = dynamic_cast<IxgbeAdapter*>(&port->adapter());
        model->set_wire([this](const std::uint8_t* f, std::size_t n) { wire.emplace_back(f, f + n); });
    }
    Mac mac() const { return adapter->mac(); }
    netmap_ring* tx(unsigned i = 0) const { return port->tx_ring(i); }
    netmap_ring* rx(unsigned i = 0) const { return port->rx_ring(i); }
};

// An Ethernet/IPv4/UDP frame to `dst` of `len` bytes whose payload starts with
// `seq`; `flow` picks the source port (and so the RSS hash).
inline Frame make_frame(const Mac& dst, std::uint32_t seq, std::size_t len, std::uint16_t flow = 1000) {
    Frame f(len);
    std::memcpy(f.data(), dst.data(), 6);
    const std::uint8_t src[6] = {0x02, 0, 0, 0, 0, 0x01};
    std::memcpy(f.data() + 6, src, 6);
    f[12] = 0x08;
    f[13] = 0x00;
    std::uint8_t* ip = f.data() + 14;
    ip[0] = 0x45;
    const std::uint16_t iplen = std::uint16_t(len - 14);
    ip[2] = std::uint8_t(iplen >> 8);
    ip[3] = std::uint8_t(iplen);
    ip[8] = 64;
    ip[9] = 17; // UDP
    const std::uint8_t sa[4] = {10, 0, 0, 1}, da[4] = {10, 0, 0, 2};
    std::memcpy(ip + 12, sa, 4);
    std::memcpy(ip + 16, da, 4);
    std::uint8_t* udp = ip + 20;
    udp[0] = std::uint8_t(flow >> 8);
    udp[1] = std::uint8_t(flow);
    udp[2] = 0x13;
    udp[3] = 0x89;
    const std::uint16_t ulen = std::uint16_t(len - 34);
    udp[4] = std::uint8_t(ulen >> 8);
    udp[5] = std::uint8_t(ulen);
    std::memcpy(f.data() + 42, &seq, 4);
    for (std::size_t i = 46; i < len; i++) f[i] = std::uint8_t(seq * 7 + i);
    return f;
}

inline std::uint32_t frame_seq(const std::uint8_t* f) {
    std::uint32_t s;
    std::memcpy(&s, f + 42, 4);
    return s;
}

// Takes every frame waiting in an rx ring, joining NS_MOREFRAG chains.
inline std::vector<Frame> take_all(netmap_ring* r) {
    std::vector<Frame> out;
    Frame cur;
    while (!nm_ring_empty(r)) {
        const netmap_slot& s = r->slot[r->cur];
        auto* p = reinterpret_cast<std::uint8_t*>(NETMAP_BUF(r, s.buf_idx));
        cur.insert(cur.end(), p, p + s.len);
        if (!(s.flags & NS_MOREFRAG)) out.push_back(std::move(cur)), cur.clear();
        r->head = r->cur = nm_ring_next(r, r->cur);
    }
    return out;
}

// The UDP source port of a flow that RSS sends to `queue` of `nq` queues.
inline std::uint16_t flow_for_queue(const IxgbeModel& m, const Mac& dst, unsigned queue, unsigned nq,
                                    std::uint16_t from = 1000) {
    for (std::uint16_t p = from;; p++) {
        Frame f = make_frame(dst, 0, 60, p);
        if ((m.rss_hash(f.data(), f.size()) & 127) % nq == queue) return p;
    }
}

// The UDP source port of a flow that the model's RX engine sends to
// `queue` with the redirection table as the driver programmed it.
inline std::uint16_t flow_to_queue(const IxgbeModel& m, const Mac& dst, unsigned queue, std::uint16_t from = 1000) {
    for (std::uint32_t p = from; p < 65536; p++) {
        Frame f = make_frame(dst, 0, 60, std::uint16_t(p));
        if (m.rss_queue(f.data(), f.size()) == queue) return std::uint16_t(p);
    }
    ADD_FAILURE() << "no flow reaches queue " << queue;
    return from;
}

// The per-ring drop counter the port exposes (KRing stats.drops).
inline std::uint64_t ring_drops(const Adapter& a, unsigned ring) {
    return a.kring(Direction::rx, ring).stats.drops.load(std::memory_order_relaxed);
}

} // namespace upio::ixgbe::test
