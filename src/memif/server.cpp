// The memif adapter's control side in the server role: the listening
// socket, the handshake, publishing and retiring connections.
//
// One client at a time. A client that connects while another is connected
// gets DISCONNECT "Already connected". When the client goes away (EOF, its
// DISCONNECT, a protocol error on either side) the connection is retired --
// the data path stops using it, then the regions are unmapped -- and the
// socket listens again: the port stays open, and its frames stay in its
// rings.
#include "memif/adapter.hpp"

#include <fmt/format.h>
#include <upio/log.hpp>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstring>

namespace upio::memif {
namespace {

// PATH, or "@NAME" for the abstract address NAME (DPDK's default,
// socket-abstract=yes: its socket=NAME is then our "@NAME").
Result<Fd> listen_on(const std::string& port, const std::string& path) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    const bool abstract = !path.empty() && path[0] == '@';
    if (path.size() >= sizeof sa.sun_path)
        return make_error(ENAMETOOLONG, fmt::format("{}: socket path longer than {} bytes", port, sizeof sa.sun_path - 1));
    std::memcpy(sa.sun_path, path.data(), path.size());
    if (abstract) sa.sun_path[0] = '\0';
    const socklen_t len = abstract ? socklen_t(offsetof(sockaddr_un, sun_path) + path.size()) : socklen_t(sizeof sa);
    Fd s(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    if (!s) return make_error(errno, fmt::format("{}: cannot create a socket: {}", port, std::strerror(errno)));
    struct stat st{};
    if (!abstract && ::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return make_error(EEXIST, fmt::format("{}: {} exists and is not a socket; remove it or choose another path",
                                                  port, path));
        // A socket file: stale (left by a process that died) unless someone answers.
        Fd probe(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
        if (probe && ::connect(probe.get(), reinterpret_cast<sockaddr*>(&sa), len) == 0)
            return make_error(EADDRINUSE, fmt::format("{}: a memif server already listens on {}", port, path));
        ::unlink(path.c_str());
    }
    if (::bind(s.get(), reinterpret_cast<sockaddr*>(&sa), len) < 0)
        return make_error(errno, fmt::format("{}: cannot bind to {}: {}{}", port, path, std::strerror(errno),
                                             errno == EADDRINUSE ? " (another server listens there)" : ""));
    if (::listen(s.get(), 4) < 0)
        return make_error(errno, fmt::format("{}: cannot listen on {}: {}", port, path, std::strerror(errno)));
    return s;
}

Message disconnect_msg(const std::string& why) {
    Message m;
    m.type = MsgType::disconnect;
    m.disconnect.reason = why.substr(0, reason_size - 1);
    return m;
}

// A peer's eventfd must be one: a pipe or a socket in its place could block
// the data path's write, or never become readable.
bool is_eventfd(int fd) {
    char link[64];
    const std::string p = fmt::format("/proc/self/fd/{}", fd);
    const ssize_t n = ::readlink(p.c_str(), link, sizeof link - 1);
    if (n <= 0) return false;
    return std::string_view(link, std::size_t(n)) == "anon_inode:[eventfd]";
}

} // namespace

MemifAdapter::MemifAdapter(std::string name, MemifName cfg) : Adapter(std::move(name)), cfg_(std::move(cfg)) {}

MemifAdapter::~MemifAdapter() {
    if (ctl_.joinable()) {
        std::uint64_t one = 1;
        [[maybe_unused]] auto r = ::write(stop_.get(), &one, sizeof one);
        ctl_.join();
    }
    if (listen_ && cfg_.path[0] != '@') ::unlink(cfg_.path.c_str());
    destroy_rings();
    for (auto* v : {&rx_state_, &tx_state_})
        for (auto& rs : *v)
            if (!rs->zc.empty()) memory().remove_held(rs->zc.data());
}

Status MemifAdapter::init(const PortName& pn, const PortOptions& opts) {
    rings_ = std::clamp<std::uint32_t>(opts.rings, 1, 256);
    const RingConfig rc{rings_, rings_, opts.tx_slots, opts.rx_slots};
    // zero-copy: every descriptor of every ring holds one of the region's
    // buffers, of the memif buffer size, and the region is a memfd to share
    const bool zc = cfg_.client && cfg_.zero_copy;
    const std::uint32_t per_ring = 1u << cfg_.log2_ring_size;
    MemoryConfig mc = opts.memory;
    if (zc) {
        mc.shared = true;
        mc.buf_size = cfg_.bsize;
    }
    std::uint32_t bufs = mc.num_bufs;
    if (bufs == 0)
        bufs = rings_ * (opts.tx_slots + opts.rx_slots) + (rings_ + 1) * opts.extra_bufs + MemoryRegion::first_buf;
    if (zc && opts.memory.num_bufs == 0) bufs += 2 * rings_ * per_ring;
    std::size_t objs = mc.object_bytes;
    if (objs == 0) objs = upio::ring_bytes(rc) + (rings_ + 1) * nifp_bytes(2 * rings_) + 4096;
    auto mem = MemoryRegion::create(name(), objs, bufs, mc);
    if (!mem) return std::move(mem).error();
    if (zc && (mem.value()->fd() < 0 || mem.value()->size() > UINT32_MAX))
        return make_error(EINVAL, fmt::format("{}: zero-copy needs a shared region under 4 GiB (memif offsets are "
                                              "32 bits; this one is {} bytes)", pn.full, mem.value()->size()));
    if (Status s = create_rings(mem.value(), rc); !s) return s;

    auto make_fd = [&](int fd, const char* what) -> Result<Fd> {
        if (fd < 0) return make_error(errno, fmt::format("{}: cannot create {}: {}", pn.full, what, std::strerror(errno)));
        return Fd(fd);
    };
    for (std::uint32_t i = 0; i < rings_; i++) {
        for (auto* v : {&rx_state_, &tx_state_}) {
            auto rs = std::make_unique<RingState>();
            auto t = make_fd(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC), "a timerfd");
            if (!t) return std::move(t).error();
            rs->timer = std::move(t.value());
            if (v == &rx_state_) {
                auto ep = make_fd(epoll_create1(EPOLL_CLOEXEC), "an epoll set");
                if (!ep) return std::move(ep).error();
                rs->wait = std::move(ep.value());
                epoll_event e{};
                e.events = EPOLLIN;
                e.data.u32 = 0; // the timer; 1: the peer's eventfd
                if (epoll_ctl(rs->wait.get(), EPOLL_CTL_ADD, rs->timer.get(), &e) < 0)
                    return make_error(errno, fmt::format("{}: epoll_ctl: {}", pn.full, std::strerror(errno)));
            } else {
                rs->wait = Fd(::dup(rs->timer.get()));
            }
            if (zc) { // the buffers the ring's descriptors hold, for the port's life
                rs->zc.resize(per_ring);
                for (std::uint32_t& b : rs->zc) {
                    auto got = memory().alloc_buf();
                    if (!got) return make_error(ENOMEM, fmt::format("{}: zero-copy: {}", pn.full, got.error().message));
                    b = got.value();
                }
                // they change places with slots: the region must see them where
                // they are when it checks an extra-buffer list
                memory().add_held(rs->zc.data(), per_ring);
            }
            v->push_back(std::move(rs));
        }
    }
    auto st = make_fd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), "an eventfd");
    if (!st) return std::move(st).error();
    stop_ = std::move(st.value());
    auto kk = make_fd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), "an eventfd");
    if (!kk) return std::move(kk).error();
    kick_ = std::move(kk.value());
    if (cfg_.client) {
        ctl_ = std::thread([this] { run_client(); });
        return {};
    }
    auto l = listen_on(pn.full, cfg_.path);
    if (!l) return std::move(l).error();
    listen_ = std::move(l.value());
    ctl_ = std::thread([this] { run(); });
    return {};
}

void MemifAdapter::note(const std::string& line) const { log(LogLevel::info, name() + ": " + line); }

void MemifAdapter::wake_all() noexcept {
    for (std::uint32_t i = 0; i < rings_; i++) {
        wake_if_sleeping(kring(Direction::rx, i));
        wake_if_sleeping(kring(Direction::tx, i));
    }
}

void MemifAdapter::publish(std::unique_ptr<Connection> c) {
    for (std::uint32_t i = 0; i < c->rx_count() && i < rings_; i++) {
        epoll_event e{};
        e.events = EPOLLIN;
        e.data.u32 = 1;
        epoll_ctl(rx_state_[i]->wait.get(), EPOLL_CTL_ADD, c->rx(i).evfd.get(), &e);
    }
    fault_.store(0, std::memory_order_relaxed);
    owned_ = std::move(c);
    conn_.store(owned_.get(), std::memory_order_seq_cst);
    {
        std::lock_guard lk(status_mu_);
        status_.connected = true;
        status_.peer_name = owned_->peer_name;
        status_.connects++;
    }
    note(fmt::format("connected to '{}' (interface '{}'), {} C2S and {} S2C rings", owned_->peer_name,
                     owned_->peer_if_name, owned_->c2s.size(), owned_->s2c.size()));
    wake_all(); // senders that waited for the link
}

void MemifAdapter::retire(const std::string& why) {
    {
        // first: whoever sees the link down finds the reason
        std::lock_guard lk(status_mu_);
        if (owned_) status_.disconnects++;
        status_.connected = false;
        status_.last_disconnect = why;
    }
    if (owned_) {
        conn_.store(nullptr, std::memory_order_seq_cst);
        for (auto* v : {&rx_state_, &tx_state_})
            for (auto& rs : *v)
                while (rs->inside.load(std::memory_order_seq_cst)) std::this_thread::yield();
        for (std::uint32_t i = 0; i < owned_->rx_count() && i < rings_; i++)
            epoll_ctl(rx_state_[i]->wait.get(), EPOLL_CTL_DEL, owned_->rx(i).evfd.get(), nullptr);
        owned_.reset();
    }
    note(fmt::format("disconnected: {}", why));
    wake_all();
}

// One client, from accept to close.
void MemifAdapter::serve(int sock) {
    ServerHandshake hs(ServerConfig{cfg_.id, cfg_.secret, std::uint16_t(rings_), "upio", name().substr(0, name_size - 1)});
    if (Status s = send_msg(sock, hs.hello()); !s) {
        note(fmt::format("client dropped before HELLO: {}", s.error().message));
        return;
    }
    auto fail = [&](const std::string& why) { // our reason: tell the peer, then close
        (void)send_msg(sock, disconnect_msg(why));
        retire(why);
    };
    for (;;) {
        pollfd p[3] = {{stop_.get(), POLLIN, 0}, {sock, POLLIN, 0}, {kick_.get(), POLLIN, 0}};
        if (::poll(p, 3, -1) < 0) {
            if (errno == EINTR) continue;
            return fail(fmt::format("poll: {}", std::strerror(errno)));
        }
        if (p[0].revents) return fail("the upio port was closed");
        if (p[2].revents) {
            std::uint64_t n;
            [[maybe_unused]] auto r = ::read(kick_.get(), &n, sizeof n);
            if (fault_.load(std::memory_order_acquire)) return fail(fault_message());
        }
        if (p[1].revents) {
            auto got = recv_msg(sock);
            if (!got) {
                if (got.error().code == ECONNRESET) return retire("the peer closed the socket");
                return fail(got.error().message);
            }
            Fd fd(got->fd);
            if (got->msg.type == MsgType::add_ring && fd && !is_eventfd(fd.get()))
                return fail(fmt::format("ADD_RING {}: the descriptor is not an eventfd", got->msg.add_ring.index));
            auto step = hs.on_message(std::move(got->msg), std::move(fd));
            if (!step) return fail(step.error().message);
            switch (step->action) {
            case ServerHandshake::Action::disconnect: return retire(fmt::format("the peer said: {}", step->reason));
            case ServerHandshake::Action::connect: {
                auto c = map_connection(hs);
                if (!c) return fail(c.error().message);
                c.value()->peer_name = hs.init().name;
                publish(std::move(c).value());
                if (Status s = send_msg(sock, step->reply); !s) return retire(s.error().message);
                break;
            }
            case ServerHandshake::Action::reply:
                if (Status s = send_msg(sock, step->reply); !s) return retire(s.error().message);
                break;
            }
        }
    }
}

void MemifAdapter::run() noexcept {
    try {
        for (;;) {
            pollfd p[2] = {{stop_.get(), POLLIN, 0}, {listen_.get(), POLLIN, 0}};
            if (::poll(p, 2, -1) < 0 && errno != EINTR) return;
            if (p[0].revents) return;
            if (!p[1].revents) continue;
            // non-blocking: a client that stops reading makes a send fail (and the
            // connection end) instead of blocking this thread
            Fd s(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
            if (!s) continue;
            serve(s.get());
            // stop requested during serve(): the loop's poll sees it
        }
    } catch (const std::exception& e) { // allocation failure on the control path: the port stays down
        note(fmt::format("control thread stopped: {}", e.what()));
    }
}

std::string MemifAdapter::fault_message() const {
    const auto r = fault_ring_.load(std::memory_order_relaxed);
    const auto a = fault_a_.load(std::memory_order_relaxed), b = fault_b_.load(std::memory_order_relaxed);
    switch (Fault(fault_.load(std::memory_order_acquire))) {
    case Fault::none: break;
    case Fault::c2s_head: return fmt::format("C2S ring {}: head {} more than a ring ahead of tail {}", r, a, b);
    case Fault::s2c_head: return fmt::format("S2C ring {}: head {} more than a ring ahead of tail {}", r, a, b);
    case Fault::c2s_chain:
        return fmt::format("C2S ring {}: frame at {} chains over {} descriptors or fills the ring", r, a, b);
    case Fault::c2s_desc: return fmt::format("C2S ring {}: frame at {} has a descriptor outside the regions", r, a);
    case Fault::s2c_desc: return fmt::format("S2C ring {}: descriptor {} is outside the regions or empty", r, a);
    case Fault::s2c_tail: return fmt::format("S2C ring {}: tail {} beyond what was offered (head {}), a length "
                                             "beyond a buffer, or a chain that cannot end", r, a, b);
    case Fault::c2s_tail: return fmt::format("C2S ring {}: tail {} beyond head {}", r, a, b);
    }
    return "protocol error";
}

LinkStatus MemifAdapter::status() const {
    std::lock_guard lk(status_mu_);
    LinkStatus s = status_;
    s.interrupts = interrupts_.load(std::memory_order_relaxed);
    return s;
}

} // namespace upio::memif
