// The control channel: a unix stream socket to the front end (QEMU, DPDK's
// virtio-user), served by one thread per port that sleeps in poll() until a
// message, a connection or the port's close arrives -- no CPU while idle.
//
// Server mode (the default) listens on PATH and serves one front end at a
// time; a second one is refused (its connection closed) while the first is
// there. Client mode connects to PATH (QEMU's "server=on" chardev) and, when
// the connection ends or cannot be made, tries again every second.
// Whenever a connection ends the device is reset: rings stop, memory is
// unmapped, the link goes down.
#pragma once

#include "vhost/device.hpp"

#include <upio/error.hpp>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>

namespace upio::vhost {

class Control {
public:
    Control(Device& dev, std::string path, bool client);
    ~Control();
    Control(const Control&) = delete;
    Control& operator=(const Control&) = delete;

    // Creates the socket (server: bound and listening, so a front end may
    // connect as soon as this returns) and starts the thread.
    Status start();
    bool connected() const noexcept { return connected_.load(std::memory_order_acquire); }
    // Connections accepted or made so far.
    std::uint64_t connections() const noexcept { return connections_.load(std::memory_order_relaxed); }
    // Why the last connection ended, or "".
    std::string last_error() const;

private:
    void run() noexcept;
    void serve(int fd) noexcept;
    // Reads one message with its fds. 1: read, 0: the peer closed, <0: error
    // (in err_), or the port is closing.
    int read_message(int fd, Message& m) noexcept;
    bool read_full(int fd, void* buf, std::size_t len, Message& m, bool first) noexcept;
    bool send_reply(int fd, const Reply& r) noexcept;
    bool wait_readable(int fd, int timeout_ms) noexcept; // false: the port is closing (or timeout)
    void set_error(std::string why, bool print = true);

    Device& dev_;
    std::string path_;
    bool client_;
    int listen_ = -1;
    int stop_ = -1; // eventfd: the destructor's "stop"
    std::thread thread_;
    std::atomic<bool> connected_{false};
    std::atomic<bool> stopping_{false};
    std::atomic<std::uint64_t> connections_{0};
    mutable std::mutex err_mu_;
    std::string err_;
};

} // namespace upio::vhost
