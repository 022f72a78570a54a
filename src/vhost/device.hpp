// The vhost-user device: the state a front end sets up with messages (its
// features, memory table and virtqueues), and the handler for one message.
// Socket-free: the control thread (control.cpp) reads a message with its
// fds, hands it here and sends the reply; the fuzzer does the same from a
// byte string.
//
// Every message is checked before it changes anything: its version and
// flags, its payload size against its request, the number of fds it
// carries, queue indices, queue sizes, features the device did not offer,
// and the memory table (guest_memory.hpp). A message that fails is refused:
// with REPLY_ACK asked for, the front end gets a failure and the connection
// stays; otherwise the connection is closed.
#pragma once

#include "vhost/guest_memory.hpp"
#include "vhost/protocol.hpp"
#include "vhost/virtqueue.hpp"

#include <upio/error.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace upio::vhost {

// A message as read from the socket, with the fds that came with it.
struct Message {
    MsgHeader hdr{};
    alignas(8) std::uint8_t payload[max_payload] = {};
    int fds[max_fds] = {-1, -1, -1, -1, -1, -1, -1, -1};
    std::uint32_t nfds = 0;
    void close_fds() noexcept;
};

// The answer to send, if any.
struct Reply {
    bool send = false;
    MsgHeader hdr{};
    alignas(8) std::uint8_t payload[8] = {};
};

// Checks what can be checked of a message alone: the header (version 1, not
// a reply, a payload no larger than any request's), the payload size and fd
// count its request needs. Pure; a fuzzing target.
Status check_message(const Message& m);
// For a reader: whether a header may be followed by `size` payload bytes.
inline bool payload_size_ok(std::uint32_t size) { return size <= max_payload; }
const char* request_name(std::uint32_t req) noexcept;

struct DeviceConfig {
    std::uint32_t queue_pairs = 1;
};

class Device {
public:
    explicit Device(DeviceConfig cfg);

    // Features the device offers (GET_FEATURES) and protocol features.
    std::uint64_t offered_features() const noexcept { return offered_; }
    static constexpr std::uint64_t offered_protocol =
        bit(VHOST_USER_PROTOCOL_F_MQ) | bit(VHOST_USER_PROTOCOL_F_REPLY_ACK);

    // Handles one message (its fds are consumed: kept or closed). Returns
    // the reply to send, or an error that ends the connection.
    Result<Reply> handle(Message& m);
    // The connection ended (or RESET_OWNER): back to the state before the
    // first message, memory unmapped, fds closed.
    void reset() noexcept;

    std::uint32_t num_queues() const noexcept { return std::uint32_t(vq_.size()); }
    Vring& vq(std::uint32_t i) noexcept { return *vq_[i]; }
    const GuestMemory& memory() const noexcept { return mem_; }
    std::uint64_t features() const noexcept { return features_; }
    // Bytes of virtio_net_hdr in front of every frame.
    std::uint32_t hdr_len() const noexcept { return hdr_len_; }
    bool mergeable() const noexcept { return features_ & bit(VIRTIO_NET_F_MRG_RXBUF); }
    // Queue pair `p` has both queues set up and enabled: a link (frames
    // move once the front end has kicked each queue).
    bool pair_ready(std::uint32_t p) noexcept;
    // Called after every message that changed queue `i`, outside its lock
    // (the adapter wakes the ring's waiter).
    std::function<void(std::uint32_t)> on_queue_change;

private:
    Result<Reply> dispatch(Message& m, Reply& r);
    Status set_features(std::uint64_t f);
    Status set_mem_table(Message& m);
    Result<Vring*> queue(std::uint32_t index);
    void lock_all() noexcept;
    void unlock_all() noexcept;
    void changed(std::uint32_t i) {
        if (on_queue_change) on_queue_change(i);
    }
    void changed_all() {
        for (std::uint32_t i = 0; i < num_queues(); i++) changed(i);
    }

    DeviceConfig cfg_;
    std::uint64_t offered_ = 0;
    std::uint64_t features_ = 0;
    std::uint64_t protocol_ = 0;
    bool features_set_ = false;
    std::uint32_t hdr_len_ = 10;
    GuestMemory mem_;
    std::vector<std::unique_ptr<Vring>> vq_;
};

} // namespace upio::vhost
