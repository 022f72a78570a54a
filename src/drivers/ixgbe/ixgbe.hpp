// drivers/ixgbe/ixgbe.hpp -- Intel 10 GbE: 82599 (X520), X540, X550.
//
// Port names are "ixgbe:DDDD:BB:DD.F" (all queue pairs) or "...-N" (pair N
// only, so that each thread opens its own pair of one shared adapter). The
// device must be bound to vfio-pci (upio-setup bind ADDR; scripts/upio-setup in a source tree).
//
// One netmap ring per hardware queue; each descriptor ring is bound to its
// netmap ring and the device DMAs straight into the port's buffers (zero
// copy, NS_BUF_CHANGED honoured). Up to 64 queue pairs; RSS spreads received
// flows over the first 16 of them on the 82599 and X540 (128 4-bit RETA
// entries), over all 64 on the X550 (512 6-bit entries, RETA + ERETA).
//
// What differs between the MACs (ixgbe_regs.hpp has the register facts):
//
//               link                         RSS table        rx buffer
//   82599       AUTOC.RESTART_AN, LINKS      128 x 4 bits     512 KiB
//   X540        copper PHY, firmware; LINKS  128 x 4 bits     384 KiB
//   X550        copper PHY, firmware; LINKS  512 x 6 bits     384 KiB
//               (2.5/5 Gb/s: LINKS bit 27)
//   X550EM_x/a  refused: "not supported yet" (backplane/SFP/external PHY
//               link setup over IOSF, MDIO or firmware commands)
// MSI-X: one vector per queue pair, moderated by EITR, armed only while a
// waiter sleeps; busy polling needs no interrupts at all.
//
// Only the control path (open, close, statistics, link and filter changes)
// takes locks or builds errors; txsync/rxsync allocate, log and throw
// nothing.
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
#include <string>
#include <vector>

namespace upio::ixgbe {

enum class Family : std::uint8_t { i82599, x540, x550, x550em_x, x550em_a };

struct ChipInfo {
    std::uint16_t device_id;
    Family family;
    const char* name;
};

// The chip for an Intel device id, nullptr when this driver does not know it.
const ChipInfo* find_chip(std::uint16_t vendor_id, std::uint16_t device_id) noexcept;
// Why a family cannot be driven yet; nullptr when it can.
const char* unsupported_reason(Family f) noexcept;

inline constexpr std::uint32_t max_queue_pairs = 64;
inline constexpr std::uint32_t max_frame_jumbo = 9728; // 9.5 KiB including the CRC

struct DriverOptions {
    std::chrono::milliseconds reset_timeout{100};     // CTRL.RST to clear
    std::chrono::milliseconds eeprom_timeout{1000};   // EEC.AUTO_RD
    std::chrono::milliseconds dma_init_timeout{1000}; // RDRXCTL.DMAIDONE
    std::chrono::milliseconds link_timeout{10000};    // LINKS.LINK_UP; 0: do not wait
    bool require_link = true;                         // open fails when the link stays down
    std::chrono::milliseconds queue_timeout{100};     // RXDCTL/TXDCTL.ENABLE
    std::chrono::milliseconds tx_hang_timeout{1000};  // descriptors without DD and no progress
    std::uint32_t itr_us = 50;        // EITR: minimum gap between interrupts (2.048 us steps, at most 1046); 0: none
    std::uint32_t max_frame = 1518;   // bytes with CRC; up to max_frame_jumbo (HLREG0.JUMBOEN)
    std::uint32_t tx_reclaim_thresh = 0; // reclaim when fewer free tx slots; 0: half the ring
};

struct LinkStatus {
    bool up = false;
    unsigned speed_mbps = 0; // 100, 1000, 2500, 5000 (X550), 10000; 0 when down
};

// Hardware counters, accumulated into 64 bits (the registers clear on read).
struct HwStats {
    std::uint64_t rx_packets = 0;    // GPRC
    std::uint64_t rx_bytes = 0;      // GORC, including the CRC
    std::uint64_t rx_broadcast = 0;  // BPRC
    std::uint64_t rx_multicast = 0;  // MPRC
    std::uint64_t rx_missed = 0;     // MPC[0..7]: dropped, the packet buffer was full
    std::uint64_t rx_queue_drops = 0; // QPRDC as the rx rings counted it: dropped, no free descriptor
    std::uint64_t rx_crc_errors = 0; // CRCERRS
    std::uint64_t rx_length_errors = 0; // RLEC
    std::uint64_t rx_undersize = 0;  // RUC
    std::uint64_t rx_oversize = 0;   // ROC
    std::uint64_t rx_total = 0;      // TPR
    std::uint64_t tx_packets = 0;    // GPTC
    std::uint64_t tx_bytes = 0;      // GOTC, including the CRC
    std::uint64_t tx_total = 0;      // TPT
};

// Buffer addresses for the device (drivers/common/nic_ring.hpp).
using BufIova = drivers::BufIova;

// A receive queue: the shared ring state plus the address arithmetic.
// drop_reg is the BAR0 offset of the QPRDC counter the ring's owner reads
// when the device ran out of descriptors (0: the queue shares a counter).
struct RxQueue {
    drivers::HwQueue hw;
    BufIova iova;
    std::uint32_t drop_reg = 0;
    std::uint32_t rdt = 0; // the RDT written last (drop counting)
    // rxsync's variant: address arithmetic or page table, drop counting or not
    enum Path : std::uint8_t { linear, linear_counting, table, table_counting } path = linear;
};

// A transmit queue: the shared ring state plus where RS was requested.
// RS is set on the last descriptor of each batch only, so completions are
// found by looking at one descriptor per batch, not one per packet.
struct TxQueue {
    drivers::HwQueue hw;
    BufIova iova;
    std::vector<std::uint32_t> rs;  // slots with RS in flight, oldest first (a ring)
    std::uint32_t rs_head = 0, rs_tail = 0;
    std::uint32_t reclaim_thresh = 0;
};

class IxgbeAdapter;

// Resets and initialises an adapter on `dev` (VFIO or a model), which it owns.
Result<std::shared_ptr<IxgbeAdapter>> make_adapter(std::unique_ptr<Device> dev, const PortOptions& opts,
                                                   const DriverOptions& dopts = {});
// The "ixgbe:" port type: one adapter per PCI function (drivers/common/factory.hpp).
using Factory = drivers::NicFactory<IxgbeAdapter, DriverOptions, &make_adapter>;
// The descriptor of "ixgbe:DDDD:BB:DD.F" for the port-type table.
const PortType& port_type();
inline void set_device_opener(drivers::DeviceOpener o) { Factory::set_device_opener(o); } // pkt-gen's models

class IxgbeAdapter final : public Adapter {
public:
    ~IxgbeAdapter() override;

    // -- Adapter
    Status register_port(bool on) override;
    int txsync(KRing& k, unsigned flags) noexcept override;
    int rxsync(KRing& k, unsigned flags) noexcept override;
    std::vector<int> wait_fds(const KRing& k) const override;
    void set_interrupts(KRing& k, bool on) noexcept override;
    void ack_wait_fd(int fd) noexcept override;
    // Why a sync failed, for Port::last_error(): a TX hang with the queue's
    // registers and the link state. No allocation (a buffer per ring).
    const char* explain(const KRing& k, int rc) const noexcept override;
    bool link_up() const noexcept override { return link_status().up; }

    // -- control path (not concurrently with itself)
    const ChipInfo& chip() const noexcept { return *chip_; }
    Device& device() const noexcept { return *dev_; }
    std::uint32_t queue_pairs() const noexcept { return nq_; }
    std::array<std::uint8_t, 6> mac() const noexcept { return mac_; }
    // Down when the device is gone (its registers read all-ones): the port
    // is removed then, every sync fails with ENODEV (drivers::Regs).
    LinkStatus link_status() const noexcept;
    bool removed() const noexcept { return r_.gone(); }
    // Waits up to `timeout` for LINKS.LINK_UP.
    Status wait_link(std::chrono::milliseconds timeout) const;
    // Reads the clear-on-read counters and adds them to the totals. Per-ring
    // drops: each rx ring's owner adds its queue's QPRDC to its KRing
    // stats.drops (rxsync, when the device ran out of descriptors); this adds
    // what they have not collected yet; rx_queue_drops is their sum.
    const HwStats& stats();
    void set_promiscuous(bool on) noexcept;   // FCTRL.UPE | FCTRL.MPE
    void set_all_multicast(bool on) noexcept; // FCTRL.MPE
    void set_broadcast(bool on) noexcept;     // FCTRL.BAM
    void add_multicast(const std::array<std::uint8_t, 6>& group) noexcept; // MTA bit
    void set_itr(std::uint32_t us) noexcept;
    bool has_interrupts() const noexcept { return !irq_fds_.empty(); }
    const std::string& irq_error() const noexcept { return irq_error_; }
    // The vector of "other" causes (link status change), -1 without MSI-X.
    int link_fd() const noexcept { return irq_fds_.empty() ? -1 : irq_fds_.back(); }
    // The last TX hang on the ring (what txsync's -ETIMEDOUT reported: the
    // registers the hang left, the link, the reset), else the ring as it is.
    // Not while the ring's owner syncs.
    std::string tx_hang_report(std::uint32_t ring) const;
    // A hang not recovered from: the link is down and frames wait for it.
    bool tx_hung(std::uint32_t ring) const noexcept { return txq_[ring].hw.hung; }

private:
    friend Result<std::shared_ptr<IxgbeAdapter>> make_adapter(std::unique_ptr<Device>, const PortOptions&,
                                                              const DriverOptions&);
    IxgbeAdapter(std::string name, std::unique_ptr<Device> dev, const ChipInfo& chip, const DriverOptions& o);

    Status init(const PortOptions& opts);
    void mask_interrupts() noexcept;
    Status reset_device(std::uint32_t bits) noexcept;
    Status reset_hw();
    Status set_rx_enable(bool on) noexcept;
    Status read_mac();
    Status setup_link();
    Status setup_memory(const PortOptions& opts);
    void init_rx();
    void init_tx();
    void setup_rss();
    Status setup_interrupts();
    Status start();
    void stop() noexcept;
    void quiesce() noexcept;
    unsigned vector_of(std::uint32_t queue) const noexcept { return queue % nvec_queues_; }
    const char* describe_hang(drivers::RingText& out, const KRing& k) const noexcept;
    int recover_tx(KRing& k, TxQueue& tq) noexcept;

    std::unique_ptr<Device> dev_;
    drivers::Regs r_;
    const ChipInfo* chip_;
    DriverOptions opt_;
    std::uint32_t nq_ = 1;
    std::array<std::uint8_t, 6> mac_{};
    std::vector<TxQueue> txq_;
    std::vector<RxQueue> rxq_;
    std::uint32_t fctrl_ = 0;
    std::vector<int> irq_fds_; // MSI-X: queue vectors, then the "other" vector
    unsigned nvec_queues_ = 1;
    std::string irq_error_;
    mutable std::vector<drivers::RingText> tx_text_; // explain(), one per tx ring
    // queue vectors with a sleeping rx / tx waiter (the two rings of a pair
    // may belong to Ports in two threads and share one vector)
    std::atomic<std::uint64_t> rx_armed_{0}, tx_armed_{0};
    bool running_ = false;
    bool mapped_ = false;
    HwStats stats_;
};

} // namespace upio::ixgbe
