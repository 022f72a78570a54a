// netmap pipes: in-process master/slave pairs sharing one memory region.
#pragma once

#include <upio/backend/adapter.hpp>
#include <upio/backend/port_type.hpp>
#include <upio/port.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

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

// Opens the end `pn` names in the pair another process serves (its
// rendezvous listens): the end is then driven in that process's region.
// `not_served`: nobody listens (the caller serves the pair itself).
Result<std::shared_ptr<Adapter>> join_remote(const PipeName& pn, const std::string& full, const PortOptions& opts,
                                             bool& not_served);

// The shared control block of an end whose peer is another process (either
// side), for tests that play a hostile peer; empty otherwise.
std::pair<void*, std::size_t> control_block(const Adapter& end);
// Shared words of the peer that failed their check at this end.
std::uint64_t bad_shared_words(const Adapter& end);

} // namespace upio::pipes
