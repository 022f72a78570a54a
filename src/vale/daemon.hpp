// The VALE daemon's state, shared by its forwarding loop (daemon.cpp) and
// its control socket (daemon_ctl.cpp). One thread touches all of it.
#pragma once

#include "shm/rendezvous.hpp"
#include "vale/daemon_proto.hpp"
#include "vale/switch.hpp"

#include <upio/vale_daemon.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace upio::vale {

namespace daemon {

// What an epoll event is about: kind << 32 | descriptor.
enum Kind : std::uint64_t { k_kick = 1, k_switch = 2, k_client = 3, k_attached = 4 };
inline std::uint64_t tag(Kind k, int fd) { return (std::uint64_t(k) << 32) | std::uint32_t(fd); }

struct Client {
    shm::Fd sock, evfd;
    shm::PeerCred cred;
    std::string sw;                    // the switch it asked for (its listener's)
    std::shared_ptr<detail::VPort> vp;         // null until its Hello was accepted
    SharedVale* ctl = nullptr;
    std::uint32_t rings = 0;
    std::uint32_t seen_head[max_rings] = {}, seen_cur[max_rings] = {}, tail[max_rings] = {};
    std::uint64_t bad_words = 0;
};

struct Attached {
    std::string vale_port; // "vale0:eth1"
    std::unique_ptr<Attachment> att;
};

// The daemon's list ('l') as text, back into entries appended to `out`:
// "SW ports=N" opens a switch, "  port IDX NAME KIND back_pressure=B
// COUNTER=V..." is one of its ports (KIND: "attached=WHAT", "persistent",
// or "persistent_attached=WHAT" for a persistent port a client holds).
// The text comes from another process: a line that is neither is EPROTO.
Status parse_listing(std::string_view text, std::vector<DaemonSwitchEntry>& out);

} // namespace daemon

struct Daemon::Impl {
    using Kind = daemon::Kind;
    using Client = daemon::Client;
    using Attached = daemon::Attached;
    using Hello = daemon::Hello;
    using CtlRequest = daemon::CtlRequest;
    DaemonConfig cfg;
    shm::Fd ep, kick;
    std::map<std::string, shm::Fd> listeners; // by switch
    std::map<int, std::unique_ptr<Client>> clients; // by socket (vale-ctl's too, for one command)
    std::vector<Attached> attached;
    // Persistent ports by "valeX:Y": the daemon's own port on the switch, or
    // null while a client process holds the name (it took the port over).
    std::map<std::string, std::unique_ptr<Port>> persistent;
    std::atomic<bool> stop{false};

    bool watch(Kind k, int fd);
    void unwatch(int fd);

    void accept_client(const std::string& sw, int listener);
    void client_event(int fd, std::uint32_t events);
    Status join(Client& c, const Hello& h, std::vector<shm::Fd>& fds);
    void drop_client(int fd);
    void restore_persistent();
    void events(int timeout_ms);
    void ctl_command(int fd, const void* msg, std::size_t n, std::size_t nfds);
    Result<std::string> command(const CtlRequest& r);
    std::string list(std::string_view sw);
    bool round();
    bool idle_recheck();
    void announce_all(bool sleeping);
};

} // namespace upio::vale
