// Helpers every NIC driver test on a software model shares (e1000, ixgbe):
// port options, a model with its adapter, the model registry behind the real
// "DRIVER:ADDR" factory, and slot access. Each driver's test_util.hpp adds
// its own frames, addresses and defaults.
#pragma once

#include <upio/backend/device.hpp>
#include <upio/netmap_user.h>
#include <upio/port.hpp>

#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <vector>

namespace upio::test {

using Frame = std::vector<std::uint8_t>;

// Whether regions are placed by NUMA node here: without libnuma's support
// (no CONFIG_NUMA, a container without the system calls) a node that does
// not exist is not refused and every region reports node -1.
inline bool numa_placement() {
    MemoryConfig c;
    c.hugepages = HugepagePolicy::never;
    c.numa_node = 63;
    return !MemoryRegion::create("numa-probe", 4096, 16, c).ok();
}

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
// (install `open` with the driver's Factory::set_device_opener).
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

// The bits a master-disable test needs: STATUS and its master enable bit
// (set again once the reset is over), CTRL and its reset bit, and the name
// of the CTRL bit the model's fault names when the flow was skipped.
struct MasterDisableBits {
    std::uint32_t status, master_enable, ctrl, reset;
    const char* disable_flag;
};

// Every software reset of a PCIe NIC -- at open, and at teardown after a
// start and stop -- comes after the master disable flow: the model that
// `make()` builds reports no fault through all of it. And the model does see
// a reset without the flow: a bare CTRL reset write is a fault naming the
// disable flag.
template <class MakeNic>
void expect_resets_only_after_master_disable(MakeNic make, const MasterDisableBits& b) {
    std::vector<std::string> faults; // outlives the NIC: its teardown resets it
    {
        auto nic = make();
        ASSERT_TRUE(nic.ok()) << nic.error().message;
        auto& m = *nic->model;
        EXPECT_EQ(m.faults(), 0u) << m.last_fault();
        m.set_fault_handler([&](const std::string& f) { faults.push_back(f); });
        ASSERT_TRUE(nic->adapter->register_port(true).ok());
        ASSERT_TRUE(nic->adapter->register_port(false).ok());
        EXPECT_TRUE(m.read32(b.status) & b.master_enable) << "mastering again after the reset";
        nic->adapter.reset(); // teardown: stop, master disable, reset
    }
    EXPECT_TRUE(faults.empty()) << faults.front();
    auto nic = make();
    ASSERT_TRUE(nic.ok()) << nic.error().message;
    auto& m = *nic->model;
    m.set_fault_handler([&](const std::string& f) { faults.push_back(f); });
    m.write32(b.ctrl, b.reset);
    ASSERT_EQ(faults.size(), 1u);
    expect_has(faults.back(), b.disable_flag);
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

// Ends the process when the test has not finished within `limit`: a
// deadlock fails the run instead of hanging it.
class Watchdog {
public:
    explicit Watchdog(std::chrono::seconds limit)
        : t_([this, limit] {
              std::unique_lock lk(mu_);
              if (!cv_.wait_for(lk, limit, [this] { return done_; })) {
                  std::fprintf(stderr, "still running after %llds: a deadlock\n", (long long)limit.count());
                  std::_Exit(1);
              }
          }) {}
    ~Watchdog() {
        {
            std::lock_guard lk(mu_);
            done_ = true;
        }
        cv_.notify_all();
        t_.join();
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    bool done_ = false;
    std::thread t_;
};

// A bare model in storage the test keeps after destroying it, overwritten
// then: a call into the dead model finds garbage (a mutex that cannot be
// locked) instead of whatever the allocator left there.
template <class Model>
class DoomedModel {
public:
    static_assert(alignof(Model) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);
    template <class Config>
    explicit DoomedModel(const Config& cfg) : mem_(new std::byte[sizeof(Model)]) {
        m_ = new (mem_.get()) Model(cfg);
    }
    ~DoomedModel() { destroy(); }
    Model& operator*() { return *m_; }
    void destroy() {
        if (!m_) return;
        m_->~Model();
        m_ = nullptr;
        std::memset(mem_.get(), 0xa5, sizeof(Model));
    }

private:
    std::unique_ptr<std::byte[]> mem_;
    Model* m_ = nullptr;
};

// Transmits on `p` from its own thread until stopped: full rings of
// make(seq)'s frames, txsync.
class Sender {
public:
    Sender(Port& p, std::function<Frame(std::uint32_t seq)> make) : t_([this, &p, make = std::move(make)] {
        std::uint32_t seq = 0;
        netmap_ring* r = p.tx_ring(0);
        while (!stop_.load()) {
            while (put(r, make(seq))) seq++;
            if (p.txsync() != 0) failed_ = true;
            rounds_.fetch_add(1);
        }
    }) {}
    ~Sender() { stop(); }
    // Waits until `n` more syncs have gone (false: not within 10 s).
    bool more(std::uint64_t n) {
        const std::uint64_t want = rounds_.load() + n;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (rounds_.load() < want && !failed_.load())
            if (std::chrono::steady_clock::now() > deadline) return false;
            else std::this_thread::sleep_for(std::chrono::microseconds(100));
        return !failed_.load();
    }
    void stop() {
        stop_ = true;
        if (t_.joinable()) t_.join();
    }
    bool failed() const { return failed_.load(); }

private:
    std::atomic<bool> stop_{false}, failed_{false};
    std::atomic<std::uint64_t> rounds_{0};
    std::thread t_;
};

// Two ports sending at once, each from its own thread, each closed by its
// thread while the other may still be sending. False: a sync failed or
// stalled.
inline bool close_while_both_send(std::unique_ptr<Port> (&ports)[2],
                                  const std::function<Frame(int port, std::uint32_t seq)>& make) {
    std::atomic<int> sending{0};
    std::atomic<bool> failed{false};
    std::vector<std::thread> threads;
    for (int i = 0; i < 2; i++)
        threads.emplace_back([&, i] {
            {
                Sender s(*ports[i], [&, i](std::uint32_t seq) { return make(i, seq); });
                if (!s.more(10)) failed = true;
                sending++;
                // both send before either closes
                while (sending.load() < 2 && !failed) std::this_thread::yield();
                if (!s.more(5)) failed = true;
            }
            ports[i].reset();
        });
    for (auto& t : threads) t.join();
    return !failed;
}

} // namespace upio::test
