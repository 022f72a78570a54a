// drivers/ixgbe/model/ixgbe_model.hpp -- a software 82599 (or X540, X550)
// for host tests.
//
// Implements upio::Device so the real ixgbe driver runs on it in tests and
// benchmarks. No other 82599 model exists (QEMU has none), so this one is
// strict: it checks what the datasheet demands and reports a violation as a
// fault. The default fault handler prints the fault and aborts, so a test
// cannot miss it; tests that provoke faults install their own handler.
//
// The device id picks the MAC (ModelConfig::device_id): an X540 (1528,
// 1560) or X550 (1563, 15D1, and the X550EM ids) differs from the 82599 as
// the real ones do: its link comes from a firmware-run copper PHY (an AUTOC
// write is a fault, the link comes up after reset by itself, at
// ModelConfig::link_mbps; the X550 reports 2.5/5 Gb/s with LINKS bit 27),
// its receive packet buffer is 384 KiB, and the X550's RSS table has 512
// 6-bit entries (RETA + ERETA).
//
// What it models (82599 datasheet sections in brackets):
//   - a register file with reset values; CTRL.RST resets everything and
//     clears itself after a few reads [8.2.3.1.1]; EEC.AUTO_RD [8.2.3.2.1]
//     and RDRXCTL.DMAIDONE [8.2.3.8.8] show after a few reads; the EEPROM
//     auto-read loads RAL0/RAH0 with the MAC;
//   - link: AUTOC.RESTART_AN with the cable plugged brings LINKS.LINK_UP
//     (10 Gb/s) after a few LINKS reads; unplugging drops it; both raise
//     EICR.LSC [8.2.3.22.19-20];
//   - queue-enable handshakes: RXDCTL/TXDCTL.ENABLE read back set only after
//     a few reads and only when the ring is configured [4.6.7, 4.6.8];
//   - a TX engine that runs on TDT writes: reads advanced data descriptors
//     through the IOVA mapping, gathers the buffers up to EOP, checks PAYLEN,
//     pads (HLREG0.TXPADEN), hands the frame to the wire and writes DD back
//     on RS descriptors [7.2.3];
//   - an RX engine: receive() filters (RAL/RAH, FCTRL.UPE/MPE/BAM, MTA),
//     picks a queue by RSS (Toeplitz hash of IPv4 addresses and TCP/UDP
//     ports with the RSSRK key, 7 bits into the 128-entry RETA) [7.1.2.8],
//     fills advanced descriptors' buffers (several for a frame larger than
//     SRRCTL.BSIZEPACKET) and writes back length, DD, EOP, RSS type and hash;
//     with too few free descriptors the frame is dropped and counted in MPC;
//   - drops for lack of descriptors: with SRRCTL.DROP_EN counted in the
//     QPRDC set RQSMR maps the queue to, without it in MPC (the model has no
//     packet buffer to hold frames back, it drops at once);
//   - statistics registers that clear on read (GPRC, GORC, GPTC, GOTC, MPC,
//     QPRDC...);
//   - MSI-X: IVAR routes queue causes to vectors, EIMS/EIMS_EX mask them,
//     GPIE.EIAME with EIAM_EX auto-masks a vector when it fires; each vector
//     is an eventfd. EITR moderates a vector [7.3]: after an interrupt it
//     raises no other before EITR's interval has passed; causes that arrive
//     meanwhile are delivered (once) when it expires, by a timer thread, or
//     by advance_clock() when the config asks for a manual clock.
// What it enforces: DMA only inside mapped IOVA ranges and only with bus
// mastering on; ring bases 128-byte aligned, lengths nonzero multiples of
// 128 [8.2.3.8.1-3]; no ring reconfiguration and no head writes while a queue
// is enabled; no tail bump of a disabled queue; tails inside the ring;
// TXDCTL.ENABLE only after DMATXCTL.TE [4.6.8]; advanced descriptors only;
// HLREG0.RXCRCSTRP equal to RDRXCTL.CRCSTRIP [8.2.3.8.8]; BAR0 bounds.
// IOVAs are never equal to virtual addresses.
//
// Two models can be wired back to back (connect()), or a model to a callback
// (set_wire()). Thread-safe: register accesses and receive() take the
// model's lock; frames leave through the wire, and faults go to the fault
// handler, after the lock is released.
#pragma once

#include "drivers/common/model/device_model.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace upio::ixgbe::model {

struct ModelConfig {
    std::uint16_t device_id = 0x10FB; // 82599ES SFP+ (X520)
    PciAddress address{0, 0x01, 0, 0};
    std::array<std::uint8_t, 6> mac{0x02, 0x1b, 0x21, 0x00, 0x00, 0x01};
    bool cable = true;           // the link comes up after AUTOC.RESTART_AN
    unsigned reset_reads = 2;    // CTRL reads that still show RST after a reset
    unsigned auto_rd_reads = 2;  // EEC reads before AUTO_RD
    unsigned dma_init_reads = 2; // RDRXCTL reads before DMAIDONE
    unsigned link_reads = 3;     // LINKS reads before the link is up
    unsigned enable_reads = 1;   // RXDCTL/TXDCTL reads before ENABLE shows
    unsigned link_mbps = 10000;  // link speed: 100, 1000, 10000; X550 also 2500, 5000
    // Time for EITR moderation: false, the steady clock (and a timer thread
    // delivers moderated interrupts); true, only advance_clock() moves it.
    bool manual_clock = false;
    int numa_node = -1; // the node the device reports (Device::numa_node); -1: none
};

// Not final: a tool may derive from it (to unhook itself from its own wiring
// on destruction, say). Until ~IxgbeModel runs, the timer thread and a
// connected peer may still call into the model.
class IxgbeModel : public drivers::model::DeviceModel {
public:
    static constexpr unsigned num_queues = 128;
    static constexpr unsigned num_vectors = 64;

    explicit IxgbeModel(ModelConfig cfg = {});
    ~IxgbeModel() override;

    // -- Device
    std::string describe() const override;
    std::uint32_t read32(std::uint32_t offset) noexcept override;
    void write32(std::uint32_t offset, std::uint32_t value) noexcept override;
    Result<std::vector<int>> enable_interrupts(IrqKind kind, unsigned count) override;

    // -- the test's side (and DeviceModel's: set_wire, faults, last_fault,
    // interrupts, dma_mappings)
    // Wires two models back to back. Either may be destroyed first (while
    // the other transmits): frames sent to it after that vanish.
    static void connect(IxgbeModel& a, IxgbeModel& b);
    // A frame arrives from the wire (without CRC). False when it was
    // filtered or dropped.
    bool receive(const std::uint8_t* frame, std::size_t len);
    void set_cable(bool plugged);
    // Off: the TX engine stops (no frames, no DD) -- a hung transmitter.
    void set_tx_engine(bool on);
    // Off: frames still leave but DD is never written back.
    void set_tx_writeback(bool on);
    // A register's value without read side effects.
    std::uint32_t peek(std::uint32_t offset) const;

    // Frames received per queue since reset (what RSS picked).
    std::uint64_t rx_frames(unsigned queue) const;
    // The Toeplitz hash the RX engine computes for `frame` (0: not hashed).
    std::uint32_t rss_hash(const std::uint8_t* frame, std::size_t len) const;
    // The queue the RX engine picks for `frame` with the RETA as programmed.
    unsigned rss_queue(const std::uint8_t* frame, std::size_t len) const;
    // Manual clock only: moves time on and delivers the moderated
    // interrupts whose EITR interval has expired.
    void advance_clock(std::chrono::nanoseconds d) { advance_time(std::uint64_t(d.count())); }

    enum class Mac : std::uint8_t { i82599, x540, x550 };
    Mac mac() const noexcept { return mac_; }

private:
    struct Queue {
        bool enabled = false;     // ENABLE as the device sees it
        unsigned enable_reads = 0; // reads left before ENABLE shows
        std::vector<std::uint8_t> frame; // TX: fragments gathered until EOP
        std::uint32_t paylen = 0;        // TX: PAYLEN of the frame's first descriptor
    };

    void do_reset() noexcept override;
    void link_event(bool up) noexcept;
    bool ring_ok(bool rx, unsigned q) noexcept;
    bool queue_reg(std::uint32_t off, bool& rx, unsigned& q, std::uint32_t& r) const noexcept;
    void write_queue_reg(bool rx, unsigned q, std::uint32_t r, std::uint32_t off, std::uint32_t v) noexcept;
    std::uint32_t read_locked(std::uint32_t off) noexcept;
    std::uint32_t read_queue_reg(bool rx, unsigned q, std::uint32_t r, std::uint32_t off) noexcept;
    void process_tx(unsigned q) noexcept;
    void process_all_tx() noexcept;
    bool receive_locked(const std::uint8_t* frame, std::size_t len) noexcept;
    bool accept(const std::uint8_t* frame) const noexcept;
    std::uint32_t toeplitz(const std::uint8_t* frame, std::size_t len, unsigned& type) const noexcept;
    void count(std::uint32_t off, std::uint64_t n) noexcept;
    void queue_irq(unsigned q, bool rx) noexcept;
    void other_irq(std::uint32_t cause) noexcept;
    bool on_deliver(unsigned vector) noexcept override;
    std::uint64_t interval_ns(unsigned vector) const noexcept override; // EITR
    unsigned pick_queue(std::uint32_t hash) const noexcept;
    std::uint32_t links_value() const noexcept;
    bool mastering() const noexcept; // STATUS.GIO

    ModelConfig cfg_;
    Mac mac_ = Mac::i82599;
    std::array<Queue, num_queues> rxq_{}, txq_{};
    std::array<std::uint64_t, num_queues> rx_frames_{};
    unsigned rst_reads_ = 0, auto_rd_reads_ = 0, dma_reads_ = 0, link_reads_ = 0;
    bool link_pending_ = false;
    bool cable_ = true;
    bool tx_engine_ = true;
    bool tx_writeback_ = true;
    std::uint64_t vmask_ = 0;    // vectors enabled (EIMS 15:0 and EIMS_EX)
    std::uint32_t cause_mask_ = 0; // other causes enabled (EIMS 30:16)
};

} // namespace upio::ixgbe::model
