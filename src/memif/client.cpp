// The memif adapter's control side in the client role: upio connects to a
// server's socket, creates the region and the eventfds, and offers them.
//
// The region is a memfd of upio's own, sealed against shrinking as DPDK's
// are: every C2S ring, every S2C ring (128-byte header, 2^n descriptors),
// then each ring's 2^n buffers of bsize bytes. It is made anew for every
// connection and unmapped when the connection ends, so a server that keeps
// its mapping after a disconnect writes into memory upio no longer reads.
// The port's own netmap buffers stay private: frames are copied between
// them and the region (one copy each way, as in the server role).
// With zero-copy the region holds the rings only, and the port's own region
// (a shared memfd) is offered as region 1: each descriptor holds one of its
// buffers, which the data path swaps with the netmap slots' (zc_datapath.cpp).
//
// When the server is absent, or goes away, the client tries again every
// 250 ms until the port is closed; the port stays open meanwhile (link down).
#include "memif/adapter.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace upio::memif {
namespace {

Result<Fd> connect_to(const std::string& path) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    const bool abstract = !path.empty() && path[0] == '@';
    if (path.size() >= sizeof sa.sun_path) return make_error(ENAMETOOLONG, "socket path too long");
    std::memcpy(sa.sun_path, path.data(), path.size());
    if (abstract) sa.sun_path[0] = '\0';
    const socklen_t len = abstract ? socklen_t(offsetof(sockaddr_un, sun_path) + path.size()) : socklen_t(sizeof sa);
    Fd s(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    if (!s) return make_error(errno, fmt::format("cannot create a socket: {}", std::strerror(errno)));
    if (::connect(s.get(), reinterpret_cast<sockaddr*>(&sa), len) < 0)
        return make_error(errno, fmt::format("cannot connect to {}: {}", path, std::strerror(errno)));
    // from now on non-blocking: a server that stops reading ends the connection
    // instead of blocking the control thread (receives wait in poll)
    ::fcntl(s.get(), F_SETFL, ::fcntl(s.get(), F_GETFL) | O_NONBLOCK);
    return s;
}

// The next message, within 10 s (a server that stalls the handshake is dropped).
Result<Received> next(int sock, int stop) {
    pollfd p[2] = {{sock, POLLIN, 0}, {stop, POLLIN, 0}};
    const int n = ::poll(p, 2, 10000);
    if (n == 0) return make_error(ETIMEDOUT, "the server did not answer within 10 s");
    if (n < 0) return make_error(errno, std::strerror(errno));
    if (p[1].revents) return make_error(ECANCELED, "the upio port was closed");
    return recv_msg(sock);
}

Status expect(int sock, int stop, MsgType t, Message* out = nullptr) {
    auto r = next(sock, stop);
    if (!r) return std::move(r).error();
    if (r->fd >= 0) ::close(r->fd); // no message to a client carries one
    if (r->msg.type == MsgType::disconnect)
        return make_error(ECONNREFUSED, fmt::format("the server said: {}", r->msg.disconnect.reason));
    if (r->msg.type != t)
        return make_error(EPROTO, fmt::format("{} where {} was due", type_name(r->msg.type), type_name(t)));
    if (out) *out = std::move(r->msg);
    return {};
}

} // namespace

std::string MemifAdapter::client_session() {
    auto s = connect_to(cfg_.path);
    if (!s) return s.error().message;
    const int sock = s->get(), stop = stop_.get();
    auto fail = [&](const std::string& why) { // tell the server, then close
        Message m;
        m.type = MsgType::disconnect;
        m.disconnect.reason = why.substr(0, reason_size - 1);
        (void)send_msg(sock, m);
        return why;
    };
    Message hello;
    if (Status st = expect(sock, stop, MsgType::hello, &hello); !st) return st.error().message;
    const Hello& h = hello.hello;
    if (h.min_version > version || h.max_version < version)
        return fail(fmt::format("Incompatible memif version: the server speaks {:#x}..{:#x}, upio {:#x}", h.min_version,
                                h.max_version, version));
    const std::uint32_t n = std::min<std::uint32_t>({rings_, std::uint32_t(h.max_c2s_ring) + 1,
                                                     std::uint32_t(h.max_s2c_ring) + 1});
    const unsigned log2 = std::min<unsigned>(cfg_.log2_ring_size, h.max_log2_ring_size);
    const std::uint32_t size = 1u << log2, bsize = cfg_.bsize;

    // the region: rings, then buffers (zero-copy: rings only, the buffers
    // being the port's own region, memif region 1)
    const bool zc = cfg_.zero_copy;
    auto c = std::make_unique<Connection>();
    c->client = true;
    c->zero_copy = zc;
    c->peer_name = h.name;
    const std::uint64_t rings_end = 2ull * n * ring_bytes(log2);
    const std::uint64_t bytes = zc ? rings_end : rings_end + 2ull * n * size * bsize;
    if (bytes > std::uint64_t(UINT32_MAX))
        return fail(fmt::format("a region of {} bytes; memif offsets are 32 bits (lower bsize or rsize)", bytes));
    Fd mfd(memfd_create("memif_region_0", MFD_ALLOW_SEALING | MFD_CLOEXEC));
    if (!mfd || ftruncate(mfd.get(), off_t(bytes)) < 0 || fcntl(mfd.get(), F_ADD_SEALS, F_SEAL_SHRINK) < 0)
        return fail(fmt::format("cannot create the region: {}", std::strerror(errno)));
    void* base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, mfd.get(), 0);
    if (base == MAP_FAILED) return fail(fmt::format("cannot map the region: {}", std::strerror(errno)));
    c->regions.emplace_back(static_cast<char*>(base), bytes);
    char* b = static_cast<char*>(base);
    for (int dir = 0; dir < 2; dir++) { // 0: C2S, 1: S2C
        auto& list = dir == 0 ? c->c2s : c->s2c;
        list.resize(n);
        for (std::uint32_t i = 0; i < n; i++) {
            const std::uint64_t ring_off = (std::uint64_t(dir) * n + i) * ring_bytes(log2);
            const std::uint64_t buf_off = rings_end + (std::uint64_t(dir) * n + i) * size * bsize;
            SharedRing& r = list[i];
            r.hdr = reinterpret_cast<RingHeader*>(b + ring_off);
            r.desc = reinterpret_cast<Desc*>(b + ring_off + sizeof(RingHeader));
            r.size = size;
            r.mask = std::uint16_t(size - 1);
            r.bufs = b + buf_off;
            r.bsize = bsize;
            r.offset0 = std::uint32_t(buf_off);
            r.hdr->cookie = ring_cookie;
            r.hdr->flags = dir == 1 ? ring_flag_mask_int : 0; // our receive rings poll until a waiter sleeps
            r.hdr->head = r.hdr->tail = 0;
            if (zc) {
                const std::vector<std::uint32_t>& held = (dir == 0 ? tx_state_ : rx_state_)[i]->zc;
                r.bufs = nullptr;
                r.offset0 = 0;
                for (std::uint32_t k = 0; k < size; k++)
                    r.desc[k] = Desc{0, 1, bsize, std::uint32_t(memory().offset_of(memory().buf(held[k]))), 0};
            } else {
                for (std::uint32_t k = 0; k < size; k++)
                    r.desc[k] = Desc{0, 0, bsize, std::uint32_t(buf_off + std::uint64_t(k) * bsize), 0};
            }
            r.evfd = Fd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
            if (!r.evfd) return fail(fmt::format("cannot create an eventfd: {}", std::strerror(errno)));
        }
    }

    Message m;
    m.type = MsgType::init;
    m.init.id = cfg_.id;
    m.init.secret = cfg_.secret;
    m.init.name = "upio";
    if (Status st = send_msg(sock, m); !st) return st.error().message;
    if (Status st = expect(sock, stop, MsgType::ack); !st) return st.error().message;
    m = Message{};
    m.type = MsgType::add_region;
    m.add_region = AddRegion{0, bytes};
    if (Status st = send_msg(sock, m, mfd.get()); !st) return st.error().message;
    if (Status st = expect(sock, stop, MsgType::ack); !st) return st.error().message;
    if (zc) {
        m = Message{};
        m.type = MsgType::add_region;
        m.add_region = AddRegion{1, memory().size()};
        if (Status st = send_msg(sock, m, memory().fd()); !st) return st.error().message;
        if (Status st = expect(sock, stop, MsgType::ack); !st) return st.error().message;
    }
    for (int dir = 0; dir < 2; dir++) {
        for (std::uint32_t i = 0; i < n; i++) {
            const SharedRing& r = (dir == 0 ? c->c2s : c->s2c)[i];
            m = Message{};
            m.type = MsgType::add_ring;
            m.add_ring = AddRing{std::uint16_t(dir == 0 ? ring_flag_c2s : 0), std::uint16_t(i), 0,
                                 std::uint32_t(reinterpret_cast<char*>(r.hdr) - b), std::uint8_t(log2), 0};
            if (Status st = send_msg(sock, m, r.evfd.get()); !st) return st.error().message;
            if (Status st = expect(sock, stop, MsgType::ack); !st) return st.error().message;
        }
    }
    m = Message{};
    m.type = MsgType::connect;
    m.if_name = name().substr(0, name_size - 1);
    if (Status st = send_msg(sock, m); !st) return st.error().message;
    Message connected;
    if (Status st = expect(sock, stop, MsgType::connected, &connected); !st) return st.error().message;
    c->peer_if_name = connected.if_name;
    // as DPDK's client does on CONNECTED: the rings start from 0, and the
    // S2C rings offer every buffer (their descriptors already say so)
    for (auto* list : {&c->c2s, &c->s2c})
        for (SharedRing& r : *list) {
            std::atomic_ref<std::uint16_t>(r.hdr->head).store(0, std::memory_order_relaxed);
            std::atomic_ref<std::uint16_t>(r.hdr->tail).store(0, std::memory_order_relaxed);
        }
    for (SharedRing& r : c->s2c) {
        r.head = std::uint16_t(r.size);
        std::atomic_ref<std::uint16_t>(r.hdr->head).store(r.head, std::memory_order_release);
    }
    publish(std::move(c));

    for (;;) {
        pollfd p[3] = {{stop, POLLIN, 0}, {sock, POLLIN, 0}, {kick_.get(), POLLIN, 0}};
        if (::poll(p, 3, -1) < 0) {
            if (errno == EINTR) continue;
            return fail(fmt::format("poll: {}", std::strerror(errno)));
        }
        if (p[0].revents) return fail("the upio port was closed");
        if (p[2].revents) {
            std::uint64_t k;
            [[maybe_unused]] auto r = ::read(kick_.get(), &k, sizeof k);
            if (fault_.load(std::memory_order_acquire)) return fail(fault_message());
        }
        if (p[1].revents) {
            auto got = recv_msg(sock);
            if (!got) return got.error().code == ECONNRESET ? "the peer closed the socket" : fail(got.error().message);
            if (got->fd >= 0) ::close(got->fd);
            if (got->msg.type == MsgType::disconnect) return fmt::format("the peer said: {}", got->msg.disconnect.reason);
            return fail(fmt::format("unexpected {} after CONNECTED", type_name(got->msg.type)));
        }
    }
}

void MemifAdapter::run_client() noexcept {
    try {
        std::string last_failure;
        for (;;) {
            std::string why = client_session();
            if (owned_) {
                retire(why);
            } else if (why != last_failure) { // say once why connecting fails, not every 250 ms
                note(fmt::format("cannot connect yet, retrying: {}", why));
                last_failure = why;
            }
            pollfd p{stop_.get(), POLLIN, 0};
            if (::poll(&p, 1, 250) != 0) return;
        }
    } catch (const std::exception& e) {
        note(fmt::format("control thread stopped: {}", e.what()));
    }
}

} // namespace upio::memif
