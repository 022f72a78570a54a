// Cross-process pipes: what travels over the rendezvous socket and what the
// two processes share in the region besides rings and buffers.
//
// A process that opens an end of pipe NAME{N / NAME}N and finds the pair
// served by another process (its rendezvous "upio/<uid>/pipe/NAME/N"
// listens) sends a Hello with its eventfd; the serving process answers with
// a Welcome, the region's memfd and its own eventfd. Everything after that
// goes through shared memory (a SharedPipe control block and the rings),
// the eventfds (wake-ups) and the socket's hang-up (a peer gone).
//
// Every field of a message, and every word of the region, may have been
// written by a hostile process: parse_hello and parse_welcome check each
// field (they are fuzz targets); offsets are checked against the region
// before use; the shared indices are re-read once and checked at every
// sync (xpipe.hpp).
#pragma once

#include "shm/doorbell.hpp"

#include <upio/error.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

namespace upio::pipes::xproc {

inline constexpr std::uint32_t magic = 0x50585055; // "UPXP"
inline constexpr std::uint16_t version = 1;

// Guest to host: "let me have this end". One descriptor: the guest's
// eventfd, which the host writes when the guest sleeps.
struct Hello {
    std::uint32_t magic = xproc::magic;
    std::uint16_t version = xproc::version;
    std::uint16_t end = 0; // 0: master '{', 1: slave '}'
    std::uint32_t id = 0;  // N
    std::uint32_t name_len = 0;
    char name[64] = {};
};

// Host to guest. status 0: two descriptors follow (the region's memfd, the
// host's eventfd); else status is an errno and message says why.
struct Welcome {
    std::uint32_t magic = xproc::magic;
    std::uint16_t version = xproc::version;
    std::uint16_t pad = 0;
    std::int32_t status = 0;
    char message[200] = {};
    std::uint64_t object_bytes = 0; // the buffer area starts here
    std::uint32_t num_bufs = 0;
    std::uint32_t buf_size = 0;
    std::uint32_t slots = 0;     // of every ring of the pair
    std::uint32_t spare_buf = 0; // the guest's stand-in for a bad received slot
    std::uint64_t tx_ofs = 0;      // the guest end's tx ring
    std::uint64_t rx_ofs = 0;      // the guest end's rx ring
    std::uint64_t peer_rx_ofs = 0; // the host end's rx ring, which the guest sends into
    std::uint64_t shared_ofs = 0;  // the SharedPipe
    std::uint64_t objects_ofs = 0; // room for the guest's netmap_if
    std::uint64_t objects_len = 0;
    std::int32_t host_pid = 0;
    std::int32_t numa_node = -1;
};

// Fixed sizes: both processes may be different builds of this code.
static_assert(sizeof(Hello) == 80);
static_assert(sizeof(Welcome) == 296);

// One direction of a pair in shared memory; every word on its own line.
struct SharedDir {
    shm::Flag hwtail;   // the sender's: first slot of the receiver's rx ring it has not filled
    shm::Flag hwcur;    // the receiver's: first slot it has not released
    shm::Flag rx_sleep; // the receiver sleeps waiting for frames
    shm::Flag tx_sleep; // the sender sleeps waiting for room
};

struct SharedPipe {
    std::uint32_t magic = xproc::magic;
    std::uint32_t slots = 0;
    char pad_[56];
    SharedDir dir[2]; // 0: master to slave, 1: slave to master
};
static_assert(sizeof(SharedPipe) == 64 + 2 * 4 * 64);

// Checks a received Hello (`n` bytes, `nfds` descriptors).
Result<Hello> parse_hello(const void* data, std::size_t n, std::size_t nfds);
// Checks a received Welcome: a refusal becomes an error carrying its
// message; an acceptance must describe rings, control block and object
// room inside its objects area.
Result<Welcome> parse_welcome(const void* data, std::size_t n, std::size_t nfds);

// Whether a pipe NAME is well formed (letters, digits, _ . -).
bool valid_pipe_name(const char* s, std::size_t n);

} // namespace upio::pipes::xproc
