// VALE across processes: what travels between a client process and the
// switch daemon (upio-vale), and what they share in the client's region.
//
// A process that opens valeX:Y connects to the rendezvous
// "upio/<uid>/vale/valeX" (shm/rendezvous.hpp). When a daemon listens
// there, the client creates the port's rings in a shared region of its
// own (MemoryConfig::shared, sealed against shrinking), puts a
// SharedVale control block in it and sends a Hello with two descriptors:
// the region's memfd and the client's eventfd. The daemon maps the region
// (MemoryRegion::attach), joins the port to its switch with the client's
// rings, and answers with a Welcome and its own eventfd. From then on
// frames go through the rings and the control block; the socket only
// carries the client's later requests (Request: back-pressure) and its
// hang-up (the client is gone, or the daemon is).
//
// Copy isolation: a client maps only its own region; the daemon maps every
// client's and copies each frame from the sender's buffers into the
// receiver's (src/vale/forward.cpp, the in-process code).
//
// Everything a client wrote is hostile: parse_hello checks every field of
// a Hello; the daemon checks the control block's ring offsets against the
// region once, and every index word each time it reads one (daemon.cpp).
#pragma once

#include "shm/doorbell.hpp"

#include <upio/error.hpp>

#include <cstddef>
#include <cstdint>

namespace upio::vale::daemon {

inline constexpr std::uint32_t magic = 0x56505555; // "UUPV"
inline constexpr std::uint16_t version = 1;
inline constexpr std::uint32_t max_rings = 16;       // ring pairs of a client port
inline constexpr std::size_t name_cap = 64;           // a switch's or a port's name

// Client to daemon, with two descriptors (memfd, eventfd).
struct Hello {
    std::uint32_t magic = daemon::magic;
    std::uint16_t version = daemon::version;
    std::uint16_t kind = 0; // 0: join
    char sw[name_cap] = {};   // "vale0" (NUL padded)
    char port[name_cap] = {}; // "a"
    std::uint64_t object_bytes = 0; // the buffer area starts here
    std::uint32_t num_bufs = 0;
    std::uint32_t buf_size = 0;
    std::uint32_t rings = 0; // ring pairs
    std::uint32_t slots = 0; // of every ring
    std::uint64_t shared_ofs = 0; // the SharedVale
    std::int32_t pid = 0;
    std::uint32_t pad = 0;
};
static_assert(sizeof(Hello) == 176);

// Daemon to client. status 0: one descriptor follows (the daemon's
// eventfd); else an errno, and message says why.
struct Welcome {
    std::uint32_t magic = daemon::magic;
    std::uint16_t version = daemon::version;
    std::uint16_t pad = 0;
    std::int32_t status = 0;
    std::int32_t daemon_pid = 0;
    std::uint32_t index = 0; // the port's index on the switch
    char message[200] = {};
    std::uint32_t pad2 = 0;
};
static_assert(sizeof(Welcome) == 224);

// Client to daemon after the Welcome, no descriptors, no answer.
struct Request {
    std::uint32_t magic = daemon::magic;
    std::uint16_t version = daemon::version;
    std::uint16_t op = 0; // 1: back-pressure
    std::uint32_t value = 0;
    std::uint32_t pad = 0;
};
static_assert(sizeof(Request) == 16);
inline constexpr std::uint16_t op_back_pressure = 1;

// One ring pair in shared memory. Every word on a cache line of its own;
// the comment says who writes it.
struct SharedPair {
    std::uint64_t tx_ofs = 0, rx_ofs = 0; // the rings (client, before the Hello)
    char pad_[48];
    shm::Flag tx_head;  // client: the end of the slots it hands over
    shm::Flag tx_done;  // daemon: the first slot not yet forwarded (released up to it)
    shm::Flag tx_sleep; // client: it sleeps waiting for room
    shm::Flag rx_tail;  // daemon: the first slot it has not filled
    shm::Flag rx_cur;   // client: the first slot it has not released
    shm::Flag rx_sleep; // client: it sleeps waiting for frames
};
static_assert(sizeof(SharedPair) == 7 * 64);

struct SharedVale {
    std::uint32_t magic = daemon::magic;
    std::uint32_t rings = 0;
    char pad_[56];
    shm::Flag daemon_sleep; // daemon: it sleeps; a client that published rings its eventfd
    SharedPair pair[1];     // `rings` of them
};
inline std::size_t shared_bytes(std::uint32_t rings) {
    return sizeof(SharedVale) + (rings - 1) * sizeof(SharedPair);
}

// Checks a received Hello (`n` bytes, `nfds` descriptors). The region's
// geometry is checked against the file by MemoryRegion::attach, the
// control block's place against the objects area here.
Result<Hello> parse_hello(const void* data, std::size_t n, std::size_t nfds);
// Checks a received Welcome: a refusal becomes an error with its message.
Result<Welcome> parse_welcome(const void* data, std::size_t n, std::size_t nfds);
// Checks a received Request.
Result<Request> parse_request(const void* data, std::size_t n, std::size_t nfds);

// -- the control socket "upio/<uid>/vale/ctl" (vale-ctl)

// vale-ctl to daemon, no descriptors. op: 'l' list, 'a' attach, 'd' detach,
// 'n' new persistent port, 'r' remove it, 'b'/'B' back-pressure on/off.
// arg: "valeX" or "" (l), "valeX:[NAME=]PORT" (a), "valeX:NAME" (d, n, r, b, B).
struct CtlRequest {
    std::uint32_t magic = daemon::magic;
    std::uint16_t version = daemon::version;
    char op = 0;
    char pad = 0;
    char arg[256] = {};
};
static_assert(sizeof(CtlRequest) == 264);
// The answer: a CtlReply header, then `len` bytes of text.
struct CtlReply {
    std::uint32_t magic = daemon::magic;
    std::int32_t status = 0;
    std::uint32_t len = 0;
    std::uint32_t pad = 0;
};
inline constexpr std::size_t ctl_reply_cap = 60000;

Result<CtlRequest> parse_ctl_request(const void* data, std::size_t n, std::size_t nfds);

// A NUL-padded name field: its length if it is letters, digits, _ . - and
// NUL-terminated inside the field, else 0.
std::size_t name_len(const char* field, std::size_t cap);

} // namespace upio::vale::daemon
