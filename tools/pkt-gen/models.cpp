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
    bool closed = false;
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

    // The model transmitted a frame: onto the port's tx ring, waiting up to
    // 100 ms for room (a full ring is back pressure, a dead peer must not
    // hang the sender).
    void transmit(const std::uint8_t* f, std::size_t len) {
        std::lock_guard lk(tx_mu);
        if (closed) return;
        netmap_ring* r = tx->tx_ring(tx->first_ring(upio::Direction::tx));
        const std::uint32_t bufsz = tx->memory().buf_size();
        const std::uint32_t need = slots_for(len, bufsz);
        for (auto t0 = std::chrono::steady_clock::now(); nm_ring_space(r) < need;) {
            if (tx->wait(upio::Direction::tx, std::chrono::milliseconds(10)) < 0 ||
                std::chrono::steady_clock::now() - t0 > std::chrono::milliseconds(100)) {
                dropped.fetch_add(1, std::memory_order_relaxed);
                return;
            }
        }
        r->head = r->cur = put_chain(r, r->cur, f, len, bufsz);
        tx->txsync();
        to_port.fetch_add(1, std::memory_order_relaxed);
    }

    // What arrives on the port goes to the model, a whole frame at a time.
    void receive_loop() {
        netmap_ring* r = rx->rx_ring(rx->first_ring(upio::Direction::rx));
        rx_frame.resize(65536);
        while (!stop.load(std::memory_order_relaxed)) {
            IxgbeModel* m = model.load();
            if (!m) { // the ixgbe port is not open yet: leave the frames where they are
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
                continue;
            }
            if (rx->wait(upio::Direction::rx, std::chrono::milliseconds(50)) <= 0) continue;
            std::uint32_t done = r->cur;
            for (std::uint32_t cur = r->cur; cur != r->tail;) {
                std::uint32_t k = cur;
                bool whole = false;
                for (; k != r->tail; k = nm_ring_next(r, k))
                    if (!(r->slot[k].flags & NS_MOREFRAG)) {
                        whole = true;
                        break;
                    }
                if (!whole) break; // the rest of a chain is still coming
                std::uint32_t next;
                const std::size_t len = get_chain(r, cur, rx_frame.data(), rx_frame.size(), next);
                if (m->receive(rx_frame.data(), len))
                    from_port.fetch_add(1, std::memory_order_relaxed);
                else
                    refused.fetch_add(1, std::memory_order_relaxed);
                cur = done = next;
            }
            r->head = r->cur = done;
        }
    }
};

std::mutex mu;
std::map<upio::PciAddress, IxgbeModel*> models; // owned by their adapters
std::unique_ptr<PortWire> port_wire;

upio::Result<std::unique_ptr<upio::Device>> open_model(const upio::PciAddress& addr) {
    upio::ixgbe::model::ModelConfig cfg;
    cfg.address = addr;
    cfg.mac[5] = std::uint8_t(addr.function + 1);
    auto m = std::make_unique<IxgbeModel>(cfg);
    std::lock_guard lk(mu);
    if (port_wire && addr.function == 0) {
        PortWire* w = port_wire.get();
        m->set_wire([w](const std::uint8_t* f, std::size_t n) { w->transmit(f, n); });
        w->model.store(m.get());
    } else if (!port_wire) {
        upio::PciAddress peer = addr;
        peer.function ^= 1;
        if (auto it = models.find(peer); it != models.end()) IxgbeModel::connect(*m, *it->second);
    }
    models[addr] = m.get();
    return std::unique_ptr<upio::Device>(std::move(m));
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
