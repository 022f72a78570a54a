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

    int rxsync(KRing& k, unsigned) noexcept override {
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
            if (len > q.tx_frame_size - tx_data_off || len < 14 ||
                !fits_mtu(reinterpret_cast<char*>(h) + tx_data_off, len, mtu_, false)) [[unlikely]] {
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
        tpacket_req3 rx{};
        rx.tp_block_size = rx_block_size;
        rx.tp_block_nr = rx_block_nr;
        rx.tp_frame_size = frame_size;
        rx.tp_frame_nr = rx_block_size / frame_size * rx_block_nr;
        rx.tp_retire_blk_tov = rx_retire_ms;
        if (setsockopt(s, SOL_PACKET, PACKET_RX_RING, &rx, sizeof rx) < 0) return fail("PACKET_RX_RING");
        q.tx_frame_size = tx_frame_size_for(ifc.mtu);
        q.tx_frame_nr = std::max(tx_min_frames, tx_ring_bytes / q.tx_frame_size);
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

    Fd promisc_;
};

} // namespace

Result<std::shared_ptr<Adapter>> open_packet(const Interface& ifc, const PortName&, const PortOptions& opts) {
    auto a = std::make_shared<PacketAdapter>(fmt::format("netif:{}@packet", ifc.name));
    if (Status s = a->init(ifc, opts); !s) return std::move(s).error();
    return std::shared_ptr<Adapter>(std::move(a));
}

} // namespace upio::netif
