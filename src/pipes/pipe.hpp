// netmap pipes: in-process master/slave pairs sharing one memory region.
#pragma once

#include <upio/backend/adapter.hpp>
#include <upio/backend/port_type.hpp>
#include <upio/port.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace upio::pipes {

// What "pipe:NAME{N" and "pipe:NAME}N" say.
struct PipeName {
    std::string name;        // NAME: letters, digits, _ . -
    bool master = false;     // '{'
    std::uint32_t id = 0;    // N, 0..1023
    std::size_t length = 0;  // characters of the body this takes (a shorthand may follow)
};
Result<PipeName> parse_name(std::string_view body);

// The descriptor of "pipe:" for the port-type table.
const PortType& port_type();

// Factory for "pipe:NAME{N" and "pipe:NAME}N".
Result<std::shared_ptr<Adapter>> open_adapter(const PortName& name, const PortOptions& opts);

} // namespace upio::pipes
