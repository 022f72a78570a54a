// A small virtio-net front end for the tests: it plays QEMU's part (the
// vhost-user messages, guest memory in a memfd) and the guest driver's
// (split virtqueues it fills and reads), and can lie on purpose.
//
// Guest memory is one memfd mapped here; its guest-physical base and the
// "front-end address" it reports differ from each other and from where it is
// mapped, so a back end that mixes the address kinds up fails.
#pragma once

#include "vhost/protocol.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace upio::vhost::test {

struct Frontend {
    static constexpr std::uint64_t mem_size = 8u << 20;
    static constexpr std::uint64_t gpa_base = 0x40000000;       // guest physical
    static constexpr std::uint64_t uva_base = 0x7f1200000000ull; // "QEMU's" address of gpa_base
    static constexpr std::uint32_t qsize = 256;
    static constexpr std::uint64_t buf_area = 1u << 20; // buffers from here (offset in memory)

    int sock = -1;
    int memfd = -1;
    char* mem = nullptr;
    std::uint64_t features = 0;
    std::uint64_t protocol = 0;
    struct Queue {
        std::uint64_t off = 0; // ring area offset in memory
        VringDesc* desc = nullptr;
        VringAvail* avail = nullptr;
        VringUsed* used = nullptr;
        std::uint16_t avail_idx = 0, used_seen = 0, next_desc = 0;
        int kick = -1, call = -1;
    } q[4];

    Frontend() {
        memfd = memfd_create("guest", MFD_CLOEXEC);
        EXPECT_EQ(ftruncate(memfd, off_t(mem_size)), 0);
        mem = static_cast<char*>(mmap(nullptr, mem_size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0));
        for (int i = 0; i < 4; i++) {
            Queue& v = q[i];
            v.off = std::uint64_t(i) * 64 * 1024;
            v.desc = reinterpret_cast<VringDesc*>(mem + v.off);
            v.avail = reinterpret_cast<VringAvail*>(mem + v.off + desc_bytes(qsize));
            v.used = reinterpret_cast<VringUsed*>(mem + v.off + 16 * 1024);
            v.kick = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
            v.call = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        }
    }
    ~Frontend() {
        close_socket();
        for (auto& v : q) ::close(v.kick), ::close(v.call);
        munmap(mem, mem_size);
        ::close(memfd);
    }
    Frontend(const Frontend&) = delete;

    std::uint64_t gpa(const void* p) const { return gpa_base + std::uint64_t(static_cast<const char*>(p) - mem); }
    std::uint64_t uva(const void* p) const { return uva_base + std::uint64_t(static_cast<const char*>(p) - mem); }
    char* buf(std::uint32_t n, std::uint32_t size = 4096) { return mem + buf_area + std::uint64_t(n) * size; }

    bool connect_to(const std::string& path) {
        for (int tries = 0; tries < 500; tries++) {
            sock = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            sockaddr_un a{};
            a.sun_family = AF_UNIX;
            std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
            if (::connect(sock, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return true;
            ::close(sock);
            sock = -1;
            std::this_thread::sleep_for(std::chrono::milliseconds(10)); // the listener is not there yet
        }
        return false;
    }
    void close_socket() {
        if (sock >= 0) ::close(sock);
        sock = -1;
    }

    // Sends a message with fds; false when the back end closed the socket.
    bool send(Req r, const void* payload, std::uint32_t size, std::vector<int> fds = {}, std::uint32_t flags = 0) {
        std::vector<char> b(sizeof(MsgHeader) + size);
        MsgHeader h{std::uint32_t(r), msg_version | flags, size};
        std::memcpy(b.data(), &h, sizeof h);
        if (size) std::memcpy(b.data() + sizeof h, payload, size);
        iovec iov{b.data(), b.size()};
        msghdr mh{};
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * 16)];
        if (!fds.empty()) {
            mh.msg_control = cbuf;
            mh.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
            cmsghdr* c = CMSG_FIRSTHDR(&mh);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
            std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
        }
        return ::sendmsg(sock, &mh, MSG_NOSIGNAL) == ssize_t(b.size());
    }
    bool send_u64(Req r, std::uint64_t v, std::vector<int> fds = {}, std::uint32_t flags = 0) {
        return send(r, &v, 8, std::move(fds), flags);
    }
    bool send_state(Req r, std::uint32_t index, std::uint32_t num, std::uint32_t flags = 0) {
        VringState s{index, num};
        return send(r, &s, sizeof s, {}, flags);
    }
    // Reads a reply's payload (u64 or VringState); false on EOF or timeout.
    bool reply(std::uint64_t& v, Req expect) {
        pollfd p{sock, POLLIN, 0};
        if (::poll(&p, 1, 10000) <= 0) return false;
        MsgHeader h{};
        if (::recv(sock, &h, sizeof h, MSG_WAITALL) != ssize_t(sizeof h)) return false;
        EXPECT_EQ(h.request, std::uint32_t(expect));
        EXPECT_EQ(h.flags, msg_version | msg_reply);
        if (h.size != 8) return false;
        return ::recv(sock, &v, 8, MSG_WAITALL) == 8;
    }
    // Whether the back end closed the connection (within 10 s).
    bool closed_by_peer() {
        pollfd p{sock, POLLIN, 0};
        if (::poll(&p, 1, 10000) <= 0) return false;
        char c;
        return ::recv(sock, &c, 1, MSG_DONTWAIT) == 0;
    }

    std::vector<int> memfd_dup() { return {::dup(memfd)}; }
    bool set_mem_table() {
        MemTableMsg t{};
        t.nregions = 1;
        t.regions[0] = MemRegionMsg{gpa_base, mem_size, uva_base, 0};
        return send(Req::set_mem_table, &t, 8 + 32, memfd_dup());
    }

    // The whole set-up QEMU does: features (all offered but `drop`), memory,
    // `pairs` queue pairs with kick and call fds.
    bool setup(std::uint64_t drop = 0, unsigned pairs = 1, bool resume = false) {
        std::uint64_t offered = 0, proto = 0;
        if (!send(Req::get_features, nullptr, 0) || !reply(offered, Req::get_features)) return false;
        features = offered & ~drop;
        if (!send_u64(Req::set_features, features)) return false;
        if (features & bit(VHOST_USER_F_PROTOCOL_FEATURES)) {
            if (!send(Req::get_protocol_features, nullptr, 0) || !reply(proto, Req::get_protocol_features))
                return false;
            protocol = proto;
            if (!send_u64(Req::set_protocol_features, protocol)) return false;
        }
        if (!send(Req::set_owner, nullptr, 0) || !set_mem_table()) return false;
        for (unsigned i = 0; i < 2 * pairs; i++)
            if (!(resume ? resume_queue(i) : start_queue(i))) return false;
        return true;
    }
    // Sets queue `i` up as QEMU does (NUM, ADDR, BASE, CALL, KICK) on a
    // fresh ring, and enables it unless `enable` is false. It sends no kick.
    bool start_queue(unsigned i, std::uint16_t base = 0, bool enable = true) {
        Queue& v = q[i];
        std::memset(mem + v.off, 0, 64 * 1024);
        v.avail_idx = v.used_seen = base;
        v.next_desc = 0;
        return resume_queue(i, base, enable);
    }
    // The same messages for a ring that keeps its contents (a front end
    // reconnecting to a back end that was restarted).
    bool resume_queue(unsigned i, std::uint16_t base = 0, bool enable = true) {
        Queue& v = q[i];
        VringAddr a{i, 0, uva(v.desc), uva(v.used), uva(v.avail), 0};
        return send_state(Req::set_vring_num, i, qsize) && send(Req::set_vring_addr, &a, sizeof a) &&
               send_state(Req::set_vring_base, i, base) && send_u64(Req::set_vring_call, i, {::dup(v.call)}) &&
               send_u64(Req::set_vring_kick, i, {::dup(v.kick)}) &&
               (!enable || !(features & bit(VHOST_USER_F_PROTOCOL_FEATURES)) ||
                send_state(Req::set_vring_enable, i, 1));
    }
    std::uint32_t hdr_len() const {
        return (features & (bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_NET_F_MRG_RXBUF))) ? 12 : 10;
    }

    // -- the driver's side of the rings
    // Makes a chain of descriptors available: (gpa, len, flags) each.
    struct D {
        std::uint64_t addr;
        std::uint32_t len;
        std::uint16_t flags;
    };
    std::uint16_t post(unsigned qi, const std::vector<D>& chain, bool kick = true) {
        Queue& v = q[qi];
        const std::uint16_t head = std::uint16_t(v.next_desc % qsize);
        for (std::size_t k = 0; k < chain.size(); k++) {
            const std::uint16_t d = std::uint16_t((v.next_desc + k) % qsize);
            const bool more = k + 1 < chain.size();
            v.desc[d] = VringDesc{chain[k].addr, chain[k].len,
                                  std::uint16_t(chain[k].flags | (more ? VRING_DESC_F_NEXT : 0)),
                                  std::uint16_t((d + 1) % qsize)};
        }
        v.next_desc = std::uint16_t(v.next_desc + chain.size());
        post_head(qi, head, kick);
        return head;
    }
    void post_head(unsigned qi, std::uint16_t head, bool kick = true) {
        Queue& v = q[qi];
        v.avail->ring[v.avail_idx % qsize] = head;
        v.avail_idx++;
        std::atomic_ref(v.avail->idx).store(v.avail_idx, std::memory_order_release);
        if (kick) eventfd_write(v.kick, 1);
    }
    // Used entries not seen yet.
    std::vector<VringUsedElem> take_used(unsigned qi) {
        Queue& v = q[qi];
        std::vector<VringUsedElem> out;
        const std::uint16_t idx = std::atomic_ref(v.used->idx).load(std::memory_order_acquire);
        for (; v.used_seen != idx; v.used_seen++) out.push_back(v.used->ring[v.used_seen % qsize]);
        return out;
    }
    // A frame to send on tx queue `qi`: header and frame in one buffer.
    void send_frame(unsigned qi, std::uint32_t slot, const std::vector<char>& frame) {
        char* b = buf(slot);
        std::memset(b, 0, hdr_len());
        std::memcpy(b + hdr_len(), frame.data(), frame.size());
        post(qi, {{gpa(b), std::uint32_t(hdr_len() + frame.size()), 0}});
    }
    // A round trip: every message sent before has been handled.
    bool sync() {
        std::uint64_t v = 0;
        return send(Req::get_queue_num, nullptr, 0) && reply(v, Req::get_queue_num);
    }
    std::uint64_t calls(unsigned qi) {
        eventfd_t n = 0;
        return eventfd_read(q[qi].call, &n) == 0 ? n : 0;
    }
};

inline std::vector<char> make_frame(std::uint32_t len, std::uint32_t seed) {
    std::vector<char> f(len);
    for (std::uint32_t i = 0; i < len; i++) f[i] = char((i * 7 + seed * 13) & 0xff);
    return f;
}

} // namespace upio::vhost::test
