// pkt-gen: the traffic generator and sink, in the spirit of netmap's.
#pragma once

#include "frame.hpp"

#include <upio/port.hpp>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace pktgen {

struct Config {
    std::string mode = "txrx";      // tx, rx, txrx (sender and receiver in one process)
    std::vector<std::string> ports; // tx/rx: one; txrx: sender then receiver
    std::uint64_t count = 0;        // packets to send/receive, 0: no limit
    std::size_t size = 60;          // frame length without FCS
    std::uint32_t batch = 512;      // packets per sync
    double rate = 0;                // packets per second, 0: as fast as possible
    std::vector<int> cpus;          // pin the workers (in order) to these CPUs
    double interval = 1.0;          // seconds between report lines
    double duration = 0;            // seconds, 0: until count or Ctrl-C
    bool busy = false;              // busy-wait instead of blocking
    bool json = false;              // JSON lines instead of text
    std::uint32_t slots = 1024;     // slots per ring
    upio::HugepagePolicy hugepages = upio::HugepagePolicy::prefer;
    FrameSpec frame;
};

// Counters a worker publishes (single writer, read by the reporter).
struct alignas(64) Counters {
    std::atomic<std::uint64_t> packets{0}, bytes{0}, syncs{0};
    void add(std::uint64_t p, std::uint64_t b) noexcept {
        auto bump = [](std::atomic<std::uint64_t>& c, std::uint64_t n) {
            c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
        };
        bump(packets, p);
        bump(bytes, b);
        bump(syncs, 1);
    }
};

struct Worker {
    bool sender = true;
    std::unique_ptr<upio::Port> port;
    int cpu = -1;
    Counters stats;
    std::atomic<bool> done{false};
    std::string error; // set when the worker stopped on an error
};

// The loops. They return when `stop` is set, the count is reached or a sync fails.
void run_sender(Worker& w, const Config& cfg, const std::atomic<bool>& stop);
void run_receiver(Worker& w, const Config& cfg, const std::atomic<bool>& stop, const std::atomic<bool>& senders_done);

// Pins the calling thread; false if the CPU does not exist.
bool pin_to_cpu(int cpu);

} // namespace pktgen
