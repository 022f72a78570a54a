// "netif:IFNAME@xdp": AF_XDP sockets through libxdp.
//
// Per queue one XSK socket with its own UMEM of `umem_frames` frames: half
// of them sit in the fill ring for the kernel to receive into, half are a
// free stack for transmission, returned through the completion ring. libxdp
// loads its default program (redirect queue i to the XSK of queue i) in
// native mode where the driver has it (veth does, in copy mode) and in
// generic (skb) mode otherwise; it is removed with the last socket.
//
// Receive: rx descriptors -> copy into the netmap slots -> the frames back to
// the fill ring at once. Transmit: netmap slots -> copy into free frames ->
// tx descriptors; a sendto() kicks the kernel when it asks for it
// (XDP_USE_NEED_WAKEUP; in copy mode it always does).
#include "netif/backends.hpp"

#include <fmt/format.h>
#include <linux/capability.h>
#include <linux/if_link.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include <xdp/xsk.h>

#include <cstdarg>
#include <cstdio>

#include <vector>

namespace upio::netif {
namespace {

constexpr std::uint32_t umem_frames = 4096;
constexpr std::uint32_t umem_frame_size = XSK_UMEM__DEFAULT_FRAME_SIZE; // 4096
constexpr std::uint32_t ring_size = umem_frames / 2; // fill, completion, rx, tx
static_assert((ring_size & (ring_size - 1)) == 0, "XSK rings are powers of two");

// libbpf and libxdp print to stderr by default, and much of it is about
// fallbacks that work (no bpffs: one program without the dispatcher). While
// a port opens (under open_netif's lock) their warnings are collected
// instead, and only end up in an error message.
std::string g_log;
int collect(int warn, const char* fmt, va_list ap) {
    if (!warn) return 0;
    char line[256];
    std::vsnprintf(line, sizeof line, fmt, ap);
    g_log += line;
    return 0;
}
int collect_bpf(libbpf_print_level l, const char* f, va_list ap) { return collect(l == LIBBPF_WARN, f, ap); }
int collect_xdp(libxdp_print_level l, const char* f, va_list ap) { return collect(l == LIBXDP_WARN, f, ap); }

struct QuietLibs {
    libbpf_print_fn_t bpf = libbpf_set_print(collect_bpf);
    libxdp_print_fn_t xdp = libxdp_set_print(collect_xdp);
    QuietLibs() { g_log.clear(); }
    ~QuietLibs() {
        libbpf_set_print(bpf);
        libxdp_set_print(xdp);
    }
    static std::string last() {
        std::string l = g_log;
        while (!l.empty() && l.back() == '\n') l.pop_back();
        if (auto nl = l.rfind('\n'); nl != std::string::npos) l = l.substr(nl + 1);
        return l.empty() ? l : "; libxdp: " + l;
    }
};

struct Queue {
    void* area = nullptr;
    xsk_umem* umem = nullptr;
    xsk_socket* xsk = nullptr;
    xsk_ring_prod fill{}, tx{};
    xsk_ring_cons comp{}, rx{};
    Fd timer;
    std::vector<std::uint64_t> free; // free tx frames: a stack of capacity umem_frames / 2
    std::uint32_t nfree = 0;
    bool kick = false;
    int fd() const noexcept { return xsk_socket__fd(xsk); }
    int rx_fd() const noexcept { return fd(); }
};

class XdpAdapter final : public TimedTxAdapter<Queue> {
public:
    explicit XdpAdapter(std::string name) : TimedTxAdapter(std::move(name)) {}
    ~XdpAdapter() override {
        for (Queue& q : queues_) {
            if (q.xsk) xsk_socket__delete(q.xsk);
            if (q.umem) xsk_umem__delete(q.umem);
            if (q.area) munmap(q.area, std::size_t(umem_frames) * umem_frame_size);
        }
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
        for (std::uint32_t i = 0; i < ifc.queues; i++)
            if (Status s = open_queue(queues_[i], ifc, i); !s) return s;
        return {};
    }

    int rxsync(KRing& k, unsigned) noexcept override {
        Queue& q = queues_[k.ring_id];
        release_rx(k);
        const MemoryRegion& mem = memory();
        const std::uint32_t bufsz = mem.buf_size();
        netmap_slot* slot = k.ring->slot;
        std::uint32_t j = k.nr_hwtail.load(std::memory_order_relaxed);
        const std::uint32_t space = k.distance(j, k.prev(k.rhead));
        std::uint32_t idx = 0, fidx = 0;
        std::uint32_t got = space ? xsk_ring_cons__peek(&q.rx, space, &idx) : 0;
        // Every frame taken from rx goes straight back to fill, which has
        // room: fill and rx together hold at most ring_size frames.
        if (got && xsk_ring_prod__reserve(&q.fill, got, &fidx) != got) [[unlikely]] {
            xsk_ring_cons__cancel(&q.rx, got);
            got = 0;
        }
        if (got) {
            Tally t;
            for (std::uint32_t m = 0; m < got; m++) {
                const xdp_desc* d = xsk_ring_cons__rx_desc(&q.rx, idx + m);
                *xsk_ring_prod__fill_addr(&q.fill, fidx + m) = xsk_umem__extract_addr(d->addr);
                if (d->len > bufsz) [[unlikely]] {
                    t.drops++;
                    continue;
                }
                char* buf = rx_buf(mem, slot[j].buf_idx);
                if (!buf) [[unlikely]] { // the frame is dropped, the slot goes out empty
                    rx_empty(slot[j], t);
                    j = k.next(j);
                    continue;
                }
                std::memcpy(buf, xsk_umem__get_data(q.area, xsk_umem__add_offset_to_addr(d->addr)),
                            d->len);
                slot[j].len = std::uint16_t(d->len);
                slot[j].flags = 0;
                j = k.next(j);
                t.frame(d->len);
            }
            xsk_ring_cons__release(&q.rx, got);
            xsk_ring_prod__submit(&q.fill, got);
            publish_rx(k, j, t);
        }
        if (xsk_ring_prod__needs_wakeup(&q.fill)) recvfrom(q.fd(), nullptr, 0, MSG_DONTWAIT, nullptr, nullptr);
        return 0;
    }

    int txsync(KRing& k, unsigned) noexcept override {
        Queue& q = queues_[k.ring_id];
        reclaim(q);
        const MemoryRegion& mem = memory();
        std::uint32_t i = k.nr_hwcur.load(std::memory_order_relaxed);
        const std::uint32_t head = k.rhead;
        constexpr std::uint32_t cap = umem_frame_size - XDP_PACKET_HEADROOM;
        Tally t;
        std::uint32_t tidx = 0;
        while (i != head && q.nfree) {
            const std::uint64_t addr = q.free[q.nfree - 1];
            std::uint32_t len;
            const std::uint32_t after =
                gather_frame(k, mem, i, head, static_cast<char*>(xsk_umem__get_data(q.area, addr)), cap, len);
            if (after == incomplete_frame) break;
            if (len > cap || len < 14 ||
                !fits_mtu(static_cast<const char*>(xsk_umem__get_data(q.area, addr)), len, mtu_, true)) [[unlikely]] {
                i = after;
                t.drops++;
                continue;
            }
            if (xsk_ring_prod__reserve(&q.tx, 1, &tidx) != 1) break; // the kernel's tx ring is full
            xdp_desc* d = xsk_ring_prod__tx_desc(&q.tx, tidx);
            d->addr = addr;
            d->len = len;
            d->options = 0;
            xsk_ring_prod__submit(&q.tx, 1);
            q.nfree--;
            i = after;
            t.frame(len);
        }
        int rc = 0;
        if ((t.packets && xsk_ring_prod__needs_wakeup(&q.tx)) || q.kick) {
            // In copy mode one sendto() transmits at most 32 descriptors
            // (TX_BATCH_SIZE): kick until the ring is empty, or the kernel
            // pushes back (its queue is full: the next txsync goes on).
            q.kick = false;
            for (std::uint32_t t = 0; t <= ring_size / 32 && xsk_prod_nb_free(&q.tx, ring_size) != ring_size; t++)
                if (sendto(q.fd(), nullptr, 0, MSG_DONTWAIT, nullptr, 0) < 0) {
                    q.kick = errno != ENETDOWN;
                    if (errno == ENXIO) rc = -ENXIO; // the socket lost its interface (deleted)
                    break;
                }
        }
        complete_tx(k, i, t);
        return rc;
    }

private:
    static void reclaim(Queue& q) noexcept {
        std::uint32_t idx = 0;
        const std::uint32_t c = xsk_ring_cons__peek(&q.comp, ring_size, &idx);
        for (std::uint32_t m = 0; m < c; m++) q.free[q.nfree++] = *xsk_ring_cons__comp_addr(&q.comp, idx + m);
        if (c) xsk_ring_cons__release(&q.comp, c);
    }

    // Whether the effective set lacks one of the capabilities AF_XDP needs.
    static bool lacks_xdp_caps() noexcept {
        __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
        __user_cap_data_struct d[2]{};
        if (syscall(SYS_capget, &h, d) < 0) return false;
        const std::uint64_t eff = d[0].effective | std::uint64_t(d[1].effective) << 32;
        for (int c : {CAP_NET_RAW, CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_IPC_LOCK})
            if (!(eff >> c & 1)) return true;
        return false;
    }

    // Removes an XDP program a failed open attached (either mode) from an
    // interface that had none before it.
    static void detach_left_program(int ifindex) noexcept {
        std::uint32_t id = 0;
        if (bpf_xdp_query_id(ifindex, 0, &id) < 0 || id == 0) return;
        for (std::uint32_t mode : {XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE}) (void)bpf_xdp_detach(ifindex, mode, nullptr);
    }

    Status open_queue(Queue& q, const Interface& ifc, std::uint32_t queue) {
        const std::size_t len = std::size_t(umem_frames) * umem_frame_size;
        q.area = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (q.area == MAP_FAILED) {
            q.area = nullptr;
            return make_error(errno, fmt::format("{}: cannot map a UMEM of {} bytes: {}", name(), len,
                                                 std::strerror(errno)));
        }
        xsk_umem_config ucfg{};
        ucfg.fill_size = ring_size;
        ucfg.comp_size = ring_size;
        ucfg.frame_size = umem_frame_size;
        ucfg.frame_headroom = 0;
        if (int rc = xsk_umem__create(&q.umem, q.area, len, &q.fill, &q.comp, &ucfg); rc < 0) {
            q.umem = nullptr;
            return make_error(-rc, fmt::format("{}: cannot register a UMEM: {}{}", name(), std::strerror(-rc),
                                               permission_hint(-rc, Privilege::xdp)));
        }
        xsk_socket_config cfg{};
        cfg.rx_size = ring_size;
        cfg.tx_size = ring_size;
        cfg.bind_flags = XDP_USE_NEED_WAKEUP;
        // libxdp attaches its program before it creates the socket; an
        // attempt that fails after that (a permission libxdp needs to read
        // the program's maps back) must not leave the program on an
        // interface that had none
        std::uint32_t prog_before = 0;
        const bool had_prog = bpf_xdp_query_id(ifc.ifindex, 0, &prog_before) < 0 || prog_before != 0;
        int rc = xsk_socket__create(&q.xsk, ifc.name.c_str(), queue, q.umem, &q.rx, &q.tx, &cfg);
        if (rc < 0) { // the driver may reject native mode: try generic XDP
            q.xsk = nullptr;
            if (!had_prog) detach_left_program(ifc.ifindex); // else the retry meets it (EEXIST)
            // The failed attempt bound the UMEM's socket to the queue before
            // the program was refused. Start from a new UMEM; the kernel
            // frees the old socket's hold on the queue a moment after it
            // closes (deferred work), so EBUSY is retried for a while.
            xsk_umem__delete(q.umem);
            q.umem = nullptr;
            if (int urc = xsk_umem__create(&q.umem, q.area, len, &q.fill, &q.comp, &ucfg); urc < 0) {
                q.umem = nullptr;
                return make_error(-urc, fmt::format("{}: cannot register a UMEM: {}{}", name(), std::strerror(-urc),
                                                    permission_hint(-urc, Privilege::xdp)));
            }
            cfg.xdp_flags = XDP_FLAGS_SKB_MODE;
            cfg.bind_flags |= XDP_COPY;
            for (int tries = 0;; tries++) {
                rc = xsk_socket__create(&q.xsk, ifc.name.c_str(), queue, q.umem, &q.rx, &q.tx, &cfg);
                if (rc != -EBUSY || tries == 100) break;
                q.xsk = nullptr;
                ::usleep(10'000);
            }
        }
        if (rc < 0) {
            q.xsk = nullptr;
            if (!had_prog) detach_left_program(ifc.ifindex);
            const int e = -rc;
            // without a capability AF_XDP needs, libxdp fails in several
            // ways (EPERM, ENOENT reading its maps back): say which
            std::string why = e == EPERM || e == EACCES || lacks_xdp_caps() ? permission_hint(EPERM, Privilege::xdp)
                              : e == EBUSY ? " (another XDP program or AF_XDP socket holds the queue; 'ip link show' "
                                             "shows an attached program, 'ip link set dev IF xdp off' removes it)"
                              : e == EOPNOTSUPP || e == EINVAL ? " (the kernel or driver has no AF_XDP for it)"
                                                               : "";
            return make_error(e, fmt::format("{}: cannot create an AF_XDP socket on queue {}: {}{}{}; "
                                             "use netif:{}@packet for AF_PACKET",
                                             name(), queue, std::strerror(e), why, QuietLibs::last(), ifc.name));
        }
        std::uint32_t fidx = 0;
        if (xsk_ring_prod__reserve(&q.fill, ring_size, &fidx) != ring_size)
            return make_error(EIO, fmt::format("{}: the fill ring of queue {} is not empty", name(), queue));
        for (std::uint32_t f = 0; f < ring_size; f++)
            *xsk_ring_prod__fill_addr(&q.fill, fidx + f) = std::uint64_t(f) * umem_frame_size;
        xsk_ring_prod__submit(&q.fill, ring_size);
        q.free.resize(umem_frames - ring_size);
        for (std::uint32_t f = ring_size; f < umem_frames; f++)
            q.free[q.nfree++] = std::uint64_t(f) * umem_frame_size;
        auto t = tx_poll_timer(name());
        if (!t) return std::move(t).error();
        q.timer = std::move(t.value());
        return {};
    }

    Fd promisc_;
};

} // namespace

Result<std::shared_ptr<Adapter>> open_xdp(const Interface& ifc, const PortName&, const PortOptions& opts) {
    // A received frame must fit a UMEM frame after the kernel's headroom;
    // a larger one would be dropped by the kernel without a trace here.
    constexpr std::uint32_t max_frame = umem_frame_size - XDP_PACKET_HEADROOM;
    if (ifc.mtu + 18 > max_frame)
        return make_error(EMSGSIZE, fmt::format("netif:{}@xdp: MTU {} is too large for AF_XDP frames of {} bytes "
                                                "(at most MTU {}); lower the MTU or use netif:{}@packet for AF_PACKET",
                                                ifc.name, ifc.mtu, max_frame, max_frame - 18, ifc.name));
    QuietLibs quiet;
    auto a = std::make_shared<XdpAdapter>(fmt::format("netif:{}@xdp", ifc.name));
    if (Status s = a->init(ifc, opts); !s) return std::move(s).error();
    return std::shared_ptr<Adapter>(std::move(a));
}

} // namespace upio::netif
