// The table of built-in port types. It sits above core and every port type,
// so core never includes a driver, VALE or pipes; each type defines its own
// descriptor (name syntax, parser, factory) next to its code. An explicit
// table, not self-registering statics: the linker drops an object file of a
// static library that nothing references.
#include <upio/backend/port_type.hpp>

#include "drivers/e1000/e1000.hpp"
#include "drivers/ixgbe/ixgbe.hpp"
#include "memif/memif.hpp"
#include "netif/netif.hpp"
#include "pipes/pipe.hpp"
#include "vale/vale_port.hpp"
#include "vhost/vhost.hpp"

#include <vector>

namespace upio {

// Read once, by the registry (src/core/port_type.cpp).
std::vector<PortType> builtin_port_types() {
    return {pipes::port_type(), vale::port_type(),  ixgbe::port_type(),
            e1000::port_type(), netif::port_type(), netif::tap_port_type(), memif::port_type(),
            vhost::port_type()};
}

} // namespace upio
