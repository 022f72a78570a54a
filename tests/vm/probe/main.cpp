// upio-vfio-probe -- look at PCI functions and exercise one through VFIO.
//
//   upio-vfio-probe list                 network functions: ids, driver, group
//   upio-vfio-probe check ADDR [opts]    open through VFIO, DMA-map a region,
//                                        read STATUS and the MAC, fire an irq
//     --mac XX:XX:XX:XX:XX:XX   expected MAC in RAL0/RAH0
//     --irq msix|msi|intx|none  interrupt kind to enable and trigger
//     --hugepages               require hugepages for the region
//     --no-mmap                 reach BAR0 through pread/pwrite, not mmap
//   upio-vfio-probe tx ADDR [--count N]
//                                        send N test frames through a legacy
//                                        TX ring: proves the device reads
//                                        the DMA-mapped region at its IOVAs
//   upio-vfio-probe rx ADDR [--timeout S]
//                                        wait (up to S s, default 10) for a
//                                        beacon frame of the host checker
//                                        through a legacy RX ring: proves the
//                                        device writes the region at its IOVAs
//
// Output is one "key=value" per line, then "result=ok" or "result=fail ...",
// so scripts (tests/vm) can parse it. Exit status 0 only on success.
//
// Registers (Intel 8254x/82574/82576 datasheets; same offsets on all three):
//   STATUS 0x0008  device status                       (13.4.2)
//   ICR    0x00C0  interrupt cause read, clear on read (13.4.17)
//   ICS    0x00C8  interrupt cause set                 (13.4.18)
//   IMS    0x00D0  interrupt mask set                  (13.4.20)
//   IMC    0x00D8  interrupt mask clear                (13.4.21)
//   IVAR   0x00E4  82574 MSI-X vector allocation       (10.2.4.9 of 82574)
//   RAL0   0x5400  receive address low                 (13.4.62)
//   RAH0   0x5404  receive address high, bit 31 AV
//   EICS   0x1520, EIMS 0x1524, GPIE 0x1514           (82576 extended irqs)
//   CTRL   0x0000  bit 6 SLU set link up               (13.4.1)
//   TCTL   0x0400  bit 1 EN, bit 3 PSP                 (13.4.33)
//   TDBAL/TDBAH/TDLEN/TDH/TDT 0x3800.. (8254x, 82574), 0xE000.. (82576 queue 0)
//   TXDCTL 0xE028  82576: bit 25 queue enable          (8.12.15 of 82576)
//   RCTL   0x0100  bit 1 EN, bit 15 BAM, bit 26 SECRC  (13.4.22)
//   RDBAL/RDBAH/RDLEN/RDH/RDT 0x2800.. (8254x, 82574), 0xC000.. (82576 queue 0)
//   MDIC   0x0020  PHY access: data 15:0, reg 20:16, PHY 25:21, op 27:26, ready 28 (13.4.7)
//   RXDCTL 0xC028  82576: bit 25 queue enable          (8.10.10 of 82576)
#include <upio/pci.hpp>
#include <upio/version.hpp>

#include "core/vfio.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <poll.h>
#include <unistd.h>

using namespace upio;

namespace {

constexpr std::uint32_t STATUS = 0x0008, ICR = 0x00C0, ICS = 0x00C8, IMS = 0x00D0, IMC = 0x00D8,
                        IVAR = 0x00E4, RAL0 = 0x5400, RAH0 = 0x5404, GPIE = 0x1514, EICS = 0x1520,
                        EIMS = 0x1524, EIMC = 0x1528;
constexpr std::uint32_t ICR_LSC = 1u << 2;
constexpr std::uint32_t ICR_OTHER = 1u << 24; // 82574 in MSI-X mode: "other" causes (LSC among them)
constexpr std::uint16_t DEV_82576 = 0x10c9;
constexpr std::uint32_t CTRL = 0x0000, CTRL_SLU = 1u << 6, STATUS_LU = 1u << 1, TCTL = 0x0400,
                        TCTL_EN = 1u << 1, TCTL_PSP = 1u << 3, TXDCTL_ENABLE = 1u << 25;
// Offsets from the TX queue's base (TDBAL).
constexpr std::uint32_t TDBAH = 0x04, TDLEN = 0x08, TDH = 0x10, TDT = 0x18, TXDCTL = 0x28;
// Offsets from the RX queue's base (RDBAL): the same layout.
constexpr std::uint32_t RDBAH = 0x04, RDLEN = 0x08, RDH = 0x10, RDT = 0x18, RXDCTL = 0x28;
constexpr std::uint32_t RCTL = 0x0100, RCTL_EN = 1u << 1, RCTL_BAM = 1u << 15, RCTL_SECRC = 1u << 26;
constexpr std::uint32_t MDIC = 0x0020, MDIC_WRITE = 1u << 26, MDIC_READ = 2u << 26, MDIC_READY = 1u << 28;
constexpr std::uint32_t PHY = 1, BMCR_AN_ENABLE = 1u << 12, BMCR_RESTART_AN = 1u << 9; // PHY register 0: BMCR

// Legacy transmit descriptor (8254x 3.3.3).
struct TxDesc {
    std::uint64_t addr;
    std::uint16_t length;
    std::uint8_t cso, cmd, status, css;
    std::uint16_t special;
};
static_assert(sizeof(TxDesc) == 16);
constexpr std::uint8_t TXD_EOP = 0x01, TXD_IFCS = 0x02, TXD_RS = 0x08, TXD_DD = 0x01;

// Receive descriptor: legacy (8254x 3.2.3) on the 8254x and 82574; the
// 82576's advanced one-buffer format (82576 7.1.5), which QEMU's igb always
// uses: the driver writes {buffer, header buffer}, the device writes back
// status/errors in bytes 8-11 and the length in bytes 12-13.
struct RxDesc {
    std::uint64_t addr;
    std::uint16_t length, csum; // legacy write-back; advanced: status/errors (staterr)
    std::uint8_t status, errors; // legacy; advanced: length (bytes 12-13)
    std::uint16_t special;
};
static_assert(sizeof(RxDesc) == 16);
constexpr std::uint8_t RXD_DD = 0x01, RXD_EOP = 0x02; // the same bits in the legacy status and advanced staterr
constexpr std::uint32_t SRRCTL = 0x0C, SRRCTL_ONEBUF_2K = 2u | 1u << 25; // 82576: BSIZEPACKET 2 KiB, DESCTYPE 001

int fail(const std::string& why) {
    std::printf("result=fail %s\n", why.c_str());
    return 1;
}

int list() {
    auto devs = pci_enumerate();
    if (!devs)
        return fail(devs.error().message);
    for (const auto& d : devs.value()) {
        if (!d.is_network())
            continue;
        std::printf("device=%s id=%04x:%04x class=%06x driver=%s iommu_group=%d numa=%d bars=%zu\n",
                    d.address.str().c_str(), d.vendor_id, d.device_id, d.class_code,
                    d.driver.empty() ? "-" : d.driver.c_str(), d.iommu_group, d.numa_node, d.bars.size());
        for (const auto& b : d.bars)
            std::printf("bar%u=%#llx+%#llx%s\n", b.index, (unsigned long long)b.start,
                        (unsigned long long)b.size, b.io ? " io" : "");
    }
    std::printf("result=ok\n");
    return 0;
}

std::string mac_text(const unsigned char* m) {
    char s[18];
    std::snprintf(s, sizeof s, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
    return s;
}

// Makes the device raise an interrupt through `kind` twice and waits
// (bounded) for the eventfd each time. The second round proves the first was
// fully handled: for INTx that needs the unmask after the cause is cleared.
bool fire_irq(VfioDevice& dev, IrqKind kind, int efd) {
    bool igb = dev.device_id() == DEV_82576;
    for (int round = 1; round <= 2; ++round) {
        if (igb && kind == IrqKind::msix) {
            dev.write32(GPIE, (1u << 4) | (1u << 31) | (1u << 30)); // multiple MSI-X, PBA, EIAME
            dev.write32(EIMS, 1);
            dev.write32(EICS, 1);
        } else {
            std::uint32_t mask = ICR_LSC;
            if (kind == IrqKind::msix) {
                dev.write32(IVAR, (0x8u | 0) << 16); // "other" causes -> vector 0, valid
                mask |= ICR_OTHER;
            }
            dev.write32(IMS, mask);
            dev.write32(ICS, ICR_LSC);
        }
        pollfd p{efd, POLLIN, 0};
        int n = ::poll(&p, 1, 3000);
        std::uint64_t count = 0;
        if (n == 1)
            (void)!::read(efd, &count, sizeof count);
        (void)dev.read32(ICR); // clears the causes: the INTx line drops
        dev.write32(IMC, ~0u);
        if (igb)
            dev.write32(EIMC, ~0u);
        if (kind == IrqKind::intx)
            dev.unmask_intx();
        std::printf("irq_round=%d irq_count=%llu\n", round, (unsigned long long)count);
        if (n != 1 || count == 0)
            return false;
    }
    return true;
}

int check(int argc, char** argv) {
    auto addr = PciAddress::parse(argv[2]);
    if (!addr)
        return fail(addr.error().message);
    std::string want_mac, irq = "none";
    bool huge = false;
    VfioOptions vopts;
    for (int i = 3; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--mac" && i + 1 < argc)
            want_mac = argv[++i];
        else if (a == "--irq" && i + 1 < argc)
            irq = argv[++i];
        else if (a == "--hugepages")
            huge = true;
        else if (a == "--no-mmap")
            vopts.mmap_bar0 = false;
        else
            return fail("unknown option " + a);
    }
    auto t0 = std::chrono::steady_clock::now();
    auto opened = VfioDevice::open(addr.value(), vopts);
    if (!opened)
        return fail(opened.error().message);
    VfioDevice& dev = *opened.value();
    std::printf("open=ok id=%04x:%04x bar0_size=%#zx bar0_fully_mapped=%d group=%d\n", dev.vendor_id(),
                dev.device_id(), dev.bar0_size(), int(dev.bar0_fully_mapped()), dev.group().number());
    for (const auto& r : dev.group().container()->iova_ranges())
        std::printf("iova_range=%#llx-%#llx\n", (unsigned long long)r.first, (unsigned long long)r.last);

    MemoryConfig mc;
    mc.hugepages = huge ? HugepagePolicy::require : HugepagePolicy::never;
    auto region = MemoryRegion::create("probe", 4096, 64, mc);
    if (!region)
        return fail(region.error().message);
    MemoryRegion& r = *region.value();
    if (auto st = dev.dma_map(r); !st)
        return fail(st.error().message);
    Iova first = r.iova(r.base());
    Iova last = r.iova(r.base() + r.size() - 1);
    std::printf("dma_map=ok hugepages=%d size=%#zx va=%p iova=%#llx\n", int(r.on_hugepages()), r.size(),
                static_cast<void*>(r.base()), (unsigned long long)first.value);
    if (first.value == reinterpret_cast<std::uintptr_t>(r.base()))
        return fail("IOVA equals the virtual address");
    if (last - first != r.size() - 1)
        return fail("IOVA map is not contiguous");
    if (auto st = dev.set_bus_master(true); !st)
        return fail(st.error().message);

    std::uint32_t status = dev.read32(STATUS);
    std::printf("status=%#010x link_up=%u\n", status, (status >> 1) & 1);
    if (status == 0xffffffff)
        return fail("STATUS reads all ones: BAR0 not reachable");
    std::uint32_t ral = dev.read32(RAL0), rah = dev.read32(RAH0);
    unsigned char mac[6] = {std::uint8_t(ral), std::uint8_t(ral >> 8), std::uint8_t(ral >> 16),
                            std::uint8_t(ral >> 24), std::uint8_t(rah), std::uint8_t(rah >> 8)};
    std::printf("mac=%s rah_av=%u\n", mac_text(mac).c_str(), rah >> 31);
    if (!want_mac.empty() && strcasecmp(want_mac.c_str(), mac_text(mac).c_str()) != 0)
        return fail("MAC " + mac_text(mac) + " is not the expected " + want_mac);

    if (irq != "none") {
        IrqKind kind = irq == "msix" ? IrqKind::msix : irq == "msi" ? IrqKind::msi : IrqKind::intx;
        auto fds = dev.enable_interrupts(kind, 1);
        if (!fds)
            return fail(fds.error().message);
        std::printf("irq=%s vectors=%u eventfd=%d\n", irq.c_str(), dev.irq_count(kind), fds.value()[0]);
        if (!fire_irq(dev, kind, fds.value()[0]))
            return fail("no " + irq + " interrupt on the eventfd within 3 s");
        dev.disable_interrupts();
    }
    if (auto st = dev.dma_unmap(r); !st)
        return fail(st.error().message);
    if (auto st = dev.set_bus_master(false); !st)
        return fail(st.error().message);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    std::printf("elapsed_ms=%lld\nresult=ok\n", (long long)ms.count());
    return 0;
}

// The test frame the host checker's "probe" mode verifies byte by byte:
// broadcast, source = the NIC's MAC, ethertype 0x88b5, "upio-probe", the
// sequence number, then bytes (i * 7 + seq) & 0xff up to 60 bytes.
void fill_frame(unsigned char* f, const unsigned char* mac, unsigned seq) {
    std::memset(f, 0xff, 6);
    std::memcpy(f + 6, mac, 6);
    f[12] = 0x88;
    f[13] = 0xb5;
    std::memcpy(f + 14, "upio-probe", 10);
    f[24] = std::uint8_t(seq);
    for (unsigned i = 25; i < 60; ++i)
        f[i] = std::uint8_t(i * 7 + seq);
}

int tx(int argc, char** argv) {
    auto addr = PciAddress::parse(argv[2]);
    if (!addr)
        return fail(addr.error().message);
    unsigned count = 1;
    if (argc > 4 && std::string(argv[3]) == "--count")
        count = unsigned(std::atoi(argv[4]));
    if (count == 0 || count > 7)
        return fail("--count must be 1..7 (one 8-descriptor ring)");
    auto opened = VfioDevice::open(addr.value());
    if (!opened)
        return fail(opened.error().message);
    VfioDevice& dev = *opened.value();
    MemoryConfig mc;
    mc.hugepages = HugepagePolicy::never;
    auto region = MemoryRegion::create("probe-tx", 4096, 64, mc, 8 * sizeof(TxDesc));
    if (!region)
        return fail(region.error().message);
    MemoryRegion& r = *region.value();
    auto ring_mem = r.alloc_device_object(8 * sizeof(TxDesc)); // the device reaches only these and the buffers
    if (!ring_mem)
        return fail(ring_mem.error().message);
    if (auto st = dev.dma_map(r); !st)
        return fail(st.error().message);
    if (auto st = dev.set_bus_master(true); !st)
        return fail(st.error().message);

    bool igb = dev.device_id() == DEV_82576;
    std::uint32_t q = igb ? 0xE000 : 0x3800;
    dev.write32(CTRL, dev.read32(CTRL) | CTRL_SLU);
    for (int i = 0; i < 200 && !(dev.read32(STATUS) & STATUS_LU); ++i) // up to 2 s
        ::usleep(10000);
    std::printf("link_up=%u\n", (dev.read32(STATUS) & STATUS_LU) ? 1u : 0u);

    std::uint32_t ral = dev.read32(RAL0), rah = dev.read32(RAH0);
    unsigned char mac[6] = {std::uint8_t(ral), std::uint8_t(ral >> 8), std::uint8_t(ral >> 16),
                            std::uint8_t(ral >> 24), std::uint8_t(rah), std::uint8_t(rah >> 8)};
    auto* ring = static_cast<TxDesc*>(ring_mem.value());
    std::memset(ring, 0, 8 * sizeof(TxDesc));
    for (unsigned i = 0; i < count; ++i) {
        auto idx = r.alloc_buf();
        if (!idx)
            return fail(idx.error().message);
        auto* f = reinterpret_cast<unsigned char*>(r.buf(idx.value()));
        fill_frame(f, mac, i);
        ring[i].addr = r.buf_iova(idx.value()).value;
        ring[i].length = 60;
        ring[i].cmd = TXD_EOP | TXD_IFCS | TXD_RS;
    }
    Iova ring_iova = r.iova(ring);
    dev.write32(q, std::uint32_t(ring_iova.value));
    dev.write32(q + TDBAH, std::uint32_t(ring_iova.value >> 32));
    dev.write32(q + TDLEN, 8 * sizeof(TxDesc));
    dev.write32(q + TDH, 0);
    dev.write32(q + TDT, 0);
    if (igb)
        dev.write32(q + TXDCTL, dev.read32(q + TXDCTL) | TXDCTL_ENABLE);
    dev.write32(TCTL, TCTL_EN | TCTL_PSP);
    std::printf("ring_iova=%#llx frames=%u\n", (unsigned long long)ring_iova.value, count);
    dev.write32(q + TDT, count);

    unsigned done = 0;
    for (int i = 0; i < 300 && done < count; ++i) { // up to 3 s
        done = 0;
        for (unsigned k = 0; k < count; ++k)
            done += (reinterpret_cast<volatile TxDesc*>(ring)[k].status & TXD_DD) ? 1 : 0;
        if (done < count)
            ::usleep(10000);
    }
    std::printf("tdh=%u descriptors_done=%u\n", dev.read32(q + TDH), done);
    dev.write32(TCTL, 0);
    if (auto st = dev.set_bus_master(false); !st)
        return fail(st.error().message);
    if (auto st = dev.dma_unmap(r); !st)
        return fail(st.error().message);
    if (done < count)
        return fail("the device did not complete the descriptors within 3 s (TDH=" +
                    std::to_string(dev.read32(q + TDH)) + ")");
    std::printf("result=ok\n");
    return 0;
}

// The host checker's "beacon" frame: broadcast, ethertype 0x88b5, then
// "upio-vm-beacon N". Every buffer of an 8-descriptor legacy RX ring is
// given to the device; we wait for one that holds a beacon.
int rx(int argc, char** argv) {
    auto addr = PciAddress::parse(argv[2]);
    if (!addr)
        return fail(addr.error().message);
    int limit_s = 10;
    if (argc > 4 && std::string(argv[3]) == "--timeout")
        limit_s = std::atoi(argv[4]);
    if (limit_s <= 0)
        return fail("--timeout must be at least 1 s");
    auto opened = VfioDevice::open(addr.value());
    if (!opened)
        return fail(opened.error().message);
    VfioDevice& dev = *opened.value();
    MemoryConfig mc;
    mc.hugepages = HugepagePolicy::never;
    auto region = MemoryRegion::create("probe-rx", 4096, 64, mc, 8 * sizeof(RxDesc));
    if (!region)
        return fail(region.error().message);
    MemoryRegion& r = *region.value();
    constexpr unsigned n = 8;
    auto ring_mem = r.alloc_device_object(n * sizeof(RxDesc));
    if (!ring_mem)
        return fail(ring_mem.error().message);
    if (auto st = dev.dma_map(r); !st)
        return fail(st.error().message);
    if (auto st = dev.set_bus_master(true); !st)
        return fail(st.error().message);

    bool igb = dev.device_id() == DEV_82576;
    std::uint32_t q = igb ? 0xC000 : 0x2800;
    dev.write32(CTRL, dev.read32(CTRL) | CTRL_SLU);
    for (int i = 0; i < 20 && !(dev.read32(STATUS) & STATUS_LU); ++i) // up to 200 ms
        ::usleep(10000);
    // A device does not receive without a link. QEMU's 82576 negotiates
    // only when asked: BMCR auto-negotiation enable + restart, over MDIC.
    auto mdic = [&](std::uint32_t cmd) {
        dev.write32(MDIC, cmd);
        for (int i = 0; i < 100 && !(dev.read32(MDIC) & MDIC_READY); ++i) // up to 100 ms
            ::usleep(1000);
        return dev.read32(MDIC);
    };
    if (!(dev.read32(STATUS) & STATUS_LU)) {
        const std::uint32_t bmcr = mdic(MDIC_READ | PHY << 21) & 0xffff;
        mdic(MDIC_WRITE | PHY << 21 | bmcr | BMCR_AN_ENABLE | BMCR_RESTART_AN);
    }
    for (int i = 0; i < 300 && !(dev.read32(STATUS) & STATUS_LU); ++i) // up to 3 s
        ::usleep(10000);
    std::printf("link_up=%u\n", (dev.read32(STATUS) & STATUS_LU) ? 1u : 0u);
    auto* ring = static_cast<RxDesc*>(ring_mem.value());
    std::memset(ring, 0, n * sizeof(RxDesc));
    unsigned char* bufs[n];
    std::uint64_t buf_iova[n];
    for (unsigned i = 0; i < n; ++i) {
        auto idx = r.alloc_buf();
        if (!idx)
            return fail(idx.error().message);
        bufs[i] = reinterpret_cast<unsigned char*>(r.buf(idx.value()));
        std::memset(bufs[i], 0, r.buf_size());
        ring[i].addr = buf_iova[i] = r.buf_iova(idx.value()).value;
    }
    Iova ring_iova = r.iova(ring);
    dev.write32(q, std::uint32_t(ring_iova.value));
    dev.write32(q + RDBAH, std::uint32_t(ring_iova.value >> 32));
    dev.write32(q + RDLEN, n * sizeof(RxDesc));
    dev.write32(q + RDH, 0);
    dev.write32(q + RDT, 0);
    if (igb) {
        dev.write32(q + SRRCTL, SRRCTL_ONEBUF_2K);
        dev.write32(q + RXDCTL, dev.read32(q + RXDCTL) | TXDCTL_ENABLE /* RXDCTL: the same bit */);
    }
    dev.write32(RCTL, RCTL_EN | RCTL_BAM | RCTL_SECRC); // BSIZE 00: 2048-byte buffers
    dev.write32(q + RDT, n - 1); // RDT == RDH means empty: one descriptor stays back
    std::printf("ring_iova=%#llx descriptors=%u\n", (unsigned long long)ring_iova.value, n - 1);

    // Up to limit_s: the beacon is sent every 100 ms while this case runs.
    unsigned frames = 0, beacons = 0;
    std::string first;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(limit_s);
    for (unsigned k = 0; beacons == 0 && std::chrono::steady_clock::now() < deadline;) {
        volatile RxDesc& d = reinterpret_cast<volatile RxDesc*>(ring)[k];
        const std::uint8_t status = igb ? std::uint8_t(d.length) : d.status;
        if (!(status & RXD_DD)) {
            ::usleep(10000);
            continue;
        }
        const unsigned len = igb ? unsigned(d.status | d.errors << 8) : d.length;
        ++frames;
        const unsigned char* f = bufs[k];
        if ((status & RXD_EOP) && len >= 30 && len <= r.buf_size() && f[12] == 0x88 && f[13] == 0xb5 &&
            std::memcmp(f + 14, "upio-vm-beacon ", 15) == 0) {
            ++beacons;
            first.assign(reinterpret_cast<const char*>(f + 14), ::strnlen(reinterpret_cast<const char*>(f + 14), 40));
        }
        d.addr = buf_iova[k]; // the advanced write-back overwrote it
        d.length = 0;
        d.csum = 0;
        d.status = 0;
        d.errors = 0;
        d.special = 0;
        dev.write32(q + RDT, k); // give it back
        k = (k + 1) % n;
    }
    std::printf("frames=%u beacons=%u%s%s\n", frames, beacons, first.empty() ? "" : " first=", first.c_str());
    dev.write32(RCTL, 0);
    if (auto st = dev.set_bus_master(false); !st)
        return fail(st.error().message);
    if (auto st = dev.dma_unmap(r); !st)
        return fail(st.error().message);
    if (beacons == 0)
        return fail("no beacon frame within " + std::to_string(limit_s) + " s (RDH=" +
                    std::to_string(dev.read32(q + RDH)) + ", " + std::to_string(frames) + " other frames)");
    std::printf("result=ok\n");
    return 0;
}

// Opens the device and expects failure; prints the error (tests compare it).
int expect_error(int argc, char** argv) {
    auto addr = PciAddress::parse(argv[2]);
    if (!addr)
        return fail(addr.error().message);
    VfioOptions opts;
    if (argc > 3 && std::string(argv[3]) == "--noiommu")
        opts.mode = VfioMode::noiommu;
    auto opened = VfioDevice::open(addr.value(), opts);
    if (opened)
        return fail("opening succeeded");
    std::printf("error=%s\nresult=ok\n", opened.error().message.c_str());
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    std::string cmd = argc > 1 ? argv[1] : "";
    if (cmd == "--version") {
        std::printf("upio-vfio-probe (upio) %s\n", upio::version());
        return 0;
    }
    if (cmd == "list")
        return list();
    if (cmd == "check" && argc > 2)
        return check(argc, argv);
    if (cmd == "tx" && argc > 2)
        return tx(argc, argv);
    if (cmd == "rx" && argc > 2)
        return rx(argc, argv);
    if (cmd == "expect-error" && argc > 2)
        return expect_error(argc, argv);
    std::fprintf(stderr, "usage: upio-vfio-probe --version | list | check ADDR [--mac M] [--irq msix|msi|intx|none] "
                         "[--hugepages] [--no-mmap] | tx ADDR [--count N] | rx ADDR [--timeout S] | expect-error ADDR [--noiommu]\n");
    return 2;
}
