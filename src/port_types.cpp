// The table of built-in port types. It sits above core and every port type,
// so core never includes a driver, VALE or pipes.
#include <upio/port.hpp>

#include "drivers/e1000/e1000.hpp"
#include "netif/netif.hpp"
#include "pipes/pipe.hpp"
#include "vale/vale_port.hpp"

#include <fmt/format.h>

#include <string_view>

namespace upio {
namespace {

template <const char* What>
Result<std::shared_ptr<Adapter>> not_yet(const PortName& pn, const PortOptions&) {
    return make_error(ENOTSUP, fmt::format("{}: {} ports are not supported yet", pn.full, What));
}

constexpr char ixgbe_what[] = "ixgbe";

struct Entry {
    std::string_view type;
    AdapterFactory factory;
};

constexpr Entry table[] = {
    {"pipe", &pipes::open_adapter},
    {"vale", &vale::open_adapter},
    {"ixgbe", &not_yet<ixgbe_what>},
    {"e1000", &e1000::open_adapter},
    {"netif", &netif::open_netif},
    {"tap", &netif::open_tap},
};

} // namespace

AdapterFactory builtin_port_type(std::string_view type) {
    for (const Entry& e : table)
        if (e.type == type) return e.factory;
    return nullptr;
}

} // namespace upio
