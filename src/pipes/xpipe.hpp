// Cross-process pipes: the shared-memory half of a pipe end whose peer is
// in another process, used by both processes' ends.
//
// The serving process ("host": the first to open either end of NAME{N /
// NAME}N) keeps the pair as an in-process pipe does, its region in a memfd;
// another process ("guest") that opens the other end maps that region and
// drives the other end's rings itself. Frames still move by slot swaps
// (zero copy): each side swaps into the receiver's rx ring as the
// in-process pipe does. What a pipe's two ends share in process, the
// krings' nr_hwcur / nr_hwtail / sleeping, is published instead in a
// SharedPipe in the region (xpipe_proto.hpp); wake-ups go through the
// peer's eventfd, written only when the peer announced that it sleeps
// (shm/doorbell.hpp).
//
// Trust: the peer maps the whole region and may write any of it at any
// time. Each side keeps its own indices in process memory (its krings and
// this XLink) and only publishes them; what it reads of the peer's (the
// sender's hwtail, the receiver's hwcur) is read once per sync and must
// lie inside the ring and inside the slots it may cover, else it is
// ignored and counted (bad_words). Slots the sender fills are checked
// before the receiver's application sees them: an index outside the
// region or a length beyond a buffer makes the slot an empty one holding
// the receiver's spare buffer (counted as a drop); a receiver's free slot
// the sender would take is checked by the swap itself (pipe.cpp).
#pragma once

#include "pipes/xpipe_proto.hpp"

#include <upio/backend/adapter.hpp>

#include <atomic>
#include <cstdint>
#include <vector>

namespace upio::pipes {

// swap_run in pipe.cpp: moves n slots from t (tx) to d (rx), checking both.
std::uint64_t swap_run(netmap_slot* t, netmap_slot* d, std::uint32_t n, std::uint32_t nbufs, std::uint32_t bufsz,
                       std::uint32_t& bad) noexcept;

enum class LinkState : std::uint32_t { none = 0, up = 1, down = 2 };

struct XLink {
    // -- set before `state` turns up, read-mostly after
    xproc::SharedDir* out = nullptr; // the direction this end sends in
    xproc::SharedDir* in = nullptr;  // the one it receives from
    xproc::SharedPipe* shared = nullptr;
    netmap_slot* peer_rx = nullptr;  // the slots of the ring this end sends into
    std::atomic<std::uint32_t>* tx_pos = nullptr; // this end's position in it (it alone writes it)
    std::uint32_t spare = 0;         // stand-in buffer for a bad received slot
    std::atomic<int> peer_fd{-1};    // the peer's eventfd
    std::atomic<LinkState> state{LinkState::none};
    char why[200] = {}; // for explain() while down

    // -- the sender thread's
    // (atomic only so that the control thread may read it while the link is
    // down; the sender thread alone writes it while up)
    alignas(64) std::atomic<std::uint32_t> peer_hwcur{0};
    std::uint32_t published_tail = ~0u;
    std::atomic<std::uint32_t> own_tx_pos{0}; // a guest's tx_pos

    // shared words that failed their check (any thread reads)
    alignas(64) std::atomic<std::uint64_t> bad_words{0};

    std::vector<int> retired_fds; // peers' eventfds of earlier connections, closed with the link
    ~XLink();
    void set_peer_fd(int fd); // control path
};

// txsync / rxsync of an end whose peer is another process; -ENOTCONN once
// the peer is gone (explain(): x.why).
int xtxsync(KRing& k, XLink& x, const MemoryRegion& mem) noexcept;
int xrxsync(KRing& k, XLink& x, const MemoryRegion& mem) noexcept;
// The XLink of an end opened in another process's pair (join_remote), else null.
const XLink* remote_xlink(const Adapter& a) noexcept;
// Port::arm / disarm through Adapter::set_interrupts: the sleep flags.
void xannounce(KRing& k, XLink& x, bool sleeping) noexcept;

} // namespace upio::pipes
