// The back ends of "netif:" ports.
#pragma once

#include "netif/netif.hpp"

namespace upio::netif {

enum class Backend { xdp, packet };

// AF_XDP through libxdp: one socket and UMEM per queue.
Result<std::shared_ptr<Adapter>> open_xdp(const Interface& ifc, const PortName& pn, const PortOptions& opts);
// AF_PACKET with TPACKET_V3 rings: one socket per queue, joined in a
// PACKET_FANOUT_QM group when the interface has several queues.
Result<std::shared_ptr<Adapter>> open_packet(const Interface& ifc, const PortName& pn, const PortOptions& opts);

} // namespace upio::netif
