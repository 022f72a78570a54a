// netmap's port names and register modes, as upio port names.
#pragma once

#include <upio/netmap.h>

#include <string>
#include <string_view>

namespace upio_netmap {

// An errno and what to say about it; code 0 is success.
struct Result {
    int code = 0;
    std::string message;
    explicit operator bool() const noexcept { return code == 0; }
};

// nmreq_header::nr_name as a upio port name ("netmap:" is optional, as
// libnetmap drops it before the request):
//   [netmap:]IFNAME          -> netif:IFNAME
//   [netmap:]X{N, X}N        -> pipe:X{N, pipe:X}N     (pipes of parent X)
//   valeA:P{N, valeA:P}N     -> pipe:valeA.P{N, ...     (pipes of a VALE port)
//   valeA:P                  -> valeA:P
//   any other TYPE:BODY      -> itself (upio's own names: tap:t0, pipe:x{0)
// Suffixes are not part of nr_name (libnetmap moves them into the register
// request), as with netmap's kernel.
Result translate_name(std::string_view nr_name, std::string& out);

// Appends to `name` what nr_mode, nr_ringid and nr_flags ask for
// (",ring=N", ",tx", ",rx"); refuses what upio cannot do (host rings,
// monitors); `ring_selected` tells whether one ring pair was asked for.
Result register_suffix(const nmreq_register& reg, std::string& name, bool& ring_selected);

} // namespace upio_netmap
