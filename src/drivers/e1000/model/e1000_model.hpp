// drivers/e1000/model/e1000_model.hpp -- a software 8254x / 82574L / 82576 / I350.
//
// Implements upio::Device so the real e1000 driver runs on it in host tests
// and benchmarks. What it models:
//   - a register file with reset values; CTRL.RST that resets everything and
//     clears itself after a few reads; EEPROM auto-read done (EEC.AUTO_RD)
//     after a few reads; EERD reads of a small EEPROM holding the MAC; RAL0/
//     RAH0 loaded by the auto-read; STATUS.LU = cable && CTRL.SLU (and, with
//     autoneg_on_request, a BMCR auto-negotiation restart through MDIC);
//   - a TX engine that runs when TDT is written: it reads descriptors
//     (legacy, or advanced on the 82576/I350) and buffers through the IOVA
//     mapping, hands each frame to the wire, writes DD back when RS is set;
//   - an RX engine: receive() filters a frame (RAL/RAH, UPE, MPE, BAM, MTA),
//     picks a queue (82576/I350 RSS: Toeplitz hash and RETA), writes it into the
//     buffers of free descriptors and writes back length/DD/EOP; with no free
//     descriptor the frame is dropped and counted (MPC, RNBC, RQDPC);
//   - statistics registers that clear on read (GPRC, GORC, GPTC, GOTC, ...);
//   - interrupts to eventfds: one vector (MSI or INTx) with ICR/IMS; MSI-X on
//     the 82574L with per-queue ICR causes, IVAR (0xE4), EIAC, IAM and
//     CTRL_EXT.EIAME; MSI-X on the 82576/I350 (GPIE.Multiple_MSIX) with
//     EICR/EIMS/EIAC/EIAM and each chip's IVAR layout; the 82576/I350's
//     one-vector mode (Multiple_MSIX clear): write-backs set ICR.RXDW/TXDW
//     and the EICR bit their IVAR entry names, the vector signals ICR & IMS
//     or EICR & EIMS, EICR bit 31 reflects an enabled ICR cause, ICR reads
//     follow GPIE.NSICR (clear always, or only with IMS 0 or INTA set) and
//     copy IAM into IMC, ICR.INTA (bit 31) reads as set while ICR & IMS;
//   - interrupt throttling: a vector does not fire again before its interval
//     (ITR, EITR) has passed since it last fired; what became pending
//     meanwhile is delivered when the interval ends (a timer thread on the
//     steady clock, or advance_time() with ModelConfig::manual_clock).
// What it enforces (a violation calls the fault handler, which by default
// prints the fault and aborts, so a test cannot miss it): DMA only inside
// mapped IOVA ranges and only with bus mastering on, descriptor rings
// aligned and sized per the datasheet, TDT/RDT inside the ring, BAR0 bounds,
// CTRL_EXT.PBA_SUPPORT set when the 82574L sends MSI-X messages, the
// 82576/I350 in MSI-X mode (GPIE.Multiple_MSIX) only when the host enabled
// MSI-X.
// IOVAs are never equal to virtual addresses.
//
// Files: e1000_model.cpp (registers, interrupts), e1000_model_dma.cpp (the
// TX/RX engines, RSS, statistics); PCI config space, DMA mappings, the
// interrupt eventfds, the throttling timer and faults are the common
// drivers/common/model/device_model.hpp.
//
// Two models can be wired back to back (connect()). Thread-safe: register
// accesses, receive() and the throttling timer take the model's lock; frames
// leave through the wire callback, and faults go to the fault handler, after
// the lock is released.
#pragma once

#include "drivers/common/model/device_model.hpp"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace upio::e1000::model {

enum class Chip { i82540em, i82545em, i82574l, i82576, i350 };

struct ModelConfig {
    Chip chip = Chip::i82540em;
    PciAddress address{0, 0, 3, 0};
    std::array<std::uint8_t, 6> mac{0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
    bool cable = true;          // the link comes up once the driver sets CTRL.SLU
    unsigned reset_reads = 2;   // CTRL reads that still show RST after a reset
    unsigned auto_rd_reads = 2; // EEC reads before AUTO_RD shows (82574, 82576)
    bool mac_in_ral = true;     // reset loads RAL0/RAH0 from the EEPROM
    bool autoneg_on_request = false; // the PHY negotiates only after BMCR.RESTART_AN (via MDIC)
    bool msix = true;           // the function offers MSI-X (82574L, 82576, I350); false: as a host that refuses it
    bool msi = true;            // the function offers MSI (all but the 82540EM); false: as a host that refuses it
    bool manual_clock = false;  // throttling time moves only by advance_time(); else the steady clock
    int numa_node = -1;         // the node the device reports (Device::numa_node); -1: none
    std::uint16_t device_id = 0; // the PCI device id; 0: the chip's copper part
};

class E1000Model final : public drivers::model::DeviceModel {
public:
    explicit E1000Model(ModelConfig cfg = {});
    ~E1000Model() override;

    // -- Device
    std::string describe() const override;
    std::uint32_t read32(std::uint32_t offset) noexcept override;
    void write32(std::uint32_t offset, std::uint32_t value) noexcept override;
    Result<std::vector<int>> enable_interrupts(IrqKind kind, unsigned count) override;
    void unmask_intx() noexcept override;

    // -- the test's side (and DeviceModel's: set_wire -- frames padded when
    // TCTL.PSP --, faults, interrupts, advance_time, dma_mappings)
    // Wires two models back to back. Either may be destroyed first (while
    // the other transmits): frames sent to it after that vanish.
    static void connect(E1000Model& a, E1000Model& b);
    // A frame arrives from the wire (without CRC). False when it was
    // filtered or dropped.
    bool receive(const std::uint8_t* frame, std::size_t len);
    void set_cable(bool plugged);
    // Off: the TX engine stops (no frames, no DD) -- a hung transmitter.
    void set_tx_engine(bool on);
    // A register's value without read side effects.
    std::uint32_t peek(std::uint32_t offset) const;

private:
    bool advanced() const noexcept { return cfg_.chip == Chip::i82576 || cfg_.chip == Chip::i350; }
    bool pcie() const noexcept { return advanced() || cfg_.chip == Chip::i82574l; }
    // STATUS.GIO_MASTER_ENABLE: the device may have DMA requests outstanding
    bool mastering() const noexcept;
    bool msix_82574() const noexcept {
        return cfg_.chip == Chip::i82574l && irq_kind_ == IrqKind::msix && !irq_fds_.empty();
    }
    // 82576/I350 in MSI-X mode (GPIE.Multiple_MSIX); clear: one vector
    bool msix_mode() const noexcept;
    unsigned num_queues() const noexcept;
    std::uint32_t canon(std::uint32_t off) const noexcept;
    std::uint32_t rxq(unsigned q) const noexcept { return advanced() ? 0xC000 + 0x40 * q : 0x2800 + 0x100 * q; }
    std::uint32_t txq(unsigned q) const noexcept { return advanced() ? 0xE000 + 0x40 * q : 0x3800 + 0x100 * q; }
    void do_reset() noexcept override;
    void load_from_eeprom() noexcept;
    void update_link() noexcept;
    bool ring_ok(std::uint32_t base_reg, const char* name) noexcept;
    void process_tx(unsigned q) noexcept;
    bool receive_locked(const std::uint8_t* frame, std::size_t len) noexcept;
    bool accept(const std::uint8_t* frame) noexcept;
    unsigned pick_queue(const std::uint8_t* frame, std::size_t len) noexcept;
    std::uint32_t rx_buf_size(unsigned q) noexcept;
    void raise(std::uint32_t icr) noexcept;
    void raise_queue(unsigned q, bool rx) noexcept;
    bool one_vector_pending() const noexcept;
    std::uint32_t read_icr_82576() noexcept;
    void notify_82574(std::uint32_t causes) noexcept;
    std::uint32_t causes_82574(unsigned vector) const noexcept;
    bool on_deliver(unsigned vector) noexcept override;
    bool asserted(unsigned vector) const noexcept override;
    std::uint64_t interval_ns(unsigned vector) const noexcept override;
    void count(std::uint32_t off, std::uint64_t n) noexcept;

    ModelConfig cfg_;
    std::array<std::uint16_t, 64> eeprom_{};
    unsigned rst_reads_ = 0, auto_rd_reads_ = 0;
    bool cable_ = true;
    bool negotiated_ = false; // the PHY finished auto-negotiation since the reset
    std::uint16_t bmcr_ = 0x1140; // PHY control: AN enable, full duplex, 1000 Mb/s
    bool tx_engine_ = true;
    bool intx_masked_ = false;
    IrqKind irq_kind_ = IrqKind::intx;
    std::vector<std::uint8_t> frame_; // TX: fragments gathered until EOP
};

} // namespace upio::e1000::model
