// The memif server port with a client in the test (raw_client.hpp): chains
// both ways, frames held while the link is down, a client replaced without
// reopening the port, a receiver asleep on the ring's eventfd, the reasons
// of DISCONNECT both ways, and a client that writes what it should not.
#include "memif/memif.hpp"
#include "raw_client.hpp"

#include <upio/backend/adapter.hpp>
#include <upio/netmap_user.h>
#include <upio/port.hpp>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <future>
#include <thread>

namespace upio::memif {
namespace {

using namespace std::chrono_literals;
using test::RawClient;

std::string sock_path() {
    static int n = 0;
    return fmt::format("/tmp/upio-mt-{}-{}.sock", getpid(), n++);
}

// Polls `pred` until it holds or 20 s pass (a condition another thread or
// process brings about; the timeout only bounds a failure).
bool eventually(const std::function<bool()>& pred) {
    const auto until = std::chrono::steady_clock::now() + 20s;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > until) return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

struct Fixture {
    std::string path = sock_path();
    std::unique_ptr<Port> port;
    explicit Fixture(std::uint32_t buf_size = 2048, std::string extra = "") {
        PortOptions o;
        o.tx_slots = o.rx_slots = 256;
        o.memory.buf_size = buf_size;
        o.memory.hugepages = HugepagePolicy::never;
        auto p = Port::open("memif:" + path + extra, o);
        EXPECT_TRUE(p.ok()) << p.error().message;
        if (p) port = std::move(p).value();
    }
    explicit Fixture(std::unique_ptr<Port> p) : port(std::move(p)) {}
    LinkStatus status() const { return link_status(port->adapter()).value(); }
    // One frame (a chain of slots) from the rx ring, as bytes; "" if none.
    std::string take_frame() {
        netmap_ring* r = port->rx_ring(0);
        std::string f;
        while (r->cur != r->tail) {
            const netmap_slot& s = r->slot[r->cur];
            f.append(NETMAP_BUF(r, s.buf_idx), s.len);
            const bool more = s.flags & NS_MOREFRAG;
            r->head = r->cur = nm_ring_next(r, r->cur);
            if (!more) return f;
        }
        return f;
    }
    // Queues one frame of `bytes` on the tx ring, in slots of the buffer size.
    void put_frame(const std::string& bytes) {
        netmap_ring* r = port->tx_ring(0);
        const std::uint32_t bs = r->nr_buf_size;
        std::size_t off = 0;
        do {
            netmap_slot& s = r->slot[r->cur];
            const std::size_t n = std::min<std::size_t>(bs, bytes.size() - off);
            std::memcpy(NETMAP_BUF(r, s.buf_idx), bytes.data() + off, n);
            s.len = std::uint16_t(n);
            off += n;
            s.flags = off < bytes.size() ? NS_MOREFRAG : 0;
            r->head = r->cur = nm_ring_next(r, r->cur);
        } while (off < bytes.size());
    }
};

std::string pattern(std::size_t n, int seed) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; i++) s[i] = char((i * 7 + std::size_t(seed)) & 0xff);
    return s;
}

TEST(MemifPort, ChainsBothWays) {
    Fixture f(512); // upio's buffers are smaller than the client's: every frame is a chain on both sides
    ASSERT_TRUE(f.port);
    EXPECT_FALSE(f.port->link_up());
    RawClient c;
    ASSERT_EQ(c.connect(f.path), "");
    ASSERT_TRUE(eventually([&] { return f.port->link_up(); }));

    // C2S: a 3000-byte frame in two descriptors (NEXT), then a 60-byte one
    const std::string big = pattern(3000, 1), small = pattern(60, 2);
    c.send_frame({big.substr(0, 2048), big.substr(2048)});
    c.send_frame({small});
    std::string got1, got2;
    ASSERT_TRUE(eventually([&] {
        f.port->rxsync();
        if (got1.empty()) got1 = f.take_frame();
        if (!got1.empty() && got2.empty()) got2 = f.take_frame();
        return !got2.empty();
    }));
    EXPECT_EQ(got1, big);
    EXPECT_EQ(got2, small);
    EXPECT_TRUE(eventually([&] { return c.c2s_tail() == c.c2s_head; })); // buffers given back

    // S2C: a 5000-byte frame of ten 512-byte slots (NS_MOREFRAG) -> three descriptors
    c.offer_s2c();
    const std::string out = pattern(5000, 3);
    f.put_frame(out);
    ASSERT_EQ(f.port->txsync(), 0);
    std::vector<std::string> segs;
    ASSERT_TRUE(eventually([&] {
        f.port->txsync();
        segs = c.recv_frame();
        return !segs.empty();
    }));
    ASSERT_EQ(segs.size(), 3u);
    EXPECT_EQ(segs[0].size(), RawClient::bsize);
    EXPECT_EQ(segs[0] + segs[1] + segs[2], out);
    EXPECT_EQ(f.port->counters(Direction::tx).packets, 1u);
    EXPECT_EQ(f.port->counters(Direction::rx).packets, 2u);
}

TEST(MemifPort, FramesWaitWhileTheLinkIsDownAndAClientTakesOver) {
    Fixture f;
    ASSERT_TRUE(f.port);
    // no client: the frame waits in the tx ring, nothing is lost
    f.put_frame(pattern(100, 4));
    ASSERT_EQ(f.port->txsync(), 0);
    EXPECT_EQ(f.port->counters(Direction::tx).packets, 0u);
    EXPECT_EQ(f.port->counters(Direction::tx).drops, 0u);
    {
        RawClient c;
        ASSERT_EQ(c.connect(f.path), "");
        c.offer_s2c();
        std::vector<std::string> segs;
        ASSERT_TRUE(eventually([&] {
            f.port->txsync();
            segs = c.recv_frame();
            return !segs.empty();
        }));
        EXPECT_EQ(segs.at(0), pattern(100, 4));
        c.send_disconnect("maintenance");
        ASSERT_TRUE(eventually([&] { return !f.port->link_up(); }));
        EXPECT_EQ(f.status().last_disconnect, "the peer said: maintenance");
    }
    // a second client, same port: frames queued meanwhile reach it
    f.put_frame(pattern(200, 5));
    ASSERT_EQ(f.port->txsync(), 0);
    RawClient c2;
    ASSERT_EQ(c2.connect(f.path), "");
    c2.offer_s2c();
    std::vector<std::string> segs;
    ASSERT_TRUE(eventually([&] {
        f.port->txsync();
        segs = c2.recv_frame();
        return !segs.empty();
    }));
    EXPECT_EQ(segs.at(0), pattern(200, 5));
    EXPECT_EQ(f.status().connects, 2u);
    // the client goes away without a word (a killed process): link down, reason shown
    c2.close();
    ASSERT_TRUE(eventually([&] { return !f.port->link_up(); }));
    EXPECT_EQ(f.status().last_disconnect, "the peer closed the socket");
    EXPECT_EQ(f.port->counters(Direction::tx).drops, 0u);
}

TEST(MemifPort, BlockedReceiverWakesOnTheRingsEventfd) {
    Fixture f;
    ASSERT_TRUE(f.port);
    RawClient c;
    ASSERT_EQ(c.connect(f.path), "");
    ASSERT_TRUE(eventually([&] { return f.port->link_up(); }));
    auto waiter = std::async(std::launch::async, [&] { return f.port->wait(Direction::rx, 60s); });
    // asleep in interrupt mode: upio cleared MASK_INT on its receive ring
    ASSERT_TRUE(eventually([&] {
        return (std::atomic_ref<std::uint16_t>(c.c2s->flags).load() & ring_flag_mask_int) == 0;
    }));
    std::uint64_t before = 0;
    ASSERT_EQ(::read(c.c2s_ev.get(), &before, sizeof before), -1); // nothing written yet
    c.send_frame({pattern(64, 6)}); // writes the eventfd, since the flag is clear
    ASSERT_EQ(waiter.get(), 1);
    EXPECT_EQ(f.take_frame(), pattern(64, 6));
    EXPECT_GE(f.status().interrupts, 1u); // woken by the eventfd (not the safety tick)
    // awake: polling again, MASK_INT set
    EXPECT_TRUE(std::atomic_ref<std::uint16_t>(c.c2s->flags).load() & ring_flag_mask_int);
}

// The client offers no buffers: the sender's ring fills and a wait for room
// sleeps (re-checking on a timer), it does not spin; room offered ends it.
TEST(MemifPort, ASenderWaitingForRoomSleeps) {
    Fixture f;
    ASSERT_TRUE(f.port);
    RawClient c;
    ASSERT_EQ(c.connect(f.path), "");
    ASSERT_TRUE(eventually([&] { return f.port->link_up(); }));
    netmap_ring* r = f.port->tx_ring(0);
    while (nm_ring_space(r)) f.put_frame(pattern(60, 13));
    ASSERT_EQ(f.port->txsync(), 0);
    ASSERT_EQ(nm_ring_space(r), 0u);
    timespec t0{}, t1{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    EXPECT_EQ(f.port->wait(Direction::tx, 1s), 0); // nothing moves for a second
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
    const double cpu = double(t1.tv_sec - t0.tv_sec) + double(t1.tv_nsec - t0.tv_nsec) / 1e9;
    EXPECT_LT(cpu, 0.5) << "a sender waiting for room burned " << cpu << " s of CPU in 1 s";
    auto waiter = std::async(std::launch::async, [&] { return f.port->wait(Direction::tx, 60s); });
    c.offer_s2c();
    EXPECT_EQ(waiter.get(), 1);
}

TEST(MemifPort, SecretAndIdAreChecked) {
    Fixture f(2048, ",id=5,secret=pw");
    ASSERT_TRUE(f.port);
    {
        RawClient c;
        EXPECT_EQ(c.connect(f.path, 4, "pw"), "DISCONNECT: ID not found: 4 (this socket serves id 5)");
    }
    {
        RawClient c;
        EXPECT_EQ(c.connect(f.path, 5, "no"), "DISCONNECT: Incorrect secret");
    }
    RawClient c;
    EXPECT_EQ(c.connect(f.path, 5, "pw"), "");
}

// Each case: a client breaks the protocol on a ring; upio disconnects it
// with a reason, touches nothing outside the regions, and accepts again.
void expect_fault(const std::function<void(RawClient&, Fixture&)>& misbehave, const std::string& reason) {
    Fixture f;
    ASSERT_TRUE(f.port);
    RawClient c;
    ASSERT_EQ(c.connect(f.path), "");
    ASSERT_TRUE(eventually([&] { return f.port->link_up(); }));
    misbehave(c, f);
    auto m = c.next_message();
    ASSERT_TRUE(m.ok()) << m.error().message;
    EXPECT_EQ(m->msg.type, MsgType::disconnect);
    EXPECT_NE(m->msg.disconnect.reason.find(reason), std::string::npos) << m->msg.disconnect.reason;
    ASSERT_TRUE(eventually([&] { return !f.port->link_up(); }));
    EXPECT_NE(f.status().last_disconnect.find(reason), std::string::npos) << f.status().last_disconnect;
    EXPECT_EQ(f.port->counters(Direction::rx).packets, 0u);
    RawClient again;
    EXPECT_EQ(again.connect(f.path), "");
}

TEST(MemifPort, HostileC2SDescriptors) {
    expect_fault([](RawClient& c, Fixture& f) {
        Desc& d = c.c2s_desc()[0];
        d.offset = std::uint32_t(c.region_size() - 10);
        d.length = 64; // runs past the region's end
        c.c2s_head = 1;
        c.publish_c2s();
        f.port->rxsync();
    }, "outside the regions");
    expect_fault([](RawClient& c, Fixture& f) {
        c.c2s_desc()[0].region = 1; // no such region
        c.c2s_head = 1;
        c.publish_c2s();
        f.port->rxsync();
    }, "outside the regions");
    expect_fault([](RawClient& c, Fixture& f) {
        c.c2s_head = RawClient::slots + 1; // more than a ring published
        c.publish_c2s();
        f.port->rxsync();
    }, "more than a ring ahead");
    expect_fault([](RawClient& c, Fixture& f) {
        for (std::uint32_t i = 0; i < RawClient::slots; i++) c.c2s_desc()[i].flags = desc_flag_next; // never ends
        c.c2s_head = RawClient::slots;
        c.publish_c2s();
        f.port->rxsync();
    }, "chains over");
}

TEST(MemifPort, HostileS2CDescriptors) {
    expect_fault([](RawClient& c, Fixture& f) {
        c.offer_s2c();
        c.s2c_desc()[0].offset = 0xfffff000u; // a buffer far outside the region
        c.offer_s2c();                        // head published again after the scribble
        f.put_frame(pattern(60, 7));
        f.port->txsync();
    }, "outside the regions");
    expect_fault([](RawClient& c, Fixture& f) {
        c.offer_s2c();
        c.s2c_desc()[0].length = 0; // no room at all
        std::atomic_ref<std::uint16_t>(c.s2c->head).store(c.s2c->head, std::memory_order_release);
        f.put_frame(pattern(60, 7));
        f.port->txsync();
    }, "outside the regions or empty");
    expect_fault([](RawClient& c, Fixture& f) {
        std::atomic_ref<std::uint16_t>(c.s2c->head).store(RawClient::slots + 5);
        f.put_frame(pattern(60, 7));
        f.port->txsync();
    }, "more than a ring ahead");
}

// upio on both ends: a server port and a client port of the same socket.
// Chains both ways (the client's 1 KiB memif buffers, the ports' 512-byte
// netmap buffers), then the server port closes and opens again: the client
// port, left open, reconnects by itself and the traffic resumes.
TEST(MemifPort, UpioClientAndServer) {
    const std::string path = sock_path();
    PortOptions o;
    o.tx_slots = o.rx_slots = 256;
    o.memory.buf_size = 512;
    o.memory.hugepages = HugepagePolicy::never;
    auto sp = Port::open("memif:" + path, o);
    ASSERT_TRUE(sp.ok()) << sp.error().message;
    auto cp = Port::open("memif:" + path + ",role=client,bsize=1024,rsize=6", o);
    ASSERT_TRUE(cp.ok()) << cp.error().message;
    Fixture s(std::move(sp).value()), c(std::move(cp).value());
    ASSERT_TRUE(eventually([&] { return s.port->link_up() && c.port->link_up(); }));
    auto through = [](Fixture& from, Fixture& to, const std::string& frame) {
        from.put_frame(frame);
        std::string got;
        EXPECT_TRUE(eventually([&] {
            from.port->txsync();
            to.port->rxsync();
            got = to.take_frame();
            return !got.empty();
        }));
        EXPECT_EQ(got, frame);
    };
    through(c, s, pattern(3000, 8)); // C2S: three descriptors of 1 KiB
    through(s, c, pattern(2500, 9)); // S2C: three descriptors, five netmap slots
    through(c, s, pattern(60, 10));
    EXPECT_EQ(link_status(c.port->adapter())->peer_name, "upio");

    // the server goes away and comes back; the client port was never closed
    s.port.reset();
    ASSERT_TRUE(eventually([&] { return !c.port->link_up(); }));
    EXPECT_EQ(link_status(c.port->adapter())->last_disconnect, "the peer said: the upio port was closed");
    auto again = Port::open("memif:" + path, o);
    ASSERT_TRUE(again.ok()) << again.error().message;
    s.port = std::move(again).value();
    ASSERT_TRUE(eventually([&] { return s.port->link_up() && c.port->link_up(); }));
    through(c, s, pattern(1000, 11));
    through(s, c, pattern(1000, 12));
    EXPECT_EQ(link_status(c.port->adapter())->connects, 2u);
}

// upio's client against a server that, after reading each C2S descriptor,
// points it elsewhere (another region, an offset past the end): the client
// writes every descriptor whole again before handing it over, so each frame
// is where upio put it, and the server never reads a buffer it did not mean
// to hand out. Four rings' worth of frames of one slot (the client's short
// path) and of three slots (its chain path).
TEST(MemifPort, ClientRewritesDescriptorsTheServerScribbledOn) {
    const std::string path = sock_path();
    Fd ls(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path.c_str());
    ASSERT_EQ(::bind(ls.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0) << std::strerror(errno);
    ASSERT_EQ(::listen(ls.get(), 1), 0);
    PortOptions o;
    o.tx_slots = o.rx_slots = 256;
    o.memory.buf_size = 512;
    o.memory.hugepages = HugepagePolicy::never;
    auto cp = Port::open("memif:" + path + ",role=client,rsize=4", o); // 16 descriptors
    ASSERT_TRUE(cp.ok()) << cp.error().message;
    Fixture c(std::move(cp).value());

    // the server's side of the handshake, by hand
    Fd s(::accept4(ls.get(), nullptr, nullptr, SOCK_CLOEXEC));
    ASSERT_TRUE(s);
    ServerHandshake hs(ServerConfig{});
    ASSERT_TRUE(send_msg(s.get(), hs.hello()));
    std::unique_ptr<Connection> conn;
    while (!conn) {
        auto got = recv_msg(s.get());
        ASSERT_TRUE(got) << got.error().message;
        auto step = hs.on_message(std::move(got->msg), Fd(got->fd));
        ASSERT_TRUE(step) << step.error().message;
        ASSERT_NE(step->action, ServerHandshake::Action::disconnect);
        if (step->action == ServerHandshake::Action::connect) {
            auto m = map_connection(hs);
            ASSERT_TRUE(m) << m.error().message;
            conn = std::move(m).value();
        }
        ASSERT_TRUE(send_msg(s.get(), step->reply));
    }
    ASSERT_TRUE(eventually([&] { return c.port->link_up(); }));
    SharedRing& r = conn->c2s.at(0);
    ASSERT_EQ(r.size, 16u);

    std::uint16_t tail = 0;
    for (int f = 0; f < 64; f++) {
        const std::string frame = pattern(f % 2 ? 60 : 1200, f); // 1200 bytes: three 512-byte slots
        c.put_frame(frame);
        std::string got;
        ASSERT_TRUE(eventually([&] {
            c.port->txsync();
            return std::atomic_ref<std::uint16_t>(r.hdr->head).load(std::memory_order_acquire) != tail;
        })) << "frame " << f;
        const std::uint16_t head = std::atomic_ref<std::uint16_t>(r.hdr->head).load(std::memory_order_acquire);
        for (; tail != head; tail++) {
            Desc& d = r.desc[tail & r.mask];
            const char* b = conn->buffer(d.region, d.offset, d.length);
            ASSERT_NE(b, nullptr) << "frame " << f << ": descriptor " << tail << " region " << d.region << " offset "
                                  << d.offset;
            got.append(b, d.length);
            d.region = 7;           // no such region
            d.offset = 0xffffff00u; // past the end of any
        }
        std::atomic_ref<std::uint16_t>(r.hdr->tail).store(tail, std::memory_order_release);
        EXPECT_EQ(got, frame) << "frame " << f;
    }
    EXPECT_TRUE(c.port->link_up());
    EXPECT_EQ(c.port->counters(Direction::tx).drops, 0u);
}

// The zero-copy client: its own region is memif region 1 and frames change
// hands by swapping buffers (NS_BUF_CHANGED), chains both ways with the
// server's 512-byte buffers, and a reconnect keeps the buffers each
// descriptor holds.
TEST(MemifPort, ZeroCopyClient) {
    const std::string path = fmt::format("/tmp/mzc-{}.sock", getpid()); // the name's 63 characters
    PortOptions o;
    o.tx_slots = o.rx_slots = 256;
    o.memory.buf_size = 512;
    o.memory.hugepages = HugepagePolicy::never;
    auto sp = Port::open("memif:" + path, o);
    ASSERT_TRUE(sp.ok()) << sp.error().message;
    auto cp = Port::open("memif:" + path + ",role=client,bsize=1024,zero-copy", o);
    ASSERT_TRUE(cp.ok()) << cp.error().message;
    Fixture s(std::move(sp).value()), c(std::move(cp).value());
    EXPECT_EQ(c.port->tx_ring(0)->nr_buf_size, 1024u) << "the client's buffers are the memif buffers";
    ASSERT_TRUE(eventually([&] { return s.port->link_up() && c.port->link_up(); }));
    auto through = [](Fixture& from, Fixture& to, const std::string& frame) {
        from.put_frame(frame);
        std::string got;
        EXPECT_TRUE(eventually([&] {
            from.port->txsync();
            to.port->rxsync();
            got = to.take_frame();
            return !got.empty();
        }));
        EXPECT_EQ(got, frame);
    };
    // a frame sent swaps the slot's buffer: the slot comes back with another
    netmap_ring* tx = c.port->tx_ring(0);
    const std::uint32_t before = tx->slot[tx->cur].buf_idx;
    const std::uint32_t first = tx->cur;
    through(c, s, pattern(3000, 8)); // three slots, three descriptors
    EXPECT_NE(tx->slot[first].buf_idx, before);
    EXPECT_TRUE(tx->slot[first].flags & NS_BUF_CHANGED);
    netmap_ring* rx = c.port->rx_ring(0);
    const std::uint32_t rx_first = rx->cur;
    through(s, c, pattern(2500, 9)); // five 512-byte server slots, three 1 KiB descriptors
    EXPECT_TRUE(rx->slot[rx_first].flags & NS_BUF_CHANGED);
    for (int n = 0; n < 1100; n++) { // more than a ring both ways: the swapped buffers come round
        through(c, s, pattern(60 + n, n));
        through(s, c, pattern(1000 + n, n));
    }

    // the server goes away and comes back
    s.port.reset();
    ASSERT_TRUE(eventually([&] { return !c.port->link_up(); }));
    auto again = Port::open("memif:" + path, o);
    ASSERT_TRUE(again.ok()) << again.error().message;
    s.port = std::move(again).value();
    ASSERT_TRUE(eventually([&] { return s.port->link_up() && c.port->link_up(); }));
    through(c, s, pattern(1000, 11));
    through(s, c, pattern(3000, 12));
}

TEST(MemifPort, OpenErrorsSayWhatToDo) {
    auto r = Port::open("memif:/proc/version");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("not a socket"), std::string::npos) << r.error().message;
    Fixture f;
    ASSERT_TRUE(f.port);
    // the same path again is the same port (another ring pair would be ",ring=N")
    auto again = Port::open("memif:" + f.path);
    EXPECT_FALSE(again.ok()); // its one ring pair is taken
    // a client opens without its server (it keeps trying); link down meanwhile
    auto cl = Port::open("memif:/tmp/upio-unused.sock,role=client");
    ASSERT_TRUE(cl.ok()) << cl.error().message;
    EXPECT_FALSE(cl.value()->link_up());
    auto bs = Port::open("memif:/tmp/upio-unused.sock,bsize=4096");
    ASSERT_FALSE(bs.ok());
    EXPECT_NE(bs.error().message.find("role=client"), std::string::npos) << bs.error().message;
}

} // namespace
} // namespace upio::memif
