// drivers/e1000/e1000.hpp -- the e1000 family: 8254x, 82574L and 82576/I350.
//
// One driver for three generations that share most of their programming
// model (register map, legacy descriptors, statistics). What differs:
//
//               descriptors  queues  interrupts                EEPROM done
//   8254x       legacy       1       MSI, else INTx            reset only
//   82574L      legacy       1       MSI-X, else MSI, INTx     EEC.AUTO_RD
//   82576/I350  advanced     8       MSI-X per queue pair,     EEC.AUTO_RD
//                                    else MSI, INTx (one vector)
//
// Interrupts are throttled (ITR, or EITR per vector on the 82574L's MSI-X and
// the 82576/I350) to at most one per DriverOptions::itr_us. See docs/e1000.md.
//
// Port names are "e1000:DDDD:BB:DD.F" (all queue pairs) or "...-N" (pair N).
// The device must be bound to vfio-pci (upio-setup bind ADDR; scripts/upio-setup in a source tree).
//
// Rings are bound straight to netmap rings: the device DMAs into the port's
// netmap buffers. Only the control path (open, close, statistics, link and
// filter changes) takes locks or builds errors.
#pragma once

#include "drivers/common/factory.hpp"
#include "drivers/common/nic_ring.hpp"
#include "drivers/common/regs.hpp"
#include "drivers/common/ring_text.hpp"

#include <upio/backend/adapter.hpp>
#include <upio/backend/device.hpp>
#include <upio/backend/port_type.hpp>
#include <upio/port.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

namespace upio::e1000 {

enum class Family : std::uint8_t { i8254x, i82574, i82576, i350 };

struct ChipInfo {
    std::uint16_t device_id;
    Family family;
    const char* name;
    bool copper = true; // fiber, SerDes, backplane and SGMII links need TXCW / PCS setup: not supported yet
};

// What the driver does differently per family: the register layout and the
// programming steps that differ, as data (e1000.cpp has the four tables,
// with the datasheet sections), instead of branches on the family.
struct FamilyTraits {
    enum class Msix : std::uint8_t {
        none,      // 8254x: MSI, else INTx
        i82574,    // 82574L: two vectors (RxQ0 + TxQ0, other causes), IVAR at 0xE4
        per_queue, // 82576/I350: a vector per queue pair and one for other causes
    };
    std::uint32_t max_queues;
    drivers::RegArray rdbal, tdbal; // queue n's RDBAL / TDBAL; its other registers at Q_* from them
    bool adv_desc;        // advanced descriptors, rx buffer size per queue in SRRCTL; else legacy and RCTL.BSIZE
    bool queue_enable;    // RXDCTL/TXDCTL.ENABLE: queues programmed while disabled, then enabled with a handshake
    bool ext_irq;         // EICR/EIMS/EIMC/EITR beside ICR/IMS/IMC
    bool per_queue_drops; // RQDPC counts each queue's drops
    bool master_disable;  // PCIe: the master disable flow before every reset
    bool eerd_new;        // EERD: DONE bit 1, address 15:2 (else bit 4, 15:8); EEC.AUTO_RD after a reset
    bool ivar_by_pair;    // I350: IVAR[q / 2] holds queues 2n, 2n + 1; 82576: IVAR[q % 8] holds q, q + 8
    Msix msix;
    std::uint32_t min_buf; // smallest rx buffer (RCTL.BSIZE 256; SRRCTL 1 KiB granularity)
    std::span<const drivers::RegWrite> quiesce; // before a reset: interrupts masked, rx/tx off
};
const FamilyTraits& traits(Family f) noexcept;

// The chip for an Intel device id, nullptr when this driver does not know it.
const ChipInfo* find_chip(std::uint16_t vendor_id, std::uint16_t device_id) noexcept;

struct DriverOptions {
    std::chrono::milliseconds reset_timeout{200};  // CTRL.RST to clear
    std::chrono::milliseconds eeprom_timeout{500}; // EEC.AUTO_RD, EERD.DONE
    std::chrono::milliseconds link_timeout{10000}; // STATUS.LU after set-link-up; 0: do not wait
    bool require_link = true;                      // open fails when the link stays down
    std::chrono::milliseconds queue_timeout{100};  // RXDCTL/TXDCTL.ENABLE (82576)
    std::chrono::milliseconds tx_hang_timeout{1000}; // descriptors without DD and no progress
    std::uint32_t itr_us = 50;                     // interrupt throttling: minimum gap; 0: none
};

struct LinkStatus {
    bool up = false;
    unsigned speed_mbps = 0; // 10, 100, 1000; 0 when down
    bool full_duplex = false;
};

// Hardware counters, accumulated into 64 bits (the registers clear on read).
struct HwStats {
    std::uint64_t rx_packets = 0;   // GPRC
    std::uint64_t rx_bytes = 0;     // GORC, including the CRC
    std::uint64_t rx_broadcast = 0; // BPRC
    std::uint64_t rx_multicast = 0; // MPRC
    std::uint64_t rx_missed = 0;    // MPC: dropped, no room
    std::uint64_t rx_no_buffer = 0; // RNBC: no descriptor when a frame arrived
    std::uint64_t rx_crc_errors = 0; // CRCERRS
    std::uint64_t rx_undersize = 0; // RUC
    std::uint64_t rx_oversize = 0;  // ROC
    std::uint64_t rx_total = 0;     // TPR
    std::uint64_t tx_packets = 0;   // GPTC
    std::uint64_t tx_bytes = 0;     // GOTC, including the CRC
    std::uint64_t tx_total = 0;     // TPT
};

class E1000Adapter;

// Resets and initialises an adapter on `dev` (VFIO or a model), which it owns.
Result<std::shared_ptr<E1000Adapter>> make_adapter(std::unique_ptr<Device> dev, const PortOptions& opts,
                                                   const DriverOptions& dopts = {});
// The "e1000:" port type: one adapter per PCI function (drivers/common/factory.hpp).
using Factory = drivers::NicFactory<E1000Adapter, DriverOptions, &make_adapter>;
// The descriptor of "e1000:DDDD:BB:DD.F" for the port-type table.
const PortType& port_type();

class E1000Adapter final : public Adapter {
public:
    ~E1000Adapter() override;

    // -- Adapter
    Status register_port(bool on) override;
    int txsync(KRing& k, unsigned flags) noexcept override;
    int rxsync(KRing& k, unsigned flags) noexcept override;
    std::vector<int> wait_fds(const KRing& k) const override;
    void set_interrupts(KRing& k, bool on) noexcept override;
    void ack_wait_fd(int fd) noexcept override;
    // Why a sync failed, for Port::last_error(): a TX hang with the ring's
    // registers and the link state. No allocation (a buffer per ring).
    const char* explain(const KRing& k, int rc) const noexcept override;
    bool link_up() const noexcept override { return link_status().up; }

    // -- control path (not concurrently with itself)
    const ChipInfo& chip() const noexcept { return *chip_; }
    Device& device() const noexcept { return *dev_; }
    std::array<std::uint8_t, 6> mac() const noexcept { return mac_; }
    // Down when the device is gone (STATUS reads all-ones): the port is
    // removed then, every sync fails with ENODEV (drivers::Regs).
    LinkStatus link_status() const noexcept;
    bool removed() const noexcept { return r_.gone(); }
    // Waits up to `timeout` for STATUS.LU.
    Status wait_link(std::chrono::milliseconds timeout) const;
    // Reads the clear-on-read counters and adds them to the totals; MPC and
    // RNBC also go into rx ring 0's drop counter.
    const HwStats& stats();
    // netmap-style per-packet accounting is in the rings; these are the NIC's.
    void set_promiscuous(bool on) noexcept;   // RCTL.UPE | RCTL.MPE
    void set_all_multicast(bool on) noexcept; // RCTL.MPE
    void set_broadcast(bool on) noexcept;     // RCTL.BAM
    void add_multicast(const std::array<std::uint8_t, 6>& group) noexcept; // MTA bit
    void set_itr(std::uint32_t us) noexcept;
    // Interrupt kind in use (when wait_fds() is empty, only busy polling).
    bool has_interrupts() const noexcept { return !irq_fds_.empty(); }
    IrqKind irq_kind() const noexcept { return irq_kind_; }
    unsigned irq_vectors() const noexcept { return unsigned(irq_fds_.size()); }
    // Empty when the chip's first choice of interrupts is in use; else the
    // kind taken instead (or none: busy polling only), why, and what to check.
    const std::string& irq_error() const noexcept { return irq_error_; }
    // Interrupt messages consumed by waiters so far (counted in ack_wait_fd).
    std::uint64_t irq_wakeups() const noexcept { return irq_wakeups_.load(std::memory_order_relaxed); }
    // The last TX hang on the ring (what txsync's -ETIMEDOUT reported: the
    // registers the hang left, the link, the reset), else the ring as it is.
    // Not while the ring's owner syncs.
    std::string tx_hang_report(std::uint32_t ring) const;
    // A hang not recovered from: the link is down and frames wait for it.
    bool tx_hung(std::uint32_t ring) const noexcept { return txq_[ring].hung; }

private:
    friend Result<std::shared_ptr<E1000Adapter>> make_adapter(std::unique_ptr<Device>, const PortOptions&,
                                                              const DriverOptions&);
    E1000Adapter(std::string name, std::unique_ptr<Device> dev, const ChipInfo& chip, const DriverOptions& o);

    // The descriptor format, as the data path tests it: one compare on the
    // family (traits(f).adv_desc agrees, checked in e1000.cpp), no table
    // lookup per sync.
    bool advanced() const noexcept { return chip_->family >= Family::i82576; }
    drivers::Reg rxq(unsigned q, std::uint32_t off, const char* name) const noexcept;
    drivers::Reg txq(unsigned q, std::uint32_t off, const char* name) const noexcept;

    Status init(const PortOptions& opts);
    Status reset_hw();
    Status wait_eeprom();
    Result<std::uint16_t> read_eeprom(std::uint16_t word);
    Status read_mac();
    Status setup_link();
    Result<std::uint16_t> read_phy(unsigned reg);
    Status write_phy(unsigned reg, std::uint16_t value);
    Status setup_rings(const PortOptions& opts);
    void mask_interrupts() noexcept;
    Status reset_device() noexcept;
    Status set_queue_enable(const drivers::Reg& dctl, bool on, const char* what) noexcept;
    Status setup_interrupts();
    void setup_msix_82574();
    void setup_msix_82576();
    void setup_one_vector_82576();
    void setup_rss();
    const char* describe_hang(drivers::RingText& out, const KRing& k) const noexcept;
    int recover_tx(KRing& k, drivers::HwQueue& q) noexcept;
    Status start();
    void stop() noexcept;
    void quiesce() noexcept;

    std::unique_ptr<Device> dev_;
    drivers::Regs r_;
    const ChipInfo* chip_;
    const FamilyTraits* t_;
    DriverOptions opt_;
    std::uint32_t nq_ = 1;
    std::array<std::uint8_t, 6> mac_{};
    std::vector<drivers::HwQueue> txq_, rxq_;
    drivers::BufIova iova_; // the buffers' addresses (linear: by arithmetic, four-descriptor steps)
    std::uint32_t rctl_ = 0; // RCTL without EN: filters chosen on the control path
    std::vector<int> irq_fds_;
    IrqKind irq_kind_ = IrqKind::intx;
    std::string irq_error_;
    std::atomic<std::uint64_t> irq_wakeups_{0};
    bool link_up_at_open_ = false;
    mutable std::vector<drivers::RingText> tx_text_; // explain(), one per tx ring
    // 82576/I350: rings with a sleeping rx / tx waiter, a bit per queue. On
    // MSI-X the two rings of a pair share a vector (EIMS bit); on one vector
    // every queue's rx (tx) waiter shares IMS.RXDW (TXDW). The rings may
    // belong to Ports in different threads.
    std::atomic<std::uint32_t> rx_armed_{0}, tx_armed_{0};
    bool running_ = false;
    bool mapped_ = false;
    HwStats stats_;
};

} // namespace upio::e1000
