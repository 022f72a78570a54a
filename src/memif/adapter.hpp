// The memif adapter: a control thread that speaks the protocol, and the
// data path (txsync/rxsync) that copies between the peer's rings and the
// port's netmap rings.
//
// THREADS AND OWNERSHIP.
//   control thread  owns the sockets and the Connection (regions mapped,
//                   rings attached); builds it on CONNECT, destroys it on
//                   disconnect. Never touches a netmap ring.
//   owner thread    of each Port: txsync/rxsync/set_interrupts/ack_wait_fd of
//                   its krings; reads the Connection through conn_.
// Publishing: the control thread stores conn_ (seq_cst) once the Connection
// is complete. Retiring: it stores nullptr, then waits until no ring's
// `inside` flag is set, then unmaps. A sync sets its ring's `inside` (seq_cst)
// before it loads conn_, and clears it (release) when done: either the
// control thread sees the flag and waits, or the sync sees nullptr. Two
// uncontended atomic operations per sync, no lock.
// A sync that finds the peer breaking the protocol (a descriptor outside
// the regions, a head beyond the ring) does not stop to say so: it records a
// fault code (first one wins) and writes the control thread's eventfd; the
// control thread sends DISCONNECT with the reason and closes.
#pragma once

#include "memif/memif.hpp"
#include "memif/protocol.hpp"
#include "memif/session.hpp"

#include <upio/backend/adapter.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace upio::memif {

// Why a sync gave up on the peer (the DISCONNECT reason).
enum class Fault : int {
    none = 0,
    c2s_head,        // the client's head is more than a ring ahead of our tail
    s2c_tail,        // (client role) the server's tail is beyond what we offered, or a length beyond a buffer
    c2s_tail,        // (client role) the server's tail is beyond what we published
    c2s_desc,        // a C2S descriptor outside the regions
    c2s_chain,       // a C2S chain longer than max_chain, or one that fills the ring without ending
    s2c_head,        // the client offers more than a ring
    s2c_desc,        // an S2C descriptor outside the regions, or with no room
};

class MemifAdapter final : public Adapter {
public:
    // Descriptors of one frame, at most (9000-byte frames in 2 KiB buffers
    // take 5): a longer chain is a protocol error.
    static constexpr std::uint32_t max_chain = 64;

    MemifAdapter(std::string name, MemifName cfg);
    ~MemifAdapter() override;

    // Creates the rings and the listening socket, starts the control thread.
    Status init(const PortName& pn, const PortOptions& opts);

    int txsync(KRing& k, unsigned flags) noexcept override;
    int rxsync(KRing& k, unsigned flags) noexcept override;
    std::vector<int> wait_fds(const KRing& k) const override;
    void set_interrupts(KRing& k, bool on) noexcept override;
    void ack_wait_fd(int fd) noexcept override;
    bool link_up() const noexcept override { return conn_.load(std::memory_order_acquire) != nullptr; }

    LinkStatus status() const;

private:
    // Per ring, one cache line of its own.
    struct alignas(64) RingState {
        std::atomic<std::uint32_t> inside{0};
        Fd wait;  // rx: an epoll set of the peer's eventfd and `timer`; tx: `timer` itself
        Fd timer; // rx: a slow safety tick while asleep; tx: polls for room while frames wait
        // zero-copy client: the region buffer descriptor d holds (by d), never
        // read back from a descriptor the server can write
        std::vector<std::uint32_t> zc;
    };

    // -- data path helpers (datapath.cpp)
    Connection* enter(RingState& rs) noexcept {
        rs.inside.store(1, std::memory_order_seq_cst);
        return conn_.load(std::memory_order_seq_cst);
    }
    static void leave(RingState& rs) noexcept { rs.inside.store(0, std::memory_order_release); }
    // Records the first fault (with two numbers for its message) and wakes the control thread.
    void fault(Fault f, std::uint32_t ring, std::uint32_t a = 0, std::uint32_t b = 0) noexcept;
    std::string fault_message() const;

    // -- data path of the client role (client_datapath.cpp)
    int client_txsync(KRing& k, Connection& c) noexcept;
    int client_rxsync(KRing& k, Connection& c) noexcept;
    // ... and of the zero-copy client (zc_datapath.cpp)
    int zc_txsync(KRing& k, Connection& c) noexcept;
    int zc_rxsync(KRing& k, Connection& c) noexcept;

    // -- control thread (server.cpp; the client role's in client.cpp)
    void run() noexcept;
    void serve(int sock);
    void run_client() noexcept;
    // Connects, runs the handshake and serves one connection; returns why it ended.
    std::string client_session();
    void publish(std::unique_ptr<Connection> c);
    void retire(const std::string& why);
    void wake_all() noexcept;
    void note(const std::string& line) const;

    MemifName cfg_;
    std::uint32_t rings_ = 1;
    std::vector<std::unique_ptr<RingState>> rx_state_, tx_state_;
    std::atomic<Connection*> conn_{nullptr};
    std::unique_ptr<Connection> owned_; // the control thread's
    std::atomic<std::uint64_t> interrupts_{0};
    std::atomic<int> fault_{0};
    std::atomic<std::uint32_t> fault_ring_{0}, fault_a_{0}, fault_b_{0}; // written before fault_ is set
    Fd listen_, stop_, kick_; // kick_: the data path's fault signal
    std::thread ctl_;

    mutable std::mutex status_mu_; // guards status_
    LinkStatus status_;
};

} // namespace upio::memif
