// "vhost:PATH[,client]": a vhost-user back end, so a virtio-net front end (a
// QEMU guest, DPDK's virtio-user) is one more port.
//
// The front end's rx queue of pair N (virtqueue 2N) is fed by the port's tx
// ring N; its tx queue (virtqueue 2N+1) feeds the port's rx ring N. Frames
// are copied between the port's buffers and the front end's, with a zeroed
// virtio_net_hdr in front (no offloads), a frame larger than one buffer as an
// NS_MOREFRAG chain on the netmap side and as several buffers (MRG_RXBUF) or
// a descriptor chain on the virtio side.
//
// No thread polls the rings: a waiter on the port sleeps on the queue's kick
// eventfd (with the front end asked to kick: EVENT_IDX's avail_event, or the
// used ring's NO_NOTIFY flag cleared, only while someone sleeps), and the
// call eventfd is written only when the front end asked for an interrupt.
// The control thread sleeps on the socket.
#pragma once

#include "vhost/control.hpp"
#include "vhost/device.hpp"

#include <upio/backend/adapter.hpp>
#include <upio/backend/port_type.hpp>

#include <memory>
#include <string>
#include <vector>

namespace upio::vhost {

const PortType& port_type();
Result<std::shared_ptr<Adapter>> open_vhost(const PortName& name, const PortOptions& opts);

// What a "vhost:" name says.
struct VhostName {
    std::string path;
    bool client = false;
};
Result<VhostName> parse_name(const PortName& pn);

class VhostAdapter final : public Adapter {
public:
    VhostAdapter(std::string name, VhostName vn, std::uint32_t pairs);
    ~VhostAdapter() override;

    Status init(const PortOptions& opts);

    int txsync(KRing& k, unsigned flags) noexcept override;
    int rxsync(KRing& k, unsigned flags) noexcept override;
    std::vector<int> wait_fds(const KRing& k) const override;
    void set_interrupts(KRing& k, bool on) noexcept override;
    void ack_wait_fd(int fd) noexcept override;
    bool link_up() const noexcept override;

    Device& device() noexcept { return dev_; }
    const Control& control() const noexcept { return *ctl_; }

    // The longest frame taken from the front end (its tx queue).
    static constexpr std::uint32_t max_frame = 65535;
    // The most slots one frame of the port's tx ring may span.
    static constexpr std::uint32_t max_frame_slots = 64;

private:
    Vring& vq_of(const KRing& k) noexcept { return dev_.vq(2 * k.ring_id + (k.dir == Direction::rx ? 1 : 0)); }
    void on_queue_change(std::uint32_t q) noexcept;
    bool start_if_kicked(KRing& k, Vring& q) noexcept;
    int drop_all(KRing& k) noexcept;

    VhostName vn_;
    mutable Device dev_;
    std::unique_ptr<Control> ctl_;
    std::vector<std::unique_ptr<Chain>> chains_; // one per kring: tx 0..n-1, rx n..2n-1
};

} // namespace upio::vhost
