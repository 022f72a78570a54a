// VALE ports for the port-type table.
#pragma once

#include <upio/backend/adapter.hpp>
#include <upio/backend/port_type.hpp>
#include <upio/port.hpp>

namespace upio::vale {

// The descriptor of "valeX:" (a family: vale0, vale1, valeX, ...).
const PortType& port_type();

// Factory for "valeX:Y": joins (creating on demand) switch valeX as port Y.
Result<std::shared_ptr<Adapter>> open_adapter(const PortName& name, const PortOptions& opts);

} // namespace upio::vale
