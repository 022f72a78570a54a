// memif's control messages and the server's handshake: the wire layout
// (byte offsets as DPDK lays them out), every refusal of decode(), the
// socket calls with their descriptors, and the handshake's order and index
// checks. No peer process: unit tier.
#include "memif/protocol.hpp"
#include "memif/session.hpp"

#include <upio/port_name.hpp>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace upio::memif {
namespace {

Wire raw(MsgType t) {
    Wire w{};
    auto v = std::uint16_t(t);
    std::memcpy(w.data(), &v, 2);
    return w;
}

Result<Message> dec(const Wire& w, unsigned nfds = 0) { return decode(std::span<const std::uint8_t>(w), nfds); }

template <class T>
void poke(Wire& w, std::size_t off, T v) {
    std::memcpy(w.data() + off, &v, sizeof v);
}

TEST(MemifWire, LayoutMatchesDpdk) {
    // HELLO: name[32] at 2, then u16 min, max, max_region, max_s2c, max_c2s, u8 log2
    Message h;
    h.type = MsgType::hello;
    h.hello.name = "srv";
    h.hello.min_version = 0x0100;
    h.hello.max_version = 0x0200;
    h.hello.max_region = 3;
    h.hello.max_s2c_ring = 4;
    h.hello.max_c2s_ring = 5;
    h.hello.max_log2_ring_size = 14;
    Wire w = encode(h);
    EXPECT_EQ(w[0], 2);
    EXPECT_EQ(std::memcmp(w.data() + 2, "srv", 4), 0);
    EXPECT_EQ(w[34], 0x00);
    EXPECT_EQ(w[35], 0x01);
    EXPECT_EQ(w[36], 0x00);
    EXPECT_EQ(w[37], 0x02);
    EXPECT_EQ(w[38], 3);
    EXPECT_EQ(w[40], 4);
    EXPECT_EQ(w[42], 5);
    EXPECT_EQ(w[44], 14);
    // INIT: u16 version at 2, u32 id at 4, u8 mode at 8, secret[24] at 9, name[32] at 33
    Message i;
    i.type = MsgType::init;
    i.init.id = 0x01020304;
    i.init.secret = "s3";
    i.init.name = "cli";
    w = encode(i);
    EXPECT_EQ(w[2], 0x00);
    EXPECT_EQ(w[3], 0x02);
    EXPECT_EQ(w[4], 0x04);
    EXPECT_EQ(w[7], 0x01);
    EXPECT_EQ(w[8], 0);
    EXPECT_EQ(std::memcmp(w.data() + 9, "s3", 3), 0);
    EXPECT_EQ(std::memcmp(w.data() + 33, "cli", 4), 0);
    // ADD_RING: u16 flags 2, index 4, region 6, u32 offset 8, u8 log2 12, u16 private 13
    Message r;
    r.type = MsgType::add_ring;
    r.add_ring = AddRing{ring_flag_c2s, 1, 2, 0x100, 10, 0};
    w = encode(r);
    EXPECT_EQ(w[2], 1);
    EXPECT_EQ(w[4], 1);
    EXPECT_EQ(w[6], 2);
    EXPECT_EQ(w[9], 1);
    EXPECT_EQ(w[12], 10);
    // ADD_REGION: u16 index 2, u64 size 4; DISCONNECT: u32 code 2, string[96] 6
    Message g;
    g.type = MsgType::add_region;
    g.add_region = AddRegion{7, 0x10000};
    w = encode(g);
    EXPECT_EQ(w[2], 7);
    EXPECT_EQ(w[6], 1);
    Message d;
    d.type = MsgType::disconnect;
    d.disconnect = Disconnect{9, "bye"};
    w = encode(d);
    EXPECT_EQ(w[2], 9);
    EXPECT_EQ(std::memcmp(w.data() + 6, "bye", 4), 0);
}

TEST(MemifWire, RoundTrip) {
    Message m;
    m.type = MsgType::add_ring;
    m.add_ring = AddRing{0, 3, 1, 4096, 12, 0};
    auto back = dec(encode(m), 1);
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(back->add_ring.index, 3);
    EXPECT_EQ(back->add_ring.region, 1);
    EXPECT_EQ(back->add_ring.offset, 4096u);
    EXPECT_EQ(back->add_ring.log2_size, 12);
    EXPECT_FALSE(back->add_ring.c2s());
    Message c;
    c.type = MsgType::connect;
    c.if_name = "net_memif0";
    auto cb = dec(encode(c));
    ASSERT_TRUE(cb.ok());
    EXPECT_EQ(cb->if_name, "net_memif0");
}

TEST(MemifWire, Refusals) {
    auto fails = [](const Wire& w, unsigned nfds, const char* what) {
        auto r = dec(w, nfds);
        EXPECT_FALSE(r.ok()) << what;
        if (!r.ok()) {
            EXPECT_NE(r.error().message.find(what), std::string::npos) << r.error().message;
        }
    };
    Wire w = raw(MsgType::ack);
    EXPECT_FALSE(decode(std::span<const std::uint8_t>(w.data(), 127), 0).ok());
    fails(raw(MsgType::none), 0, "unknown message type 0");
    fails(raw(MsgType(9)), 0, "unknown message type 9");
    fails(raw(MsgType::ack), 1, "came with 1 file descriptors");
    fails(raw(MsgType::add_region), 0, "takes 1");
    // HELLO: min above max, zero ring size
    w = raw(MsgType::hello);
    poke<std::uint16_t>(w, 34, 0x0300);
    poke<std::uint16_t>(w, 36, 0x0200);
    w[44] = 10;
    fails(w, 0, "min version");
    w = raw(MsgType::hello);
    fails(w, 0, "2^0");
    // INIT: a mode other than ethernet
    w = raw(MsgType::init);
    w[8] = 1;
    fails(w, 0, "interface mode 1");
    // ADD_REGION: size 0, too large, index too high
    w = raw(MsgType::add_region);
    fails(w, 1, "size 0");
    poke<std::uint64_t>(w, 4, max_region_bytes + 1);
    fails(w, 1, "size");
    poke<std::uint64_t>(w, 4, 4096);
    poke<std::uint16_t>(w, 2, std::uint16_t(max_regions));
    fails(w, 1, "index 256");
    // ADD_RING: flags, sizes, private header, alignment
    auto ring = [] {
        Wire r = raw(MsgType::add_ring);
        r[12] = 10;
        return r;
    };
    ASSERT_TRUE(dec(ring(), 1).ok());
    w = ring();
    poke<std::uint16_t>(w, 2, 2);
    fails(w, 1, "unknown flags");
    w = ring();
    w[12] = 0;
    fails(w, 1, "ring size 2^0");
    w = ring();
    w[12] = 15;
    fails(w, 1, "ring size 2^15");
    w = ring();
    poke<std::uint16_t>(w, 13, 64);
    fails(w, 1, "private header");
    w = ring();
    poke<std::uint32_t>(w, 8, 4);
    fails(w, 1, "aligned");
    w = ring();
    poke<std::uint16_t>(w, 6, 300);
    fails(w, 1, "region 300");
}

TEST(MemifWire, StringsAreBoundedAndPrintable) {
    Wire w = raw(MsgType::disconnect);
    std::memset(w.data() + 6, 'x', 122); // no NUL up to the end of the message
    w[10] = '\n';
    w[11] = char(0xff);
    auto m = dec(w);
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->disconnect.reason.size(), reason_size);
    EXPECT_EQ(m->disconnect.reason.substr(0, 6), "xxxx??");
}

struct SocketPair {
    int fd[2] = {-1, -1};
    SocketPair() { EXPECT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, fd), 0); }
    ~SocketPair() {
        ::close(fd[0]);
        ::close(fd[1]);
    }
};

int open_fds() {
    int n = 0;
    for (int fd = 0; fd < 1024; fd++)
        if (fcntl(fd, F_GETFD) >= 0) n++;
    return n;
}

TEST(MemifSocket, DescriptorsTravelAndExtrasAreClosed) {
    SocketPair sp;
    Message m;
    m.type = MsgType::add_region;
    m.add_region = AddRegion{0, 4096};
    Fd ev(eventfd(0, 0));
    ASSERT_TRUE(send_msg(sp.fd[0], m, ev.get()).ok());
    auto got = recv_msg(sp.fd[1]);
    ASSERT_TRUE(got.ok()) << got.error().message;
    EXPECT_GE(got->fd, 0);
    Fd keep(got->fd);

    // two descriptors on one message: refused, and neither leaks
    const int before = open_fds();
    {
        Wire w = encode(m);
        iovec iov{w.data(), w.size()};
        msghdr mh{};
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        alignas(cmsghdr) char ctl[CMSG_SPACE(2 * sizeof(int))] = {};
        mh.msg_control = ctl;
        mh.msg_controllen = sizeof ctl;
        cmsghdr* c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(2 * sizeof(int));
        int two[2] = {ev.get(), ev.get()};
        std::memcpy(CMSG_DATA(c), two, sizeof two);
        ASSERT_EQ(sendmsg(sp.fd[0], &mh, 0), ssize_t(w.size()));
    }
    auto bad = recv_msg(sp.fd[1]);
    EXPECT_FALSE(bad.ok());
    EXPECT_EQ(open_fds(), before);

    // a descriptor on a message that takes none: refused and closed
    Message ack;
    ack.type = MsgType::ack;
    ASSERT_TRUE(send_msg(sp.fd[0], ack, ev.get()).ok());
    EXPECT_FALSE(recv_msg(sp.fd[1]).ok());
    EXPECT_EQ(open_fds(), before);

    // a short message
    ASSERT_EQ(send(sp.fd[0], "ab", 2, 0), 2);
    EXPECT_FALSE(recv_msg(sp.fd[1]).ok());
    // EOF
    ::shutdown(sp.fd[0], SHUT_WR);
    auto eof = recv_msg(sp.fd[1]);
    ASSERT_FALSE(eof.ok());
    EXPECT_EQ(eof.error().code, ECONNRESET);
}

Message init_msg(std::uint32_t id = 0, std::string secret = "") {
    Message m;
    m.type = MsgType::init;
    m.init.id = id;
    m.init.secret = std::move(secret);
    m.init.name = "test";
    return m;
}
Message region_msg(std::uint16_t idx, std::uint64_t size = 1 << 20) {
    Message m;
    m.type = MsgType::add_region;
    m.add_region = AddRegion{idx, size};
    return m;
}
Message ring_msg(bool c2s, std::uint16_t idx, std::uint16_t region = 0, std::uint32_t off = 0) {
    Message m;
    m.type = MsgType::add_ring;
    m.add_ring = AddRing{std::uint16_t(c2s ? ring_flag_c2s : 0), idx, region, off, 10, 0};
    return m;
}
Message simple(MsgType t) {
    Message m;
    m.type = t;
    return m;
}

TEST(MemifHandshake, TheUsualSequence) {
    ServerHandshake hs(ServerConfig{7, "", 2, "upio", "memif:x"});
    Message h = hs.hello();
    EXPECT_EQ(h.hello.max_c2s_ring, 1);
    EXPECT_EQ(h.hello.max_s2c_ring, 1);
    EXPECT_EQ(h.hello.max_log2_ring_size, max_log2_ring_size);
    for (Message m : {init_msg(7), region_msg(0), region_msg(1), ring_msg(true, 1), ring_msg(true, 0),
                      ring_msg(false, 0, 1)}) {
        auto s = hs.on_message(m, Fd());
        ASSERT_TRUE(s.ok()) << s.error().message;
        EXPECT_EQ(s->action, ServerHandshake::Action::reply);
        EXPECT_EQ(s->reply.type, MsgType::ack);
    }
    auto c = hs.on_message(simple(MsgType::connect), Fd());
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_EQ(c->action, ServerHandshake::Action::connect);
    EXPECT_EQ(c->reply.type, MsgType::connected);
    ASSERT_EQ(hs.c2s().size(), 2u);
    EXPECT_EQ(hs.c2s()[0].msg.index, 0); // sorted by index
    EXPECT_EQ(hs.regions().size(), 2u);
    // nothing but DISCONNECT after CONNECT
    EXPECT_FALSE(hs.on_message(region_msg(2), Fd()).ok());
    auto d = hs.on_message([] {
        Message m = simple(MsgType::disconnect);
        m.disconnect.reason = "going";
        return m;
    }(), Fd());
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->action, ServerHandshake::Action::disconnect);
    EXPECT_EQ(d->reason, "going");
}

TEST(MemifHandshake, Refusals) {
    auto run = [](std::vector<Message> seq, const char* what, std::string secret = "") {
        ServerHandshake hs(ServerConfig{0, std::move(secret), 1, "upio", "x"});
        for (std::size_t i = 0; i < seq.size(); i++) {
            auto s = hs.on_message(seq[i], Fd());
            if (!s.ok()) {
                EXPECT_EQ(i, seq.size() - 1) << "refused early: " << s.error().message;
                EXPECT_NE(s.error().message.find(what), std::string::npos) << s.error().message;
                return;
            }
        }
        ADD_FAILURE() << "accepted; expected: " << what;
    };
    run({region_msg(0)}, "before INIT");
    run({init_msg(), init_msg()}, "unexpected INIT");
    run({simple(MsgType::hello)}, "unexpected HELLO");
    run({init_msg(3)}, "ID not found");
    run({[] {
        Message m = init_msg();
        m.init.version = 0x0100;
        return m;
    }()},
        "Incompatible memif version");
    run({init_msg(0, "")}, "Secret required", "pw");
    run({init_msg(0, "nope")}, "Incorrect secret", "pw");
    run({init_msg(), region_msg(1)}, "Invalid region index 1");
    run({init_msg(), region_msg(0), region_msg(0)}, "Invalid region index 0");
    run({init_msg(), region_msg(0), ring_msg(true, 1)}, "Invalid ring index");
    run({init_msg(), region_msg(0), ring_msg(true, 0), ring_msg(true, 0)}, "added twice");
    run({init_msg(), region_msg(0), ring_msg(false, 0, 1)}, "not added");
    run({init_msg(), simple(MsgType::connect)}, "without a region");
    run({init_msg(), region_msg(0), ring_msg(true, 0), simple(MsgType::connect)}, "without a S2C ring");
    run({init_msg(), region_msg(0), simple(MsgType::ack)}, "unexpected ACK");
    // a secret that matches is accepted
    ServerHandshake ok(ServerConfig{0, "pw", 1, "upio", "x"});
    EXPECT_TRUE(ok.on_message(init_msg(0, "pw"), Fd()).ok());
}

// A region of `size` bytes as DPDK makes one: a memfd sealed against shrinking.
Fd sealed_memfd(std::size_t size, bool seal = true) {
    Fd fd(memfd_create("memif-test", MFD_ALLOW_SEALING | MFD_CLOEXEC));
    EXPECT_EQ(ftruncate(fd.get(), off_t(size)), 0);
    if (seal) {
        EXPECT_EQ(fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK), 0);
    }
    return fd;
}

// Runs the handshake with real descriptors, then map_connection().
Result<std::unique_ptr<Connection>> connect_with(Fd region, std::uint64_t announced, std::uint32_t ring_off,
                                                 bool write_cookie = true) {
    if (write_cookie && region) {
        void* p = mmap(nullptr, 1 << 16, PROT_READ | PROT_WRITE, MAP_SHARED, region.get(), 0);
        EXPECT_NE(p, MAP_FAILED);
        for (std::uint32_t off : {0u, 16384u}) {
            std::uint32_t c = ring_cookie;
            std::memcpy(static_cast<char*>(p) + off, &c, 4);
        }
        munmap(p, 1 << 16);
    }
    ServerHandshake hs(ServerConfig{0, "", 1, "upio", "x"});
    EXPECT_TRUE(hs.on_message(init_msg(), Fd()).ok());
    EXPECT_TRUE(hs.on_message(region_msg(0, announced), std::move(region)).ok());
    EXPECT_TRUE(hs.on_message(ring_msg(true, 0, 0, ring_off), Fd(eventfd(0, 0))).ok());
    EXPECT_TRUE(hs.on_message(ring_msg(false, 0, 0, 16384), Fd(eventfd(0, 0))).ok());
    EXPECT_TRUE(hs.on_message(simple(MsgType::connect), Fd()).ok());
    return map_connection(hs);
}

TEST(MemifConnection, RegionsAndRingsAreChecked) {
    auto good = connect_with(sealed_memfd(1 << 16), 1 << 16, 0);
    ASSERT_TRUE(good.ok()) << good.error().message;
    Connection& c = *good.value();
    EXPECT_EQ(c.c2s[0].size, 1024u);
    EXPECT_EQ(c.c2s[0].hdr->flags, ring_flag_mask_int); // upio polls until a waiter sleeps
    EXPECT_NE(c.buffer(0, 0, 1 << 16), nullptr);
    EXPECT_EQ(c.buffer(0, 1, 1 << 16), nullptr);
    EXPECT_EQ(c.buffer(0, 0xffffffffu, 2), nullptr);
    EXPECT_EQ(c.buffer(1, 0, 1), nullptr);

    auto expect_refused = [](Result<std::unique_ptr<Connection>> r, const char* what) {
        ASSERT_FALSE(r.ok()) << what;
        EXPECT_NE(r.error().message.find(what), std::string::npos) << r.error().message;
    };
    expect_refused(connect_with(sealed_memfd(1 << 16, false), 1 << 16, 0), "not sealed");
    expect_refused(connect_with(sealed_memfd(1 << 16), 1 << 20, 0), "announced");
    expect_refused(connect_with(sealed_memfd(1 << 16), 1 << 16, (1 << 16) - 128), "bytes at offset");
    expect_refused(connect_with(sealed_memfd(1 << 16), 1 << 16, 8), "cookie");
    expect_refused(connect_with(Fd(eventfd(0, 0)), 4096, 0, false), "not a regular file");
}

TEST(MemifName, Syntax) {
    auto n = PortName::parse("memif:/run/m0.sock,id=3,secret=abc");
    ASSERT_TRUE(n.ok()) << n.error().message;
    EXPECT_EQ(n->body, "/run/m0.sock");
    auto a = PortName::parse("memif:@abstract-1");
    ASSERT_TRUE(a.ok()) << a.error().message;
    EXPECT_EQ(a->body, "@abstract-1"); // no "-N" shorthand on a path
    EXPECT_TRUE(PortName::parse("memif:/x,ring=0,rx").ok());
    EXPECT_TRUE(PortName::parse("memif:/x,role=client").ok());
    for (const char* bad : {"memif:", "memif:/x,id=", "memif:/x,id=-1", "memif:/x,id=4294967296", "memif:/x,role=peer",
                            "memif:/x,secret=0123456789012345678901234", "memif:/x,bsize=1"}) {
        EXPECT_FALSE(PortName::parse(bad).ok()) << bad;
    }
}

} // namespace
} // namespace upio::memif
