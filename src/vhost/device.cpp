// Handling vhost-user messages (QEMU docs/interop/vhost-user.rst), one at a
// time, on the control thread.
#include "vhost/device.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

namespace upio::vhost {

void Message::close_fds() noexcept {
    for (std::uint32_t i = 0; i < nfds && i < max_fds; i++)
        if (fds[i] >= 0) ::close(fds[i]);
    nfds = 0;
}

const char* request_name(std::uint32_t req) noexcept {
    switch (Req(req)) {
    case Req::get_features: return "GET_FEATURES";
    case Req::set_features: return "SET_FEATURES";
    case Req::set_owner: return "SET_OWNER";
    case Req::reset_owner: return "RESET_OWNER";
    case Req::set_mem_table: return "SET_MEM_TABLE";
    case Req::set_log_base: return "SET_LOG_BASE";
    case Req::set_log_fd: return "SET_LOG_FD";
    case Req::set_vring_num: return "SET_VRING_NUM";
    case Req::set_vring_addr: return "SET_VRING_ADDR";
    case Req::set_vring_base: return "SET_VRING_BASE";
    case Req::get_vring_base: return "GET_VRING_BASE";
    case Req::set_vring_kick: return "SET_VRING_KICK";
    case Req::set_vring_call: return "SET_VRING_CALL";
    case Req::set_vring_err: return "SET_VRING_ERR";
    case Req::get_protocol_features: return "GET_PROTOCOL_FEATURES";
    case Req::set_protocol_features: return "SET_PROTOCOL_FEATURES";
    case Req::get_queue_num: return "GET_QUEUE_NUM";
    case Req::set_vring_enable: return "SET_VRING_ENABLE";
    case Req::send_rarp: return "SEND_RARP";
    case Req::net_set_mtu: return "NET_SET_MTU";
    }
    return "an unknown request";
}

namespace {

template <class T>
T payload_as(const Message& m) {
    T v;
    std::memcpy(&v, m.payload, sizeof v);
    return v;
}

std::uint64_t u64_of(const Message& m) { return payload_as<std::uint64_t>(m); }

} // namespace

Status check_message(const Message& m) {
    const MsgHeader& h = m.hdr;
    const char* name = request_name(h.request);
    if ((h.flags & msg_version_mask) != msg_version)
        return make_error(EPROTO, fmt::format("{}: version {} (this back end speaks version 1)", name,
                                              h.flags & msg_version_mask));
    if (h.flags & msg_reply) return make_error(EPROTO, fmt::format("{}: a reply sent to the back end", name));
    if (h.size > max_payload) return make_error(EPROTO, fmt::format("{}: payload of {} bytes", name, h.size));
    if (m.nfds > max_fds) return make_error(EPROTO, fmt::format("{}: {} file descriptors", name, m.nfds));
    std::uint32_t size = 0, fds = 0;
    switch (Req(h.request)) {
    case Req::get_features:
    case Req::set_owner:
    case Req::reset_owner:
    case Req::get_protocol_features:
    case Req::get_queue_num: break;
    case Req::set_features:
    case Req::set_protocol_features: size = 8; break;
    case Req::set_vring_num:
    case Req::set_vring_base:
    case Req::get_vring_base:
    case Req::set_vring_enable: size = sizeof(VringState); break;
    case Req::set_vring_addr: size = sizeof(VringAddr); break;
    case Req::set_vring_kick:
    case Req::set_vring_call:
    case Req::set_vring_err:
        size = 8;
        if (h.size == 8) fds = (u64_of(m) & vring_nofd) ? 0 : 1;
        break;
    case Req::set_mem_table: {
        if (h.size < 8) return make_error(EPROTO, fmt::format("{}: payload of {} bytes", name, h.size));
        const std::uint32_t n = payload_as<std::uint32_t>(m);
        if (n == 0 || n > max_mem_regions)
            return make_error(EPROTO, fmt::format("{}: {} regions (1..{})", name, n, max_mem_regions));
        size = 8 + n * std::uint32_t(sizeof(MemRegionMsg));
        fds = n;
        break;
    }
    default:
        return make_error(ENOTSUP, fmt::format("{} (request {}): not supported by this back end (nor offered in "
                                               "its features)",
                                               name, h.request));
    }
    if (h.size != size)
        return make_error(EPROTO, fmt::format("{}: payload of {} bytes (needs {})", name, h.size, size));
    if (m.nfds != fds)
        return make_error(EPROTO, fmt::format("{}: {} file descriptors (needs {})", name, m.nfds, fds));
    return {};
}

Device::Device(DeviceConfig cfg) : cfg_(cfg) {
    if (cfg_.queue_pairs == 0) cfg_.queue_pairs = 1;
    offered_ = bit(VIRTIO_F_VERSION_1) | bit(VHOST_USER_F_PROTOCOL_FEATURES) | bit(VIRTIO_NET_F_MRG_RXBUF) |
               bit(VIRTIO_RING_F_EVENT_IDX) | bit(VIRTIO_RING_F_INDIRECT_DESC) | bit(VIRTIO_F_ANY_LAYOUT);
    if (cfg_.queue_pairs > 1) offered_ |= bit(VIRTIO_NET_F_MQ);
    for (std::uint32_t i = 0; i < 2 * cfg_.queue_pairs; i++) vq_.push_back(std::make_unique<Vring>());
}

void Device::lock_all() noexcept {
    for (auto& q : vq_) q->mu.lock();
}
void Device::unlock_all() noexcept {
    for (auto& q : vq_) q->mu.unlock();
}

bool Device::pair_ready(std::uint32_t p) noexcept {
    if (2 * p + 1 >= vq_.size()) return false;
    bool up = true;
    for (std::uint32_t i = 2 * p; i < 2 * p + 2; i++) {
        std::lock_guard lk(vq_[i]->mu);
        up = up && vq_[i]->ready();
    }
    return up;
}

void Device::reset() noexcept {
    lock_all();
    for (auto& q : vq_) q->reset();
    mem_.clear();
    features_ = protocol_ = 0;
    features_set_ = false;
    hdr_len_ = 10;
    unlock_all();
    changed_all();
}

Result<Vring*> Device::queue(std::uint32_t index) {
    if (index >= vq_.size())
        return make_error(EINVAL, fmt::format("queue {} does not exist (the device has {}: {} queue pairs)", index,
                                              vq_.size(), cfg_.queue_pairs));
    return vq_[index].get();
}

Status Device::set_features(std::uint64_t f) {
    if (f & ~offered_)
        return make_error(EINVAL, fmt::format("features {:#x} were not offered (offered {:#x})", f & ~offered_, offered_));
    lock_all();
    features_ = f;
    features_set_ = true;
    hdr_len_ = (f & (bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_NET_F_MRG_RXBUF))) ? 12 : 10;
    for (auto& q : vq_) {
        q->event_idx = f & bit(VIRTIO_RING_F_EVENT_IDX);
        q->indirect = f & bit(VIRTIO_RING_F_INDIRECT_DESC);
    }
    unlock_all();
    return {};
}

Status Device::set_mem_table(Message& m) {
    MemTableMsg t;
    std::memcpy(&t, m.payload, m.hdr.size);
    lock_all();
    Status s = mem_.set({t.regions, t.nregions}, {m.fds, m.nfds});
    m.nfds = 0; // consumed
    // A table may change while rings run (memory hot-plug): their
    // translations are redone; one that no longer fits stops.
    for (auto& q : vq_)
        if (q->set_up) (void)q->translate(mem_);
    unlock_all();
    changed_all();
    return s;
}

Result<Reply> Device::handle(Message& m) {
    Reply r;
    if (Status s = check_message(m); !s) {
        m.close_fds();
        return std::move(s).error();
    }
    auto res = dispatch(m, r);
    m.close_fds(); // whatever was not kept
    const bool ack = (m.hdr.flags & msg_need_reply) && (protocol_ & bit(VHOST_USER_PROTOCOL_F_REPLY_ACK));
    if (!res) {
        if (!ack) return res;
        r.send = true; // REPLY_ACK: the front end hears of the failure, the connection stays
        r.hdr.size = 8;
        const std::uint64_t fail = 1;
        std::memcpy(r.payload, &fail, 8);
    } else if (ack && !r.send) {
        r.send = true;
        r.hdr.size = 8;
        std::memset(r.payload, 0, 8);
    }
    r.hdr.request = m.hdr.request;
    r.hdr.flags = msg_version | msg_reply;
    return r;
}

Result<Reply> Device::dispatch(Message& m, Reply& r) {
    auto reply_u64 = [&](std::uint64_t v) {
        r.send = true;
        r.hdr.size = 8;
        std::memcpy(r.payload, &v, 8);
        return r;
    };
    switch (Req(m.hdr.request)) {
    case Req::get_features: return reply_u64(offered_);
    case Req::set_features:
        if (Status s = set_features(u64_of(m)); !s) return std::move(s).error();
        changed_all();
        return r;
    case Req::set_owner: return r;
    case Req::reset_owner: reset(); return r;
    case Req::get_protocol_features: return reply_u64(offered_protocol);
    case Req::set_protocol_features: {
        const std::uint64_t p = u64_of(m);
        if (p & ~offered_protocol)
            return make_error(EINVAL, fmt::format("protocol features {:#x} were not offered", p & ~offered_protocol));
        protocol_ = p;
        return r;
    }
    case Req::get_queue_num: return reply_u64(cfg_.queue_pairs);
    case Req::set_mem_table:
        if (Status s = set_mem_table(m); !s) return std::move(s).error();
        return r;
    default: break;
    }

    // Per-queue requests: the index is the payload's first u32 (or the low
    // byte of the u64 of KICK/CALL/ERR).
    const bool file = Req(m.hdr.request) == Req::set_vring_kick || Req(m.hdr.request) == Req::set_vring_call ||
                      Req(m.hdr.request) == Req::set_vring_err;
    const std::uint32_t index =
        file ? std::uint32_t(u64_of(m) & vring_index_mask) : payload_as<VringState>(m).index;
    if (file && (u64_of(m) & ~(vring_index_mask | vring_nofd)))
        return make_error(EINVAL, fmt::format("{}: unknown bits in {:#x}", request_name(m.hdr.request), u64_of(m)));
    auto q = queue(index);
    if (!q) return std::move(q).error();
    Vring& v = *q.value();
    Status st;
    {
        std::lock_guard lk(v.mu);
        const VringState state = payload_as<VringState>(m);
        switch (Req(m.hdr.request)) {
        case Req::set_vring_num:
            if (v.set_up) {
                st = make_error(EBUSY, fmt::format("SET_VRING_NUM: queue {} is running", index));
            } else if (state.num == 0 || state.num > max_queue_size || (state.num & (state.num - 1))) {
                st = make_error(EINVAL, fmt::format("SET_VRING_NUM: queue size {} (a power of two up to {})",
                                                    state.num, max_queue_size));
            } else {
                v.num = state.num;
            }
            break;
        case Req::set_vring_addr: {
            const VringAddr a = payload_as<VringAddr>(m);
            if (a.flags != 0) { // VHOST_VRING_F_LOG: logging was not offered
                st = make_error(EINVAL, fmt::format("SET_VRING_ADDR: flags {:#x} (dirty logging is not offered)",
                                                    a.flags));
                break;
            }
            v.addr = a;
            v.addr_set = true;
            if (v.set_up) st = v.translate(mem_);
            break;
        }
        case Req::set_vring_base:
            if (v.set_up)
                st = make_error(EBUSY, fmt::format("SET_VRING_BASE: queue {} is running", index));
            else if (state.num > 0xffff)
                st = make_error(EINVAL, fmt::format("SET_VRING_BASE: {} is not a 16-bit index", state.num));
            else
                v.base = std::uint16_t(state.num);
            break;
        case Req::get_vring_base: {
            // Stops the ring; the next start resumes from this index.
            const std::uint16_t at = v.set_up ? v.last_avail : v.base;
            v.stop();
            v.base = at;
            r.send = true;
            r.hdr.size = sizeof(VringState);
            const VringState out{index, at};
            std::memcpy(r.payload, &out, sizeof out);
            break;
        }
        case Req::set_vring_kick: {
            const int fd = (u64_of(m) & vring_nofd) ? -1 : m.fds[0];
            m.nfds = 0;
            v.set_kick(fd);
            // The ring is set up here and starts at the front end's first
            // kick (the data path looks for it); it may be written already
            // (QEMU hands over a kick fd it has signalled). A new kick fd
            // for a ring that is set up replaces the old one and nothing
            // else.
            const bool fresh = !v.set_up;
            if (fresh) {
                v.last_avail = v.last_used = v.base;
                v.started = false;
            }
            v.set_up = true;
            if (!(features_ & bit(VHOST_USER_F_PROTOCOL_FEATURES))) v.enabled = true;
            st = v.translate(mem_);
            if (st && fresh) {
                // A front end that kept its rings while no back end served
                // them (DPDK's virtio-user reconnecting) says base 0 all the
                // same. The used ring says where the last back end stopped,
                // having given back every entry it took (in order, as this
                // one does): resume there, or the driver's old buffers would
                // be used again. A lie here is only a position: pending()
                // checks it like any other.
                const std::uint16_t at = std::atomic_ref(v.used->idx).load(std::memory_order_acquire);
                if (at != v.base) v.last_avail = v.last_used = at;
            }
            if (fd < 0)
                v.started = true; // no kick fd: the ring is polled from now on
            else if (st && !v.started)
                v.want_kicks(true); // its first kick, even if a previous back end said otherwise
            break;
        }
        case Req::set_vring_call:
            v.set_call((u64_of(m) & vring_nofd) ? -1 : m.fds[0]);
            m.nfds = 0;
            break;
        case Req::set_vring_err:
            v.set_err((u64_of(m) & vring_nofd) ? -1 : m.fds[0]);
            m.nfds = 0;
            break;
        case Req::set_vring_enable:
            if (state.num > 1)
                st = make_error(EINVAL, fmt::format("SET_VRING_ENABLE: {} (0 or 1)", state.num));
            else
                v.enabled = state.num == 1;
            break;
        default: st = make_error(ENOTSUP, "unreachable"); break;
        }
    }
    changed(index);
    if (!st) return std::move(st).error();
    return r;
}

} // namespace upio::vhost
