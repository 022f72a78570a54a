// drivers/common/model/device_model.hpp -- what every software NIC model has
// in common: the device-interface side of upio::Device.
//
// A model (e1000_model.hpp, ixgbe_model.hpp) derives from DeviceModel and
// adds its chip: what its registers do, the TX/RX engines and how a
// queue or a cause reaches an interrupt vector. DeviceModel holds
//   - the BAR0 register file (its size checked on every access);
//   - PCI config space (vendor/device id, class, COMMAND.BME as bus mastering);
//   - the DMA mapping table: dma_map() hands out IOVAs from a base that is
//     never a virtual address, with a gap between mappings; dma() translates
//     an IOVA range and reports a fault outside every mapping or with bus
//     mastering off;
//   - interrupt eventfds, one a vector, and the count delivered on each;
//   - interrupt throttling: a vector does not fire again before its interval
//     (the chip's ITR/EITR, interval_ns()) has passed since it last fired;
//     what became pending meanwhile is delivered once when the interval ends
//     (a timer thread on the steady clock, or advance_time() with a manual
//     clock), if the chip still asserts it;
//   - fault reporting (a handler, called once the model's lock is released;
//     by default print and abort at once);
//   - the wire: frames the TX engine queued (outbox_) leave through the wire
//     callback after the model's lock is released, in order;
//   - the inlet: how a peer's wire (connect()) reaches this model, closed by
//     the model's destructor.
// Locking: mu_ guards everything; the chip's code runs with it held (a
// ChipLock, which calls the fault handler after releasing it). The wire has
// its own lock, wire_mu_, held while frames go out (without mu_, so a wire
// callback may call back into a model); whoever takes both takes wire_mu_
// first. A connected peer's frames come in under the inlet's lock, taken
// after the sender's wire_mu_ and before the receiver's mu_. A model's
// destructor, before its chip's members die, calls stop_timer() (the timer
// calls back into it; fire() starts no timer after it), then close_inlet()
// (waits for a frame on its way in; later ones vanish).
#pragma once

#include <upio/backend/device.hpp>

#include <array>
#include <bitset>
#include <atomic>
#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace upio::drivers::model {

// The Ethernet FCS (CRC-32, reflected, as it goes on the wire).
std::uint32_t crc32(const std::uint8_t* p, std::size_t n) noexcept;

// A descriptor's last write-back word (DD in it): the driver reads it with
// acquire, so the words before it are visible first.
inline void store_release(std::uint64_t* p, std::uint64_t v) noexcept {
    std::atomic_ref<std::uint64_t>(*p).store(v, std::memory_order_release);
}

// A bad write-back the RX engine writes for a frame instead of the truth.
enum class RxFault : std::uint8_t {
    none,
    len_zero,      // the EOP descriptor says length 0
    len_over,      // ... one byte more than the buffer holds
    len_huge,      // ... 0xffff
    frag_len,      // a chained frame's first (not EOP) descriptor says 0xffff (no-op for a one-descriptor frame)
    error_bit,     // the EOP descriptor carries the chip's frame error bit (a CRC error)
    garbage,       // the EOP descriptor's write-back is all-ones: DD, EOP, every error bit, length 0xffff
    endless_chain, // every free descriptor written back with DD and no EOP: a chain that never ends
};

class DeviceModel : public Device {
public:
    using Wire = std::function<void(const std::uint8_t* frame, std::size_t len)>;
    using FaultHandler = std::function<void(const std::string& what)>;

    // -- Device
    PciAddress address() const override { return address_; }
    std::uint16_t vendor_id() const override { return 0x8086; }
    std::uint16_t device_id() const override { return device_id_; }
    int numa_node() const override { return numa_node_; }
    Result<std::uint32_t> config_read(std::uint32_t offset, unsigned width) override;
    Status config_write(std::uint32_t offset, unsigned width, std::uint32_t value) override;
    Status set_bus_master(bool on) override;
    Status reset() override;
    Status dma_map(MemoryRegion& region) override;
    Status dma_unmap(MemoryRegion& region) override;
    void disable_interrupts() noexcept override;

    // -- the test's side
    // Frames the device transmits (without CRC). Waits for a send in
    // progress to end (unless called from the wire callback itself), so
    // set_wire({}) means the old callback has returned and is not called
    // again. A wire callback may call into any model (another's receive(),
    // this one's set_wire), never with a lock the caller of set_wire holds.
    void set_wire(Wire w);
    // Replaces the default handler (print and abort, inside the access that
    // faulted). The handler runs without the model's lock, before the access
    // that faulted returns, on its thread (the timer thread's for a held-back
    // interrupt), so it may call into the model (faults(), a register read,
    // set_cable...); it may run on several threads at once. For a frame from
    // a connected peer it runs inside the peer's wire callback, whose limits
    // apply.
    void set_fault_handler(FaultHandler h);
    std::size_t faults() const;
    std::string last_fault() const;
    // Interrupts delivered on `vector` so far.
    std::uint64_t interrupts(unsigned vector) const;
    std::size_t dma_mappings() const;
    // Writes to the BAR0 register at `off` so far (a queue's TDT or RDT:
    // doorbells), resets included.
    std::uint64_t register_writes(std::uint32_t off) const;
    // The 64-bit word the device sees at `iova` (a descriptor's, say); a
    // fault outside every mapping.
    std::uint64_t read_dma64(std::uint64_t iova);
    // Manual clock only: moves the model's time on and delivers the
    // throttled interrupts whose interval has ended.
    void advance_time(std::uint64_t ns);
    // The next frames the RX engine writes (one fault each, in order) get
    // these bad write-backs; their data still lands in the buffers.
    void inject_rx_fault(RxFault f, unsigned frames = 1);
    // Faults injected but not yet written.
    std::size_t pending_rx_faults() const;
    // Surprise removal (true) and return (false): while removed every BAR0
    // read returns all-ones, writes are lost, frames from the wire vanish.
    void set_removed(bool removed) noexcept { removed_.store(removed, std::memory_order_relaxed); }
    bool removed() const noexcept { return removed_.load(std::memory_order_relaxed); }
    // The host asks for the device back (VFIO's request interrupt, as the
    // kernel sends it before a hot-unplug or an unbind): request_fd()
    // becomes readable.
    void request_release() noexcept;
    int request_fd() noexcept override { return req_fd_; }
    // TX queue `q` hangs where it is: its engine fetches no descriptor and
    // writes no DD back, whatever the tail says, until the driver resets the
    // queue (clears its enable bit: TXDCTL.ENABLE, or TCTL.EN on a chip
    // whose queues have none) or the whole device. Frames already sent
    // stay sent. A hang that stays is what a reset is for; set_tx_engine
    // (false) is a transmitter that stops and starts again on its own.
    void hang_tx(unsigned q);
    bool tx_hung(unsigned q) const;

protected:
    struct Identity {
        const char* family;      // "e1000", "ixgbe": in the default fault handler's message
        PciAddress address;
        std::uint16_t device_id;
        std::uint32_t bar0_size;
        std::uint64_t iova_base; // where the first mapping starts
        bool manual_clock;       // time moves only by advance_time()
        std::uint64_t clock_start; // the manual clock's first reading
        int numa_node;           // what numa_node() reports (-1: none, as sysfs says for no affinity)
    };
    explicit DeviceModel(const Identity& id);
    ~DeviceModel() override;

    // -- the chip (called with mu_ held)
    virtual void do_reset() noexcept = 0;
    // The vector's throttling interval in ns (0: none).
    virtual std::uint64_t interval_ns(unsigned vector) const noexcept = 0;
    // Whether a held-back interrupt is still to be signalled when its
    // interval ends (causes cleared or masked meanwhile are not).
    virtual bool asserted(unsigned /*vector*/) const noexcept { return true; }
    // The chip's side of sending a message on `vector` (auto-clear, auto-
    // mask). False: nothing is sent (a masked INTx line).
    virtual bool on_deliver(unsigned /*vector*/) noexcept { return true; }

    // mu_ held while the chip's code runs (every entry point that may fault
    // takes it this way): faults reported meanwhile go to the handler once
    // mu_ is released.
    class ChipLock {
    public:
        explicit ChipLock(DeviceModel& m) : m_(m), lk_(m.mu_) {}
        ~ChipLock() { m_.report_faults(lk_); }
        ChipLock(const ChipLock&) = delete;
        ChipLock& operator=(const ChipLock&) = delete;

    private:
        DeviceModel& m_;
        std::unique_lock<std::mutex> lk_;
    };

    // -- for the chip (with mu_ held)
    std::uint32_t& reg(std::uint32_t off) noexcept { return regs_[off >> 2]; }
    std::uint32_t rget(std::uint32_t off) const noexcept { return regs_[off >> 2]; }
    // A BAR0 access outside the register file or unaligned: a fault. Every
    // write32 calls bad_write first, which counts the write.
    bool bad_read(std::uint32_t off) noexcept;
    bool bad_write(std::uint32_t off, std::uint32_t v) noexcept;
    void fault(const std::string& what) noexcept;
    // The host address of [iova, iova + len), or nullptr after a fault.
    std::uint8_t* dma(std::uint64_t iova, std::size_t len, const char* what) noexcept;
    // The RX engine's DMA of one frame into a ring of 16-byte descriptors
    // (the device owns [head, tail); RDT == RDH: none free): the frame, then
    // its FCS unless `strip`, across as many buffers of `bsz` bytes as it
    // takes, calling writeback(desc, len, eop, error) for each descriptor
    // (len: what the write-back says, the chunk unless a fault says
    // otherwise; error: set the chip's frame error bit); head moves on.
    // no_room: too few free descriptors, nothing written. The next injected
    // fault, if any, applies to this frame.
    struct RxRing {
        std::uint64_t base;
        std::uint32_t n, head, tail, bsz;
    };
    enum class RxResult { done, no_room, fault };
    template <class WriteBack>
    RxResult rx_dma(RxRing& r, const std::uint8_t* f, std::size_t len, bool strip, WriteBack&& writeback) noexcept;

    // Opens `count` vectors of `kind` (at most `max`); throttling starts afresh.
    Result<std::vector<int>> open_vectors(IrqKind kind, unsigned count, unsigned max);
    // An interrupt on `vector`: now, or when its interval ends.
    void fire(unsigned vector) noexcept;
    // Held-back interrupts die (a reset); with forget, so does when each
    // vector last fired.
    void drop_held(bool forget) noexcept;
    std::uint64_t now_ns() const noexcept;
    // Frames for the wire (call without mu_).
    void flush_outbox();
    void stop_timer() noexcept;
    // A wire into this model for a peer (connect()): it calls `rx` (this
    // model's receive) until close_inlet(), which waits for a call in
    // progress; after that frames sent to the model vanish, as on a cable
    // with nothing at its end.
    Wire inlet(Wire rx) const;
    void close_inlet() noexcept;
    // Two models of one kind back to back: what one transmits, the other
    // receives (M::receive), until either closes its inlet.
    template <class M>
    static void wire_back_to_back(M& a, M& b) {
        a.set_wire(b.inlet([&b](const std::uint8_t* f, std::size_t n) { b.receive(f, n); }));
        b.set_wire(a.inlet([&a](const std::uint8_t* f, std::size_t n) { a.receive(f, n); }));
    }
    // The first thing a chip's destructor does: the timer thread and a
    // connected peer call back into the chip, so both stop while it exists;
    // the interrupt eventfds close.
    void shutdown() noexcept;

    // -- receive filters both chip families share (with mu_ held)
    // Whether `dst` is one of the `n` receive addresses: RAL/RAH pairs at
    // `ral0` + 8 i / `rah0` + 8 i, valid when RAH.AV (bit 31) is set.
    bool station_address(const std::uint8_t* dst, std::uint32_t ral0, std::uint32_t rah0, unsigned n) const noexcept;
    // The multicast table's bit for `dst`, hashed on address bits 47:36 (the
    // MO = 00 setting the drivers leave), in the 128-entry table at `mta0`.
    bool multicast_table_hit(const std::uint8_t* dst, std::uint32_t mta0) const noexcept;

    mutable std::mutex mu_;
    std::vector<std::uint32_t> regs_; // BAR0
    std::vector<std::uint64_t> writes_; // BAR0 writes, per register (counted by bad_write)
    std::array<std::uint8_t, 256> config_{};
    bool bus_master_ = false;
    std::vector<int> irq_fds_;
    std::vector<std::vector<std::uint8_t>> outbox_; // TX: frames for the wire
    std::vector<RxFault> rx_faults_;                 // injected, for the next frames (front first)
    std::atomic<bool> removed_{false};               // surprise removal: reads all-ones
    std::bitset<128> tx_hung_;                       // hang_tx: queues whose TX engine hangs
    int req_fd_ = -1;                                // the request interrupt's eventfd

private:
    struct Mapping {
        std::uint64_t iova;
        char* va;
        std::size_t len;
        const MemoryRegion* region;
    };

    // The peer side of inlet(): shared by the peers' wires, so it outlives
    // the model.
    struct Inlet {
        std::mutex mu;
        bool open = true;
    };

    // Calls the handler for the faults reported while `lk` (on mu_) was
    // held, releasing it meanwhile.
    void report_faults(std::unique_lock<std::mutex>& lk) noexcept;
    void deliver(unsigned vector) noexcept;
    void expire() noexcept;
    void timer_loop();

    const char* family_;
    PciAddress address_;
    std::uint16_t device_id_;
    int numa_node_;
    bool manual_clock_;
    std::vector<Mapping> maps_;
    std::uint64_t next_iova_;
    std::vector<std::uint64_t> fired_;
    // throttling, per vector: when it last fired (~0: never), when a held
    // back interrupt may go (0: none)
    std::vector<std::uint64_t> last_ns_, due_ns_;
    std::uint64_t clock_ns_; // manual clock
    std::thread timer_;
    std::condition_variable timer_cv_;
    bool stop_ = false;
    std::mutex wire_mu_; // held while frames go out on the wire (taken before mu_, never under it)
    std::atomic<std::thread::id> sending_{}; // the thread inside the wire callback, if any
    Wire wire_;
    std::shared_ptr<Inlet> inlet_ = std::make_shared<Inlet>();
    FaultHandler on_fault_;
    std::vector<std::string> pending_faults_; // for on_fault_ once mu_ is released (empty whenever mu_ is free)
    std::size_t faults_ = 0;
    std::string last_fault_;
};

template <class WriteBack>
DeviceModel::RxResult DeviceModel::rx_dma(RxRing& r, const std::uint8_t* f, std::size_t len, bool strip,
                                          WriteBack&& writeback) noexcept {
    const RxFault fault = rx_faults_.empty() ? RxFault::none : rx_faults_.front();
    std::uint8_t fcs[4];
    if (!strip) {
        std::uint32_t c = crc32(f, len);
        std::memcpy(fcs, &c, 4);
    }
    const std::size_t total = len + (strip ? 0 : 4);
    const std::uint32_t need = std::uint32_t((total + r.bsz - 1) / r.bsz);
    const std::uint32_t avail = r.tail >= r.head ? r.tail - r.head : r.tail + r.n - r.head;
    if (avail < (fault == RxFault::endless_chain ? 1 : need)) return RxResult::no_room;
    // a chain that never ends: every free descriptor, full, without EOP
    const std::uint32_t descs = fault == RxFault::endless_chain ? avail : need;
    std::size_t done = 0;
    for (std::uint32_t i = 0; i < descs; i++) {
        auto* d = reinterpret_cast<std::uint64_t*>(dma(r.base + 16ull * r.head, 16, "rx descriptor"));
        if (!d) return RxResult::fault;
        const std::size_t chunk = fault == RxFault::endless_chain ? r.bsz : std::min<std::size_t>(r.bsz, total - done);
        std::uint8_t* p = dma(d[0], chunk, "rx buffer");
        if (!p) return RxResult::fault;
        for (std::size_t j = 0; j < chunk; j++) {
            const std::size_t at = (done + j) % total;
            p[j] = at < len ? f[at] : fcs[at - len];
        }
        done += chunk;
        const bool eop = fault != RxFault::endless_chain && i + 1 == descs;
        std::size_t said = chunk;
        bool error = false;
        if (eop) {
            switch (fault) {
            case RxFault::len_zero: said = 0; break;
            case RxFault::len_over: said = r.bsz + 1; break;
            case RxFault::len_huge: said = 0xffff; break;
            case RxFault::error_bit: error = true; break;
            default: break;
            }
        } else if (i == 0 && fault == RxFault::frag_len) {
            said = 0xffff;
        }
        writeback(d, said, eop, error);
        if (eop && fault == RxFault::garbage) {
            d[0] = ~0ull;
            store_release(&d[1], ~0ull);
        }
        r.head = r.head + 1 == r.n ? 0 : r.head + 1;
    }
    if (fault != RxFault::none) rx_faults_.erase(rx_faults_.begin());
    return RxResult::done;
}

} // namespace upio::drivers::model
