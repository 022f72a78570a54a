// A memif client written for tests: it speaks the protocol with its own
// region (a sealed memfd: one C2S ring, one S2C ring, then the buffers) and
// lets a test write anything into its rings -- chains, and descriptors no
// well-behaved peer would write.
#pragma once

#include "memif/protocol.hpp"
#include "memif/session.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>
#include <vector>

namespace upio::memif::test {

class RawClient {
public:
    static constexpr unsigned log2 = 8;
    static constexpr std::uint32_t slots = 1u << log2;
    static constexpr std::uint32_t bsize = 2048;

    ~RawClient() {
        if (base_) munmap(base_, size_);
    }

    // Connects to `path` and runs the handshake. "" on success, else why not
    // (a DISCONNECT's reason, a socket error).
    std::string connect(const std::string& path, std::uint32_t id = 0, const std::string& secret = "") {
        sock_ = Fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
        sockaddr_un sa{};
        sa.sun_family = AF_UNIX;
        std::snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path.c_str());
        if (::connect(sock_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) return std::strerror(errno);
        auto hello = expect(MsgType::hello);
        if (!hello.empty()) return hello;
        // the region: rings, then 2 x slots buffers
        size_ = 2 * ring_bytes(log2) + 2 * std::size_t(slots) * bsize;
        region_ = Fd(memfd_create("raw-client", MFD_ALLOW_SEALING | MFD_CLOEXEC));
        if (ftruncate(region_.get(), off_t(size_)) < 0 || fcntl(region_.get(), F_ADD_SEALS, F_SEAL_SHRINK) < 0)
            return "memfd";
        base_ = static_cast<char*>(mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, region_.get(), 0));
        c2s = reinterpret_cast<RingHeader*>(base_);
        s2c = reinterpret_cast<RingHeader*>(base_ + ring_bytes(log2));
        c2s->cookie = s2c->cookie = ring_cookie;
        for (std::uint32_t i = 0; i < slots; i++) {
            c2s_desc()[i] = Desc{0, 0, bsize, buf_off(0, i), 0};
            s2c_desc()[i] = Desc{0, 0, bsize, buf_off(1, i), 0};
        }
        c2s_ev = Fd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
        s2c_ev = Fd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));

        Message m;
        m.type = MsgType::init;
        m.init.id = id;
        m.init.secret = secret;
        m.init.name = "raw-client";
        if (auto e = send_expect(m, -1); !e.empty()) return e;
        m = Message{};
        m.type = MsgType::add_region;
        m.add_region = AddRegion{0, size_};
        if (auto e = send_expect(m, region_.get()); !e.empty()) return e;
        m = Message{};
        m.type = MsgType::add_ring;
        m.add_ring = AddRing{ring_flag_c2s, 0, 0, 0, log2, 0};
        if (auto e = send_expect(m, c2s_ev.get()); !e.empty()) return e;
        m.add_ring = AddRing{0, 0, 0, std::uint32_t(ring_bytes(log2)), log2, 0};
        if (auto e = send_expect(m, s2c_ev.get()); !e.empty()) return e;
        m = Message{};
        m.type = MsgType::connect;
        m.if_name = "raw0";
        if (!send_msg(sock_.get(), m).ok()) return "send CONNECT";
        if (auto e = expect(MsgType::connected); !e.empty()) return e;
        // as a client does on CONNECTED: our rx ring polls
        s2c->flags = ring_flag_mask_int;
        c2s_head = s2c_pos = 0;
        return "";
    }

    Desc* c2s_desc() const noexcept { return reinterpret_cast<Desc*>(reinterpret_cast<char*>(c2s) + sizeof(RingHeader)); }
    Desc* s2c_desc() const noexcept { return reinterpret_cast<Desc*>(reinterpret_cast<char*>(s2c) + sizeof(RingHeader)); }
    std::uint32_t buf_off(int dir, std::uint32_t i) const noexcept {
        return std::uint32_t(2 * ring_bytes(log2) + (std::size_t(dir) * slots + i) * bsize);
    }
    char* at(std::uint32_t off) const noexcept { return base_ + off; }

    // C2S: puts one frame of `segs` descriptors (NEXT on all but the last),
    // publishes head, and writes the eventfd when the server asked for it.
    void send_frame(const std::vector<std::string>& segs) {
        for (std::size_t k = 0; k < segs.size(); k++) {
            Desc& d = c2s_desc()[c2s_head & (slots - 1)];
            std::memcpy(at(d.offset), segs[k].data(), segs[k].size());
            d.length = std::uint32_t(segs[k].size());
            d.flags = k + 1 < segs.size() ? desc_flag_next : 0;
            c2s_head++;
        }
        publish_c2s();
    }
    void publish_c2s() {
        std::atomic_ref<std::uint16_t>(c2s->head).store(c2s_head, std::memory_order_release);
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (!(std::atomic_ref<std::uint16_t>(c2s->flags).load(std::memory_order_relaxed) & ring_flag_mask_int)) {
            std::uint64_t one = 1;
            [[maybe_unused]] auto r = ::write(c2s_ev.get(), &one, sizeof one);
        }
    }
    std::uint16_t c2s_tail() const { return std::atomic_ref<std::uint16_t>(c2s->tail).load(std::memory_order_acquire); }

    // S2C: offers every free descriptor (length = its buffer).
    void offer_s2c() {
        std::uint16_t head = s2c->head;
        while (std::uint16_t(head - s2c_pos) < slots) {
            Desc& d = s2c_desc()[head & (slots - 1)];
            d.region = 0;
            d.offset = buf_off(1, head & (slots - 1));
            d.length = bsize;
            head++;
        }
        std::atomic_ref<std::uint16_t>(s2c->head).store(head, std::memory_order_release);
    }
    // S2C: the next frame the server published, as its descriptors' bytes ({}: none yet).
    std::vector<std::string> recv_frame() {
        const std::uint16_t tail = std::atomic_ref<std::uint16_t>(s2c->tail).load(std::memory_order_acquire);
        std::vector<std::string> segs;
        std::uint16_t p = s2c_pos;
        while (p != tail) {
            const Desc d = s2c_desc()[p & (slots - 1)];
            p++;
            segs.emplace_back(at(d.offset), d.length);
            if (!(d.flags & desc_flag_next)) {
                s2c_pos = p;
                return segs;
            }
        }
        return {};
    }

    // Waits for a message from the server (DISCONNECT, mostly).
    Result<Received> next_message(int timeout_ms = 20000) {
        pollfd p{sock_.get(), POLLIN, 0};
        if (::poll(&p, 1, timeout_ms) != 1) return make_error(ETIMEDOUT, "no message");
        return recv_msg(sock_.get());
    }
    void send_disconnect(const std::string& why) {
        Message m;
        m.type = MsgType::disconnect;
        m.disconnect.reason = why;
        (void)send_msg(sock_.get(), m);
    }
    void close() { sock_.reset(); }

    RingHeader* c2s = nullptr;
    RingHeader* s2c = nullptr;
    Fd c2s_ev, s2c_ev;
    std::uint16_t c2s_head = 0, s2c_pos = 0;
    std::uint64_t region_size() const noexcept { return size_; }

private:
    std::string expect(MsgType t) {
        auto r = next_message();
        if (!r) return r.error().message;
        if (r->fd >= 0) ::close(r->fd);
        if (r->msg.type == MsgType::disconnect) return "DISCONNECT: " + r->msg.disconnect.reason;
        if (r->msg.type != t) return std::string("got ") + type_name(r->msg.type);
        return "";
    }
    std::string send_expect(const Message& m, int fd) {
        if (!send_msg(sock_.get(), m, fd).ok()) return std::string("send ") + type_name(m.type);
        return expect(MsgType::ack);
    }

    Fd sock_, region_;
    char* base_ = nullptr;
    std::size_t size_ = 0;
};

} // namespace upio::memif::test
