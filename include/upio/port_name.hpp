// upio/port_name.hpp -- what a port name says, and its grammar.
//
//   name      := TYPE ":" BODY [SHORTHAND] { "," OPTION }
//   TYPE      := a registered port type ("pipe", "ixgbe", ...), or a member
//                of a family type ("vale0", "valeX": the VALE family "vale")
//   BODY      := the type's own syntax (table below); never contains ','
//   SHORTHAND := [ "-" N ] [ "/T" | "/R" ]   netmap's suffixes, accepted only
//                by types whose BODY cannot end in them
//   OPTION    := "ring=" N | "tx" | "rx" | KEY "=" VALUE | FLAG
//
// The shared options: ring=N opens ring pair N only (shorthand "-N"), tx only
// the tx rings ("/T"), rx only the rx rings ("/R"). Every other OPTION
// belongs to the type. Each type parses its own BODY and says how much of it
// is its own; what follows must be a SHORTHAND the type takes. Anything else
// (a suffix the type does not take, an unknown option, an empty option) is
// refused with a message that names it.
//
//   type    BODY                      shorthand   own options
//   pipe    NAME{N  |  NAME}N         -N /T /R    -          master / slave end of pipe N
//   valeX   PORT                      /T /R       local daemon  port PORT of switch valeX (the
//                                                            upio-vale daemon's when one serves it)
//   ixgbe   DDDD:BB:DD.F              -N /T /R    -          a PCI function (domain optional)
//   e1000   DDDD:BB:DD.F              -N /T /R    -
//   netif   IFNAME[@xdp|@packet]      /T /R       xdp packet a Linux interface
//   tap     IFNAME                    /T /R       -          a tap device, created on open
//   memif   SOCKET_PATH | @ABSTRACT   -           id= role= secret= bsize= rsize=
//                                                            a memif interface (DPDK, VPP)
//   vhost   PATH                      -           client     a vhost-user back end on a unix socket
//
// A VALE port or an interface name may contain '-' ("vale0:p-1" is port
// "p-1", "netif:veth-1" the interface veth-1): those types take no "-N";
// select a ring with ",ring=N" ("netif:eth0,ring=1"). A type registered at
// run time (upio/backend/port_type.hpp) brings its own BODY syntax; one
// whose BODY is a path takes only the comma options.
//
// Examples: pipe:x{0  pipe:a-b{0-1/T  vale0:a  vale1:eth-left/T  vale0:a,ring=1,tx
//           ixgbe:0000:01:00.0-3  netif:eth0@packet  netif:eth0,packet,rx  tap:up0
#pragma once

#include <upio/error.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace upio {

struct PciAddress {
    std::uint16_t domain = 0;
    std::uint8_t bus = 0, device = 0, function = 0;

    std::string str() const; // "DDDD:BB:DD.F"
    static Result<PciAddress> parse(std::string_view s);
    auto operator<=>(const PciAddress&) const = default;
};

struct PortType; // upio/backend/port_type.hpp

// The longest port name, in characters (netmap_if::ni_name holds the first
// IFNAMSIZ-1 of them; PortName::full holds it whole).
inline constexpr std::size_t max_port_name = 63;

// One option after a ',' that belongs to the type ("xdp", "key=value").
struct PortOption {
    std::string key;
    std::string value;      // "" for a flag
    bool has_value = false; // given as KEY=VALUE
};

struct PortName {
    enum class Dir { both, tx_only, rx_only };

    std::string full; // the name as given
    std::string type; // the text before ':' as given: "pipe", "vale0", "ixgbe"
    std::string body; // the type's own part: "x{0", "a", "0000:01:00.0", "eth0@packet"
    int ring = -1;    // -1: all rings; else the one ring pair selected by "-N" or "ring=N"
    Dir dir = Dir::both;
    std::vector<PortOption> options; // the type's own options, in the order given

    // The option `key` when given, else nullptr.
    const PortOption* option(std::string_view key) const noexcept;
    // The registered type that parsed the name: "vale" for "vale0:a", else `type`.
    std::string_view type_name() const noexcept;
    // Its descriptor (complete in upio/backend/port_type.hpp).
    const PortType* port_type() const noexcept { return port_type_.get(); }

    // Parses `name` against the registered port types. No side effects:
    // safe to call from any thread, on any input.
    static Result<PortName> parse(std::string_view name);

private:
    std::shared_ptr<const PortType> port_type_;
};

} // namespace upio
