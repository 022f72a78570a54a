// VALE internals: the switch, its ports and the learning table.
//
// Locks, outermost first:
//   registry_mu   (switch.cpp) the set of switches and every switch's
//                 membership; held while ports are created or destroyed.
//   Switch::mu    read by every forwarding pass (txsync), written to change
//                 the port table or the lookup: a port never goes away under
//                 a sender.
//   RxLane::lock  one per destination rx ring: a spin lock held only to
//                 reserve slots and to publish them, never during a copy.
#pragma once

#include <upio/backend/adapter.hpp>
#include <upio/port.hpp>
#include <upio/vale.hpp>

#include "vale/offload.hpp"
#include "vale/vale_port.hpp"
#include <upio/chain.hpp>

#include <atomic>
#include <functional>
#include <cstring>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

namespace upio::vale::detail {

// Frames and slots one forwarding pass takes (netmap's NM_BDG_BATCH).
inline constexpr std::uint32_t batch_frames = 512;
inline constexpr std::uint32_t batch_slots = 2048;
inline constexpr std::uint16_t nil = 0xffff;

class SpinLock {
public:
    void lock() noexcept {
        for (int n = 0; locked_.exchange(true, std::memory_order_acquire); n++) {
            while (locked_.load(std::memory_order_relaxed)) {
                if (++n < 64)
                    __builtin_ia32_pause();
                else
                    std::this_thread::yield(); // the holder may have lost its CPU
            }
        }
    }
    void unlock() noexcept { locked_.store(false, std::memory_order_release); }

private:
    std::atomic<bool> locked_{false};
};

// The learning table: direct mapped, as netmap's (a colliding address
// replaces the entry). Entries are written by senders without a lock;
// each word is an atomic, and a reader that sees a key with a stale time
// merely floods one frame.
class MacTable {
public:
    static constexpr std::uint32_t size = 4096;

    // The address at p; p[0, 8) must be readable (true of both addresses
    // of a frame of min_frame_len bytes or more): one load, one mask.
    static std::uint64_t mac_at(const std::uint8_t* p) noexcept {
        std::uint64_t m;
        std::memcpy(&m, p, 8);
        return m & mac_mask;
    }
    // Port of `mac` if known and fresh, else `broadcast`.
    std::uint32_t find(std::uint64_t mac, std::uint64_t now_ms, std::uint64_t aging_ms) const noexcept {
        const Entry& e = table_[hash(mac)];
        std::uint64_t key = e.key.load(std::memory_order_relaxed);
        if ((key & mac_mask) != mac || !(key & valid)) return broadcast;
        if (aging_ms && now_ms - e.seen.load(std::memory_order_relaxed) > aging_ms) return broadcast;
        return std::uint32_t(key >> 48) & 0xff;
    }
    void learn(std::uint64_t mac, std::uint32_t port, std::uint64_t now_ms) noexcept {
        Entry& e = table_[hash(mac)];
        std::uint64_t key = mac | (std::uint64_t(port) << 48) | valid;
        // Write only on a change: a stream from one host stays read-mostly.
        if (e.seen.load(std::memory_order_relaxed) != now_ms) e.seen.store(now_ms, std::memory_order_relaxed);
        if (e.key.load(std::memory_order_relaxed) != key) e.key.store(key, std::memory_order_relaxed);
    }
    void forget_port(std::uint32_t port) noexcept {
        for (Entry& e : table_) {
            std::uint64_t key = e.key.load(std::memory_order_relaxed);
            if ((key & valid) && ((key >> 48) & 0xff) == port) e.key.store(0, std::memory_order_relaxed);
        }
    }
    void clear() noexcept {
        for (Entry& e : table_) e.key.store(0, std::memory_order_relaxed);
    }
    template <class F>
    void for_each(F&& f) const {
        for (const Entry& e : table_) {
            std::uint64_t key = e.key.load(std::memory_order_relaxed);
            if (key & valid) f(key & mac_mask, std::uint32_t(key >> 48) & 0xff, e.seen.load(std::memory_order_relaxed));
        }
    }

private:
    static constexpr std::uint64_t mac_mask = (std::uint64_t(1) << 48) - 1;
    static constexpr std::uint64_t valid = std::uint64_t(1) << 63;
    struct Entry {
        std::atomic<std::uint64_t> key{0}; // mac | port << 48 | valid
        std::atomic<std::uint64_t> seen{0}; // ms on the switch clock
    };
    static std::uint32_t hash(std::uint64_t mac) noexcept {
        return std::uint32_t((mac * 0x9e3779b97f4a7c15ull) >> 52); // 12 bits
    }
    Entry table_[size];
};

class VPort;

class Switch {
public:
    explicit Switch(std::string n) : name(std::move(n)) {}

    const std::string name;
    bool persistent = false;            // guarded by registry_mu
    std::shared_mutex mu;               // see the top of this file
    VPort* ports[max_ports] = {};       // by index; written under mu (write)
    std::uint8_t active[max_ports] = {}; // indices in use, compact
    std::uint32_t nactive = 0;
    Lookup lookup;                      // empty: learning bridge; under mu
    std::atomic<std::uint64_t> aging_ms{300000};
    std::atomic<std::uint32_t> nheld{0};    // ports with back-pressure on
    MacTable macs;
    std::map<std::string, std::weak_ptr<VPort>, std::less<>> by_name; // port name -> port; under registry_mu
};

// Per tx ring scratch of the forwarding passes (netmap's nm_bdg_fwd table).
struct TxScratch {
    using Frag = offload::Frag;
    struct Frame {
        std::uint32_t frag;  // first fragment in frags
        std::uint32_t nfrags;
        std::uint32_t len;   // bytes in all fragments
        std::uint16_t next;  // next frame for the same destination, or nil
        std::uint8_t dst;
        // Where the frame starts in the sender's ring, and the frames the
        // pass dropped before it: where a pass held back by a full ring
        // (back-pressure) stops, and what it counts.
        std::uint32_t start;
        std::uint32_t filtered_before, malformed_before;
        offload::Plan plan; // from a port with a virtio-net header: what a port without one gets
    };
    struct Queue {
        std::uint16_t head = nil, tail = nil;
        std::uint16_t count = 0; // frames in the list
    };
    Frag frags[batch_slots];
    Frame frames[batch_frames];
    Queue queues[max_ports]; // unicast frames per destination
    Queue bcast;             // frames for every port but the source
    std::uint8_t used[max_ports];
    std::uint32_t nused = 0;
    // This pass's frames: every one a single slot, and the longest of them
    // (a destination whose buffers hold it takes one slot per frame).
    bool single = true;
    std::uint32_t maxlen = 0;
    std::uint16_t order[batch_frames]; // one destination's frames, in order
    std::uint32_t lease[max_ports];    // back-pressure: the slots reserved per destination, [start, end)
    std::uint32_t lease_end[max_ports];
    std::uint32_t nfit[max_ports];     // back-pressure: frames reserved per destination
    // Sender-side counters (the tx ring's owner is their only writer).
    std::atomic<std::uint64_t> tx_packets{0}, tx_bytes{0}, drop_filtered{0}, drop_malformed{0};
};

// Per rx ring state shared by every sender to it.
struct alignas(64) RxLane {
    SpinLock lock;
    std::uint32_t lease = 0; // next slot to reserve (netmap's nkr_hwlease)
    std::uint32_t pub = 0;   // nr_hwtail as last published
    std::uint32_t hwcur = 0; // nr_hwcur as last read
    std::vector<std::uint32_t> done; // by lease start: its end once copied, else pending
    // Back-pressure: senders (by port index) held back by this ring. A
    // sender sets its bit, then re-reads nr_hwcur; the receiver's rxsync
    // publishes nr_hwcur, then takes the bits and wakes those senders.
    std::atomic<std::uint64_t> blocked[4] = {};
    // Written under `lock`, read anywhere.
    std::atomic<std::uint64_t> rx_packets{0}, rx_bytes{0}, drop_no_space{0};
    static constexpr std::uint32_t pending = 0xffffffff;
};

class VPort final : public Adapter {
public:
    VPort(std::string name, std::shared_ptr<Switch> sw) : Adapter(std::move(name)), sw_(std::move(sw)) {}
    ~VPort() override;

    Status init(const PortOptions& opts);
    // Binds to rings another process created in its shared region `mem`
    // (a client of the VALE daemon) instead of creating a region.
    Status adopt(std::shared_ptr<MemoryRegion> mem, const std::vector<netmap_ring*>& tx,
                 const std::vector<netmap_ring*>& rx, std::uint32_t slots);
    int txsync(KRing& k, unsigned flags) noexcept override;
    int rxsync(KRing& k, unsigned flags) noexcept override;

    // Forwards the complete frames of slots [from, to) of `src` (a ring of
    // this port or of an attached one, whose buffers are in `mem`) with tx
    // ring `tx`'s scratch. Returns where it stopped: `to`, or the start of a
    // chain not yet complete. The slots and their count are the kring's (a
    // client may overwrite netmap_ring::num_slots). Counts into `rc` when given.
    std::uint32_t forward(std::uint32_t tx, const KRing& src, const MemoryRegion& mem, std::uint32_t from,
                          std::uint32_t to, RingCounters* rc) noexcept;

    PortStats stats() const noexcept;
    // Virtio-net headers (vnet.cpp): the length changes under Switch::mu
    // (write), so a forwarding pass sees one length from start to end.
    Status set_vnet_hdr_len(std::uint32_t len) override;
    // Slots frame `f` of this port takes in a destination with a `dhl` byte
    // header and `dbs` byte buffers.
    std::uint32_t slots_for(const TxScratch::Frame& f, std::uint32_t dhl, std::uint32_t dbs) const noexcept {
        return dhl == vnet_hdr_len_ ? chain_slots(f.len, dbs) : convert_slots(f, dhl, dbs);
    }
    // Wakes the senders held back by rx ring `r` (back-pressure).
    void wake_held(std::uint32_t r) noexcept;
    // The same; the caller holds Switch::mu.
    void wake_held_locked(std::uint32_t r) noexcept;

    Switch& sw() const noexcept { return *sw_; }
    std::uint32_t index = 0;
    std::atomic<bool> back_pressure{false}; // vale::set_back_pressure
    std::string attached; // name of the port an Attachment joined here
    bool joined = false;  // in the switch's table (init succeeded)

private:
    void add_lanes(std::uint32_t rings);
    std::uint32_t pass(TxScratch& t, std::uint32_t tx, const KRing& src, const MemoryRegion& mem,
                       std::uint32_t from, std::uint32_t to, std::uint64_t now_ms, RingCounters* rc,
                       bool& held) noexcept;
    void deliver(TxScratch& t, std::uint32_t tx, std::uint32_t dst) noexcept;
    std::uint32_t deliver_held(TxScratch& t, std::uint32_t tx, std::uint32_t nframes) noexcept;
    std::uint32_t merge(TxScratch& t, std::uint32_t dst, std::uint32_t limit, std::uint32_t dbs,
                        std::uint32_t max_slots, std::uint32_t& need, std::uint32_t* never = nullptr) noexcept;
    void fill(TxScratch& t, VPort& dp, std::uint32_t r, std::uint32_t nfit, std::uint32_t start, std::uint32_t end,
              std::uint32_t dropped) noexcept;
    void fill_single(const TxScratch& t, std::uint16_t first, VPort& dp, std::uint32_t r, std::uint32_t nfit,
                     std::uint32_t start, std::uint32_t end, std::uint32_t dropped) noexcept;
    static void publish(VPort& dp, std::uint32_t r, std::uint32_t start, std::uint32_t end, std::uint32_t nfit,
                        std::uint64_t bytes, std::uint32_t dropped) noexcept;

    std::uint32_t convert_slots(const TxScratch::Frame& f, std::uint32_t dhl, std::uint32_t dbs) const noexcept;
    std::uint32_t convert(const TxScratch& t, const TxScratch::Frame& f, VPort& dp, KRing& rk,
                          std::uint32_t j) const noexcept;

    std::shared_ptr<Switch> sw_;
    std::vector<std::unique_ptr<TxScratch>> scratch_; // per tx ring
    std::vector<std::unique_ptr<RxLane>> lanes_;       // per rx ring
};

// Records the port an Attachment joined to `p` (shown by vale::describe).
void set_attached(VPort& p, std::string what);

// Adds port PORT to switch SW (created on demand), made ready by `init`;
// `reuse`: an open port of that name is returned as it is, else refused
// (EBUSY). `full` names it in errors.
Result<std::shared_ptr<VPort>> join_port(std::string_view sw, std::string_view port, std::string_view full,
                                         bool reuse, const std::function<Status(VPort&)>& init);

} // namespace upio::vale::detail
