// Virtio-net headers on VALE ports (see offload.hpp): the length a port's
// frames start with, and the copy toward a port whose length differs.
#include "vale/switch.hpp"

#include <fmt/format.h>

#include <mutex>

namespace upio::vale::detail {

Status VPort::set_vnet_hdr_len(std::uint32_t len) {
    if (!offload::valid_hdr_len(len))
        return make_error(EINVAL, fmt::format("{}: a virtio-net header is 0, 10 or 12 bytes, not {}", name(), len));
    std::unique_lock wl(sw_->mu); // no forwarding pass sees the change half made
    vnet_hdr_len_ = len;
    return {};
}

namespace {

// A frame from a port without a header: passes as it is, a header added.
offload::Plan plain(const TxScratch::Frame& f) noexcept {
    offload::Plan p;
    p.len = f.len;
    return p;
}

} // namespace

std::uint32_t VPort::convert_slots(const TxScratch::Frame& f, std::uint32_t dhl, std::uint32_t dbs) const noexcept {
    return offload::slots(vnet_hdr_len_ ? f.plan : plain(f), dhl, dbs);
}

std::uint32_t VPort::convert(const TxScratch& t, const TxScratch::Frame& f, VPort& dp, KRing& rk,
                             std::uint32_t j) const noexcept {
    const MemoryRegion& dm = dp.memory();
    const offload::Dest d{rk.ring->slot, rk.num_slots, dm.buf_size(),
                          [](const void* ctx, const netmap_slot& s) noexcept {
                              auto* m = static_cast<const MemoryRegion*>(ctx);
                              std::uint32_t idx = s.buf_idx;
                              if (!m->valid_buf(idx)) [[unlikely]] idx = 0; // the receiver broke its own slot
                              return m->buf(idx);
                          },
                          &dm};
    return offload::emit(vnet_hdr_len_ ? f.plan : plain(f), &t.frags[f.frag], f.nfrags, dp.vnet_hdr_len(), d, j);
}

} // namespace upio::vale::detail
