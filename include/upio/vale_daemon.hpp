// upio/vale_daemon.hpp -- VALE switches that separate programs join.
//
// A Daemon hosts VALE switches in its process (the upio-vale program) and
// serves them to other processes: a process that opens "valeX:Y" while a
// daemon serves valeX joins that daemon's switch (see docs/vale-daemon.md;
// ",local" in the name keeps the port in-process, ",daemon" insists on a
// daemon). Each client keeps its rings and buffers in a region of its
// own, shared with the daemon only; the daemon copies every frame from
// the sender's region into the receiver's, woken by the clients' kicks,
// asleep when nobody sends.
//
// The daemon's control socket takes vale-ctl's commands (command()):
// list ports and counters, attach and detach ports of this machine
// (netif:X, tap:X, a NIC), create and remove persistent ports.
#pragma once

#include <upio/error.hpp>
#include <upio/port.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace upio::vale {

struct DaemonConfig {
    std::vector<std::string> switches{"vale0"}; // the switches served
    PortOptions port_options;                   // for persistent and attached ports
};

class Daemon {
public:
    // Creates the switches and listens: for clients on each switch's
    // rendezvous, for commands on the control socket. EADDRINUSE: another
    // daemon of this user runs (the message names it).
    static Result<std::unique_ptr<Daemon>> start(const DaemonConfig& cfg);
    ~Daemon();
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;

    // Serves until request_stop(); the calling thread forwards every frame.
    Status run();
    // Async-signal-safe: makes run() return soon.
    void request_stop() noexcept;

    struct Impl;

private:
    Daemon();
    std::unique_ptr<Impl> impl_;
};

// vale-ctl's side of the control socket: sends one command ('l' list,
// 'a' attach, 'd' detach, 'n' new persistent port, 'r' remove it,
// 'b'/'B' back-pressure on/off for a port of the switch) and
// returns the daemon's answer (its text), or its refusal as an error.
Result<std::string> daemon_command(char op, std::string_view arg);

// One port of a daemon's switch, as the daemon lists it.
struct DaemonPortEntry {
    std::uint32_t index = 0; // on its switch
    std::string name;        // "vale0:eth0"
    std::string attached;    // what holds it: "process_PID", an attached port's name, or "" (none)
    bool persistent = false; // made with 'n' (vale-ctl -n); `attached` names a client holding it
};
struct DaemonSwitchEntry {
    std::string name; // "vale0"
    std::vector<DaemonPortEntry> ports;
};
// The daemons' switches of this user and their ports ('l', parsed): every
// switch (none when no daemon runs), or only `sw` (ECONNREFUSED when no
// daemon serves it).
Result<std::vector<DaemonSwitchEntry>> daemon_switches(std::string_view sw = {});

} // namespace upio::vale
