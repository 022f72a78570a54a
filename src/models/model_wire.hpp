// A model's cable to a upio port (Options::wire in upio/models.hpp).
//
// The port is opened twice: tx only ("PORT,tx", written by the model's
// transmit path, one frame at a time) and rx only ("PORT,rx", read by a
// thread that hands each whole frame to the model's receive side).
// Locking: tx_mu_ serialises the tx Port; model_mu_ is held while a frame
// goes into the model and while the model is attached or detached, so
// whoever detaches knows the model is no longer in use. Neither is held
// while the other is taken. Callers may hold their own lock around any call.
#pragma once

#include <upio/models.hpp>
#include <upio/port.hpp>

#include "drivers/common/model/device_model.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace upio::models::detail {

// Where frames from the port go: the model's receive side.
class ModelInlet {
public:
    // False: the model refused the frame (filtered, no free descriptor).
    virtual bool receive(const std::uint8_t* frame, std::size_t len) = 0;

protected:
    ~ModelInlet() = default;
};

class PortWire {
public:
    // Opens `name` (no ring or direction suffix) as the wire's port; an
    // error names the option and says what is wrong.
    static Result<std::unique_ptr<PortWire>> open(const std::string& name, const PortOptions& opts);
    ~PortWire();
    PortWire(const PortWire&) = delete;
    PortWire& operator=(const PortWire&) = delete;

    // Wires `model`: what it transmits goes to the port, what arrives on
    // the port goes to `inlet` (the model's receive side). Replaces an
    // earlier model.
    void attach(drivers::model::DeviceModel& model, ModelInlet* inlet);
    // Unwires `inlet`'s model if it is the one attached: a frame on its way
    // in finishes first, none follows.
    void detach(ModelInlet* inlet);
    // Ends the receiving thread and unwires the model (later transmissions
    // vanish). Idempotent.
    void stop() noexcept;
    // stop(), then closes the port.
    void close() noexcept;

    WireCounters counters() const;

private:
    explicit PortWire(std::string name) : name_(std::move(name)) {}
    void transmit(const std::uint8_t* f, std::size_t len);
    void receive_loop();

    std::string name_;
    std::unique_ptr<Port> tx_, rx_;
    std::mutex tx_mu_;     // the tx Port: one writer at a time
    bool closed_ = false;  // under tx_mu_
    bool stalled_ = false; // under tx_mu_: a wait for room timed out, no frame has gone through since
    std::mutex model_mu_;
    drivers::model::DeviceModel* model_ = nullptr; // under model_mu_
    std::atomic<ModelInlet*> inlet_{nullptr};      // written under model_mu_
    std::atomic<bool> stop_{false};
    std::thread thread_;
    std::vector<std::uint8_t> rx_frame_;
    std::atomic<std::uint64_t> to_port_{0}, from_port_{0};
    std::atomic<std::uint64_t> dropped_{0}; // the port's tx ring stayed full
    std::atomic<std::uint64_t> refused_{0}; // the model filtered or dropped (no descriptor)
};

} // namespace upio::models::detail
