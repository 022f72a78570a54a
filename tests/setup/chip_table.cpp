// Prints the device ids the e1000 and ixgbe drivers know, one line each, as
// upio-setup's own list has them: VENDOR:DEVICE DRIVER yes|no NAME ("no": the
// driver knows the chip but refuses it as not supported yet). The test compares
// this with the list in scripts/upio-setup.
#include "drivers/e1000/e1000.hpp"
#include "drivers/ixgbe/ixgbe.hpp"

#include <cstdio>

int main() {
    constexpr unsigned intel = 0x8086;
    for (unsigned id = 0; id <= 0xFFFF; ++id) {
        if (const auto* c = upio::e1000::find_chip(intel, std::uint16_t(id)))
            std::printf("%04x:%04x e1000 %s %s\n", intel, id, c->copper ? "yes" : "no", c->name);
        if (const auto* c = upio::ixgbe::find_chip(intel, std::uint16_t(id)))
            std::printf("%04x:%04x ixgbe %s %s\n", intel, id, upio::ixgbe::unsupported_reason(c->family) ? "no" : "yes",
                        c->name);
    }
    // Nothing but Intel's vendor id is known.
    for (unsigned vendor : {0x1af4u, 0x15b3u, 0x0000u, 0xFFFFu})
        if (upio::e1000::find_chip(std::uint16_t(vendor), 0x100E) || upio::ixgbe::find_chip(std::uint16_t(vendor), 0x10FB))
            std::printf("%04x: a non-Intel vendor id is accepted\n", vendor);
    return 0;
}
