// A model's cable to a upio port: see model_wire.hpp.
#include "models/model_wire.hpp"

#include <upio/chain.hpp>
#include <upio/netmap_user.h>

#include <fmt/format.h>

#include <chrono>

namespace upio::models::detail {

Result<std::unique_ptr<PortWire>> PortWire::open(const std::string& name, const PortOptions& opts) {
    auto parsed = PortName::parse(name);
    if (!parsed) return std::move(parsed).error();
    if (parsed.value().ring >= 0 || parsed.value().dir != PortName::Dir::both)
        return make_error(EINVAL, fmt::format("{}: give the port without a ring or direction suffix or option (the wire uses both directions of ring 0)", name));
    std::unique_ptr<PortWire> w(new PortWire(name));
    PortOptions o = opts;
    o.rings = 1;
    auto tx = Port::open(name + ",tx", o);
    if (!tx) return std::move(tx).error();
    auto rx = Port::open(name + ",rx", o);
    if (!rx) return std::move(rx).error();
    w->tx_ = std::move(tx.value());
    w->rx_ = std::move(rx.value());
    w->rx_frame_.resize(65536);
    PortWire* wp = w.get();
    w->thread_ = std::thread([wp] { wp->receive_loop(); });
    return w;
}

PortWire::~PortWire() { close(); }

void PortWire::attach(drivers::model::DeviceModel& model, ModelInlet* inlet) {
    model.set_wire([this](const std::uint8_t* f, std::size_t n) { transmit(f, n); });
    std::lock_guard ml(model_mu_);
    model_ = &model;
    inlet_.store(inlet);
}

void PortWire::detach(ModelInlet* inlet) {
    std::lock_guard ml(model_mu_); // receive_loop is not inside inlet->receive()
    if (inlet_.load() != inlet) return;
    inlet_.store(nullptr);
    model_ = nullptr; // its owner unwires its transmit side
}

void PortWire::stop() noexcept {
    if (stop_.exchange(true)) return;
    if (thread_.joinable()) thread_.join();
    {
        std::lock_guard ml(model_mu_);
        if (model_) model_->set_wire({}); // waits for a frame on its way out
        model_ = nullptr;
        inlet_.store(nullptr);
    }
    std::lock_guard tl(tx_mu_);
    closed_ = true;
}

void PortWire::close() noexcept {
    stop();
    tx_.reset();
    rx_.reset();
}

WireCounters PortWire::counters() const {
    WireCounters c;
    c.port = name_;
    c.to_port = to_port_.load();
    c.dropped = dropped_.load();
    c.from_port = from_port_.load();
    c.refused = refused_.load();
    return c;
}

// The model transmitted a frame: onto the port's tx ring. A full ring is
// back pressure: wait up to 100 ms for room (a dead peer must not hang the
// sender). The model flushes hundreds of frames in one go, so once a wait
// has timed out the wire is stalled: frames are dropped at once while the
// ring stays full, until one goes through again.
void PortWire::transmit(const std::uint8_t* f, std::size_t len) {
    std::lock_guard lk(tx_mu_);
    if (closed_) return;
    netmap_ring* r = tx_->tx_ring(tx_->first_ring(Direction::tx));
    const std::uint32_t need = chain_slots(len, r->nr_buf_size);
    if (nm_ring_space(r) < need) (void)tx_->txsync(); // the peer may have taken some since
    for (auto t0 = std::chrono::steady_clock::now(); nm_ring_space(r) < need;) {
        if (stalled_ || stop_.load(std::memory_order_relaxed) ||
            tx_->wait(Direction::tx, std::chrono::milliseconds(10)) < 0 ||
            std::chrono::steady_clock::now() - t0 > std::chrono::milliseconds(100)) {
            stalled_ = true;
            dropped_.fetch_add(1, std::memory_order_relaxed);
            return;
        }
    }
    stalled_ = false;
    r->head = r->cur = nm_put_chain(r, r->cur, f, len);
    tx_->txsync();
    to_port_.fetch_add(1, std::memory_order_relaxed);
}

// What arrives on the port goes to the model, a whole frame at a time.
void PortWire::receive_loop() {
    netmap_ring* r = rx_->rx_ring(rx_->first_ring(Direction::rx));
    while (!stop_.load(std::memory_order_relaxed)) {
        if (!inlet_.load()) { // no model attached yet: leave the frames where they are
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
            continue;
        }
        if (int rc = rx_->wait(Direction::rx, std::chrono::milliseconds(50)); rc <= 0) {
            if (rc < 0) std::this_thread::sleep_for(std::chrono::milliseconds(5)); // no busy loop on an error
            continue;
        }
        std::lock_guard ml(model_mu_);
        ModelInlet* m = inlet_.load();
        if (!m) continue; // gone while we waited
        ChainReader frames(r);
        std::uint32_t first, nslots;
        std::size_t flen;
        while (frames.next(first, nslots, flen)) {
            std::uint32_t next;
            const std::size_t len = nm_get_chain(r, first, rx_frame_.data(), rx_frame_.size(), next);
            if (m->receive(rx_frame_.data(), len))
                from_port_.fetch_add(1, std::memory_order_relaxed);
            else
                refused_.fetch_add(1, std::memory_order_relaxed);
        }
        frames.release();
    }
}

} // namespace upio::models::detail
