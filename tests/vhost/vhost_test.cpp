// vhost: ports against an in-process front end (frontend.hpp): the
// messages, frames both ways (one buffer, MRG_RXBUF, chains), hostile
// descriptors and messages, kicks and calls, the front end leaving and
// coming back, client mode.
#include "frontend.hpp"

#include "vhost/device.hpp"
#include "vhost/vhost.hpp"

#include <upio/chain.hpp>
#include <upio/netmap_user.h>
#include <upio/port.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

using namespace upio;
using namespace upio::vhost;
using namespace upio::vhost::test;
using namespace std::chrono_literals;

namespace {

std::string sock_path() {
    static std::atomic<int> n{0};
    return "/tmp/uvh-" + std::to_string(getpid()) + "-" + std::to_string(n++) + ".sock";
}

bool eventually(const std::function<bool()>& f, std::chrono::seconds limit = 20s) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
        if (f()) return true;
        std::this_thread::sleep_for(1ms);
    }
    return f();
}

PortOptions opts() {
    PortOptions o;
    o.memory.hugepages = HugepagePolicy::never;
    o.tx_slots = o.rx_slots = 256;
    return o;
}

struct Rig {
    std::string path = sock_path();
    std::unique_ptr<Port> port;
    Frontend fe;
    explicit Rig(std::uint64_t drop = 0, PortOptions o = opts()) {
        auto p = Port::open("vhost:" + path, o);
        EXPECT_TRUE(p) << (p ? "" : p.error().message);
        if (!p) return;
        port = std::move(p).value();
        EXPECT_TRUE(fe.connect_to(path));
        EXPECT_TRUE(fe.setup(drop));
        EXPECT_TRUE(eventually([&] { return port->link_up(); }));
    }
    VhostAdapter& adapter() { return static_cast<VhostAdapter&>(port->adapter()); }
    // Sends frames on the port's tx ring (chains when larger than a buffer).
    void send(const std::vector<std::vector<char>>& frames) {
        netmap_ring* r = port->tx_ring(0);
        for (const auto& f : frames) {
            ASSERT_GE(nm_ring_space(r), chain_slots(std::uint32_t(f.size()), r->nr_buf_size));
            r->head = r->cur = nm_put_chain(r, r->cur, f.data(), f.size());
        }
        ASSERT_EQ(port->txsync(), 0) << port->last_error();
    }
    // Receives one frame from the port's rx ring (waits up to 20 s).
    std::vector<char> recv() {
        netmap_ring* r = port->rx_ring(0);
        if (nm_ring_empty(r) && port->wait(Direction::rx, 20s) != 1) return {};
        std::vector<char> out(70000);
        std::uint32_t next;
        out.resize(nm_get_chain(r, r->cur, out.data(), out.size(), next));
        r->head = r->cur = next;
        return out;
    }
    // Posts `n` write-only buffers of `size` bytes on the front end's rx queue.
    void post_rx(unsigned n, std::uint32_t size = 2048) {
        for (unsigned i = 0; i < n; i++) fe.post(0, {{fe.gpa(fe.buf(i, 4096)), size, VRING_DESC_F_WRITE}});
    }
    std::vector<VringUsedElem> used(unsigned q, std::size_t n) {
        std::vector<VringUsedElem> got;
        eventually([&] {
            for (auto& e : fe.take_used(q)) got.push_back(e);
            if (q == 0 && got.size() < n) port->txsync();
            return got.size() >= n;
        });
        return got;
    }
};

// The frame in guest rx buffer `b` of a used entry, after its header.
std::vector<char> guest_frame(Frontend& fe, std::uint32_t b, std::uint32_t len) {
    const char* p = fe.buf(b, 4096) + fe.hdr_len();
    return {p, p + (len - fe.hdr_len())};
}

} // namespace

TEST(VhostName, Syntax) {
    auto n = PortName::parse("vhost:/tmp/vm-1.sock,client");
    ASSERT_TRUE(n) << n.error().message;
    EXPECT_EQ(n.value().body, "/tmp/vm-1.sock");
    EXPECT_NE(n.value().option("client"), nullptr);
    EXPECT_FALSE(PortName::parse("vhost:"));
    EXPECT_FALSE(PortName::parse("vhost:/tmp/a.sock,server"));
    auto t = PortName::parse("vhost:/tmp/a.sock/T");
    ASSERT_TRUE(t);
    EXPECT_EQ(t.value().body, "/tmp/a.sock/T") << "a path type takes no shorthand: /T is part of the path";
}

TEST(VhostMessages, Checks) {
    Message m;
    m.hdr = {std::uint32_t(Req::get_features), msg_version, 0};
    EXPECT_TRUE(check_message(m));
    m.hdr.flags = 2; // version 2
    EXPECT_FALSE(check_message(m));
    m.hdr.flags = msg_version | msg_reply;
    EXPECT_FALSE(check_message(m));
    m.hdr = {std::uint32_t(Req::set_features), msg_version, 4};
    EXPECT_FALSE(check_message(m)) << "a u64 payload of 4 bytes";
    m.hdr = {std::uint32_t(Req::set_vring_kick), msg_version, 8};
    std::uint64_t v = 0;
    std::memcpy(m.payload, &v, 8);
    EXPECT_FALSE(check_message(m)) << "a kick without its fd";
    v = vring_nofd;
    std::memcpy(m.payload, &v, 8);
    EXPECT_TRUE(check_message(m)) << "no fd, and says so";
    m.hdr = {std::uint32_t(Req::set_mem_table), msg_version, 8 + 32};
    std::uint32_t n = 1;
    std::memcpy(m.payload, &n, 4);
    EXPECT_FALSE(check_message(m)) << "a region without its fd";
    m.nfds = 1;
    m.fds[0] = -1;
    EXPECT_TRUE(check_message(m));
    n = 9;
    std::memcpy(m.payload, &n, 4);
    EXPECT_FALSE(check_message(m)) << "nine regions";
    m.nfds = 0;
    m.hdr = {std::uint32_t(Req::set_log_base), msg_version, 8};
    EXPECT_FALSE(check_message(m)) << "logging was not offered";
    m.hdr = {999, msg_version, 0};
    EXPECT_FALSE(check_message(m));
    m.hdr = {std::uint32_t(Req::get_features), msg_version, 4096};
    EXPECT_FALSE(check_message(m));
}

TEST(VhostMemory, Regions) {
    static char a[8192], b[8192];
    GuestMemory gm;
    GuestRegion r[2] = {{0x1000, 4096, 0x9000, a, nullptr, 0}, {0x2000, 4096, 0xa000, b, nullptr, 0}};
    ASSERT_TRUE(gm.set_unowned({r, 2}));
    EXPECT_EQ(gm.gpa_to_host(0x1000, 4096), a);
    EXPECT_EQ(gm.gpa_to_host(0x1ff0, 16), a + 0xff0);
    EXPECT_EQ(gm.gpa_to_host(0x1ff0, 17), nullptr) << "crosses into the next region";
    std::uint64_t n = 0;
    EXPECT_EQ(gm.gpa_span(0x1ff0, 64, n), a + 0xff0);
    EXPECT_EQ(n, 16u);
    EXPECT_EQ(gm.gpa_to_host(0x3000, 1), nullptr);
    EXPECT_EQ(gm.gpa_to_host(0x0fff, 1), nullptr);
    EXPECT_EQ(gm.gpa_to_host(0x1000, 0), nullptr);
    EXPECT_EQ(gm.gpa_to_host(0x1000, ~0ull), nullptr);
    EXPECT_EQ(gm.uva_to_host(0xa010, 8), b + 0x10);
    EXPECT_EQ(gm.uva_to_host(0x1000, 8), nullptr) << "a guest address is not a front-end address";
    GuestRegion overlap[2] = {{0x1000, 4096, 0x9000, a, nullptr, 0}, {0x1800, 4096, 0xc000, b, nullptr, 0}};
    EXPECT_FALSE(gm.set_unowned({overlap, 2}));
    GuestRegion uoverlap[2] = {{0x1000, 4096, 0x9000, a, nullptr, 0}, {0x8000, 4096, 0x9800, b, nullptr, 0}};
    EXPECT_FALSE(gm.set_unowned({uoverlap, 2}));
    GuestRegion wrap[1] = {{~0ull - 10, 4096, 0x9000, a, nullptr, 0}};
    EXPECT_FALSE(gm.set_unowned({wrap, 1}));
    GuestRegion empty[1] = {{0x1000, 0, 0x9000, a, nullptr, 0}};
    EXPECT_FALSE(gm.set_unowned({empty, 1}));
}

TEST(VhostMemory, RegionBeyondItsFile) {
    Frontend fe;
    GuestMemory gm;
    MemRegionMsg r{0x1000, Frontend::mem_size + 4096, 0x9000, 0};
    int fd = ::dup(fe.memfd);
    EXPECT_FALSE(gm.set({&r, 1}, {&fd, 1})) << "a page past the file's end would SIGBUS";
    r = MemRegionMsg{0x1000, 4096, 0x9000, ~0ull - 100};
    fd = ::dup(fe.memfd);
    EXPECT_FALSE(gm.set({&r, 1}, {&fd, 1})) << "offset + size wraps";
    r = MemRegionMsg{0x1000, 4096, 0x9000, 4096};
    fd = ::dup(fe.memfd);
    ASSERT_TRUE(gm.set({&r, 1}, {&fd, 1}));
    fe.mem[4096 + 5] = 42;
    EXPECT_EQ(*gm.gpa_to_host(0x1005, 1), 42) << "mmap_offset is where the guest address starts in the file";
}

TEST(Vhost, FramesBothWays) {
    Rig rig;
    ASSERT_TRUE(rig.port);
    rig.post_rx(8);
    const std::vector<std::vector<char>> out = {make_frame(60, 1), make_frame(1000, 2), make_frame(1514, 3)};
    rig.send(out);
    auto u = rig.used(0, 3);
    ASSERT_EQ(u.size(), 3u);
    for (std::size_t i = 0; i < 3; i++) {
        EXPECT_EQ(u[i].id, i);
        ASSERT_EQ(u[i].len, rig.fe.hdr_len() + out[i].size());
        EXPECT_EQ(guest_frame(rig.fe, std::uint32_t(i), u[i].len), out[i]);
        VirtioNetHdr h;
        std::memcpy(&h, rig.fe.buf(std::uint32_t(i), 4096), sizeof h);
        EXPECT_EQ(h.flags | h.gso_type | h.hdr_len | h.gso_size | h.csum_start | h.csum_offset, 0);
        EXPECT_EQ(h.num_buffers, 1);
    }
    EXPECT_EQ(rig.port->counters(Direction::tx).packets, 3u);

    for (std::uint32_t i = 0; i < 3; i++) rig.fe.send_frame(1, 100 + i, out[i]);
    for (std::uint32_t i = 0; i < 3; i++) EXPECT_EQ(rig.recv(), out[i]);
    auto t = rig.used(1, 3);
    ASSERT_EQ(t.size(), 3u);
    for (auto& e : t) EXPECT_EQ(e.len, 0u) << "the device wrote nothing into a tx buffer";
    EXPECT_EQ(rig.port->counters(Direction::rx).packets, 3u);
}

TEST(Vhost, MergeableJumboFrames) {
    Rig rig;
    ASSERT_TRUE(rig.port);
    ASSERT_TRUE(rig.fe.features & bit(VIRTIO_NET_F_MRG_RXBUF));
    rig.post_rx(16);
    const auto f = make_frame(9000, 7);
    rig.send({f});
    auto u = rig.used(0, 5); // 12 + 9000 bytes in 2048-byte buffers
    ASSERT_EQ(u.size(), 5u);
    VirtioNetHdr h;
    std::memcpy(&h, rig.fe.buf(u[0].id, 4096), sizeof h);
    EXPECT_EQ(h.num_buffers, 5);
    std::vector<char> got;
    for (std::size_t i = 0; i < u.size(); i++) {
        const char* p = rig.fe.buf(u[i].id, 4096) + (i == 0 ? 12 : 0);
        got.insert(got.end(), p, p + u[i].len - (i == 0 ? 12 : 0));
    }
    EXPECT_EQ(got, f);

    // From the guest: header alone in one descriptor, the frame over three.
    const auto g = make_frame(9000, 8);
    char* b = rig.fe.buf(200);
    std::memset(b, 0, 12);
    std::memcpy(b + 4096, g.data(), g.size());
    rig.fe.post(1, {{rig.fe.gpa(b), 12, 0},
                    {rig.fe.gpa(b + 4096), 4000, 0},
                    {rig.fe.gpa(b + 4096 + 4000), 4000, 0},
                    {rig.fe.gpa(b + 4096 + 8000), 1000, 0}});
    EXPECT_EQ(rig.recv(), g) << "arrives as one NS_MOREFRAG chain";
}

TEST(Vhost, WithoutMergeableBuffers) {
    Rig rig(bit(VIRTIO_NET_F_MRG_RXBUF));
    ASSERT_TRUE(rig.port);
    rig.post_rx(1); // 2048 bytes: too small for 9000
    rig.send({make_frame(9000, 1), make_frame(1000, 2)});
    auto u = rig.used(0, 1);
    ASSERT_EQ(u.size(), 1u);
    EXPECT_EQ(u[0].len, 12u + 1000) << "the jumbo frame is dropped, the buffer keeps for the next";
    EXPECT_EQ(rig.port->counters(Direction::tx).drops, 1u);
    // One chain of three 4096-byte descriptors holds it.
    char* b = rig.fe.buf(300);
    rig.fe.post(0, {{rig.fe.gpa(b), 4096, VRING_DESC_F_WRITE},
                    {rig.fe.gpa(b + 4096), 4096, VRING_DESC_F_WRITE},
                    {rig.fe.gpa(b + 8192), 4096, VRING_DESC_F_WRITE}});
    const auto f = make_frame(9000, 3);
    rig.send({f});
    u = rig.used(0, 1);
    ASSERT_EQ(u.size(), 1u);
    EXPECT_EQ(u[0].len, 12u + 9000);
    EXPECT_EQ(std::vector<char>(b + 12, b + 12 + 9000), f);
}

TEST(Vhost, TxFramesWaitForGuestBuffers) {
    Rig rig;
    ASSERT_TRUE(rig.port);
    rig.send({make_frame(100, 1), make_frame(100, 2)});
    netmap_ring* r = rig.port->tx_ring(0);
    EXPECT_EQ(nm_ring_space(r), r->num_slots - 1 - 2) << "no guest buffers yet: the frames stay queued";
    rig.post_rx(2);
    auto u = rig.used(0, 2);
    EXPECT_EQ(u.size(), 2u);
    EXPECT_EQ(rig.port->counters(Direction::tx).drops, 0u);
}

// Frames sent while the front end sets its queues up wait for them; the
// port's waiter is woken when the queue starts.
TEST(Vhost, TxFramesWaitForTheQueueToStart) {
    const std::string path = sock_path();
    auto p = Port::open("vhost:" + path, opts());
    ASSERT_TRUE(p) << p.error().message;
    Port& port = *p.value();
    Frontend fe;
    ASSERT_TRUE(fe.connect_to(path));
    ASSERT_TRUE(fe.setup(0, 0)); // features and memory, no queue yet
    std::uint64_t v = 0;
    ASSERT_TRUE(fe.send(Req::get_queue_num, nullptr, 0) && fe.reply(v, Req::get_queue_num)); // a round trip
    netmap_ring* r = port.tx_ring(0);
    const auto f = make_frame(300, 5);
    r->head = r->cur = nm_put_chain(r, r->cur, f.data(), f.size());
    ASSERT_EQ(port.txsync(), 0);
    EXPECT_EQ(port.counters(Direction::tx).drops, 0u);
    EXPECT_EQ(nm_ring_space(r), r->num_slots - 2) << "held until the queue runs";
    ASSERT_TRUE(fe.start_queue(0) && fe.start_queue(1));
    fe.post(0, {{fe.gpa(fe.buf(0)), 2048, VRING_DESC_F_WRITE}});
    EXPECT_EQ(port.wait(Direction::tx, 20s), 1);
    std::vector<VringUsedElem> u;
    EXPECT_TRUE(eventually([&] {
        port.txsync();
        for (auto& e : fe.take_used(0)) u.push_back(e);
        return !u.empty();
    }));
    ASSERT_EQ(u.size(), 1u);
    EXPECT_EQ(guest_frame(fe, 0, u[0].len), f);
}

// DPDK's virtio-user sets every queue up at once (SET_VRING_KICK) and
// enables pair 0; its port start then fills the receive queues, enables pair
// 1 (SET_VRING_ENABLE), throws away whatever the used rings of its receive
// queues hold ("flush the old packets"), and only then kicks every queue. A
// ring starts at the front end's first kick: frames written into a receive
// queue before it would be lost, a whole queue of them on pair 1.
TEST(Vhost, QueuesStartAtTheFirstKick) {
    const std::string path = sock_path();
    PortOptions o = opts();
    o.rings = 2;
    auto p = Port::open("vhost:" + path, o);
    ASSERT_TRUE(p) << p.error().message;
    Port& port = *p.value();
    Frontend fe;
    ASSERT_TRUE(fe.connect_to(path));
    ASSERT_TRUE(fe.setup(0, 0));
    ASSERT_TRUE(fe.features & bit(VIRTIO_NET_F_MQ));
    for (unsigned i = 0; i < 4; i++) ASSERT_TRUE(fe.start_queue(i, 0, false));
    ASSERT_TRUE(fe.send_state(Req::set_vring_enable, 0, 1) && fe.send_state(Req::set_vring_enable, 1, 1));
    ASSERT_TRUE(fe.sync());
    EXPECT_TRUE(port.link_up()) << "pair 0 is set up and enabled";
    for (unsigned qi = 0; qi < 4; qi++)
        EXPECT_EQ(fe.q[qi].used->flags, 0) << "until its first kick a queue wants kicks (queue " << qi << ")";

    // Four frames wait in each tx ring; the driver fills both receive
    // queues without a kick and enables pair 1.
    std::vector<std::vector<char>> frames[2];
    for (std::uint32_t r = 0; r < 2; r++) {
        netmap_ring* t = port.tx_ring(r);
        for (std::uint32_t i = 0; i < 4; i++) {
            frames[r].push_back(make_frame(100 + i, 10 * r + i));
            t->head = t->cur = nm_put_chain(t, t->cur, frames[r].back().data(), frames[r].back().size());
        }
    }
    ASSERT_EQ(port.txsync(), 0);
    for (unsigned qi : {0u, 2u})
        for (std::uint32_t i = 0; i < 8; i++)
            fe.post(qi, {{fe.gpa(fe.buf(qi * 8 + i)), 2048, VRING_DESC_F_WRITE}}, false);
    ASSERT_TRUE(fe.send_state(Req::set_vring_enable, 2, 1) && fe.send_state(Req::set_vring_enable, 3, 1));
    ASSERT_TRUE(fe.sync());
    EXPECT_TRUE(port.link_up());
    for (int i = 0; i < 3; i++) ASSERT_EQ(port.txsync(), 0);
    for (unsigned qi : {0u, 2u})
        EXPECT_EQ(std::atomic_ref(fe.q[qi].used->idx).load(), 0)
            << "queue " << qi << " got frames before its first kick (the driver would discard them)";
    for (std::uint32_t r = 0; r < 2; r++)
        EXPECT_EQ(nm_ring_space(port.tx_ring(r)), port.tx_ring(r)->num_slots - 1 - 4) << "the frames wait";
    EXPECT_EQ(port.counters(Direction::tx).drops, 0u);

    // The kicks: a waiter on the tx rings wakes and the frames go.
    eventfd_write(fe.q[0].kick, 1);
    eventfd_write(fe.q[2].kick, 1);
    std::vector<VringUsedElem> u[2];
    EXPECT_TRUE(eventually([&] {
        port.wait(Direction::tx, 1s);
        for (unsigned r = 0; r < 2; r++)
            for (auto& e : fe.take_used(2 * r)) u[r].push_back(e);
        return u[0].size() >= 4 && u[1].size() >= 4;
    }));
    for (unsigned r = 0; r < 2; r++) {
        ASSERT_EQ(u[r].size(), 4u) << "pair " << r;
        for (std::uint32_t i = 0; i < 4; i++) {
            EXPECT_EQ(u[r][i].id, i);
            EXPECT_EQ(guest_frame(fe, 2 * r * 8 + i, u[r][i].len), frames[r][i]) << "pair " << r << " frame " << i;
        }
    }
    EXPECT_EQ(port.counters(Direction::tx).packets, 8u);

    // The transmit queues start at their kick too: a frame made available
    // before it waits for it, and the kick wakes a waiter that sleeps.
    const auto f = make_frame(200, 99);
    char* b = fe.buf(40);
    std::memset(b, 0, fe.hdr_len());
    std::memcpy(b + fe.hdr_len(), f.data(), f.size());
    fe.post(3, {{fe.gpa(b), std::uint32_t(fe.hdr_len() + f.size()), 0}}, false);
    ASSERT_EQ(port.rxsync(), 0);
    EXPECT_TRUE(nm_ring_empty(port.rx_ring(1)));
    std::atomic<int> rc{-100};
    std::thread waiter([&] { rc = port.wait(Direction::rx, 60s); });
    EXPECT_TRUE(eventually([&] { return port.adapter().kring(Direction::rx, 1).sleeping.load() == 1; }));
    eventfd_write(fe.q[3].kick, 1);
    waiter.join();
    ASSERT_EQ(rc.load(), 1);
    netmap_ring* r = port.rx_ring(1);
    ASSERT_FALSE(nm_ring_empty(r));
    std::vector<char> got(2048);
    std::uint32_t next;
    got.resize(nm_get_chain(r, r->cur, got.data(), got.size(), next));
    EXPECT_EQ(got, f);
}

// The front end stops a queue (GET_VRING_BASE) and sets it up again with a
// fresh ring: it restarts from the base it is given, at its next first kick,
// and a kick fd that was written before SET_VRING_KICK (as QEMU hands them
// over) starts it at once.
TEST(Vhost, QueueRestartsAtItsNextFirstKick) {
    Rig rig;
    ASSERT_TRUE(rig.port);
    Frontend& fe = rig.fe;
    rig.post_rx(2);
    rig.send({make_frame(60, 1), make_frame(60, 2)});
    ASSERT_EQ(rig.used(0, 2).size(), 2u);
    std::uint64_t base = 0;
    ASSERT_TRUE(fe.send_state(Req::get_vring_base, 0, 0));
    ASSERT_TRUE(fe.reply(base, Req::get_vring_base));
    EXPECT_EQ(base >> 32, 2u) << "two entries taken";
    // A new ring at base 0, buffers made available, no kick yet.
    ASSERT_TRUE(fe.start_queue(0, 0));
    ASSERT_TRUE(fe.sync());
    EXPECT_TRUE(rig.port->link_up());
    for (std::uint32_t i = 0; i < 4; i++) fe.post(0, {{fe.gpa(fe.buf(i, 4096)), 2048, VRING_DESC_F_WRITE}}, false);
    const auto f = make_frame(300, 3);
    rig.send({f});
    EXPECT_EQ(std::atomic_ref(fe.q[0].used->idx).load(), 0) << "not before the ring's first kick";
    eventfd_write(fe.q[0].kick, 1);
    auto u = rig.used(0, 1);
    ASSERT_EQ(u.size(), 1u);
    EXPECT_EQ(u[0].id, 0u) << "from the start of the new ring";
    EXPECT_EQ(guest_frame(fe, 0, u[0].len), f);

    // Again, with the kick written before SET_VRING_KICK.
    ASSERT_TRUE(fe.send_state(Req::get_vring_base, 0, 0));
    ASSERT_TRUE(fe.reply(base, Req::get_vring_base));
    EXPECT_EQ(base >> 32, 1u);
    eventfd_write(fe.q[0].kick, 1);
    ASSERT_TRUE(fe.start_queue(0, 0));
    for (std::uint32_t i = 0; i < 4; i++) fe.post(0, {{fe.gpa(fe.buf(i, 4096)), 2048, VRING_DESC_F_WRITE}}, false);
    rig.send({f});
    u = rig.used(0, 1);
    ASSERT_EQ(u.size(), 1u);
    EXPECT_EQ(guest_frame(fe, 0, u[0].len), f);
}

// Every chain a lying driver can make on its tx queue: each is handed back
// unread and counted, the good frames around them arrive, nothing else moves.
TEST(Vhost, HostileDescriptors) {
    Rig rig;
    ASSERT_TRUE(rig.port);
    Frontend& fe = rig.fe;
    char* b = fe.buf(10);
    std::memset(b, 0, 64);
    const std::uint64_t g = fe.gpa(b);
    const std::uint64_t end = Frontend::gpa_base + Frontend::mem_size;
    unsigned bad = 0;
    auto good = [&](std::uint32_t seed) {
        const auto f = make_frame(200, seed);
        fe.send_frame(1, 400 + seed, f);
        EXPECT_EQ(rig.recv(), f) << "good frame " << seed;
    };
    good(0);
    fe.post(1, {{0x1000, 100, 0}}), bad++;                              // outside every region
    fe.post(1, {{end - 50, 100, 0}}), bad++;                            // runs past the region's end
    fe.post(1, {{g, 0xffffffffu, 0}}), bad++;                           // 4 GiB
    fe.post(1, {{g, 64, VRING_DESC_F_WRITE}}), bad++;                   // a write-only buffer on tx
    fe.post(1, {{g, 4, 0}}), bad++;                                     // shorter than the header
    good(1);
    { // a cycle: 0 -> 1 -> 0
        const std::uint16_t h = std::uint16_t(fe.q[1].next_desc % Frontend::qsize);
        fe.q[1].desc[h] = VringDesc{g, 12, VRING_DESC_F_NEXT, std::uint16_t(h + 1)};
        fe.q[1].desc[h + 1] = VringDesc{g, 60, VRING_DESC_F_NEXT, h};
        fe.q[1].next_desc = std::uint16_t(fe.q[1].next_desc + 2);
        fe.post_head(1, h), bad++;
    }
    { // next beyond the table
        const std::uint16_t h = std::uint16_t(fe.q[1].next_desc % Frontend::qsize);
        fe.q[1].desc[h] = VringDesc{g, 12, VRING_DESC_F_NEXT, 60000};
        fe.q[1].next_desc++;
        fe.post_head(1, h), bad++;
    }
    { // indirect: a length that is no whole number of descriptors, and one nested
        char* t = fe.buf(20);
        auto* it = reinterpret_cast<VringDesc*>(t);
        it[0] = VringDesc{fe.gpa(t), 32, VRING_DESC_F_INDIRECT, 0};
        fe.post(1, {{fe.gpa(t), 24, VRING_DESC_F_INDIRECT}}), bad++;
        fe.post(1, {{fe.gpa(t), 16, VRING_DESC_F_INDIRECT}}), bad++;
        // and a good indirect chain
        const auto f = make_frame(300, 9);
        char* d = fe.buf(21);
        std::memset(d, 0, 12);
        std::memcpy(d + 12, f.data(), f.size());
        it[4] = VringDesc{fe.gpa(d), 12, VRING_DESC_F_NEXT, 1}; // next: an index in the indirect table
        it[5] = VringDesc{fe.gpa(d + 12), std::uint32_t(f.size()), 0, 0};
        fe.post(1, {{fe.gpa(&it[4]), 32, VRING_DESC_F_INDIRECT}});
        EXPECT_EQ(rig.recv(), f);
    }
    { // a frame beyond 64 KiB (17 x 4096 bytes)
        std::vector<Frontend::D> c;
        for (unsigned i = 0; i < 17; i++) c.push_back({fe.gpa(fe.buf(500 + i)), 4096, 0});
        fe.post(1, c), bad++;
    }
    good(2);
    EXPECT_EQ(rig.port->counters(Direction::rx).rx_errors, bad);
    EXPECT_EQ(rig.port->counters(Direction::rx).packets, 4u);
    auto u = rig.used(1, bad + 4);
    EXPECT_EQ(u.size(), bad + 4) << "every chain, good or bad, is handed back";

    // The port's other direction is unaffected.
    rig.post_rx(1);
    rig.send({make_frame(60, 1)});
    EXPECT_EQ(rig.used(0, 1).size(), 1u);
}

// An available index that runs ahead by more than the queue size, or a head
// outside the table, breaks the queue: nothing more moves on it (counted),
// the other queue goes on, and setting the queue up again repairs it.
TEST(Vhost, BrokenRingStopsAndRestarts) {
    Rig rig;
    ASSERT_TRUE(rig.port);
    Frontend& fe = rig.fe;
    std::atomic_ref(fe.q[1].avail->idx).store(std::uint16_t(Frontend::qsize + 7), std::memory_order_release);
    eventfd_write(fe.q[1].kick, 1);
    rig.port->rxsync();
    EXPECT_EQ(rig.port->counters(Direction::rx).rx_errors, 1u);
    EXPECT_FALSE(rig.port->link_up()) << "a broken queue is no link";
    rig.post_rx(1);
    rig.send({make_frame(60, 1)});
    EXPECT_EQ(rig.used(0, 1).size(), 1u) << "the rx queue still works";

    std::uint64_t base = 0;
    ASSERT_TRUE(fe.send_state(Req::get_vring_base, 1, 0));
    ASSERT_TRUE(fe.reply(base, Req::get_vring_base));
    EXPECT_EQ(base & 0xffffffff, 1u); // index 1
    ASSERT_TRUE(fe.start_queue(1));
    EXPECT_TRUE(eventually([&] { return rig.port->link_up(); }));
    const auto f = make_frame(100, 3);
    fe.send_frame(1, 50, f);
    EXPECT_EQ(rig.recv(), f);

    // a head beyond the table
    fe.q[1].avail->ring[fe.q[1].avail_idx % Frontend::qsize] = 4000;
    fe.q[1].avail_idx++;
    std::atomic_ref(fe.q[1].avail->idx).store(fe.q[1].avail_idx, std::memory_order_release);
    rig.port->rxsync();
    EXPECT_EQ(rig.port->counters(Direction::rx).rx_errors, 2u);
    EXPECT_FALSE(rig.port->link_up());
}

// A message the back end cannot take ends the connection; the port's link
// goes down and the next front end is served.
TEST(Vhost, BadMessagesCloseTheConnection) {
    const std::string path = sock_path();
    auto p = Port::open("vhost:" + path, opts());
    ASSERT_TRUE(p) << p.error().message;
    auto& port = *p.value();
    auto adapter = [&]() -> VhostAdapter& { return static_cast<VhostAdapter&>(port.adapter()); };
    const std::vector<std::function<bool(Frontend&)>> bad = {
        [](Frontend& fe) { return fe.send(Req::get_features, nullptr, 0, {}, msg_reply); },
        [](Frontend& fe) { std::uint32_t x = 0; return fe.send(Req::set_features, &x, 4); },
        [](Frontend& fe) { return fe.send(Req::set_owner, nullptr, 0, {::dup(fe.memfd)}); }, // a stray fd
        [](Frontend& fe) { return fe.send_u64(Req::set_features, bit(40)); },                   // not offered
        [](Frontend& fe) { return fe.send_state(Req::set_vring_num, 7, 256); },                 // no queue 7
        [](Frontend& fe) { return fe.send_state(Req::set_vring_num, 0, 100); },                 // not a power of 2
        [](Frontend& fe) { return fe.send_state(Req::set_vring_num, 0, 65536); },
        [](Frontend& fe) {
            MemTableMsg t{};
            t.nregions = 2;
            t.regions[0] = MemRegionMsg{0x1000, 1 << 20, 0x10000000, 0};
            t.regions[1] = MemRegionMsg{0x2000, 1 << 20, 0x20000000, 0}; // overlaps in guest addresses
            return fe.send(Req::set_mem_table, &t, 8 + 64, {::dup(fe.memfd), ::dup(fe.memfd)});
        },
        [](Frontend& fe) { // a ring outside the memory table
            if (!fe.set_mem_table()) return false;
            VringAddr a{0, 0, 0x1000, 0x2000, 0x3000, 0};
            return fe.send_state(Req::set_vring_num, 0, 256) && fe.send(Req::set_vring_addr, &a, sizeof a) &&
                   fe.send_u64(Req::set_vring_kick, 0, {::dup(fe.q[0].kick)});
        },
        [](Frontend& fe) { MsgHeader h{1, msg_version, 100000}; return ::send(fe.sock, &h, sizeof h, 0) == 12; },
    };
    std::uint64_t before = 0;
    for (std::size_t i = 0; i < bad.size(); i++) {
        Frontend fe;
        ASSERT_TRUE(fe.connect_to(path));
        ASSERT_TRUE(eventually([&] { return adapter().control().connections() == before + 1; }));
        before++;
        ASSERT_TRUE(bad[i](fe)) << i;
        EXPECT_TRUE(fe.closed_by_peer()) << "message " << i << " should end the connection";
        EXPECT_FALSE(adapter().control().last_error().empty());
    }
    Frontend fe;
    ASSERT_TRUE(fe.connect_to(path));
    ASSERT_TRUE(fe.setup());
    EXPECT_TRUE(eventually([&] { return port.link_up(); }));
}

TEST(Vhost, ReplyAck) {
    const std::string path = sock_path();
    auto p = Port::open("vhost:" + path, opts());
    ASSERT_TRUE(p) << p.error().message;
    Frontend fe;
    ASSERT_TRUE(fe.connect_to(path));
    std::uint64_t v = 0;
    ASSERT_TRUE(fe.send(Req::get_protocol_features, nullptr, 0) && fe.reply(v, Req::get_protocol_features));
    ASSERT_TRUE(v & bit(VHOST_USER_PROTOCOL_F_REPLY_ACK));
    ASSERT_TRUE(fe.send_u64(Req::set_protocol_features, bit(VHOST_USER_PROTOCOL_F_REPLY_ACK), {}, msg_need_reply));
    ASSERT_TRUE(fe.reply(v, Req::set_protocol_features));
    EXPECT_EQ(v, 0u);
    ASSERT_TRUE(fe.send_state(Req::set_vring_num, 0, 100, msg_need_reply));
    ASSERT_TRUE(fe.reply(v, Req::set_vring_num));
    EXPECT_NE(v, 0u) << "refused, and the connection stays";
    ASSERT_TRUE(fe.send(Req::get_queue_num, nullptr, 0) && fe.reply(v, Req::get_queue_num));
    EXPECT_EQ(v, 1u);
}

// Kicks: asked for only while a waiter sleeps; the kick wakes it. Calls:
// written only when the driver asked (NO_INTERRUPT clear, or used_event
// passed with EVENT_IDX).
TEST(Vhost, KickWakesASleepingWaiter) {
    for (bool event_idx : {true, false}) {
        PortOptions o = opts();
        o.wait_spin = std::chrono::microseconds(0);
        Rig rig(event_idx ? 0 : bit(VIRTIO_RING_F_EVENT_IDX), o);
        ASSERT_TRUE(rig.port);
        Frontend& fe = rig.fe;
        EXPECT_EQ(fe.q[1].used->flags, 0) << "the queue has not started: its first kick is wanted";
        eventfd_write(fe.q[1].kick, 1); // the queue starts
        ASSERT_EQ(rig.port->rxsync(), 0);
        if (!event_idx) {
            EXPECT_EQ(fe.q[1].used->flags, VRING_USED_F_NO_NOTIFY) << "nobody sleeps: no kicks wanted";
        }
        auto* avail_event = reinterpret_cast<std::uint16_t*>(reinterpret_cast<char*>(fe.q[1].used) + 4 + 8 * Frontend::qsize);
        if (event_idx) *avail_event = 0xbeef;
        std::atomic<int> rc{-100};
        std::thread waiter([&] { rc = rig.port->wait(Direction::rx, 60s); });
        // The waiter asks for a kick before it sleeps.
        EXPECT_TRUE(eventually([&] {
            return event_idx ? std::atomic_ref(*avail_event).load() == 0
                             : std::atomic_ref(fe.q[1].used->flags).load() == 0;
        }));
        const auto f = make_frame(80, 1);
        fe.send_frame(1, 60, f); // with a kick
        waiter.join();
        EXPECT_EQ(rc.load(), 1);
        EXPECT_EQ(rig.recv(), f);
        if (!event_idx) {
            EXPECT_EQ(fe.q[1].used->flags, VRING_USED_F_NO_NOTIFY) << "awake again: no kicks wanted";
        }
    }
}

TEST(Vhost, CallsOnlyWhenAsked) {
    for (bool event_idx : {true, false}) {
        Rig rig(event_idx ? 0 : bit(VIRTIO_RING_F_EVENT_IDX));
        ASSERT_TRUE(rig.port);
        Frontend& fe = rig.fe;
        rig.post_rx(8);
        fe.calls(0);
        if (event_idx)
            fe.q[0].avail->ring[Frontend::qsize] = 1000; // used_event: far ahead
        else
            fe.q[0].avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
        rig.send({make_frame(60, 1)});
        EXPECT_EQ(rig.used(0, 1).size(), 1u);
        EXPECT_EQ(fe.calls(0), 0u) << "the driver asked for no interrupt";
        if (event_idx)
            fe.q[0].avail->ring[Frontend::qsize] = 1; // interrupt once used->idx passes 1
        else
            fe.q[0].avail->flags = 0;
        rig.send({make_frame(60, 2)});
        EXPECT_EQ(rig.used(0, 1).size(), 1u);
        EXPECT_EQ(fe.calls(0), 1u);
    }
}

// The front end leaves: link down, frames sent meanwhile are dropped
// (counted); the next front end gets a working port.
TEST(Vhost, FrontEndLeavesAndAnotherComes) {
    Rig rig;
    ASSERT_TRUE(rig.port);
    rig.fe.close_socket();
    EXPECT_TRUE(eventually([&] { return !rig.port->link_up(); }));
    rig.send({make_frame(60, 1), make_frame(60, 2)});
    EXPECT_EQ(rig.port->counters(Direction::tx).drops, 2u);
    Frontend fe2;
    ASSERT_TRUE(fe2.connect_to(rig.path));
    ASSERT_TRUE(fe2.setup());
    ASSERT_TRUE(eventually([&] { return rig.port->link_up(); }));
    const auto f = make_frame(500, 4);
    fe2.send_frame(1, 10, f);
    EXPECT_EQ(rig.recv(), f);
}

// A front end that keeps its rings across a new connection and sets them up
// with base 0 all the same (DPDK's virtio-user when the back end it
// reconnects to was restarted): the queues resume where the used rings say,
// and the buffers the driver already got back are not used again.
TEST(Vhost, ReconnectingFrontEndKeepsItsRings) {
    Rig rig;
    ASSERT_TRUE(rig.port);
    Frontend& fe = rig.fe;
    rig.post_rx(3);
    rig.send({make_frame(60, 1), make_frame(60, 2), make_frame(60, 3)});
    ASSERT_EQ(rig.used(0, 3).size(), 3u);
    for (std::uint32_t i = 0; i < 2; i++) fe.send_frame(1, 100 + i, make_frame(70, i));
    for (std::uint32_t i = 0; i < 2; i++) EXPECT_EQ(rig.recv(), make_frame(70, i));
    ASSERT_EQ(rig.used(1, 2).size(), 2u);
    fe.close_socket();
    ASSERT_TRUE(eventually([&] { return !rig.port->link_up(); }));

    ASSERT_TRUE(fe.connect_to(rig.path));
    ASSERT_TRUE(fe.setup(0, 1, true));
    ASSERT_TRUE(eventually([&] { return rig.port->link_up(); }));
    fe.post(0, {{fe.gpa(fe.buf(3, 4096)), 2048, VRING_DESC_F_WRITE}}); // with a kick
    const auto f = make_frame(80, 4);
    rig.send({f});
    auto u = rig.used(0, 1);
    ASSERT_EQ(u.size(), 1u);
    EXPECT_EQ(std::atomic_ref(fe.q[0].used->idx).load(), 4) << "after the three entries given back before";
    EXPECT_EQ(u[0].id, 3u) << "the new buffer, not one the driver already got back";
    EXPECT_EQ(guest_frame(fe, 3, u[0].len), f);
    const auto g = make_frame(90, 5);
    fe.send_frame(1, 110, g);
    EXPECT_EQ(rig.recv(), g);
    EXPECT_EQ(rig.used(1, 1).size(), 1u);
    EXPECT_EQ(std::atomic_ref(fe.q[1].used->idx).load(), 3);
    EXPECT_EQ(rig.port->counters(Direction::rx).packets, 3u);
}

// ",client": the port connects to a listening front end and connects again
// when that connection ends.
TEST(Vhost, ClientModeReconnects) {
    const std::string path = sock_path();
    int ls = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    ASSERT_EQ(::bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(::listen(ls, 1), 0);
    auto p = Port::open("vhost:" + path + ",client", opts());
    ASSERT_TRUE(p) << p.error().message;
    for (int round = 0; round < 2; round++) {
        Frontend fe;
        pollfd pf{ls, POLLIN, 0};
        ASSERT_EQ(::poll(&pf, 1, 20000), 1) << "round " << round;
        fe.sock = ::accept4(ls, nullptr, nullptr, SOCK_CLOEXEC);
        ASSERT_GE(fe.sock, 0);
        ASSERT_TRUE(fe.setup());
        ASSERT_TRUE(eventually([&] { return p.value()->link_up(); }));
        fe.close_socket();
        EXPECT_TRUE(eventually([&] { return !p.value()->link_up(); }));
    }
    ::close(ls);
    ::unlink(path.c_str());
}

TEST(Vhost, PathInUse) {
    const std::string path = sock_path();
    auto p1 = Port::open("vhost:" + path, opts());
    ASSERT_TRUE(p1) << p1.error().message;
    auto same = Port::open("vhost:" + path + ",ring=0", opts());
    EXPECT_FALSE(same) << "the one ring pair is open already";
    p1.value().reset();
    auto p2 = Port::open("vhost:" + path, opts());
    EXPECT_TRUE(p2) << "the socket file went with the port";
}
