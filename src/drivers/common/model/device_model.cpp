// The device-interface side every software NIC model shares (see device_model.hpp).
#include "drivers/common/model/device_model.hpp"

#include <fmt/format.h>
#include <upio/log.hpp>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace upio::drivers::model {

void DeviceModel::shutdown() noexcept {
    stop_timer();
    close_inlet();
    disable_interrupts();
}

bool DeviceModel::station_address(const std::uint8_t* dst, std::uint32_t ral0, std::uint32_t rah0,
                                  unsigned n) const noexcept {
    for (unsigned i = 0; i < n; i++) {
        const std::uint32_t lo = rget(ral0 + 8 * i), hi = rget(rah0 + 8 * i);
        if (!(hi & (1u << 31))) continue;
        const std::uint8_t a[6] = {std::uint8_t(lo),       std::uint8_t(lo >> 8), std::uint8_t(lo >> 16),
                                   std::uint8_t(lo >> 24), std::uint8_t(hi),      std::uint8_t(hi >> 8)};
        if (std::memcmp(dst, a, 6) == 0) return true;
    }
    return false;
}

bool DeviceModel::multicast_table_hit(const std::uint8_t* dst, std::uint32_t mta0) const noexcept {
    const std::uint32_t h = ((dst[4] >> 4) | (std::uint32_t(dst[5]) << 4)) & 0xfff;
    return rget(mta0 + 4 * (h >> 5)) & (1u << (h & 31));
}

std::uint32_t crc32(const std::uint8_t* p, std::size_t n) noexcept {
    std::uint32_t c = 0xffffffffu;
    for (std::size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
    }
    return ~c;
}

DeviceModel::DeviceModel(const Identity& id)
    : regs_(id.bar0_size / 4), writes_(id.bar0_size / 4), family_(id.family), address_(id.address), device_id_(id.device_id),
      numa_node_(id.numa_node), manual_clock_(id.manual_clock), next_iova_(id.iova_base), clock_ns_(id.clock_start) {
    std::uint16_t vid = 0x8086, did = id.device_id;
    std::memcpy(&config_[0], &vid, 2);
    std::memcpy(&config_[2], &did, 2);
    config_[0x0b] = 0x02; // class: network controller, Ethernet
    req_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

DeviceModel::~DeviceModel() {
    stop_timer();
    close_inlet();
    for (int fd : irq_fds_) ::close(fd);
    if (req_fd_ >= 0) ::close(req_fd_);
}

void DeviceModel::request_release() noexcept {
    std::uint64_t one = 1;
    [[maybe_unused]] auto r = ::write(req_fd_, &one, sizeof one);
}

void DeviceModel::hang_tx(unsigned q) {
    std::lock_guard lk(mu_);
    if (q < tx_hung_.size()) tx_hung_.set(q);
}

bool DeviceModel::tx_hung(unsigned q) const {
    std::lock_guard lk(mu_);
    return q < tx_hung_.size() && tx_hung_[q];
}

void DeviceModel::stop_timer() noexcept {
    {
        std::lock_guard lk(mu_);
        stop_ = true;
    }
    timer_cv_.notify_all();
    if (timer_.joinable()) timer_.join();
}

// -- faults and DMA

// A handler is called once mu_ is released (report_faults): it may call back
// into the model. Without one the fault is fatal here, at the access.
void DeviceModel::fault(const std::string& what) noexcept {
    faults_++;
    last_fault_ = describe() + ": " + what;
    if (on_fault_) return pending_faults_.push_back(last_fault_);
    log(LogLevel::error, fmt::format("{} model fault: {}", family_, last_fault_));
    std::abort();
}

void DeviceModel::report_faults(std::unique_lock<std::mutex>& lk) noexcept {
    if (pending_faults_.empty()) return;
    std::vector<std::string> faults;
    faults.swap(pending_faults_);
    const FaultHandler h = on_fault_;
    lk.unlock();
    for (const std::string& f : faults) h(f);
    lk.lock();
}

bool DeviceModel::bad_read(std::uint32_t off) noexcept {
    if (off < regs_.size() * 4 && off % 4 == 0) return false;
    fault(fmt::format("read of BAR0 offset {:#x}", off));
    return true;
}

bool DeviceModel::bad_write(std::uint32_t off, std::uint32_t v) noexcept {
    if (off < regs_.size() * 4 && off % 4 == 0) {
        writes_[off >> 2]++;
        return false;
    }
    fault(fmt::format("write of {:#x} to BAR0 offset {:#x}", v, off));
    return true;
}

std::uint8_t* DeviceModel::dma(std::uint64_t iova, std::size_t len, const char* what) noexcept {
    if (!bus_master_) {
        fault(fmt::format("DMA ({}) at IOVA {:#x} while bus mastering is off", what, iova));
        return nullptr;
    }
    for (const Mapping& m : maps_)
        if (iova >= m.iova && iova - m.iova <= m.len && len <= m.len - (iova - m.iova))
            return reinterpret_cast<std::uint8_t*>(m.va + (iova - m.iova));
    fault(fmt::format("DMA ({}) of {} bytes at IOVA {:#x} outside every mapped range", what, len, iova));
    return nullptr;
}

Status DeviceModel::dma_map(MemoryRegion& region) {
    std::lock_guard lk(mu_);
    for (const Mapping& m : maps_)
        if (m.region == &region)
            return make_error(EEXIST, fmt::format("{}: region {} mapped twice", describe(), region.name()));
    const std::size_t len = region.size();
    const std::uint64_t iova = next_iova_;
    next_iova_ += (len + (4u << 20)) & ~std::uint64_t((2u << 20) - 1); // a gap between mappings
    std::vector<std::uint64_t> pages((len + 4095) / 4096);
    for (std::size_t i = 0; i < pages.size(); i++) pages[i] = iova + i * 4096;
    region.set_iova_map(12, std::move(pages));
    // as VFIO maps it: the rings and netmap_ifs before device_offset() are
    // out of the device's reach (a DMA there faults)
    const std::size_t skip = region.device_offset();
    maps_.push_back({iova + skip, region.base() + skip, len - skip, &region});
    return {};
}

Status DeviceModel::dma_unmap(MemoryRegion& region) {
    std::lock_guard lk(mu_);
    for (auto it = maps_.begin(); it != maps_.end(); ++it)
        if (it->region == &region) {
            maps_.erase(it);
            region.clear_iova_map();
            return {};
        }
    return make_error(ENOENT, fmt::format("{}: region {} is not mapped", describe(), region.name()));
}

// -- PCI

Result<std::uint32_t> DeviceModel::config_read(std::uint32_t off, unsigned width) {
    std::lock_guard lk(mu_);
    if (off + width > config_.size() || (width != 1 && width != 2 && width != 4))
        return make_error(EINVAL, fmt::format("{}: config read of {} bytes at {:#x}", describe(), width, off));
    std::uint32_t v = 0;
    std::memcpy(&v, &config_[off], width);
    return v;
}

Status DeviceModel::config_write(std::uint32_t off, unsigned width, std::uint32_t v) {
    std::lock_guard lk(mu_);
    if (off + width > config_.size() || (width != 1 && width != 2 && width != 4))
        return make_error(EINVAL, fmt::format("{}: config write of {} bytes at {:#x}", describe(), width, off));
    std::memcpy(&config_[off], &v, width);
    bus_master_ = config_[4] & 0x4;
    return {};
}

Status DeviceModel::set_bus_master(bool on) {
    std::lock_guard lk(mu_);
    bus_master_ = on;
    config_[4] = std::uint8_t(on ? config_[4] | 0x4 : config_[4] & ~0x4);
    return {};
}

Status DeviceModel::reset() {
    ChipLock lk(*this);
    do_reset();
    return {};
}

// -- interrupts

Result<std::vector<int>> DeviceModel::open_vectors(IrqKind kind, unsigned count, unsigned max) {
    if (count == 0 || count > max)
        return make_error(ENOTSUP, fmt::format("{}: {} {} vectors requested, the device has {}", describe(), count,
                                               kind == IrqKind::msix ? "MSI-X" : kind == IrqKind::msi ? "MSI" : "INTx",
                                               max));
    for (int fd : irq_fds_) ::close(fd);
    irq_fds_.clear();
    for (unsigned i = 0; i < count; i++) irq_fds_.push_back(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    fired_.assign(count, 0);
    last_ns_.assign(count, ~0ull);
    due_ns_.assign(count, 0);
    return irq_fds_;
}

void DeviceModel::disable_interrupts() noexcept {
    std::lock_guard lk(mu_);
    for (int fd : irq_fds_) ::close(fd);
    irq_fds_.clear();
    due_ns_.clear();
}

void DeviceModel::drop_held(bool forget) noexcept {
    std::fill(due_ns_.begin(), due_ns_.end(), 0);
    if (forget) std::fill(last_ns_.begin(), last_ns_.end(), ~0ull);
}

std::uint64_t DeviceModel::now_ns() const noexcept {
    if (manual_clock_) return clock_ns_;
    return std::uint64_t(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count());
}

// A vector fires at once unless it fired less than its interval ago; then
// the interrupt is held back until the interval ends (once, however many
// causes arrive meanwhile).
void DeviceModel::fire(unsigned vec) noexcept {
    if (vec >= irq_fds_.size()) return;
    const std::uint64_t iv = interval_ns(vec), now = now_ns();
    if (iv && last_ns_[vec] != ~0ull && now - last_ns_[vec] < iv) {
        if (due_ns_[vec] == 0) {
            due_ns_[vec] = last_ns_[vec] + iv;
            // no timer once stop_timer() has run: the model is going away
            if (!manual_clock_ && !stop_) {
                if (!timer_.joinable()) timer_ = std::thread([this] { timer_loop(); });
                timer_cv_.notify_all();
            }
        }
        return;
    }
    deliver(vec);
}

void DeviceModel::deliver(unsigned vec) noexcept {
    if (!on_deliver(vec)) return;
    last_ns_[vec] = now_ns();
    due_ns_[vec] = 0;
    fired_[vec]++;
    std::uint64_t one = 1;
    [[maybe_unused]] auto r = ::write(irq_fds_[vec], &one, sizeof one);
}

// Delivers the held-back interrupts whose interval has ended.
void DeviceModel::expire() noexcept {
    const std::uint64_t now = now_ns();
    for (unsigned v = 0; v < due_ns_.size() && v < irq_fds_.size(); v++) {
        if (due_ns_[v] == 0 || now < due_ns_[v]) continue;
        due_ns_[v] = 0;
        if (asserted(v)) deliver(v);
    }
}

void DeviceModel::timer_loop() {
    std::unique_lock lk(mu_);
    while (!stop_) {
        std::uint64_t next = 0;
        for (std::uint64_t d : due_ns_)
            if (d && (next == 0 || d < next)) next = d;
        if (next == 0) {
            timer_cv_.wait(lk);
        } else {
            const std::uint64_t now = now_ns();
            if (now < next) timer_cv_.wait_for(lk, std::chrono::nanoseconds(next - now));
            expire();
            report_faults(lk);
        }
    }
}

void DeviceModel::advance_time(std::uint64_t ns) {
    ChipLock lk(*this);
    clock_ns_ += ns;
    expire();
}

// -- the wire

// Frames leave in the order the TX engine queued them, even when several
// threads flush: delivery is serialised (never under mu_, so two models
// wired back to back cannot deadlock).
void DeviceModel::flush_outbox() {
    std::lock_guard wl(wire_mu_);
    std::vector<std::vector<std::uint8_t>> out;
    Wire w;
    {
        std::lock_guard lk(mu_);
        if (outbox_.empty()) return;
        out.swap(outbox_);
        w = wire_;
    }
    if (w) {
        sending_.store(std::this_thread::get_id(), std::memory_order_relaxed);
        for (auto& f : out) w(f.data(), f.size());
        sending_.store(std::thread::id(), std::memory_order_relaxed);
    }
}

// The inlet's lock makes close_inlet() wait for a frame on its way in; the
// wire holds the Inlet, so a wire left behind in a peer stays harmless.
DeviceModel::Wire DeviceModel::inlet(Wire rx) const {
    return [in = inlet_, rx = std::move(rx)](const std::uint8_t* f, std::size_t n) {
        std::lock_guard lk(in->mu);
        if (in->open) rx(f, n);
    };
}

void DeviceModel::close_inlet() noexcept {
    std::lock_guard lk(inlet_->mu);
    inlet_->open = false;
}

// -- the test's side

// Waits for a send in progress (wire_mu_, then mu_: the order flush_outbox
// takes them), so after set_wire returns the old callback is not running and
// never runs again. From inside the wire callback itself (this thread is the
// one sending) it cannot wait for that send: it replaces the callback for the
// next flush and returns.
void DeviceModel::set_wire(Wire w) {
    if (sending_.load(std::memory_order_relaxed) == std::this_thread::get_id()) {
        std::lock_guard lk(mu_);
        wire_ = std::move(w);
        return;
    }
    std::lock_guard wl(wire_mu_);
    std::lock_guard lk(mu_);
    wire_ = std::move(w);
}

void DeviceModel::set_fault_handler(FaultHandler h) {
    std::lock_guard lk(mu_);
    on_fault_ = std::move(h);
}

std::size_t DeviceModel::faults() const {
    std::lock_guard lk(mu_);
    return faults_;
}

std::string DeviceModel::last_fault() const {
    std::lock_guard lk(mu_);
    return last_fault_;
}

std::uint64_t DeviceModel::interrupts(unsigned vector) const {
    std::lock_guard lk(mu_);
    return vector < fired_.size() ? fired_[vector] : 0;
}

std::size_t DeviceModel::dma_mappings() const {
    std::lock_guard lk(mu_);
    return maps_.size();
}

std::uint64_t DeviceModel::register_writes(std::uint32_t off) const {
    std::lock_guard lk(mu_);
    return off / 4 < writes_.size() ? writes_[off / 4] : 0;
}

void DeviceModel::inject_rx_fault(RxFault f, unsigned frames) {
    std::lock_guard lk(mu_);
    rx_faults_.insert(rx_faults_.end(), frames, f);
}

std::size_t DeviceModel::pending_rx_faults() const {
    std::lock_guard lk(mu_);
    return rx_faults_.size();
}

std::uint64_t DeviceModel::read_dma64(std::uint64_t iova) {
    ChipLock lk(*this);
    std::uint8_t* p = dma(iova, 8, "test read");
    if (!p) return 0;
    return std::atomic_ref<std::uint64_t>(*reinterpret_cast<std::uint64_t*>(p)).load(std::memory_order_acquire);
}

} // namespace upio::drivers::model
