// upio/port_name.hpp -- the port-name grammar, parsed in one place.
//
//   name     := type ":" body [ring-sel] [dir-sel]
//   pipe     := "pipe:" NAME ("{" | "}") N         master { or slave } of pipe N
//   vale     := "vale" X ":" Y                     port Y of switch valeX
//   ixgbe    := "ixgbe:" DDDD ":" BB ":" DD "." F  a PCI function
//   e1000    := "e1000:" DDDD ":" BB ":" DD "." F
//   netif    := "netif:" IFNAME ["@xdp" | "@packet"]  a Linux interface (AF_XDP, else AF_PACKET)
//   tap      := "tap:" IFNAME                      a tap device, created on open
//   ring-sel := "-" N                              one ring pair N only
//   dir-sel  := "/T" | "/R"                        tx rings only, rx rings only
//
// Examples: pipe:x{0  pipe:x}0  vale0:a  vale1:eth-left/T  ixgbe:0000:01:00.0-3  netif:eth0-1@packet
#pragma once

#include <upio/error.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace upio {

struct PciAddress {
    std::uint16_t domain = 0;
    std::uint8_t bus = 0, device = 0, function = 0;

    std::string str() const; // "DDDD:BB:DD.F"
    static Result<PciAddress> parse(std::string_view s);
    auto operator<=>(const PciAddress&) const = default;
};

struct PortName {
    enum class Dir { both, tx_only, rx_only };

    std::string full;  // the name as given
    std::string type;  // "pipe", "vale", "ixgbe", "e1000", ...
    std::string group; // pipe NAME, vale switch ("vale0"), or the PCI address text
    std::string port;  // vale port name; netif: the back end asked for ("xdp", "packet", "")
    PciAddress pci;    // ixgbe / e1000
    bool pipe_master = false;
    std::uint32_t pipe_id = 0;

    int ring = -1; // -1: all rings; else the one ring pair selected by "-N"
    Dir dir = Dir::both;

    static Result<PortName> parse(std::string_view name);
};

} // namespace upio
