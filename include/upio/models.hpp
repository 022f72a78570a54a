// upio/models.hpp -- software NIC models behind "ixgbe:" and "e1000:" names.
//
// The NIC drivers run unchanged on software models of their chips (the
// models their tests use): registers, descriptor rings in DMA memory,
// interrupts. Once a family is enabled, Port::open("ixgbe:0000:01:00.0")
// builds a modelled 82599 for that PCI function instead of opening a device
// through VFIO, and the real ixgbe driver resets, initialises and drives it:
//
//   if (auto st = upio::models::enable(upio::models::Family::ixgbe); !st) ...st.error().message...
//   auto a = upio::Port::open("ixgbe:0000:01:00.0").value();
//   auto b = upio::Port::open("ixgbe:0000:01:00.1").value(); // a's cable ends here
//
// Functions 0 and 1 of one device are wired back to back, like the two ports
// of a dual-port card joined by a cable: what one transmits, the other
// receives. With Options::wire, function 0 of every device of the family is
// wired to that upio port instead (a VALE port, a pipe end, an interface):
// what the model transmits is sent there, what arrives there is received by
// the model, so traffic crosses simulated hardware and a switch.
//
// The models are: ixgbe, an 82599ES (8086:10fb), MAC 02:1b:21:00:00:<function
// + 1>; e1000, an 82574L (8086:10d3), MAC 52:54:00:12:<device>:<function + 1>.
// Both are fast enough for functional runs, not for rate measurements.
//
// Library: upio_models (a CMake target of the build tree; pkt-gen and the
// tests link it). It is test equipment, not part of libupio, and is not
// installed. The state is process-wide and thread-safe.
#pragma once

#include <upio/error.hpp>
#include <upio/port.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace upio::models {

enum class Family { ixgbe, e1000 };

// "ixgbe", "e1000": the port type the family's models answer.
const char* family_name(Family f) noexcept;

struct Options {
    // A upio port name without a ring or direction suffix: function 0's wire
    // goes there instead of to function 1. Empty: back to back.
    std::string wire;
    // How the wire's port opens (one ring pair is used).
    PortOptions wire_options;
};

// Makes the family's port names open models from now on (ports already open
// keep what they have). With a wire, opens its port twice (PORT,tx, written
// by the model's transmit path, and PORT,rx, read by a thread that hands each
// frame to the model); an error says why it cannot. Enabling a family again
// replaces its wire (a model already open loses the old one and is not
// wired to the new one).
Status enable(Family family, const Options& opts = {});

// Makes the family's names open VFIO devices again, after stopping and
// closing its wire. Models already open stay until their ports close.
void disable(Family family) noexcept;

// Stops every wire: its thread ends, the models send nothing more to it
// (their frames vanish, as on a pulled cable). Call when traffic is over,
// before the ports close; counters stay readable.
void stop_wires() noexcept;
// Stops every wire, closes its port and forgets it (the family's models
// answer their names on, wired back to back from now on).
void close_wires() noexcept;

// What a wire has carried.
struct WireCounters {
    Family family = Family::ixgbe;
    std::string port;            // the wire's port name
    std::uint64_t to_port = 0;   // frames the model transmitted onto the port
    std::uint64_t dropped = 0;   // frames the model transmitted that the port's full tx ring did not take
    std::uint64_t from_port = 0; // frames from the port the model received
    std::uint64_t refused = 0;   // frames from the port the model refused (filtered, or no free descriptor)
};
// One entry per family with a wire (open or stopped; not after close_wires).
std::vector<WireCounters> wire_counters();

} // namespace upio::models
