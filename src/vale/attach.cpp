// Attaching any port to a switch (netmap's `vale-ctl -a`).
//
// netmap joins a NIC to VALE with a "bwrap" adapter that runs the switch
// from the NIC's interrupt. upio has no interrupt context, so the joining is
// an object whose poll() the owner calls: ingress forwards the attached
// port's received slots through the switch port's forwarding passes (the
// switch reads the attached port's buffers directly: one copy), egress
// copies what the switch delivered to the switch port into the attached
// port's tx ring. Works for every port type, since it only uses Port.
#include "vale/copy.hpp"
#include "vale/switch.hpp"

#include <upio/chain.hpp>
#include <upio/netmap_user.h>

#include <fmt/format.h>

#include <algorithm>

namespace upio::vale {

using namespace detail;

Result<std::unique_ptr<Attachment>> Attachment::attach(std::string_view vale_port, std::string_view port,
                                                       const PortOptions& opts) {
    auto other = Port::open(port, opts);
    if (!other) return std::move(other).error();
    if (dynamic_cast<VPort*>(&other.value()->adapter()))
        return make_error(EINVAL, fmt::format("{}: is a VALE port; connect two switches by attaching a pipe end "
                                              "to each",
                                              port));
    auto v = Port::open(vale_port, opts);
    if (!v) return std::move(v).error();
    auto* vp = dynamic_cast<VPort*>(&v.value()->adapter());
    if (!vp) return make_error(EINVAL, fmt::format("{}: not a VALE port (valeX:Y)", vale_port));
    if (v.value()->first_ring(Direction::tx) != 0 ||
        v.value()->last_ring(Direction::tx) != vp->num_rings(Direction::tx))
        return make_error(EINVAL, fmt::format("{}: attach the whole switch port, without a ring selection", vale_port));
    // A port that carries virtio-net headers (netif:IF@packet, tap:) gets
    // them, and its switch port the same length: the hosts behind it keep
    // their checksum and segmentation offloads, and the switch completes
    // them toward ports without headers (offload.hpp).
    Port& o = *other.value();
    if (o.vnet_hdr_len() == 0) (void)o.set_vnet_hdr_len(offload::hdr_len_plain); // else: plain frames
    if (Status s = v.value()->set_vnet_hdr_len(o.vnet_hdr_len()); !s) return std::move(s).error();
    set_attached(*vp, std::string(port));
    std::unique_ptr<Attachment> a(new Attachment());
    a->vale_ = std::move(v.value());
    a->other_ = std::move(other.value());
    return a;
}

Attachment::~Attachment() {
    if (vale_) set_attached(static_cast<VPort&>(vale_->adapter()), {});
}

bool Attachment::egress_pending() noexcept {
    bool pending = false;
    for (std::uint32_t r = vale_->first_ring(Direction::rx); r < vale_->last_ring(Direction::rx); r++)
        pending |= vale_->rx_ring(r)->head != vale_->rx_ring(r)->tail;
    for (std::uint32_t r = other_->first_ring(Direction::tx); r < other_->last_ring(Direction::tx); r++)
        pending |= nm_tx_pending(other_->tx_ring(r)) != 0;
    return pending;
}

int Attachment::poll() noexcept {
    auto& vp = static_cast<VPort&>(vale_->adapter());
    Adapter& oa = other_->adapter();
    const MemoryRegion& om = oa.memory();
    int moved = 0;

    // Ingress: the attached port's rx rings into the switch.
    if (int rc = other_->rxsync(); rc < 0) return rc;
    bool released = false;
    for (std::uint32_t r = other_->first_ring(Direction::rx); r < other_->last_ring(Direction::rx); r++) {
        KRing& k = oa.kring(Direction::rx, r);
        netmap_ring* ring = k.ring;
        const std::uint32_t head = ring->head, tail = ring->tail;
        if (head == tail) continue;
        const std::uint32_t tx = r % vp.num_rings(Direction::tx);
        const std::uint32_t e = vp.forward(tx, k, om, head, tail, &vp.kring(Direction::tx, tx).stats);
        moved += int(k.distance(head, e));
        ring->head = ring->cur = e;
        released |= e != head;
    }
    if (released)
        if (int rc = other_->rxsync(); rc < 0) return rc;

    // Egress: what the switch delivered to the switch port, into the
    // attached port's tx rings, whole frames only.
    if (int rc = vale_->rxsync(); rc < 0) return rc;
    const std::uint32_t ntx = other_->last_ring(Direction::tx) - other_->first_ring(Direction::tx);
    if (ntx == 0) return moved;
    const MemoryRegion& vm = vp.memory();
    const std::uint32_t obs = om.buf_size();
    bool sent = false, waiting = false;
    for (std::uint32_t r = vale_->first_ring(Direction::rx); r < vale_->last_ring(Direction::rx); r++) {
        netmap_ring* in = vale_->rx_ring(r);
        const std::uint32_t otx = other_->first_ring(Direction::tx) + r % ntx;
        netmap_ring* out = other_->tx_ring(otx);
        const KRing& kin = vp.kring(Direction::rx, r);
        const KRing& kout = oa.kring(Direction::tx, otx);
        std::uint32_t i = in->head;
        const std::uint32_t tail = in->tail;
        while (i != tail) {
            // The frame's slots in `in` and its length.
            std::uint32_t j = i, len = 0;
            bool complete = false;
            while (j != tail) {
                const netmap_slot& s = in->slot[j];
                len += s.len;
                j = kin.next(j);
                if (!(s.flags & NS_MOREFRAG)) {
                    complete = true;
                    break;
                }
            }
            if (!complete) break;
            const std::uint32_t need = chain_slots(len, obs); // slots in `out`
            if (need > kout.num_slots - 1) [[unlikely]] {
                // More slots than the attached port's tx ring has (its buffers
                // are smaller than the switch port's): waiting would block
                // every later frame for good. Dropped and counted there.
                RingCounters::add(oa.kring(Direction::tx, otx).stats.drops, 1);
                i = j;
                continue;
            }
            if (nm_ring_space(out) < need) break; // the rest waits for the next poll
            const std::uint32_t o = out->cur;
            // The attached port's tx slots carry buffers its own syncs handed
            // back (a pipe's peer gives its rx buffers back this way): check
            // them as netmap's NMB() does, so a peer that wrote slots it did
            // not own costs a drop, never a write outside the region.
            bool bad = false;
            for (std::uint32_t x = 0, y = o; x < need; x++, y = kout.next(y))
                bad |= !om.valid_buf(out->slot[y].buf_idx);
            if (bad) [[unlikely]] {
                RingCounters::add(oa.kring(Direction::tx, otx).stats.drops, 1);
                i = j;
                continue;
            }
            auto next_fragment = [&, x = i]() mutable noexcept {
                const netmap_slot& s = in->slot[x];
                x = kin.next(x);
                return FrameFragment{vm.buf(s.buf_idx), s.len};
            };
            auto out_buf = [&om](const netmap_slot& d) noexcept { return om.buf(d.buf_idx); };
            out->head = out->cur = split_frame(out->slot, kout.num_slots, o, obs, len, next_fragment, out_buf, copy_frame);
            moved += int(need);
            sent = true;
            i = j;
        }
        in->head = in->cur = i;
        waiting |= i != tail || nm_tx_pending(out);
    }
    // Frames in the attached port's tx ring that its last txsync could not
    // send (a memif peer that offered no room yet, a link that went down and
    // came back) go only when it is synced again: every poll while any wait.
    if (sent || waiting)
        if (int rc = other_->txsync(); rc < 0) return rc;
    if (int rc = vale_->rxsync(); rc < 0) return rc;
    return moved;
}

} // namespace upio::vale
