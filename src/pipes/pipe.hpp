// netmap pipes: in-process master/slave pairs sharing one memory region.
#pragma once

#include <upio/backend.hpp>
#include <upio/port.hpp>

namespace upio::pipes {

// Factory for "pipe:NAME{N" and "pipe:NAME}N".
Result<std::shared_ptr<Adapter>> open_adapter(const PortName& name, const PortOptions& opts);

} // namespace upio::pipes
