// pkt-gen: the traffic generator, sink and latency meter, in the spirit of netmap's.
#pragma once

#include "frame.hpp"
#include "stats.hpp"

#include <upio/chain.hpp>
#include <upio/netmap_user.h>
#include <upio/port.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace pktgen {

enum class Role { sender, receiver, ping, pong };

struct Config {
    std::string mode = "txrx";      // tx rx txrx txseq rxseq txrxseq ping pong pingpong
    std::vector<std::string> ports; // txrx/txrxseq: senders..., receiver; pingpong: ping, pong
    std::uint32_t streams = 1;      // sending threads in this process (sequence streams)
    std::uint64_t count = 0;        // packets to send/receive/ping, 0: no limit
    std::uint32_t batch = 512;      // packets per sync
    double rate = 0;                // packets per second per sender, 0: as fast as possible
    std::uint32_t threads = 1;      // -p: threads per port, one ring pair each
    std::vector<int> cpus;          // -a: CPUs for the workers, in order
    int cores = 0;                  // -c: spread workers over this many CPUs from the first -a
    double interval = 1.0;          // seconds between report lines
    double duration = 0;            // seconds, 0: until count or Ctrl-C
    double wait_link = 0;           // -w: seconds to wait for link up
    double timeout = 5;             // senders and ping: seconds without progress before failing, 0: never
    bool busy = false;              // busy-wait instead of blocking
    double spin_us = 50;            // blocking waits poll this long before sleeping
    bool json = false;              // JSON lines instead of text
    bool seq = false;               // sequence numbers (txseq/rxseq/txrxseq)
    std::uint32_t slots = 1024;     // slots per ring
    upio::HugepagePolicy hugepages = upio::HugepagePolicy::prefer;
    FrameSpec frame;
    Variation vary;                 // -l ranges, -s/-d ranges, -z/-Z
    std::vector<std::vector<std::uint8_t>> replay; // -P: frames from a pcap file
    std::string pcap_out;           // --pcap: write received frames here
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

struct PcapWriter; // pcap.cpp

struct Worker {
    Role role = Role::sender;
    std::unique_ptr<upio::Port> port;
    upio::Port* peer_tx = nullptr; // pong: where replies go (its own port)
    int cpu = -1;
    Counters stats;
    std::atomic<bool> done{false};
    std::string error;           // set when the worker stopped on an error
    std::uint32_t stream = 0;    // senders: stream id in the sequence number's top 16 bits
    std::vector<SeqChecker> seq; // receivers with cfg.seq: one checker per sending stream
    Histogram rtt;               // ping
    std::uint64_t lost = 0;      // ping: replies that never came
    std::mutex rtt_mu;           // guards rtt for the reporter's snapshots
    Histogram one_way;           // receivers with cfg.seq: send stamp to the sync that delivered the frame
    std::uint64_t other_clock = 0; // receivers with cfg.seq: frames without a stamp on this host's clock
    PcapWriter* pcap = nullptr;  // receivers with --pcap
    int ran_on = -1;             // the CPU the worker was on when it finished
    std::string allowed_cpus;    // the CPUs it was allowed to run on ("0-3", "1")
    double cpu_seconds = 0;      // CPU time the worker's thread used (user + system)
};

struct Shared {
    std::atomic<bool> stop{false};
    // --duration is over in a run with both sides: senders and pings stop,
    // receivers and pongs take what is already on its way, then stop
    std::atomic<bool> leaders_stop{false};
    std::atomic<bool> senders_done{false}; // in-process senders finished
};

void run_sender(Worker& w, const Config& cfg, Shared& sh);
void run_receiver(Worker& w, const Config& cfg, Shared& sh);
void run_ping(Worker& w, const Config& cfg, Shared& sh);
void run_pong(Worker& w, const Config& cfg, Shared& sh);

// Frames larger than a buffer are written as chains with upio::nm_put_chain.
// Chains are read with upio::ChainReader and upio::nm_get_chain.
using FrameReader = upio::ChainReader;

// Pins the calling thread; false if the CPU does not exist.
bool pin_to_cpu(int cpu);

// pcap files (libpcap): replay and capture.
// -P: the frames of `path`, each of at most max_frame bytes. 0, or the exit
// status with `err` ("FILE: why"): 1 for a read error, a truncated record
// or an oversized frame; 2 for a file that is no Ethernet capture.
int load_pcap(const std::string& path, std::vector<std::vector<std::uint8_t>>& frames, std::string& err);
PcapWriter* open_pcap_writer(const std::string& path, std::string& err);
// False when the file cannot take more (disk full, I/O error).
bool pcap_write(PcapWriter* w, const std::uint8_t* data, std::uint32_t len) noexcept;
std::string pcap_error(PcapWriter* w); // what went wrong, after pcap_write failed
void close_pcap_writer(PcapWriter* w);

} // namespace pktgen
