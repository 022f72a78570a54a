// upio/backend/adapter.hpp -- BACKEND API: the contract every port type implements.
//
// As in netmap, a port type (pipe, VALE port, NIC driver) is an Adapter with
// four operations:
//
//   register_port(on)  the first open / last close of the adapter; a NIC
//                      starts or stops its queues here. Control path.
//   txsync(kring)      hand slots [nr_hwcur, rhead) to the backend, advance
//                      nr_hwcur over what was taken, and advance nr_hwtail
//                      over slots whose transmission completed.
//   rxsync(kring)      take back the slots [nr_hwcur, rhead) the application
//                      released (set nr_hwcur = rhead), then advance nr_hwtail
//                      over newly received slots.
//   notify(kring)      called by whoever produced for a ring (a pipe peer, a
//                      VALE sender) after publishing nr_hwtail: wake the
//                      ring's waiter if it sleeps.
//
// LOCKING. txsync and rxsync of one kring run only on the thread that owns
// the Port the kring is bound to; the core never calls them concurrently for
// the same kring. A backend that lets another thread touch a kring (pipe
// peers, VALE senders) does so only through nr_hwcur / nr_hwtail with
// acquire/release ordering and through notify().
//
// The validation prologue runs before every txsync/rxsync: when a backend is
// called, rhead/rcur are in [nr_hwcur, rtail] and every slot in
// [nr_hwcur, rhead) has a valid buf_idx and a len no larger than a buffer;
// on a tx ring those slots never fill the ring without a packet's end (an
// NS_MOREFRAG chain the application has no slot left to finish).
#pragma once

#if defined(UPIO_USER_API_ONLY)
#error "upio/backend/adapter.hpp is backend API; this program is built on the user API only (UPIO_USER_API_ONLY)"
#endif

#include <upio/backend/memory_region.hpp>
#include <upio/error.hpp>
#include <upio/netmap.h>
#include <upio/port.hpp>
#include <upio/port_name.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace upio {

class Adapter;

// Live counters of one ring: written only by the ring's owner thread (plain
// load+store, no locked instruction), readable from any thread.
struct RingCounters {
    std::atomic<std::uint64_t> packets{0}, bytes{0}, drops{0}, prologue_errors{0}, rx_errors{0}, tx_hangs{0};

    static void add(std::atomic<std::uint64_t>& c, std::uint64_t n) noexcept {
        c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    RingStats snapshot() const noexcept {
        RingStats s{packets.load(std::memory_order_relaxed), bytes.load(std::memory_order_relaxed),
                    drops.load(std::memory_order_relaxed), prologue_errors.load(std::memory_order_relaxed)};
        s.rx_errors = rx_errors.load(std::memory_order_relaxed);
        s.tx_hangs = tx_hangs.load(std::memory_order_relaxed);
        return s;
    }
};

// The framework's side of one ring (netmap's netmap_kring). Laid out in
// cache lines by writer, so a producer thread and the owner never write to
// the same line.
struct KRing {
    // -- read-mostly, set when the ring is created or bound
    netmap_ring* ring = nullptr;
    Adapter* adapter = nullptr;
    std::uint32_t num_slots = 0;
    std::uint16_t ring_id = 0;
    Direction dir = Direction::tx;
    void* priv = nullptr;         // backend's per-ring state
    std::atomic<int> wake_fd{-1}; // eventfd of the Port bound to this ring
    std::atomic<bool> bound{false};
    // A waiter on this ring sleeps at most this long before it syncs again
    // (0: no bound): a NIC's tx ring whose hang check runs in txsync, so a
    // hang is found while the application sleeps for free slots.
    std::uint64_t max_sleep_ns = 0;

    // -- the owner thread's
    alignas(64) std::uint32_t rhead = 0; // head and cur as validated by the prologue
    std::uint32_t rcur = 0;
    std::uint32_t rtail = 0; // the tail last shown to the application

    // -- counters: one writer each (the owner, or for the rx rings of pipes
    // and VALE ports the producer), read by anyone
    alignas(64) RingCounters stats;

    // first slot not yet handed to the backend (tx) or released (rx);
    // read by a producer thread for rx rings of pipes and VALE ports
    alignas(64) std::atomic<std::uint32_t> nr_hwcur{0};
    // first slot the backend still owns; written by a producer thread for
    // rx rings of pipes and VALE ports
    alignas(64) std::atomic<std::uint32_t> nr_hwtail{0};
    // waiter state: nonzero while the owner is (about to be) asleep
    alignas(64) std::atomic<std::uint32_t> sleeping{0};
    // wake-ups sent to the sleeping owner (by whichever producer saw it asleep)
    std::atomic<std::uint64_t> wakeups{0};
    // producers inside notify() with wake_fd in hand: a Port closing its
    // eventfd first waits for them (release_wake_fd), so no write ever lands
    // on a descriptor number the process has since reused
    std::atomic<std::uint32_t> notifying{0};

    std::uint32_t next(std::uint32_t i) const noexcept { return i + 1 == num_slots ? 0 : i + 1; }
    std::uint32_t prev(std::uint32_t i) const noexcept { return i == 0 ? num_slots - 1 : i - 1; }
    // number of slots from a to b going forward
    std::uint32_t distance(std::uint32_t a, std::uint32_t b) const noexcept {
        return b >= a ? b - a : b + num_slots - a;
    }
};

struct RingConfig {
    std::uint32_t tx_rings = 1;
    std::uint32_t rx_rings = 1;
    std::uint32_t tx_slots = 1024;
    std::uint32_t rx_slots = 1024;
};

// Base of every port type.
class Adapter {
public:
    virtual ~Adapter();
    Adapter(const Adapter&) = delete;
    Adapter& operator=(const Adapter&) = delete;

    virtual Status register_port(bool on);
    virtual int txsync(KRing& kring, unsigned flags) noexcept = 0;
    virtual int rxsync(KRing& kring, unsigned flags) noexcept = 0;
    virtual void notify(KRing& kring) noexcept;
    // Extra file descriptors a waiter should poll besides the port's own
    // eventfd (NIC interrupt eventfds). Control path.
    virtual std::vector<int> wait_fds(const KRing& kring) const;
    // Turns interrupts (or other wake-up sources) for a ring on or off
    // around a blocking wait. Default: nothing to do.
    virtual void set_interrupts(KRing& kring, bool on) noexcept;
    // Called after a wait on wait_fds() woke up, to consume the events.
    virtual void ack_wait_fd(int fd) noexcept;
    // Why txsync/rxsync of `kring` returned `rc` (< 0), for Port::last_error().
    // Default: strerror. A driver says more ("TX hang: DD not set on ...").
    virtual const char* explain(const KRing& kring, int rc) const noexcept;
    // Link state for ports that have one (NICs); software ports are always up.
    virtual bool link_up() const noexcept { return true; }
    // Whether Port::wait's poll before sleeping (PortOptions::wait_spin) can
    // pay off. False for a port whose frames are moved by a third process
    // that has no CPU of its own (a daemon's switch on a machine with fewer
    // CPUs than the sender, the daemon and the receiver): a waiter polling
    // there takes the CPU that process needs to make it ready. Control path.
    virtual bool spin_pays() const noexcept { return true; }
    // The virtio-net header every frame of this port starts with, on both
    // directions (netmap's NETMAP_REQ_PORT_HDR_SET/GET): 0, 10 (struct
    // virtio_net_hdr) or 12 bytes (virtio_net_hdr_mrg_rxbuf). Control path;
    // the default takes 0 only ("this port type carries no header").
    virtual Status set_vnet_hdr_len(std::uint32_t len);
    std::uint32_t vnet_hdr_len() const noexcept { return vnet_hdr_len_; }

    const std::string& name() const noexcept { return name_; }
    MemoryRegion& memory() const noexcept { return *mem_; }
    const std::shared_ptr<MemoryRegion>& memory_ptr() const noexcept { return mem_; }
    std::uint32_t num_rings(Direction d) const noexcept {
        return std::uint32_t(d == Direction::tx ? tx_.size() : rx_.size());
    }
    KRing& kring(Direction d, std::uint32_t i) noexcept { return d == Direction::tx ? *tx_[i] : *rx_[i]; }
    const KRing& kring(Direction d, std::uint32_t i) const noexcept {
        return d == Direction::tx ? *tx_[i] : *rx_[i];
    }

    // Bookkeeping by the core: number of open Ports on this adapter.
    int users() const noexcept { return users_; }

protected:
    explicit Adapter(std::string name);
    // Creates the rings in `mem` and fills them with buffers from it.
    // tx rings start empty (tail = num_slots - 1: all free for the
    // application); rx rings start with no packets (tail = head = 0).
    Status create_rings(std::shared_ptr<MemoryRegion> mem, const RingConfig& cfg);
    // Binds krings to rings another process created in a shared region
    // (`mem` attached to its memfd): nothing is allocated or filled, and
    // destroy_rings() frees nothing. The caller checked that each ring and
    // its `slots` slots lie inside `mem`, and sets the krings' indices.
    Status adopt_rings(std::shared_ptr<MemoryRegion> mem, const std::vector<netmap_ring*>& tx,
                       const std::vector<netmap_ring*>& rx, std::uint32_t slots);
    void destroy_rings();
    std::uint32_t vnet_hdr_len_ = 0; // set by set_vnet_hdr_len overrides

private:
    friend class Port;
    std::string name_;
    std::shared_ptr<MemoryRegion> mem_;
    std::vector<std::unique_ptr<KRing>> tx_, rx_;
    bool owns_rings_ = true; // false: adopted from another process
    int users_ = 0;
};

// Bytes of region space the rings of `cfg` need (netmap_ring headers + slots).
std::size_t ring_bytes(const RingConfig& cfg);
// Bytes a netmap_if for `nrings` rings needs.
std::size_t nifp_bytes(std::uint32_t nrings);
// Wakes the kring's waiter if it sleeps. Call after publishing nr_hwtail
// (or nr_hwcur for a tx waiter): contains the full fence that pairs with
// the waiter's. Cheap when nobody sleeps: a fence and a load.
void wake_if_sleeping(KRing& kring) noexcept;
// Unhooks the ring's wake_fd and waits until no producer is still writing
// to it (the caller closes the descriptor afterwards).
void release_wake_fd(KRing& kring) noexcept;

// Port-type factory: given a parsed name, return the adapter (new or shared).
using AdapterFactory = Result<std::shared_ptr<Adapter>> (*)(const PortName&, const PortOptions&);

} // namespace upio
