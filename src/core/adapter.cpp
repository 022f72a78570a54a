// Adapter base: ring creation and the default wake-up path.
#include <upio/backend/adapter.hpp>

#include <fmt/format.h>
#include <unistd.h>

#include <cstring>
#include <thread>

namespace upio {

Adapter::Adapter(std::string name) : name_(std::move(name)) {}

Adapter::~Adapter() { destroy_rings(); }

Status Adapter::register_port(bool) { return {}; }

void Adapter::notify(KRing& k) noexcept {
    // eventfd write: adds 1; the waiter drains it
    // announced before wake_fd is read: pairs with release_wake_fd (both
    // seq_cst), so either the Port sees us here or we see -1
    std::uint64_t one = 1;
    k.notifying.fetch_add(1, std::memory_order_seq_cst);
    int fd = k.wake_fd.load(std::memory_order_seq_cst);
    if (fd >= 0) [[maybe_unused]] auto r = ::write(fd, &one, sizeof one);
    k.notifying.fetch_sub(1, std::memory_order_release);
}

void release_wake_fd(KRing& k) noexcept {
    k.wake_fd.store(-1, std::memory_order_seq_cst);
    while (k.notifying.load(std::memory_order_seq_cst) != 0) std::this_thread::yield();
}

std::vector<int> Adapter::wait_fds(const KRing&) const { return {}; }
void Adapter::set_interrupts(KRing&, bool) noexcept {}
void Adapter::ack_wait_fd(int) noexcept {}
Status Adapter::set_vnet_hdr_len(std::uint32_t len) {
    if (len == 0) return {};
    return make_error(EOPNOTSUPP, name() + ": this port type carries no virtio-net header (only length 0)");
}

const char* Adapter::explain(const KRing&, int rc) const noexcept { return std::strerror(-rc); }

void wake_if_sleeping(KRing& k) noexcept {
    // Pairs with the fence in Port::arm: either the waiter sees the new
    // hwtail/hwcur on its re-check, or we see its sleeping flag here.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (k.sleeping.load(std::memory_order_relaxed) && k.sleeping.exchange(0, std::memory_order_relaxed)) {
        k.wakeups.fetch_add(1, std::memory_order_relaxed);
        k.adapter->notify(k);
    }
}

std::size_t ring_bytes(const RingConfig& cfg) {
    auto one = [](std::uint32_t slots) {
        return (sizeof(netmap_ring) + std::size_t(slots) * sizeof(netmap_slot) + 127) / 128 * 128;
    };
    return cfg.tx_rings * one(cfg.tx_slots) + cfg.rx_rings * one(cfg.rx_slots);
}

std::size_t nifp_bytes(std::uint32_t nrings) {
    return (sizeof(netmap_if) + nrings * sizeof(ssize_t) + 127) / 128 * 128;
}

Status Adapter::create_rings(std::shared_ptr<MemoryRegion> mem, const RingConfig& cfg) {
    mem_ = std::move(mem);
    for (auto [dir, n, slots] : {std::tuple{Direction::tx, cfg.tx_rings, cfg.tx_slots},
                                 std::tuple{Direction::rx, cfg.rx_rings, cfg.rx_slots}}) {
        if (slots < 2 || slots > 65536)
            return make_error(EINVAL, fmt::format("{}: {} slots per ring; use 2..65536", name_, slots));
        for (std::uint32_t i = 0; i < n; i++) {
            auto obj = mem_->alloc_object(sizeof(netmap_ring) + std::size_t(slots) * sizeof(netmap_slot));
            if (!obj) return std::move(obj).error();
            auto* ring = static_cast<netmap_ring*>(obj.value());
            // Slots too, not just the header: the space may have held a ring
            // before, and if filling this one fails, destroy_rings() frees
            // what its slots name. A stale index there would free a buffer
            // another ring or an extra-buffer list still holds.
            std::memset(ring, 0, sizeof(netmap_ring) + std::size_t(slots) * sizeof(netmap_slot));
            ring->buf_ofs = mem_->buf_ofs_from(ring);
            ring->num_slots = slots;
            ring->nr_buf_size = mem_->buf_size();
            ring->ringid = std::uint16_t(i);
            ring->dir = dir == Direction::tx ? NR_TX : NR_RX;
            auto k = std::make_unique<KRing>();
            k->ring = ring;
            k->adapter = this;
            k->num_slots = slots;
            k->ring_id = std::uint16_t(i);
            k->dir = dir;
            (dir == Direction::tx ? tx_ : rx_).push_back(std::move(k));
            if (Status s = mem_->add_ring(ring->slot, slots); !s) return s;
            // tx: every slot but one is the application's; rx: none yet.
            std::uint32_t tail = dir == Direction::tx ? slots - 1 : 0;
            ring->head = ring->cur = 0;
            ring->tail = tail;
            auto& kr = *(dir == Direction::tx ? tx_ : rx_).back();
            kr.rtail = tail;
            kr.nr_hwtail.store(tail, std::memory_order_relaxed);
        }
    }
    return {};
}

Status Adapter::adopt_rings(std::shared_ptr<MemoryRegion> mem, const std::vector<netmap_ring*>& tx,
                            const std::vector<netmap_ring*>& rx, std::uint32_t slots) {
    if (slots < 2 || slots > 65536)
        return make_error(EINVAL, fmt::format("{}: {} slots per ring; use 2..65536", name_, slots));
    mem_ = std::move(mem);
    owns_rings_ = false;
    for (auto [dir, rings] : {std::pair{Direction::tx, &tx}, std::pair{Direction::rx, &rx}}) {
        for (std::uint32_t i = 0; i < rings->size(); i++) {
            auto k = std::make_unique<KRing>();
            k->ring = (*rings)[i];
            k->adapter = this;
            k->num_slots = slots;
            k->ring_id = std::uint16_t(i);
            k->dir = dir;
            (dir == Direction::tx ? tx_ : rx_).push_back(std::move(k));
        }
    }
    return {};
}

void Adapter::destroy_rings() {
    if (!mem_) return;
    if (!owns_rings_) {
        tx_.clear();
        rx_.clear();
        return;
    }
    // The slots are the application's memory: what they name now is freed
    // only where no other ring or extra-buffer list of the region holds it.
    std::vector<std::uint32_t> bufs;
    for (auto* v : {&tx_, &rx_})
        for (auto& k : *v) {
            mem_->remove_ring(k->ring->slot);
            for (std::uint32_t s = 0; s < k->num_slots; s++) bufs.push_back(k->ring->slot[s].buf_idx);
        }
    (void)mem_->release_bufs(bufs);
    for (auto* v : {&tx_, &rx_}) {
        for (auto& k : *v) mem_->free_object(k->ring);
        v->clear();
    }
}

} // namespace upio
