// upio/port.hpp -- opening a port and moving packets through its rings.
//
//   auto port = upio::Port::open("pipe:demo{0").value();
//   netmap_ring* r = port->tx_ring(0);
//   while (nm_ring_space(r)) { ...fill r->slot[r->cur]...; r->head = r->cur = nm_ring_next(r, r->cur); }
//   port->txsync();
//
// A Port is one open of an adapter (a pipe end, a VALE port, NIC queues),
// used by one thread. Open the same adapter several times with ",ring=N"
// selections to give each thread its own ring pair.
//
// This is the user API: it includes no backend header. What a port type or a
// driver needs (Adapter, KRing, MemoryRegion, PortType) is the backend API,
// in upio/backend/ (see upio/backend.hpp).
#pragma once

#include <upio/error.hpp>
#include <upio/memory.hpp>
#include <upio/netmap.h>
#include <upio/port_name.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

namespace upio {

class Adapter;      // upio/backend/adapter.hpp
struct KRing;       // upio/backend/adapter.hpp
class MemoryRegion; // upio/backend/memory_region.hpp

enum class Direction : std::uint8_t { tx = 0, rx = 1 };

// A snapshot of a ring's (or a port's) counters.
struct RingStats {
    std::uint64_t packets = 0;
    std::uint64_t bytes = 0;
    std::uint64_t drops = 0;           // dropped by the backend (full peer, no descriptor)
    std::uint64_t prologue_errors = 0; // syncs refused by the validation prologue
    std::uint64_t wakeups = 0;         // times a producer woke the sleeping owner (one system call each)
    // rx frames a NIC driver dropped because the device's write-back was bad:
    // a length of 0 or beyond the buffer, an error bit, a chain that cannot
    // end; kept apart from drops (a full ring, no descriptor) so that a
    // misbehaving device shows as such. Never exposed to the application.
    std::uint64_t rx_errors = 0;
    // tx: hangs a NIC driver found (descriptors in flight, none completed
    // for its hang timeout, the link up) and recovered from by resetting the
    // queue; the frames in flight then were lost and count in drops.
    std::uint64_t tx_hangs = 0;
};

struct PortOptions {
    std::uint32_t tx_slots = 1024; // slots per tx ring (power of two not required)
    std::uint32_t rx_slots = 1024;
    std::uint32_t rings = 1;       // ring pairs, where the port type lets you choose
    std::uint32_t extra_bufs = 0;  // netmap's nr_extra_bufs: a free list in ni_bufs_head
    // wait() polls this long before it sleeps: waking a sleeping thread costs
    // tens of microseconds on virtual CPUs, a reply often comes sooner.
    // Zero: sleep at once. Bounded, so an idle waiter still uses no CPU.
    // A port of a VALE daemon's switch polls only on a machine with a CPU
    // each for the sender, the daemon and the receiver (three or more
    // online); on fewer it sleeps at once, as a poll would take the CPU the
    // daemon needs to forward.
    std::chrono::microseconds wait_spin{50};
    MemoryConfig memory;           // buffer size, count, hugepages, NUMA node
};

// Flags for txsync/rxsync (per call).
inline constexpr unsigned SYNC_FORCE_RECLAIM = 1; // tx: reclaim completions now

class Port {
public:
    // Parses `name`, opens (or joins) the adapter and binds the selected
    // rings to this Port. Errors say which part of the name is wrong or
    // what to do (bind the device, reserve hugepages, ...).
    static Result<std::unique_ptr<Port>> open(std::string_view name, const PortOptions& opts = {});
    ~Port();
    Port(const Port&) = delete;
    Port& operator=(const Port&) = delete;

    const PortName& name() const noexcept { return name_; }
    netmap_if* nifp() const noexcept { return nifp_; }
    // Bytes per buffer (also every ring's nr_buf_size).
    std::uint32_t buf_size() const noexcept;
    // Whether this port's buffers live in the same region as `other`'s (two
    // pipes of one NAME): then slots may swap buffers between them.
    bool shares_memory_with(const Port& other) const noexcept;
    // Link state for ports that have one (NICs); software ports are always up.
    bool link_up() const noexcept;
    // Virtio-net headers (netmap's NETMAP_REQ_PORT_HDR_SET/GET): with a
    // length of 10 (struct virtio_net_hdr) or 12 (virtio_net_hdr_mrg_rxbuf),
    // every frame this port sends and receives starts with that header, which
    // carries checksum and segmentation offloads (a frame up to 64 KiB, as an
    // NS_MOREFRAG chain). 0: plain frames (the default). VALE ports take
    // every length; netif:IF@packet and tap: ports take them too (the
    // kernel's PACKET_VNET_HDR, IFF_VNET_HDR); other types answer
    // EOPNOTSUPP. Set it before frames flow.
    Status set_vnet_hdr_len(std::uint32_t len);
    std::uint32_t vnet_hdr_len() const noexcept;
    // BACKEND API, usable with <upio/backend/adapter.hpp>: the adapter this
    // Port is an open of, and its memory region.
    Adapter& adapter() const noexcept { return *adapter_; }
    MemoryRegion& memory() const noexcept;
    // The region as netmap's mmap() shows it: nifp(), every ring and every
    // buffer at an offset from `base` (nr_offset = nifp - base); `id` is the
    // same for two Ports that share the region (netmap's nr_mem_id).
    struct RegionView {
        void* base = nullptr;
        std::size_t size = 0;
        std::size_t bufs_offset = 0; // buffer 0
        std::uint32_t num_bufs = 0;
        std::uint32_t buf_size = 0;
        std::uintptr_t id = 0;
    };
    RegionView region() const noexcept;

    // Selected rings: [first_ring(d), last_ring(d)) -- like netmap's
    // first_tx_ring..last_tx_ring, but half-open.
    std::uint32_t first_ring(Direction d) const noexcept { return first_[int(d)]; }
    std::uint32_t last_ring(Direction d) const noexcept { return last_[int(d)]; }
    netmap_ring* tx_ring(std::uint32_t i) const noexcept { return rings_[0][i]; }
    netmap_ring* rx_ring(std::uint32_t i) const noexcept { return rings_[1][i]; }

    // -- data path. 0 on success, a negative errno on failure (see
    // last_error()). Only selected rings are synced.
    int txsync(unsigned flags = 0) noexcept;
    int rxsync(unsigned flags = 0) noexcept;
    int txsync_ring(std::uint32_t ring, unsigned flags = 0) noexcept;
    int rxsync_ring(std::uint32_t ring, unsigned flags = 0) noexcept;
    // Why the last failed sync failed (a fixed buffer: no allocation).
    const char* last_error() const noexcept { return errbuf_; }

    // -- blocking
    // Syncs, then sleeps until a selected ring of `d` has tail != cur, or
    // until `timeout` (negative: forever). 1: ready, 0: timed out, <0: errno.
    int wait(Direction d, std::chrono::nanoseconds timeout) noexcept;
    // A file descriptor for poll/epoll. It becomes readable when a ring
    // armed with arm() may have moved. Protocol:
    //   if (port.arm(d)) poll(port.fd(), ...);   // false: already ready, or the sync failed
    //   port.disarm(d);  port.rxsync()/txsync();
    int fd() const noexcept { return epfd_; }
    bool arm(Direction d) noexcept;
    void disarm(Direction d) noexcept;

    // -- counters, summed over the selected rings
    RingStats counters(Direction d) const noexcept;

private:
    Port() = default;
    int sync_one(KRing& k, unsigned flags) noexcept;
    bool ready(Direction d) const noexcept;
    std::chrono::nanoseconds sleep_bound(Direction d) const noexcept;
    bool rx_all_held(std::uint32_t ring) const noexcept;
    void select_wait_fds(Direction d) noexcept;
    void release_extra_bufs() noexcept;

    PortName name_;
    std::shared_ptr<Adapter> adapter_;
    std::vector<netmap_ring*> rings_[2]; // every ring of the adapter, by direction (tx_ring/rx_ring)
    netmap_if* nifp_ = nullptr;
    std::uint32_t extra_bufs_ = 0; // taken at open: at most this many go back at close
    std::uint32_t first_[2] = {0, 0};
    std::uint32_t last_[2] = {0, 0};
    int evfd_ = -1; // woken by producers (notify)
    int epfd_ = -1; // evfd_ plus the adapter's wait fds
    // The adapter's wait fds (interrupts), each with the rings it serves;
    // none: a wait sleeps on evfd_ alone, else on epfd_. arm(d)
    // keeps in epfd_ only those that serve a ring of d that can move, so a
    // descriptor that stays readable for another reason (frames queued on
    // the rx side while the application waits to send; a ring whose slots
    // the application holds) does not end every sleep at once.
    struct WaitFd {
        int fd = -1;
        bool polled = true; // in epfd_ now
        std::vector<std::pair<Direction, std::uint32_t>> rings;
    };
    std::vector<WaitFd> wait_fds_;
    bool opened_ = false;  // open() finished: the destructor owns the rings, netmap_if and the user count
    std::chrono::nanoseconds spin_{0};
    char errbuf_[256] = {};
};

} // namespace upio
