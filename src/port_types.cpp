// The table of built-in port types. It sits above core and every port type,
// so core never includes a driver, VALE or pipes.
#include <upio/port.hpp>

#include "drivers/e1000/e1000.hpp"
#include "drivers/ixgbe/ixgbe.hpp"
#include "netif/netif.hpp"
#include "pipes/pipe.hpp"
#include "vale/vale_port.hpp"

#include <string_view>

namespace upio {
namespace {

struct Entry {
    std::string_view type;
    AdapterFactory factory;
};

constexpr Entry table[] = {
    {"pipe", &pipes::open_adapter},   {"vale", &vale::open_adapter},  {"ixgbe", &ixgbe::open_adapter},
    {"e1000", &e1000::open_adapter},  {"netif", &netif::open_netif},  {"tap", &netif::open_tap},
};

} // namespace

AdapterFactory builtin_port_type(std::string_view type) {
    for (const Entry& e : table)
        if (e.type == type) return e.factory;
    return nullptr;
}

} // namespace upio
