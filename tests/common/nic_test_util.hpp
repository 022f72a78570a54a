// Helpers every NIC driver test on a software model shares (e1000, ixgbe):
// port options, a model with its adapter, the model registry behind the real
// "DRIVER:ADDR" factory, and slot access. Each driver's test_util.hpp adds
// its own frames, addresses and defaults.
#pragma once

#include <upio/device.hpp>
#include <upio/netmap_user.h>
#include <upio/port.hpp>

#include <gtest/gtest.h>
#include <poll.h>

#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace upio::test {

using Frame = std::vector<std::uint8_t>;

inline PortOptions small_opts(std::uint32_t slots = 64, std::uint32_t rings = 1) {
    PortOptions o;
    o.tx_slots = o.rx_slots = slots;
    o.rings = rings;
    o.memory.hugepages = HugepagePolicy::never;
    return o;
}

// A driver's options with short link and TX-hang timeouts.
template <class DriverOptions>
DriverOptions fast_driver_opts() {
    DriverOptions d;
    d.link_timeout = std::chrono::milliseconds(200);
    d.tx_hang_timeout = std::chrono::milliseconds(50);
    return d;
}

// A model and the adapter driving it (the adapter owns the model).
template <class Model, class AdapterT>
struct ModelNic {
    Model* model = nullptr;
    std::shared_ptr<AdapterT> adapter;
};

// Builds a model from `cfg` and an adapter on it through the driver's
// make_adapter.
template <class Model, class Config, class AdapterT, class DriverOptions>
Result<ModelNic<Model, AdapterT>> make_model_nic(Result<std::shared_ptr<AdapterT>> (*make)(std::unique_ptr<Device>,
                                                                                        const PortOptions&,
                                                                                        const DriverOptions&),
                                                 const Config& cfg, const PortOptions& o, const DriverOptions& d) {
    auto m = std::make_unique<Model>(cfg);
    Model* raw = m.get();
    auto a = make(std::move(m), o, d);
    if (!a) return std::move(a).error();
    return ModelNic<Model, AdapterT>{raw, std::move(a.value())};
}

// Models that Port::open("DRIVER:ADDR") reaches, by PCI address: a test
// registers a config, the real factory builds the model through the opener
// (install `open` with the driver's set_device_opener).
template <class Model, class Config>
struct ModelRegistry {
    std::mutex mu;
    std::map<PciAddress, Config> configs;
    std::map<PciAddress, Model*> models;

    static ModelRegistry& get() {
        static ModelRegistry r;
        return r;
    }
    static Result<std::unique_ptr<Device>> open(const PciAddress& a) {
        auto& r = get();
        std::lock_guard lk(r.mu);
        auto it = r.configs.find(a);
        if (it == r.configs.end()) return make_error(ENODEV, "no model at " + a.str());
        Config c = it->second;
        c.address = a;
        auto m = std::make_unique<Model>(c);
        r.models[a] = m.get();
        return std::unique_ptr<Device>(std::move(m));
    }
};

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

// Whether an eventfd (an interrupt vector, a Port's fd) has something to read.
inline bool readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 0) == 1;
}

inline void expect_has(const std::string& msg, const std::string& what) {
    EXPECT_NE(msg.find(what), std::string::npos) << "'" << what << "' missing from: " << msg;
}

// Syncs the port's tx rings every 5 ms until a sync fails (a TX hang) or
// `limit` passes; returns the last result.
inline int txsync_until_error(Port& p, unsigned flags = 0, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    int rc = 0;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (rc == 0 && std::chrono::steady_clock::now() < deadline) {
        rc = p.txsync(flags);
        if (rc == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return rc;
}

} // namespace upio::test
