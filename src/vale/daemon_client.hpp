// A VALE port whose switch lives in another process, the VALE daemon
// (upio-vale; daemon_proto.hpp has the protocol).
//
// The rule: opening valeX:Y joins the daemon's switch when a daemon serves
// valeX (its rendezvous "upio/<uid>/vale/valeX" listens), else the switch
// of this process as always. The name forces either: "valeX:Y,local" never
// asks a daemon; "valeX:Y,daemon" fails (ECONNREFUSED) when no daemon
// serves valeX.
//
// The port's rings and buffers are in a region of this process's own
// (shared with the daemon alone). txsync publishes the slots handed over
// and wakes the daemon if it sleeps; the daemon forwards them (copying
// into the receivers' regions) and publishes how far it got; rxsync takes
// what the daemon filled and gives back what the application released.
// When the daemon goes (exits, is killed), the port turns link down:
// syncs fail with -ENOTCONN and a message, waiters wake. Opening the name
// again meets a restarted daemon.
#pragma once

#include <upio/backend/adapter.hpp>
#include <upio/port.hpp>

#include <memory>
#include <string_view>

namespace upio::vale {

// Joins port PORT of the daemon's switch SW. `not_served`: no daemon
// serves SW (then the error says only that).
Result<std::shared_ptr<Adapter>> join_daemon(std::string_view sw, std::string_view port, std::string_view full,
                                             const PortOptions& opts, bool& not_served);

// vale::set_back_pressure for a port joined to a daemon's switch: ENOENT
// when no such port is open in this process.
Status daemon_back_pressure(std::string_view port, bool on);

// For tests: the control block a daemon client shares (null for other ports).
std::pair<void*, std::size_t> daemon_control_block(const Adapter& a);

} // namespace upio::vale
