// Kernel interface ports: "netif:IFNAME" (AF_XDP, or AF_PACKET with TPACKET_V3
// rings) and "tap:NAME" (a tap device: the kernel's own stack as a port).
//
// All three back ends copy: frames move between the kernel's rings (UMEM,
// packet mmap ring, tap read/write) and the port's netmap buffers, so the
// application sees the same rings and region as for any other port type.
//
// Rings: one ring pair per queue of the interface ("netif:eth0,ring=2" is
// queue 2's pair); a tap has PortOptions::rings queues (IFF_MULTI_QUEUE).
// Transmit slots are free again as soon as txsync has copied them; frames the
// kernel has no room for stay in [nr_hwcur, head) until the next txsync.
#pragma once

#include <upio/backend/adapter.hpp>
#include <upio/backend/fd.hpp>
#include <upio/backend/port_type.hpp>
#include <upio/netmap.h>
#include <upio/port.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace upio::netif {

// The descriptors of "netif:" and "tap:" for the port-type table.
const PortType& port_type();
const PortType& tap_port_type();

// What "netif:IFNAME[@xdp|@packet][,xdp|,packet]" says.
struct NetifName {
    std::string ifname;
    std::string backend; // "xdp", "packet", or "" (AF_XDP, else AF_PACKET)
};
Result<NetifName> parse_netif_name(const PortName& pn);
// An interface name at the start of `body`, up to the first of `stop`:
// 1..15 characters, none of them '/', ',' or white space. Returns its length.
Result<std::size_t> parse_ifname(std::string_view body, std::string_view stop);

// Factories for the port-type table.
Result<std::shared_ptr<Adapter>> open_netif(const PortName& name, const PortOptions& opts);
Result<std::shared_ptr<Adapter>> open_tap(const PortName& name, const PortOptions& opts);

// -- shared by the back ends

using upio::Fd; // upio/backend/fd.hpp

struct Interface {
    std::string name;
    int ifindex = 0;
    std::uint32_t mtu = 1500;
    std::uint32_t queues = 1; // receive queues (real_num_rx_queues)
};

// Looks the interface up; the error says what to do when it does not exist.
Result<Interface> find_interface(const PortName& pn, const std::string& ifname);
// The region for `nrings` ring pairs of an adapter that copies.
Result<std::shared_ptr<MemoryRegion>> make_region(const std::string& name, std::uint32_t nrings,
                                                  const PortOptions& opts);
// What a privileged call needs (the capabilities measured in
// docs/troubleshooting.md, "Non-root netif: and tap: ports with setcap").
enum class Privilege : std::uint8_t {
    packet,   // a packet socket, promiscuous mode: cap_net_raw
    xdp,      // an AF_XDP socket and its program: cap_net_raw, cap_net_admin, cap_sys_admin, cap_ipc_lock
    tap,      // creating a tap device: cap_net_admin
    tun_node, // opening /dev/net/tun: the node's mode (no capability but cap_dac_override)
};
// A message for an errno from a privileged call: for EPERM or EACCES what
// it needs; else empty.
std::string permission_hint(int err, Privilege p);
// Puts the interface in promiscuous mode for the life of the returned socket
// (the kernel counts and undoes it when the socket closes).
Result<Fd> promiscuous(const Interface& ifc);
// A timerfd that wakes a waiter on a transmit ring whose completions the
// kernel does not signal (AF_PACKET, AF_XDP): armed only while frames wait.
Result<Fd> tx_poll_timer(const std::string& port);
void arm_tx_poll_timer(int fd, bool on) noexcept;
void ack_tx_poll_timer(int fd) noexcept;
// Consumes a socket's pending error (SO_ERROR). The kernel sets one on a
// packet socket when its interface goes down and keeps reporting it to
// poll until it is read, so a waiter that did not read it would spin.
void ack_socket_error(int fd) noexcept;

// What one sync moved, for the ring's counters.
struct Tally {
    std::uint64_t packets = 0, bytes = 0, drops = 0;
    void frame(std::uint64_t len) noexcept {
        packets++;
        bytes += len;
    }
};

// Slots the framework fills or reads belong to it at that moment, but an
// application may still write them (by mistake or on purpose): every index
// is read once and checked before its buffer is touched. An rx slot whose
// index is outside the region receives no frame: the frame meant for it is
// dropped and counted, and the slot reaches the application empty (len 0)
// with the index it holds (the prologue refuses it when it comes back
// unrepaired). A tx slot whose index went bad after the prologue costs its
// frame, counted as a drop.
inline char* rx_buf(const MemoryRegion& mem, std::uint32_t idx) noexcept {
    return mem.valid_buf(idx) ? mem.buf(idx) : nullptr;
}
// Hands rx slot `s` over empty (see above).
inline void rx_empty(netmap_slot& s, Tally& t) noexcept {
    s.len = 0;
    s.flags = 0;
    t.drops++;
}

// The bookkeeping every copying back end does around its copy loop.
// rxsync, before: the slots the application released, [hwcur, head), are ours again.
inline void release_rx(KRing& k) noexcept {
    if (k.nr_hwcur.load(std::memory_order_relaxed) != k.rhead) k.nr_hwcur.store(k.rhead, std::memory_order_release);
}
// rxsync, after: the slots before `tail` hold new frames.
inline void publish_rx(KRing& k, std::uint32_t tail, const Tally& t) noexcept {
    k.nr_hwtail.store(tail, std::memory_order_release);
    RingCounters::add(k.stats.packets, t.packets);
    RingCounters::add(k.stats.bytes, t.bytes);
    if (t.drops) RingCounters::add(k.stats.drops, t.drops);
}
// txsync, after: the slots before `cur` were copied out, so they are free at once.
inline void complete_tx(KRing& k, std::uint32_t cur, const Tally& t) noexcept {
    k.nr_hwcur.store(cur, std::memory_order_relaxed);
    k.nr_hwtail.store(k.prev(cur), std::memory_order_relaxed);
    RingCounters::add(k.stats.packets, t.packets);
    RingCounters::add(k.stats.bytes, t.bytes);
    if (t.drops) RingCounters::add(k.stats.drops, t.drops);
}

// An adapter with one kernel queue per ring pair whose receive side is a
// readable descriptor and whose transmit completions are polled with a
// timer (AF_PACKET, AF_XDP). Queue has rx_fd() and a `timer`.
template <class Queue>
class TimedTxAdapter : public Adapter {
public:
    using Adapter::Adapter;
    std::vector<int> wait_fds(const KRing& k) const override {
        const Queue& q = queues_[k.ring_id];
        return {k.dir == Direction::rx ? q.rx_fd() : q.timer.get()};
    }
    void set_interrupts(KRing& k, bool on) noexcept override {
        if (k.dir == Direction::tx) arm_tx_poll_timer(queues_[k.ring_id].timer.get(), on && k.nr_hwcur != k.rhead);
    }
    // txsync returns -ENXIO once the kernel says the interface is gone.
    const char* explain(const KRing& k, int rc) const noexcept override {
        return rc == -ENXIO ? gone_.c_str() : Adapter::explain(k, rc);
    }
    void ack_wait_fd(int fd) noexcept override {
        for (Queue& q : queues_) {
            if (q.timer.get() == fd) ack_tx_poll_timer(fd);
            if (q.rx_fd() == fd) ack_socket_error(fd);
        }
    }

protected:
    std::vector<Queue> queues_;
    std::uint32_t mtu_ = 1500; // the interface's MTU when the port opened
    std::string gone_ = "the interface is gone (deleted, or moved to another network namespace); close the port "
                        "and open it again once the interface exists";
};

// The longest frame the kernel transmits on an Ethernet interface of `mtu`:
// the header and, for a frame with a VLAN tag (or any frame when
// `any_tag`), 4 bytes more. A longer one is discarded by the kernel without
// an error, so txsync must count it as a drop rather than as sent.
inline bool fits_mtu(const char* frame, std::uint32_t len, std::uint32_t mtu, bool any_tag) noexcept {
    if (len <= mtu + 14) return true;
    if (len > mtu + 18) return false;
    return any_tag || (static_cast<unsigned char>(frame[12]) == 0x81 && frame[13] == 0x00);
}

inline constexpr std::uint32_t incomplete_frame = 0xffffffffu;

// Gathers the frame that starts at slot `i` (one slot, or a chain with
// NS_MOREFRAG on all but the last) into `dst`, at most `cap` bytes. Returns
// the slot after the frame, or `incomplete_frame` when the chain does not
// end before head (the frame waits for the rest). `len` gets the frame's length, which may exceed
// `cap` (then only `cap` bytes were copied: the caller drops the frame); a
// slot with a bad index or length makes it exceed `cap`.
inline std::uint32_t gather_frame(const KRing& k, const MemoryRegion& mem, std::uint32_t i, std::uint32_t head,
                                  char* dst, std::uint32_t cap, std::uint32_t& len) noexcept {
    const netmap_slot* s = k.ring->slot;
    len = 0;
    bool bad = false;
    while (i != head) {
        const netmap_slot sl = s[i]; // read once: see rx_buf()
        if (!mem.valid_buf(sl.buf_idx) || sl.len > mem.buf_size()) [[unlikely]]
            bad = true;
        else if (len < cap)
            std::memcpy(dst + len, mem.buf(sl.buf_idx), std::min<std::uint32_t>(sl.len, cap - len));
        len += sl.len;
        i = k.next(i);
        if (!(sl.flags & NS_MOREFRAG)) {
            if (bad) [[unlikely]] len = cap + 1; // the caller drops it as too long
            return i;
        }
    }
    return incomplete_frame;
}

} // namespace upio::netif
