// VALE ports for the port-type table.
#pragma once

#include <upio/backend.hpp>
#include <upio/port.hpp>

namespace upio::vale {

// Factory for "valeX:Y": joins (creating on demand) switch valeX as port Y.
Result<std::shared_ptr<Adapter>> open_adapter(const PortName& name, const PortOptions& opts);

} // namespace upio::vale
