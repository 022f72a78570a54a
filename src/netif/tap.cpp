// "tap:NAME": a tap device (IFF_TAP | IFF_NO_PI), so the kernel's own stack
// is one more port -- netmap's host rings, for any upio application.
//
// What the stack sends out of NAME arrives on the port's rx ring; what the
// application sends on the tx ring enters the stack as if received on NAME.
// The device exists while the port is open (or stays, when it was made
// persistent beforehand with 'ip tuntap add NAME mode tap'). Configure it
// like any interface: 'ip addr add ... dev NAME; ip link set NAME up'.
//
// PortOptions::rings > 1 opens that many queues (IFF_MULTI_QUEUE): the
// kernel spreads the flows it sends over them.
#include "netif/netif.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/uio.h>

#include <upio/chain.hpp>

#include <map>
#include <mutex>
#include <vector>

namespace upio::netif {
namespace {

// The longest frame a tap reads or writes: a GSO frame of 64 KiB and its
// virtio-net header.
constexpr std::uint32_t max_frame = 65536 + 64;
constexpr std::uint32_t kernel_hdr = 10; // the header the device always has (IFF_VNET_HDR)

class TapAdapter final : public Adapter {
public:
    explicit TapAdapter(std::string name) : Adapter(std::move(name)) {}
    ~TapAdapter() override { destroy_rings(); }

    Status init(const PortName& pn, const PortOptions& opts) {
        const std::uint32_t n = std::max<std::uint32_t>(1, opts.rings);
        for (std::uint32_t i = 0; i < n; i++) {
            Fd fd(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
            if (!fd) {
                const int e = errno;
                return make_error(e, fmt::format("{}: cannot open /dev/net/tun: {}{}", pn.full, std::strerror(e),
                                                 e == ENOENT ? " (the kernel needs CONFIG_TUN: 'modprobe tun')"
                                                             : permission_hint(e, Privilege::tun_node)));
            }
            ifreq ifr{};
            // Always with a virtio-net header: plain frames (length 0) read it
            // into a scratch word and write a zero one, with no offloads on.
            ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (n > 1 ? IFF_MULTI_QUEUE : 0);
            std::snprintf(ifr.ifr_name, IFNAMSIZ, "%s", pn.body.c_str());
            if (ioctl(fd.get(), TUNSETIFF, &ifr) < 0) {
                const int e = errno;
                std::string why = permission_hint(e, Privilege::tap);
                if (e == EBUSY) why = " (a tap of that name is open in another program, or it is not a tap)";
                if (e == EINVAL) why = " (an interface of that name exists and is not a tap of these flags)";
                return make_error(e, fmt::format("{}: cannot create tap device '{}': {}{}", pn.full, pn.body,
                                                 std::strerror(e), why));
            }
            fds_.push_back(std::move(fd));
        }
        if (Status st = configure_vnet(0); !st) return st;
        auto mem = make_region(name(), n, opts);
        if (!mem) return std::move(mem).error();
        scratch_.resize(max_frame);
        return create_rings(mem.value(), RingConfig{n, n, opts.tx_slots, opts.rx_slots});
    }

    // 10 or 12: the stack may hand over frames whose checksum is still to
    // be done and TCP/UDP segments of up to 64 KiB (TUNSETOFFLOAD), and takes
    // them back the same way. 0: neither.
    Status set_vnet_hdr_len(std::uint32_t len) override {
        if (len != 0 && len != 10 && len != 12)
            return make_error(EINVAL, fmt::format("{}: a virtio-net header is 0, 10 or 12 bytes, not {}", name(), len));
        if (Status st = configure_vnet(len); !st) return st;
        vnet_hdr_len_ = len;
        return {};
    }

    int rxsync(KRing& k, unsigned) noexcept override {
        if (vnet_hdr_len_) return rxsync_vnet(k);
        const int fd = fds_[k.ring_id].get();
        release_rx(k);
        const MemoryRegion& mem = memory();
        const std::uint32_t bufsz = mem.buf_size();
        netmap_slot* slot = k.ring->slot;
        std::uint32_t j = k.nr_hwtail.load(std::memory_order_relaxed);
        std::uint32_t space = k.distance(j, k.prev(k.rhead));
        Tally t;
        int rc = 0;
        while (space) {
            char* buf = rx_buf(mem, slot[j].buf_idx);
            // A bad slot: the frame is read into reserved buffer 0 (so it
            // leaves the queue) and dropped; the slot goes out empty.
            char hdr[kernel_hdr];
            iovec iov[2] = {{hdr, kernel_hdr}, {buf ? buf : mem.buf(0), bufsz}};
            ssize_t r = ::readv(fd, iov, 2);
            if (r < 0) { // EAGAIN: nothing more (or the device is down)
                if (errno == EBADFD) rc = -ENXIO; // the device was deleted: poll reports an error from now on
                break;
            }
            r -= kernel_hdr;
            if (!buf) [[unlikely]] {
                rx_empty(slot[j], t);
                j = k.next(j);
                space--;
                continue;
            }
            if (std::size_t(r) >= bufsz || r < 14) [[unlikely]] { // may be truncated (an MTU above the buffer size)
                t.drops++;
                continue;
            }
            slot[j].len = std::uint16_t(r);
            slot[j].flags = 0;
            j = k.next(j);
            space--;
            t.frame(std::uint64_t(r));
        }
        publish_rx(k, j, t);
        return rc;
    }

    int txsync(KRing& k, unsigned) noexcept override {
        const int fd = fds_[k.ring_id].get();
        const MemoryRegion& mem = memory();
        const netmap_slot* slot = k.ring->slot;
        const std::uint32_t hl = vnet_hdr_len_;
        std::uint32_t i = k.nr_hwcur.load(std::memory_order_relaxed);
        const std::uint32_t head = k.rhead;
        Tally t;
        int rc = 0;
        while (i != head) {
            const char* data;
            std::uint32_t len, after;
            const netmap_slot sl = slot[i]; // read once: see rx_buf()
            if (!(sl.flags & NS_MOREFRAG)) [[likely]] {
                data = mem.buf(sl.buf_idx);
                len = mem.valid_buf(sl.buf_idx) && sl.len <= mem.buf_size() ? sl.len : max_frame + 1; // else dropped
                after = k.next(i);
            } else {
                after = gather_frame(k, mem, i, head, scratch_.data(), max_frame, len);
                if (after == incomplete_frame) break;
                data = scratch_.data();
            }
            i = after;
            // A write fails when the device is down or the frame is malformed:
            // the frame is lost either way, as on a wire.
            static const char zero_hdr[kernel_hdr] = {};
            const iovec iov[2] = {{const_cast<char*>(zero_hdr), hl ? 0 : kernel_hdr}, {const_cast<char*>(data), len}};
            const ssize_t want = ssize_t(len + (hl ? 0 : kernel_hdr));
            if (len > max_frame || len < hl + 14 || ::writev(fd, iov, 2) != want) [[unlikely]] {
                if (len <= max_frame && errno == EBADFD) rc = -ENXIO; // the device was deleted
                t.drops++;
                continue;
            }
            t.frame(len);
        }
        complete_tx(k, i, t);
        return rc;
    }

    const char* explain(const KRing& k, int rc) const noexcept override {
        return rc == -ENXIO ? "the tap device was deleted; close the port (opening it again creates a new one)"
                            : Adapter::explain(k, rc);
    }

    std::vector<int> wait_fds(const KRing& k) const override {
        if (k.dir == Direction::tx) return {}; // writes complete at once
        return {fds_[k.ring_id].get()};
    }

private:
    Status configure_vnet(std::uint32_t len) {
        int sz = int(len ? len : kernel_hdr);
        const unsigned tso = len ? TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN : 0;
        unsigned uso = 0;
#if defined(TUN_F_USO4) && defined(TUN_F_USO6)
        if (len) uso = TUN_F_USO4 | TUN_F_USO6; // UDP segmentation, Linux 6.2 on
#endif
        for (const Fd& fd : fds_) {
            if (ioctl(fd.get(), TUNSETVNETHDRSZ, &sz) < 0)
                return make_error(errno, fmt::format("{}: TUNSETVNETHDRSZ {}: {}", name(), sz, std::strerror(errno)));
            if (ioctl(fd.get(), TUNSETOFFLOAD, tso | uso) < 0 && (!uso || ioctl(fd.get(), TUNSETOFFLOAD, tso) < 0))
                return make_error(errno, fmt::format("{}: TUNSETOFFLOAD: {}", name(), std::strerror(errno)));
        }
        return {};
    }

    // rxsync with virtio-net headers: a frame of up to 64 KiB and its header
    // are read whole into the scratch buffer, then split over slots.
    int rxsync_vnet(KRing& k) noexcept {
        const int fd = fds_[k.ring_id].get();
        release_rx(k);
        const MemoryRegion& mem = memory();
        const std::uint32_t bufsz = mem.buf_size();
        netmap_slot* slot = k.ring->slot;
        std::uint32_t j = k.nr_hwtail.load(std::memory_order_relaxed);
        std::uint32_t space = k.distance(j, k.prev(k.rhead));
        Tally t;
        int rc = 0;
        // Room for the longest frame first: a frame read must be written.
        while (space >= chain_slots(max_frame, bufsz) || (space && k.num_slots - 1 < chain_slots(max_frame, bufsz))) {
            const ssize_t r = ::read(fd, scratch_.data(), max_frame);
            if (r < 0) {
                if (errno == EBADFD) rc = -ENXIO;
                break;
            }
            const std::uint32_t len = std::uint32_t(r), need = chain_slots(len, bufsz);
            if (len >= max_frame || len < vnet_hdr_len_ + 14 || need > space) [[unlikely]] {
                t.drops++;
                continue;
            }
            bool bad = false;
            for (std::uint32_t x = 0, y = j; x < need; x++, y = k.next(y)) bad |= !mem.valid_buf(slot[y].buf_idx);
            if (bad) [[unlikely]] {
                rx_empty(slot[j], t);
                j = k.next(j);
                space--;
                continue;
            }
            const FrameFragment whole{scratch_.data(), len};
            j = split_frame(slot, k.num_slots, j, bufsz, len, [&]() noexcept { return whole; },
                            [&mem](const netmap_slot& sl) noexcept { return mem.buf(sl.buf_idx); });
            space -= need;
            t.frame(len);
        }
        publish_rx(k, j, t);
        return rc;
    }

    std::vector<Fd> fds_;
    std::vector<char> scratch_; // chained frames are gathered here
};

std::mutex mu;
std::map<std::string, std::weak_ptr<Adapter>> open_taps;

} // namespace

const PortType& tap_port_type() {
    static const PortType t = [] {
        PortType d;
        d.name = "tap";
        d.syntax = "tap:IFNAME";
        d.summary = "a tap device created on open: the kernel's stack as a port";
        d.shorthands = shorthand_dir; // an interface name may end in "-1": no "-N"
        d.parse = [](std::string_view, std::string_view body) { return parse_ifname(body, "/"); };
        d.open = &open_tap;
        return d;
    }();
    return t;
}

Result<std::shared_ptr<Adapter>> open_tap(const PortName& pn, const PortOptions& opts) {
    std::lock_guard lk(mu);
    if (auto it = open_taps.find(pn.body); it != open_taps.end())
        if (auto a = it->second.lock()) return a;
    auto a = std::make_shared<TapAdapter>(fmt::format("tap:{}", pn.body));
    if (Status s = a->init(pn, opts); !s) return std::move(s).error();
    open_taps[pn.body] = a;
    return std::shared_ptr<Adapter>(std::move(a));
}

} // namespace upio::netif
