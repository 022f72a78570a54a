// A sequence-numbered stream between two NIC ports on models wired back to
// back, a sender and a receiver thread, for tests that disturb the link or
// the transmitter mid-stream (e1000, ixgbe). The sender keeps at most
// `window` frames between itself and the receiver (frames a TX hang cost
// count as arrived), so the receiver's ring never overflows: every frame
// lost is one the driver gave up and counted. The receiver checks that
// sequence numbers only grow (no duplicate, no reordering) and counts the
// gaps. A sync may fail with -ETIMEDOUT (a hang, reported); any other
// error fails the stream.
#pragma once

#include "nic_test_util.hpp"

#include <upio/netmap_user.h>
#include <upio/port.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

namespace upio::test {

class NicStream {
public:
    using MakeFrame = std::function<Frame(std::uint32_t seq)>;
    using SeqOf = std::function<std::uint32_t(const std::uint8_t* frame)>;

    NicStream(Port& tx, Port& rx, std::uint32_t total, MakeFrame make, SeqOf seq_of, std::uint32_t window = 32)
        : tx_(tx), rx_(rx), total_(total), window_(window), make_(std::move(make)), seq_of_(std::move(seq_of)) {}
    ~NicStream() { join(); }

    void start() {
        deadline_ = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        sender_ = std::thread([this] { send(); });
        receiver_ = std::thread([this] { receive(); });
    }
    void join() {
        if (sender_.joinable()) sender_.join();
        if (receiver_.joinable()) receiver_.join();
    }
    // Waits (bounded) until the receiver has `n` frames; false on failure or
    // after the deadline.
    bool wait_received(std::uint32_t n) const {
        while (received_.load() < n && !failed_.load() && std::chrono::steady_clock::now() < deadline_)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        return received_.load() >= n && !failed_.load();
    }
    // Waits (bounded) until the sender has synced `n` more times.
    bool wait_syncs(std::uint32_t n) const {
        const std::uint64_t until = syncs_.load() + n;
        while (syncs_.load() < until && !failed_.load() && std::chrono::steady_clock::now() < deadline_)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        return syncs_.load() >= until;
    }

    std::uint32_t sent() const { return sent_.load(); }
    std::uint32_t received() const { return received_.load(); }
    std::uint32_t missing() const { return missing_.load(); }       // gaps the receiver saw
    std::uint32_t timeouts() const { return timeouts_.load(); }     // syncs that said -ETIMEDOUT
    std::uint64_t lost() const { return tx_.counters(Direction::tx).drops; } // the driver's count
    bool failed() const { return failed_.load(); }
    const std::string& why() const { return why_; } // after join()

private:
    void fail(std::string w) {
        if (!failed_.exchange(true)) why_ = std::move(w);
    }
    bool sync_ok(int rc, const char* what) {
        if (rc == -ETIMEDOUT) {
            timeouts_++;
            return true;
        }
        if (rc < 0) fail(std::string(what) + " failed: " + tx_.last_error() + " / " + rx_.last_error());
        return rc >= 0;
    }

    void send() {
        netmap_ring* r = tx_.tx_ring(0);
        std::uint32_t seq = 0;
        while (seq < total_ && !failed_ && std::chrono::steady_clock::now() < deadline_) {
            while (seq < total_ && seq - received_.load() - std::uint32_t(lost()) < window_ && put(r, make_(seq))) {
                seq++;
                sent_.store(seq);
            }
            if (!sync_ok(tx_.txsync(), "txsync")) return;
            syncs_++;
            if (nm_ring_space(r) == 0 && !sync_ok(tx_.wait(Direction::tx, std::chrono::milliseconds(20)), "tx wait"))
                return;
            std::this_thread::yield();
        }
        // the last frames: until every one has arrived or been given up
        while (!failed_ && received_.load() + lost() < total_ && std::chrono::steady_clock::now() < deadline_) {
            if (!sync_ok(tx_.txsync(SYNC_FORCE_RECLAIM), "txsync")) return;
            syncs_++;
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        if (seq != total_) fail("the sender stopped at " + std::to_string(seq));
    }

    void receive() {
        netmap_ring* r = rx_.rx_ring(0);
        std::uint32_t next = 0; // the sequence number expected next
        while (!failed_ && received_.load() + lost() < total_ && std::chrono::steady_clock::now() < deadline_) {
            const int rc = rx_.wait(Direction::rx, std::chrono::milliseconds(20));
            if (rc < 0) return fail(std::string("rx wait failed: ") + rx_.last_error());
            std::uint32_t got = 0;
            while (!nm_ring_empty(r)) {
                const netmap_slot& s = r->slot[r->cur];
                const std::uint32_t seq = seq_of_(reinterpret_cast<const std::uint8_t*>(NETMAP_BUF(r, s.buf_idx)));
                if (seq < next) return fail("frame " + std::to_string(seq) + " after " + std::to_string(next - 1));
                missing_ += seq - next;
                next = seq + 1;
                got++;
                r->head = r->cur = nm_ring_next(r, r->cur);
            }
            // the slots go back to the NIC before the sender hears of them
            if (rx_.rxsync() < 0) return fail(std::string("rxsync failed: ") + rx_.last_error());
            received_ += got;
        }
        if (received_.load() + lost() < total_) fail("received " + std::to_string(received_.load()) + ", lost " +
                                                    std::to_string(lost()) + " of " + std::to_string(total_));
    }

    Port& tx_;
    Port& rx_;
    const std::uint32_t total_, window_;
    MakeFrame make_;
    SeqOf seq_of_;
    std::chrono::steady_clock::time_point deadline_;
    std::atomic<std::uint32_t> sent_{0}, received_{0}, missing_{0}, timeouts_{0};
    std::atomic<std::uint64_t> syncs_{0};
    std::atomic<bool> failed_{false};
    std::string why_;
    std::thread sender_, receiver_;
};

} // namespace upio::test
