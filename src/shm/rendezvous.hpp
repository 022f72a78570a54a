// Meeting another process: unix sockets in the abstract namespace, peer
// credentials, descriptors passed with SCM_RIGHTS.
//
// Where: a rendezvous is the abstract unix socket "upio/<uid>/<kind>/<key>"
// (for a pipe, kind "pipe" and key "NAME/N"). The abstract namespace has no
// files, so a process killed with -9 leaves nothing behind to clean up; it
// is per network namespace, so processes meet only inside one.
//
// Who: the abstract namespace has no file modes, so both sides check the
// other's credentials (SO_PEERCRED): a listener accepts only processes of
// its own uid, and a process that connects refuses a listener of another
// uid (a name another user took first: refused with a message that names
// that uid and process). The uid in the name keeps users apart; the checks
// make it hold against a user who binds another user's name on purpose.
//
// Layers: nothing here knows a port type. Pipes use it today; a switch
// daemon's control socket and its clients can use the same calls.
#pragma once

#include <upio/error.hpp>
#include <upio/backend/fd.hpp>

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace upio::shm {

using upio::Fd; // upio/backend/fd.hpp

// The abstract socket name of a rendezvous (without the leading NUL).
std::string rendezvous_name(std::string_view kind, std::string_view key);

struct PeerCred {
    pid_t pid = 0;
    uid_t uid = 0;
};
Result<PeerCred> peer_cred(int sock);

// Listens on the rendezvous (SOCK_SEQPACKET, close-on-exec, non-blocking).
// EADDRINUSE: somebody listens already.
Result<Fd> listen_at(const std::string& name);
// Connects to the rendezvous: ECONNREFUSED when nobody listens; EACCES when
// the listener belongs to another uid (the message says whose it is).
// Replies wait at most `timeout_ms` (SO_RCVTIMEO), so a stuck peer cannot
// hang an open.
Result<Fd> connect_to(const std::string& name, int timeout_ms);
// Accepts one connection (non-blocking; close-on-exec) whose peer has our
// uid; another uid is refused (EACCES, closed).
Result<std::pair<Fd, PeerCred>> accept_from(int listener);

// One message with up to `fds.size()` descriptors (SCM_RIGHTS).
Status send_msg(int sock, const void* data, std::size_t len, const std::vector<int>& fds);
// Receives one message into `buf` (at most `cap` bytes) and its
// descriptors (close-on-exec). A message with more descriptors than
// `max_fds`, or cut short, is refused (every descriptor it carried closed).
// Returns the bytes received; 0 at end of file.
Result<std::size_t> recv_msg(int sock, void* buf, std::size_t cap, std::vector<Fd>& fds, std::size_t max_fds);

} // namespace upio::shm
