// "memif:PATH": a memif interface (DPDK net_memif, FD.io libmemif and VPP
// speak it) on the AF_UNIX socket PATH. docs/memif.md has the set-up, the
// name's options and what is checked.
//
// Server role (the default): upio listens on PATH; the client (testpmd with
// --vdev=net_memif0,role=client,socket=PATH) creates the shared regions and
// rings. upio maps them and copies each frame once, between the client's
// buffers and the port's own netmap buffers, after checking every
// descriptor. The port stays open across connections: link_up() is false
// while no client is connected, frames the application sends meanwhile wait
// in its tx ring, and the next client that connects takes over.
#pragma once

#include <upio/backend/adapter.hpp>
#include <upio/backend/port_type.hpp>
#include <upio/port.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace upio::memif {

// The descriptor of "memif:" for the port-type table.
const PortType& port_type();

// What "memif:PATH[,id=N][,role=server|client][,secret=S][,bsize=B][,rsize=R][,zero-copy]" says.
struct MemifName {
    std::string path;
    std::uint32_t id = 0;
    bool client = false;
    std::string secret;
    std::uint32_t bsize = 2048; // client: bytes per buffer of the region it creates
    unsigned log2_ring_size = 10; // client: descriptors per ring, as log2 (the server may ask for fewer)
    // client: the port's own region is the memif buffer region; txsync and
    // rxsync swap buffers between netmap slots and descriptors and copy
    // nothing. The server then maps the port's whole region (its netmap
    // rings too), so use it with a server trusted as the application is.
    bool zero_copy = false;
};
Result<MemifName> parse_memif_name(const PortName& pn);

// Factory for the port-type table.
Result<std::shared_ptr<Adapter>> open_memif(const PortName& name, const PortOptions& opts);

// What a memif port knows about its peer (control path; any thread).
struct LinkStatus {
    bool connected = false;
    std::string peer_name;       // the peer's application name (INIT)
    std::string last_disconnect; // why the last connection ended ("" before the first)
    std::uint64_t connects = 0;  // connections established so far
    std::uint64_t disconnects = 0;
    std::uint64_t interrupts = 0; // wake-ups of a sleeping receiver by the peer's eventfd writes
};
// The status of a memif adapter; an adapter of another type gives nullopt.
std::optional<LinkStatus> link_status(const Adapter& a);

} // namespace upio::memif
