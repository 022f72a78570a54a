// "netif:IFNAME@packet": AF_PACKET sockets with TPACKET_V3 mmap rings.
//
// Per queue one socket, whose mapping holds a receive ring of blocks (the
// kernel fills a block with many frames and hands it over whole, after it is
// full or tp_retire_blk_tov ms after its first frame) followed by a transmit
// ring of fixed frames (each marked TP_STATUS_SEND_REQUEST, then sent by one
// send() for the batch). See Documentation/networking/packet_mmap.rst.
//
// With several queues the sockets join one PACKET_FANOUT_QM group: socket i
// receives what the interface received on queue i (modulo their number).
// Frames the socket itself sends are not received (PACKET_IGNORE_OUTGOING).
#include "netif/backends.hpp"

#include <upio/chain.hpp>

#include <fmt/format.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <arpa/inet.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <vector>

namespace upio::netif {
namespace {

// Ring geometry. Blocks of 128 KiB hold ~60 full-size frames; 32 of them
// absorb a burst of ~2000 frames between two rxsyncs.
constexpr std::uint32_t rx_block_size = 128 * 1024;
constexpr std::uint32_t rx_block_nr = 32;
constexpr std::uint32_t rx_retire_ms = 1; // latency bound for a block that is not full
constexpr std::uint32_t frame_size = 2048; // tp_frame_size of the rx ring (only sizes it)
// Where a transmit frame's data starts (without PACKET_TX_HAS_OFF).
constexpr std::uint32_t tx_data_off = TPACKET3_HDRLEN - sizeof(sockaddr_ll);
// The transmit ring: frames of a power of two bytes (at least 2 KiB) that
// hold the header and the largest frame the MTU allows (Ethernet header and
// a VLAN tag, as the kernel's own limit), 2 MiB of them but at least 128.
constexpr std::uint32_t tx_ring_bytes = 2u << 20;
constexpr std::uint32_t tx_min_frames = 128;
std::uint32_t tx_frame_size_for(std::uint32_t mtu) {
    return std::max<std::uint32_t>(2048, std::bit_ceil(tx_data_off + mtu + 18));
}
// With virtio-net headers a frame is a GSO segment of up to 64 KiB: 32
// transmit frames of 128 KiB.
constexpr std::uint32_t gso_max_frame = 65535 + 18;
constexpr std::uint32_t tx_vnet_frame_size = std::bit_ceil(tx_data_off + 12 + gso_max_frame);
constexpr std::uint32_t tx_vnet_frames = 32;
#ifndef PACKET_VNET_HDR_SZ
#define PACKET_VNET_HDR_SZ 24 // Linux 6.7: a header of 12 bytes (virtio_net_hdr_mrg_rxbuf)
#endif
static_assert(tx_data_off % TPACKET_ALIGNMENT == 0);

struct Queue {
    Fd sock;
    Fd timer;
    char* map = nullptr;
    std::size_t map_len = 0;
    // receive: the block being read and the next frame in it
    char* rx = nullptr;
    std::uint32_t block = 0;
    const tpacket3_hdr* pkt = nullptr;
    std::uint32_t pkts_left = 0;
    // transmit
    char* tx = nullptr;
    std::uint32_t tx_next = 0;
    std::uint32_t tx_frame_size = 0, tx_frame_nr = 0;
    bool kick = false; // frames marked but send() not yet accepted them
    int rx_fd() const noexcept { return sock.get(); }
};

std::uint32_t status_of(const std::uint32_t& s) {
    return std::atomic_ref(const_cast<std::uint32_t&>(s)).load(std::memory_order_acquire);
}
void set_status(std::uint32_t& s, std::uint32_t v) { std::atomic_ref(s).store(v, std::memory_order_release); }

class PacketAdapter final : public TimedTxAdapter<Queue> {
public:
    explicit PacketAdapter(std::string name) : TimedTxAdapter(std::move(name)) {}
    ~PacketAdapter() override {
        for (Queue& q : queues_)
            if (q.map) munmap(q.map, q.map_len);
        destroy_rings();
    }

    Status init(const Interface& ifc, const PortOptions& opts) {
        mtu_ = ifc.mtu;
        auto mem = make_region(name(), ifc.queues, opts);
        if (!mem) return std::move(mem).error();
        if (Status s = create_rings(mem.value(), RingConfig{ifc.queues, ifc.queues, opts.tx_slots, opts.rx_slots}); !s)
            return s;
        auto promisc = promiscuous(ifc);
        if (!promisc) return std::move(promisc).error();
        promisc_ = std::move(promisc.value());
        queues_.resize(ifc.queues);
        const int fanout = int(((unsigned(::getpid()) ^ unsigned(ifc.ifindex) * 40503u) & 0xffff) |
                               (PACKET_FANOUT_QM << 16));
        for (std::uint32_t i = 0; i < ifc.queues; i++)
            if (Status s = open_queue(queues_[i], ifc, ifc.queues > 1 ? fanout : -1); !s) return s;
        return {};
    }

    // PACKET_VNET_HDR (and PACKET_VNET_HDR_SZ for 12 bytes): the kernel
    // hands over GSO frames of up to 64 KiB, with a header that says what
    // is left to do, and takes them back the same way. The option is only
    // taken by a socket without rings: they are unmapped, freed and made
    // again on the same socket (the port's wait descriptors stay).
    Status set_vnet_hdr_len(std::uint32_t len) override {
        if (len != 0 && len != 10 && len != 12)
            return make_error(EINVAL, fmt::format("{}: a virtio-net header is 0, 10 or 12 bytes, not {}", name(), len));
        if (len == vnet_hdr_len_) return {};
        for (Queue& q : queues_) {
            if (q.map) munmap(q.map, q.map_len);
            q.map = nullptr;
            tpacket_req3 none{};
            if (setsockopt(q.sock.get(), SOL_PACKET, PACKET_RX_RING, &none, sizeof none) < 0 ||
                setsockopt(q.sock.get(), SOL_PACKET, PACKET_TX_RING, &none, sizeof none) < 0)
                return sock_error("cannot free the packet rings");
            int on = len != 0;
            if (setsockopt(q.sock.get(), SOL_PACKET, PACKET_VNET_HDR, &on, sizeof on) < 0)
                return sock_error("PACKET_VNET_HDR");
            int sz = int(len);
            if (len == 12 && setsockopt(q.sock.get(), SOL_PACKET, PACKET_VNET_HDR_SZ, &sz, sizeof sz) < 0)
                return sock_error("PACKET_VNET_HDR_SZ 12 (Linux 6.7 or later; 10 works everywhere)");
            if (Status st = make_rings(q, len); !st) return st;
        }
        vnet_hdr_len_ = len;
        return {};
    }

    int rxsync(KRing& k, unsigned) noexcept override {
        if (vnet_hdr_len_) return rxsync_vnet(k);
        Queue& q = queues_[k.ring_id];
        release_rx(k);
        const MemoryRegion& mem = memory();
        const std::uint32_t bufsz = mem.buf_size();
        netmap_slot* slot = k.ring->slot;
        std::uint32_t j = k.nr_hwtail.load(std::memory_order_relaxed);
        std::uint32_t space = k.distance(j, k.prev(k.rhead));
        Tally t;
        while (space) {
            if (!q.pkt) {
                auto* bd = reinterpret_cast<tpacket_block_desc*>(q.rx + std::size_t(q.block) * rx_block_size);
                if (!(status_of(bd->hdr.bh1.block_status) & TP_STATUS_USER)) break;
                q.pkts_left = bd->hdr.bh1.num_pkts;
                q.pkt = reinterpret_cast<const tpacket3_hdr*>(reinterpret_cast<char*>(bd) +
                                                              bd->hdr.bh1.offset_to_first_pkt);
                if (q.pkts_left == 0) {
                    release_block(q);
                    continue;
                }
            }
            const tpacket3_hdr* h = q.pkt;
            const char* data = reinterpret_cast<const char*>(h) + h->tp_mac;
            const bool vlan = (h->tp_status & TP_STATUS_VLAN_VALID) && h->tp_snaplen >= 12;
            const std::uint32_t len = h->tp_snaplen + (vlan ? 4 : 0);
            char* d = rx_buf(mem, slot[j].buf_idx);
            if (!d) [[unlikely]] { // the frame is dropped, the slot goes out empty
                rx_empty(slot[j], t);
                j = k.next(j);
                space--;
            } else if (h->tp_len != h->tp_snaplen || len > bufsz) [[unlikely]] {
                t.drops++;
            } else {
                if (vlan) [[unlikely]] { // the kernel took the tag out: put it back
                    const std::uint16_t tpid = (h->tp_status & TP_STATUS_VLAN_TPID_VALID) ? h->hv1.tp_vlan_tpid : 0x8100;
                    const std::uint16_t tci = h->hv1.tp_vlan_tci;
                    std::memcpy(d, data, 12);
                    const unsigned char tag[4] = {std::uint8_t(tpid >> 8), std::uint8_t(tpid), std::uint8_t(tci >> 8),
                                                  std::uint8_t(tci)};
                    std::memcpy(d + 12, tag, 4);
                    std::memcpy(d + 16, data + 12, h->tp_snaplen - 12);
                } else {
                    std::memcpy(d, data, len);
                }
                slot[j].len = std::uint16_t(len);
                slot[j].flags = 0;
                j = k.next(j);
                space--;
                t.frame(len);
            }
            if (--q.pkts_left == 0)
                release_block(q);
            else
                q.pkt = reinterpret_cast<const tpacket3_hdr*>(reinterpret_cast<const char*>(h) + h->tp_next_offset);
        }
        publish_rx(k, j, t);
        return 0;
    }

    int txsync(KRing& k, unsigned) noexcept override {
        Queue& q = queues_[k.ring_id];
        const MemoryRegion& mem = memory();
        const std::uint32_t hl = vnet_hdr_len_;
        std::uint32_t i = k.nr_hwcur.load(std::memory_order_relaxed);
        const std::uint32_t head = k.rhead;
        Tally t;
        while (i != head) {
            auto* h = reinterpret_cast<tpacket3_hdr*>(q.tx + std::size_t(q.tx_next) * q.tx_frame_size);
            const std::uint32_t st = status_of(h->tp_status);
            if (st & (TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING)) break; // the kernel's ring is full
            std::uint32_t len;
            const std::uint32_t after =
                gather_frame(k, mem, i, head, reinterpret_cast<char*>(h) + tx_data_off, q.tx_frame_size - tx_data_off, len);
            if (after == incomplete_frame) break;
            i = after;
            const char* vh = reinterpret_cast<char*>(h) + tx_data_off; // the header, if any
            const char* frame = vh + hl;
            // A GSO frame (gso_type, the header's second byte) is cut by the kernel.
            if (len > q.tx_frame_size - tx_data_off || len < 14 + hl ||
                ((!hl || vh[1] == 0) && !fits_mtu(frame, len - hl, mtu_, false))) [[unlikely]] {
                t.drops++;
                continue;
            }
            h->tp_len = len;
            h->tp_next_offset = 0;
            set_status(h->tp_status, TP_STATUS_SEND_REQUEST);
            q.tx_next = q.tx_next + 1 == q.tx_frame_nr ? 0 : q.tx_next + 1;
            t.frame(len);
        }
        int rc = 0;
        if (t.packets || q.kick) {
            q.kick = ::send(q.sock.get(), nullptr, 0, MSG_DONTWAIT) < 0;
            // The socket lost its interface (deleted): the frames can never leave.
            if (q.kick && (errno == ENXIO || errno == ENODEV)) rc = -ENXIO;
        }
        complete_tx(k, i, t);
        return rc;
    }

private:
    // The next frame the kernel handed over, or null; advance() moves past it.
    static const tpacket3_hdr* peek(Queue& q) noexcept {
        while (!q.pkt) {
            auto* bd = reinterpret_cast<tpacket_block_desc*>(q.rx + std::size_t(q.block) * rx_block_size);
            if (!(status_of(bd->hdr.bh1.block_status) & TP_STATUS_USER)) return nullptr;
            q.pkts_left = bd->hdr.bh1.num_pkts;
            q.pkt = reinterpret_cast<const tpacket3_hdr*>(reinterpret_cast<char*>(bd) + bd->hdr.bh1.offset_to_first_pkt);
            if (q.pkts_left == 0) release_block(q);
        }
        return q.pkt;
    }
    static void advance(Queue& q) noexcept {
        if (--q.pkts_left == 0)
            release_block(q);
        else
            q.pkt = reinterpret_cast<const tpacket3_hdr*>(reinterpret_cast<const char*>(q.pkt) + q.pkt->tp_next_offset);
    }

    // rxsync with virtio-net headers: each frame (up to 64 KiB) and the
    // header the kernel wrote before it become one chain of slots.
    int rxsync_vnet(KRing& k) noexcept {
        Queue& q = queues_[k.ring_id];
        release_rx(k);
        const MemoryRegion& mem = memory();
        const std::uint32_t bufsz = mem.buf_size(), hl = vnet_hdr_len_;
        netmap_slot* slot = k.ring->slot;
        std::uint32_t j = k.nr_hwtail.load(std::memory_order_relaxed);
        std::uint32_t space = k.distance(j, k.prev(k.rhead));
        Tally t;
        while (space) {
            const tpacket3_hdr* h = peek(q);
            if (!h) break;
            const char* data = reinterpret_cast<const char*>(h) + h->tp_mac;
            const bool vlan = (h->tp_status & TP_STATUS_VLAN_VALID) && h->tp_snaplen >= 12;
            const std::uint32_t len = hl + h->tp_snaplen + (vlan ? 4 : 0);
            const std::uint32_t need = chain_slots(len, bufsz);
            if (h->tp_len != h->tp_snaplen || h->tp_mac < sizeof(tpacket3_hdr) + hl || need > k.num_slots - 1)
                [[unlikely]] { // cut short, or longer than the ring can ever hold
                t.drops++;
                advance(q);
                continue;
            }
            if (need > space) break; // the rest waits for room
            bool bad = false;
            for (std::uint32_t x = 0, y = j; x < need; x++, y = k.next(y)) bad |= !mem.valid_buf(slot[y].buf_idx);
            if (bad) [[unlikely]] { // the frame is dropped, the first slot goes out empty
                rx_empty(slot[j], t);
                j = k.next(j);
                space--;
                advance(q);
                continue;
            }
            unsigned char hdr[12], tag[4];
            std::memcpy(hdr, data - hl, hl);
            FrameFragment parts[4];
            std::uint32_t np = 0;
            parts[np++] = {reinterpret_cast<const char*>(hdr), hl};
            if (vlan) [[unlikely]] { // the kernel took the tag out: put it back, and move the header's offsets with it
                const std::uint16_t tpid = (h->tp_status & TP_STATUS_VLAN_TPID_VALID) ? h->hv1.tp_vlan_tpid : 0x8100;
                const std::uint16_t tci = h->hv1.tp_vlan_tci;
                tag[0] = std::uint8_t(tpid >> 8), tag[1] = std::uint8_t(tpid), tag[2] = std::uint8_t(tci >> 8),
                tag[3] = std::uint8_t(tci);
                auto bump = [&](int o) {
                    const std::uint16_t v = std::uint16_t((hdr[o] | hdr[o + 1] << 8) + 4);
                    hdr[o] = std::uint8_t(v), hdr[o + 1] = std::uint8_t(v >> 8);
                };
                if (hdr[0] & 1) bump(6);              // csum_start (VIRTIO_NET_HDR_F_NEEDS_CSUM)
                if (hdr[2] | hdr[3]) bump(2);         // hdr_len
                parts[np++] = {data, 12};
                parts[np++] = {reinterpret_cast<const char*>(tag), 4};
                parts[np++] = {data + 12, h->tp_snaplen - 12};
            } else {
                parts[np++] = {data, h->tp_snaplen};
            }
            std::uint32_t at = 0;
            j = split_frame(slot, k.num_slots, j, bufsz, len, [&]() noexcept { return parts[at++]; },
                            [&mem](const netmap_slot& sl) noexcept { return mem.buf(sl.buf_idx); });
            space -= need;
            t.frame(len);
            advance(q);
        }
        publish_rx(k, j, t);
        return 0;
    }

    static void release_block(Queue& q) noexcept {
        auto* bd = reinterpret_cast<tpacket_block_desc*>(q.rx + std::size_t(q.block) * rx_block_size);
        set_status(bd->hdr.bh1.block_status, TP_STATUS_KERNEL);
        q.block = q.block + 1 == rx_block_nr ? 0 : q.block + 1;
        q.pkt = nullptr;
        q.pkts_left = 0;
    }

    Status open_queue(Queue& q, const Interface& ifc, int fanout) {
        auto fail = [&](const char* what) {
            const int e = errno;
            return Status(make_error(e, fmt::format("{}: {}: {}{}", name(), what, std::strerror(e), permission_hint(e, Privilege::packet))));
        };
        // Protocol 0 until bound: nothing arrives before the rings exist.
        q.sock = Fd(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
        if (!q.sock) return fail("cannot open an AF_PACKET socket");
        const int s = q.sock.get();
        int v = TPACKET_V3;
        if (setsockopt(s, SOL_PACKET, PACKET_VERSION, &v, sizeof v) < 0) return fail("PACKET_VERSION TPACKET_V3");
        v = 1;
        if (setsockopt(s, SOL_PACKET, PACKET_IGNORE_OUTGOING, &v, sizeof v) < 0) return fail("PACKET_IGNORE_OUTGOING");
        if (setsockopt(s, SOL_PACKET, PACKET_LOSS, &v, sizeof v) < 0) return fail("PACKET_LOSS");
        mtu_ = ifc.mtu;
        if (Status st = make_rings(q, 0); !st) return st;
        sockaddr_ll sll{};
        sll.sll_family = AF_PACKET;
        sll.sll_protocol = htons(ETH_P_ALL);
        sll.sll_ifindex = ifc.ifindex;
        if (bind(s, reinterpret_cast<sockaddr*>(&sll), sizeof sll) < 0) return fail("cannot bind to the interface");
        if (fanout >= 0 && setsockopt(s, SOL_PACKET, PACKET_FANOUT, &fanout, sizeof fanout) < 0)
            return fail("PACKET_FANOUT_QM (one socket per queue)");
        auto t = tx_poll_timer(name());
        if (!t) return std::move(t).error();
        q.timer = std::move(t.value());
        return {};
    }

    Status sock_error(const char* what) {
        const int e = errno;
        return Status(make_error(e, fmt::format("{}: {}: {}{}", name(), what, std::strerror(e), permission_hint(e, Privilege::packet))));
    }

    // The receive ring and the transmit ring of a socket, mapped; transmit
    // frames hold a GSO frame when the socket has virtio-net headers.
    Status make_rings(Queue& q, std::uint32_t hdr) {
        const int s = q.sock.get();
        auto fail = [&](const char* what) { return sock_error(what); };
        q.block = 0;
        q.pkt = nullptr;
        q.pkts_left = 0;
        q.tx_next = 0;
        q.kick = false;
        tpacket_req3 rx{};
        rx.tp_block_size = rx_block_size;
        rx.tp_block_nr = rx_block_nr;
        rx.tp_frame_size = frame_size;
        rx.tp_frame_nr = rx_block_size / frame_size * rx_block_nr;
        rx.tp_retire_blk_tov = rx_retire_ms;
        if (setsockopt(s, SOL_PACKET, PACKET_RX_RING, &rx, sizeof rx) < 0) return fail("PACKET_RX_RING");
        q.tx_frame_size = hdr ? tx_vnet_frame_size : tx_frame_size_for(mtu_);
        q.tx_frame_nr = hdr ? tx_vnet_frames : std::max(tx_min_frames, tx_ring_bytes / q.tx_frame_size);
        tpacket_req3 tx{};
        tx.tp_block_size = std::max(rx_block_size, q.tx_frame_size);
        tx.tp_frame_size = q.tx_frame_size;
        tx.tp_frame_nr = q.tx_frame_nr;
        tx.tp_block_nr = q.tx_frame_nr * q.tx_frame_size / tx.tp_block_size;
        if (setsockopt(s, SOL_PACKET, PACKET_TX_RING, &tx, sizeof tx) < 0) return fail("PACKET_TX_RING");
        const std::size_t rx_len = std::size_t(rx_block_size) * rx_block_nr;
        q.map_len = rx_len + std::size_t(q.tx_frame_size) * q.tx_frame_nr;
        void* m = mmap(nullptr, q.map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED | MAP_POPULATE, s, 0);
        if (m == MAP_FAILED) m = mmap(nullptr, q.map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, s, 0);
        if (m == MAP_FAILED) {
            q.map = nullptr;
            return fail("cannot map the packet rings");
        }
        q.map = static_cast<char*>(m);
        q.rx = q.map;
        q.tx = q.map + rx_len;
        return {};
    }

    Fd promisc_;
};

} // namespace

Result<std::shared_ptr<Adapter>> open_packet(const Interface& ifc, const PortName&, const PortOptions& opts) {
    auto a = std::make_shared<PacketAdapter>(fmt::format("netif:{}@packet", ifc.name));
    if (Status s = a->init(ifc, opts); !s) return std::move(s).error();
    return std::shared_ptr<Adapter>(std::move(a));
}

} // namespace upio::netif
