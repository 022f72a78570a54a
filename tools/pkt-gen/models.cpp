// --ixgbe-model: "ixgbe:" ports open software 82599s instead of VFIO devices.
// Functions 0 and 1 of one PCI device are wired back to back, like the two
// ports of a dual-port card joined by a cable, so pkt-gen runs end to end on
// simulated hardware:
//   pkt-gen --ixgbe-model -f txrx -i ixgbe:0000:01:00.0 -i ixgbe:0000:01:00.1
// --ixgbe-model-wire PORT: function 0's cable goes to a upio port instead
// (a VALE port, a pipe end, an interface): what the model transmits is sent
// on PORT, what arrives on PORT is received by the model:
//   pkt-gen --ixgbe-model --ixgbe-model-wire vale0:nic -f txrx -i ixgbe:0000:01:00.0 -i vale0:b
#include "pktgen.hpp"

#include "drivers/ixgbe/ixgbe.hpp"
#include "drivers/ixgbe/model/ixgbe_model.hpp"

#include <fmt/format.h>

#include <map>
#include <mutex>
#include <thread>

namespace pktgen {
namespace {

using upio::ixgbe::model::IxgbeModel;

// Function 0's wire to a upio port: the port opened twice, tx only ("/T",
// written by the model's transmit path) and rx only ("/R", read by a thread
// that hands each frame to the model's receive side).
struct PortWire {
    std::string name;
    std::unique_ptr<upio::Port> tx, rx;
    std::mutex tx_mu; // the tx Port: one writer at a time
    bool closed = false;  // under tx_mu
    bool stalled = false; // under tx_mu: a wait for room timed out, no frame has gone through since
    // The model the wire feeds. receive_loop uses it with model_mu held, so
    // whoever clears it under model_mu knows the model is no longer in use.
    std::mutex model_mu;
    std::atomic<IxgbeModel*> model{nullptr};
    std::atomic<bool> stop{false};
    std::thread thread;
    std::vector<std::uint8_t> tx_frame, rx_frame;
    std::atomic<std::uint64_t> to_port{0}, from_port{0};
    std::atomic<std::uint64_t> dropped{0}; // the port's tx ring stayed full
    std::atomic<std::uint64_t> refused{0}; // the model filtered or dropped (no descriptor)

    ~PortWire() {
        stop.store(true);
        if (thread.joinable()) thread.join();
    }

    // The model transmitted a frame: onto the port's tx ring. A full ring is
    // back pressure: wait up to 100 ms for room (a dead peer must not hang
    // the sender). The model flushes hundreds of frames in one go, so once a
    // wait has timed out the wire is stalled: frames are dropped at once
    // while the ring stays full, until one goes through again.
    void transmit(const std::uint8_t* f, std::size_t len) {
        std::lock_guard lk(tx_mu);
        if (closed) return;
        netmap_ring* r = tx->tx_ring(tx->first_ring(upio::Direction::tx));
        const std::uint32_t bufsz = tx->buf_size();
        const std::uint32_t need = upio::chain_slots(len, bufsz);
        if (nm_ring_space(r) < need) (void)tx->txsync(); // the peer may have taken some since
        for (auto t0 = std::chrono::steady_clock::now(); nm_ring_space(r) < need;) {
            if (stalled || stop.load(std::memory_order_relaxed) ||
                tx->wait(upio::Direction::tx, std::chrono::milliseconds(10)) < 0 ||
                std::chrono::steady_clock::now() - t0 > std::chrono::milliseconds(100)) {
                stalled = true;
                dropped.fetch_add(1, std::memory_order_relaxed);
                return;
            }
        }
        stalled = false;
        r->head = r->cur = upio::nm_put_chain(r, r->cur, f, len);
        tx->txsync();
        to_port.fetch_add(1, std::memory_order_relaxed);
    }

    // What arrives on the port goes to the model, a whole frame at a time.
    void receive_loop() {
        netmap_ring* r = rx->rx_ring(rx->first_ring(upio::Direction::rx));
        rx_frame.resize(65536);
        while (!stop.load(std::memory_order_relaxed)) {
            if (!model.load()) { // the ixgbe port is not open yet: leave the frames where they are
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
                continue;
            }
            if (int rc = rx->wait(upio::Direction::rx, std::chrono::milliseconds(50)); rc <= 0) {
                if (rc < 0) std::this_thread::sleep_for(std::chrono::milliseconds(5)); // no busy loop on an error
                continue;
            }
            std::lock_guard ml(model_mu);
            IxgbeModel* m = model.load();
            if (!m) continue; // gone while we waited
            FrameReader frames(r);
            std::uint32_t first, nslots;
            std::size_t flen;
            while (frames.next(first, nslots, flen)) {
                std::uint32_t next;
                const std::size_t len = upio::nm_get_chain(r, first, rx_frame.data(), rx_frame.size(), next);
                if (m->receive(rx_frame.data(), len))
                    from_port.fetch_add(1, std::memory_order_relaxed);
                else
                    refused.fetch_add(1, std::memory_order_relaxed);
            }
            frames.release();
        }
    }
};

std::mutex mu;
class ModelDevice;
std::map<upio::PciAddress, ModelDevice*> models; // owned by their adapters
std::unique_ptr<PortWire> port_wire;

// The device the ixgbe driver gets: a model that unhooks itself before it
// goes. The adapter owns it and destroys it when the port closes, or at once
// when the port fails to open; the wire's thread and the table must not
// reach the model after that. A wrapper rather than
// a subclass: the unhooking must be done before any part of the model is
// destroyed, while its timer may still call into it.
class ModelDevice final : public upio::Device {
public:
    explicit ModelDevice(const upio::ixgbe::model::ModelConfig& cfg) : m_(cfg) {}
    ~ModelDevice() override {
        std::lock_guard lk(mu);
        if (auto it = models.find(m_.address()); it != models.end() && it->second == this) models.erase(it);
        if (port_wire && port_wire->model.load() == &m_) {
            std::lock_guard ml(port_wire->model_mu); // receive_loop is not inside m_.receive()
            port_wire->model.store(nullptr);
        }
        m_.set_wire({}); // waits for a frame on its way out
        // a peer wired back to back reaches m_ through its inlet, which
        // ~IxgbeModel closes
    }

    IxgbeModel& model() noexcept { return m_; }

    std::string describe() const override { return m_.describe(); }
    upio::PciAddress address() const override { return m_.address(); }
    std::uint16_t vendor_id() const override { return m_.vendor_id(); }
    std::uint16_t device_id() const override { return m_.device_id(); }
    int numa_node() const override { return m_.numa_node(); }
    std::uint32_t read32(std::uint32_t offset) noexcept override { return m_.read32(offset); }
    void write32(std::uint32_t offset, std::uint32_t value) noexcept override { m_.write32(offset, value); }
    upio::Result<std::uint32_t> config_read(std::uint32_t offset, unsigned width) override {
        return m_.config_read(offset, width);
    }
    upio::Status config_write(std::uint32_t offset, unsigned width, std::uint32_t value) override {
        return m_.config_write(offset, width, value);
    }
    upio::Status set_bus_master(bool on) override { return m_.set_bus_master(on); }
    upio::Status reset() override { return m_.reset(); }
    upio::Status dma_map(upio::MemoryRegion& region) override { return m_.dma_map(region); }
    upio::Status dma_unmap(upio::MemoryRegion& region) override { return m_.dma_unmap(region); }
    upio::Result<std::vector<int>> enable_interrupts(upio::IrqKind kind, unsigned count) override {
        return m_.enable_interrupts(kind, count);
    }
    void disable_interrupts() noexcept override { m_.disable_interrupts(); }
    void unmask_intx() noexcept override { m_.unmask_intx(); }

private:
    IxgbeModel m_;
};

upio::Result<std::unique_ptr<upio::Device>> open_model(const upio::PciAddress& addr) {
    upio::ixgbe::model::ModelConfig cfg;
    cfg.address = addr;
    cfg.mac[5] = std::uint8_t(addr.function + 1);
    auto d = std::make_unique<ModelDevice>(cfg);
    IxgbeModel& m = d->model();
    std::lock_guard lk(mu);
    if (port_wire && addr.function == 0) {
        PortWire* w = port_wire.get();
        m.set_wire([w](const std::uint8_t* f, std::size_t n) { w->transmit(f, n); });
        w->model.store(&m);
    } else if (!port_wire) {
        upio::PciAddress peer = addr;
        peer.function ^= 1;
        if (auto it = models.find(peer); it != models.end()) IxgbeModel::connect(m, it->second->model());
    }
    models[addr] = d.get();
    return std::unique_ptr<upio::Device>(std::move(d));
}

} // namespace

bool use_ixgbe_models(const std::string& wire, const upio::PortOptions& opts, std::string& err) {
    upio::ixgbe::set_device_opener(&open_model);
    if (wire.empty()) return true;
    auto name = upio::PortName::parse(wire);
    if (!name) {
        err = "--ixgbe-model-wire: " + name.error().message;
        return false;
    }
    if (name.value().ring >= 0 || name.value().dir != upio::PortName::Dir::both) {
        err = "--ixgbe-model-wire " + wire + ": give the port without a ring or direction suffix";
        return false;
    }
    auto w = std::make_unique<PortWire>();
    w->name = wire;
    upio::PortOptions o = opts;
    o.rings = 1;
    auto tx = upio::Port::open(wire + "/T", o);
    if (!tx) {
        err = "--ixgbe-model-wire: " + tx.error().message;
        return false;
    }
    auto rx = upio::Port::open(wire + "/R", o);
    if (!rx) {
        err = "--ixgbe-model-wire: " + rx.error().message;
        return false;
    }
    w->tx = std::move(tx.value());
    w->rx = std::move(rx.value());
    PortWire* wp = w.get();
    w->thread = std::thread([wp] { wp->receive_loop(); });
    std::lock_guard lk(mu);
    port_wire = std::move(w);
    return true;
}

void stop_ixgbe_model_wires() {
    std::lock_guard lk(mu);
    if (!port_wire || port_wire->stop.exchange(true)) return;
    if (port_wire->thread.joinable()) port_wire->thread.join();
    if (IxgbeModel* m = port_wire->model.load()) m->set_wire({});
    std::lock_guard tl(port_wire->tx_mu); // a frame on its way out finishes first
    port_wire->closed = true;
}

void close_ixgbe_model_wires() {
    stop_ixgbe_model_wires();
    std::lock_guard lk(mu);
    if (!port_wire) return;
    port_wire->tx.reset();
    port_wire->rx.reset();
}

void ixgbe_model_wire_summary(bool json) {
    std::lock_guard lk(mu);
    if (!port_wire) return;
    const PortWire& w = *port_wire;
    if (json)
        fmt::print("{{\"model_wire\":\"{}\",\"to_port\":{},\"from_port\":{},\"dropped\":{},\"refused_by_model\":{}}}\n",
                   w.name, w.to_port.load(), w.from_port.load(), w.dropped.load(), w.refused.load());
    else
        fmt::print("Model wire {}: {} frames to the port ({} dropped: its ring stayed full), {} from the port ({} "
                   "refused by the model: filtered or no descriptor)\n",
                   w.name, w.to_port.load(), w.dropped.load(), w.from_port.load(), w.refused.load());
}

} // namespace pktgen
