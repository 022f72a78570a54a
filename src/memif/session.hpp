// A memif session: the server's side of the handshake, and the mapped
// regions and rings of an established connection.
//
// ServerHandshake is the protocol's state machine and nothing else: it sees
// decoded messages (protocol.hpp) and checks what depends on the session --
// the order of messages, the interface id and secret, region indices in
// sequence, ring indices within what HELLO offered and never twice, rings in
// regions that were announced -- and says what to answer. It makes no
// system call, so a fuzzer can drive it with any sequence of messages.
//
// map_connection() then takes the descriptors that came with the messages:
// each region must be a memfd sealed against shrinking (or a hugetlbfs
// file) at least as large as announced, each ring must lie inside its
// region and carry the cookie. Only then is anything mapped into the data
// path.
#pragma once

#include "memif/protocol.hpp"

#include <upio/error.hpp>
#include <upio/backend/fd.hpp>

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace upio::memif {

using upio::Fd; // upio/backend/fd.hpp

struct ServerConfig {
    std::uint32_t id = 0;
    std::string secret;          // empty: none asked for
    std::uint16_t rings = 1;     // ring pairs upio has: ring indices 0..rings-1 per direction
    std::string name = "upio";   // our application name (HELLO)
    std::string if_name;         // our interface name (CONNECTED)
};

struct RegionOffer {
    AddRegion msg;
    Fd fd;
};
struct RingOffer {
    AddRing msg;
    Fd fd; // the ring's eventfd
};

class ServerHandshake {
public:
    explicit ServerHandshake(ServerConfig cfg) : cfg_(std::move(cfg)) {}

    // The first message, sent on accept.
    Message hello() const;

    enum class Action {
        reply,      // send `reply`, keep going
        connect,    // CONNECT arrived: map the connection, then send `reply` (CONNECTED)
        disconnect, // the peer sent DISCONNECT (its reason in `reason`): close
    };
    struct Step {
        Action action = Action::reply;
        Message reply;
        std::string reason;
    };
    // One message from the client, with the descriptor that came with it
    // (taken over). An error is a protocol violation: send DISCONNECT with
    // the error's message and close.
    Result<Step> on_message(Message m, Fd fd);

    const Init& init() const noexcept { return init_; }
    std::vector<RegionOffer>& regions() noexcept { return regions_; }
    std::vector<RingOffer>& c2s() noexcept { return c2s_; }
    std::vector<RingOffer>& s2c() noexcept { return s2c_; }
    const std::string& peer_if_name() const noexcept { return peer_if_; }

private:
    enum class State { wait_init, setup, connected };
    ServerConfig cfg_;
    State state_ = State::wait_init;
    Init init_;
    std::vector<RegionOffer> regions_;
    std::vector<RingOffer> c2s_, s2c_; // by ring index once CONNECT arrived
    std::string peer_if_;
};

// One mapped region.
struct Mapping {
    char* base = nullptr;
    std::uint64_t size = 0;
    Mapping() = default;
    Mapping(char* b, std::uint64_t s) noexcept : base(b), size(s) {}
    Mapping(Mapping&& o) noexcept : base(std::exchange(o.base, nullptr)), size(std::exchange(o.size, 0)) {}
    Mapping& operator=(Mapping&&) = delete;
    ~Mapping();
};

// One ring of an established connection.
struct SharedRing {
    RingHeader* hdr = nullptr;
    Desc* desc = nullptr;
    std::uint32_t size = 0; // descriptors, 2^n
    std::uint16_t mask = 0;
    Fd evfd;
    // Our own position, never read back from shared memory: on C2S the next
    // descriptor to consume (the tail we publish), on S2C the next one to fill.
    std::uint16_t pos = 0;
    // Client role: the ring's own buffers in the region upio made, slot s at
    // bufs + s * bsize (never read back from a descriptor the server can write).
    char* bufs = nullptr;
    std::uint32_t bsize = 0;
    std::uint32_t offset0 = 0; // region offset of bufs
    std::uint16_t head = 0;    // client role: the head we published last (S2C: offered up to)
};

// Publishes `head` on a ring upio produces into as the client (C2S) and
// writes the ring's eventfd when the server asked for interrupts (its
// MASK_INT clear). The fence orders the head store before the flag load, so
// a server that clears the flag and then reads head misses neither.
inline void publish_head(SharedRing& r, std::uint16_t head) noexcept {
    std::atomic_ref<std::uint16_t>(r.hdr->head).store(head, std::memory_order_release);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (!(std::atomic_ref<std::uint16_t>(r.hdr->flags).load(std::memory_order_relaxed) & ring_flag_mask_int)) {
        std::uint64_t one = 1;
        [[maybe_unused]] auto w = ::write(r.evfd.get(), &one, sizeof one);
    }
}

struct Connection {
    std::vector<Mapping> regions;
    std::vector<SharedRing> c2s, s2c;
    bool client = false; // upio made the region (rx = s2c, tx = c2s); else rx = c2s, tx = s2c
    bool zero_copy = false; // client: the buffers are the port's own region (memif region 1)
    SharedRing& rx(std::uint32_t i) noexcept { return client ? s2c[i] : c2s[i]; }
    SharedRing& tx(std::uint32_t i) noexcept { return client ? c2s[i] : s2c[i]; }
    std::size_t rx_count() const noexcept { return client ? s2c.size() : c2s.size(); }
    std::size_t tx_count() const noexcept { return client ? c2s.size() : s2c.size(); }
    std::string peer_name, peer_if_name;

    // The `len` bytes at descriptor `d`'s buffer, or nullptr when they are not
    // all inside one mapped region.
    char* buffer(std::uint16_t region, std::uint32_t offset, std::uint32_t len) const noexcept {
        if (region >= regions.size()) return nullptr;
        const Mapping& m = regions[region];
        if (std::uint64_t(offset) + len > m.size) return nullptr;
        return m.base + offset;
    }
};

// Maps what the handshake collected and checks every region and ring (see
// the top of the file). The rings' head and tail are reset to 0 and their
// flags to MASK_INT (upio polls until a waiter asks for interrupts), as both
// ends do at connect.
Result<std::unique_ptr<Connection>> map_connection(ServerHandshake& hs);

} // namespace upio::memif
