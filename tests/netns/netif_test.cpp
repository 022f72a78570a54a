// netif: ports over a veth pair in a network namespace of the test's own
// (root; skipped otherwise). The process enters a new network and mount
// namespace with its own sysfs, so nothing outside it is touched and the
// veth pair disappears with the process.
#include "../common/netns.hpp"
#include "../common/require.hpp"
#include <upio/chain.hpp>
#include <upio/netmap_user.h>
#include <upio/port.hpp>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;

std::string enter_netns() { return upio::test::enter_netns("network namespaces, veth, AF_PACKET"); }

bool sh(const std::string& cmd) { return std::system(cmd.c_str()) == 0; }

class Netif : public ::testing::Test {
public:
    static upio::PortOptions opts(std::uint32_t buf_size = 2048) {
        upio::PortOptions o;
        o.tx_slots = o.rx_slots = 256;
        o.memory.hugepages = upio::HugepagePolicy::never;
        o.memory.buf_size = buf_size;
        o.wait_spin = 0us;
        return o;
    }
    static std::unique_ptr<upio::Port> open_port(const std::string& name, const upio::PortOptions& o) {
        return open(name, o);
    }

protected:
    void SetUp() override {
        if (auto why = enter_netns(); !why.empty()) UPIO_MISSING_PREREQUISITE(why);
        sh("ip link del nt0 2>/dev/null");
        ASSERT_TRUE(sh("ip link add nt0 type veth peer name nt1"));
        ASSERT_TRUE(sh("ip link set nt0 up && ip link set nt1 up"));
        // no IPv6 chatter (router solicitations, MLD) in the way of the frames
        sh("sysctl -qw net.ipv6.conf.nt0.disable_ipv6=1 net.ipv6.conf.nt1.disable_ipv6=1");
    }
    void TearDown() override { sh("ip link del nt0 2>/dev/null"); }

    static std::unique_ptr<upio::Port> open(const std::string& name, const upio::PortOptions& o) {
        auto p = upio::Port::open(name, o);
        EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().message);
        return p.ok() ? std::move(p.value()) : nullptr;
    }
};

// A broadcast frame from a locally administered source address with a private EtherType, `len` bytes with a pattern seeded by `seed`.
std::vector<unsigned char> frame(std::size_t len, unsigned seed) {
    std::vector<unsigned char> f(len);
    const unsigned char hdr[14] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1, 0x88, 0xb5};
    std::memcpy(f.data(), hdr, sizeof hdr);
    for (std::size_t i = sizeof hdr; i < len; i++) f[i] = static_cast<unsigned char>(i * 7 + seed);
    return f;
}

bool send(upio::Port& p, const std::vector<unsigned char>& f) {
    netmap_ring* r = p.tx_ring(0);
    if (p.wait(upio::Direction::tx, 2s) <= 0 || nm_ring_empty(r)) return false;
    netmap_slot& s = r->slot[r->cur];
    std::memcpy(NETMAP_BUF(r, s.buf_idx), f.data(), f.size());
    s.len = static_cast<std::uint16_t>(f.size());
    s.flags = 0;
    r->head = r->cur = nm_ring_next(r, r->cur);
    return p.txsync() == 0;
}

// Receives frames until one with our EtherType (after a VLAN tag or not) arrives (bounded), and
// returns it (empty when none came).
std::vector<unsigned char> receive(upio::Port& p) {
    netmap_ring* r = p.rx_ring(0);
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < until) {
        p.wait(upio::Direction::rx, 200ms);
        while (!nm_ring_empty(r)) {
            const netmap_slot& s = r->slot[r->cur];
            const auto* b = reinterpret_cast<const unsigned char*>(NETMAP_BUF(r, s.buf_idx));
            std::vector<unsigned char> f(b, b + s.len);
            r->head = r->cur = nm_ring_next(r, r->cur);
            const bool ours = f.size() >= 18 && ((f[12] == 0x88 && f[13] == 0xb5) ||
                                                 (f[12] == 0x81 && f[13] == 0x00 && f[16] == 0x88 && f[17] == 0xb5));
            if (ours) {
                p.rxsync();
                return f;
            }
        }
    }
    return {};
}

void jumbo(const std::string& tx_name, const std::string& rx_name) {
    auto o = Netif::opts(9216);
    auto a = upio::Port::open(tx_name, o);
    ASSERT_TRUE(a.ok()) << a.error().message;
    auto b = upio::Port::open(rx_name, o);
    ASSERT_TRUE(b.ok()) << b.error().message;
    for (std::size_t len : {60u, 1514u, 4000u, 9014u}) {
        const auto f = frame(len, unsigned(len));
        ASSERT_TRUE(send(*a.value(), f)) << len;
        const auto g = receive(*b.value());
        ASSERT_EQ(g.size(), f.size()) << "a frame of " << len << " bytes did not arrive";
        EXPECT_TRUE(g == f) << len;
    }
    EXPECT_EQ(a.value()->counters(upio::Direction::tx).drops, 0u);
    EXPECT_EQ(b.value()->counters(upio::Direction::rx).drops, 0u);
}

// Frames up to the interface's MTU go through AF_PACKET when the buffers
// are large enough for them.
TEST_F(Netif, PacketCarriesJumboFrames) {
    ASSERT_TRUE(sh("ip link set nt0 mtu 9000 && ip link set nt1 mtu 9000"));
    jumbo("netif:nt0@packet", "netif:nt1@packet");
}

// AF_XDP frames (4 KiB) cannot hold a 9000-byte MTU: @xdp says so, and
// the default back end falls back to AF_PACKET, which carries them.
TEST_F(Netif, XdpRefusesAnMtuLargerThanItsFramesAndDefaultFallsBack) {
    ASSERT_TRUE(sh("ip link set nt0 mtu 9000 && ip link set nt1 mtu 9000"));
    auto x = upio::Port::open("netif:nt0@xdp", opts(9216));
    ASSERT_FALSE(x.ok());
    EXPECT_EQ(x.error().code, EMSGSIZE) << x.error().message;
    EXPECT_NE(x.error().message.find("MTU 9000"), std::string::npos) << x.error().message;
    EXPECT_NE(x.error().message.find("@packet"), std::string::npos) << x.error().message;
    jumbo("netif:nt0", "netif:nt1");
}

// veth refuses native XDP when its peer's MTU exceeds a page's worth of
// frame; AF_XDP then runs in generic mode and carries frames up to the MTU.
TEST_F(Netif, XdpFallsBackToGenericModeWhenNativeIsRefused) {
    ASSERT_TRUE(sh("ip link set nt0 mtu 3600 && ip link set nt1 mtu 3600"));
    auto o = opts(4096);
    auto a = upio::Port::open("netif:nt0@xdp", o);
    ASSERT_TRUE(a.ok()) << a.error().message;
    auto b = upio::Port::open("netif:nt1@xdp", o);
    ASSERT_TRUE(b.ok()) << b.error().message;
    for (std::size_t len : {60u, 1514u, 3614u}) {
        const auto f = frame(len, unsigned(len));
        ASSERT_TRUE(send(*a.value(), f)) << len;
        const auto g = receive(*b.value());
        ASSERT_EQ(g.size(), f.size()) << "a frame of " << len << " bytes did not arrive";
        EXPECT_TRUE(g == f) << len;
    }
}

double thread_cpu_seconds() {
    rusage ru{};
    getrusage(RUSAGE_THREAD, &ru);
    return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// After the interface went down and up again, an idle receive wait sleeps
// (the socket's pending ENETDOWN must not keep waking it), and frames flow.
TEST_F(Netif, PacketRxWaitSleepsAfterLinkDownAndUp) {
    auto a = open("netif:nt0@packet", opts());
    auto b = open("netif:nt1@packet", opts());
    ASSERT_TRUE(a && b);
    ASSERT_TRUE(sh("ip link set nt1 down && ip link set nt1 up"));
    netmap_ring* r = b->rx_ring(0);
    b->rxsync();
    r->head = r->cur = r->tail; // drop whatever arrived so far
    const double cpu0 = thread_cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 5; i++) {
        b->wait(upio::Direction::rx, 100ms);
        r->head = r->cur = r->tail;
    }
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double cpu = thread_cpu_seconds() - cpu0;
    EXPECT_LT(cpu, wall / 2) << "an idle wait spun: " << cpu << " s of CPU in " << wall << " s";
    const auto f = frame(100, 3);
    ASSERT_TRUE(send(*a, f));
    EXPECT_TRUE(receive(*b) == f);
}

} // namespace

namespace {

// Deleting the interface under a port: transmission reports it as an
// error naming the port (instead of queueing frames that can never leave),
// and an idle receive wait neither spins nor crashes.
void deleted_under_port(const std::string& name) {
    auto o = Netif::opts();
    auto p = upio::Port::open(name, o);
    ASSERT_TRUE(p.ok()) << p.error().message;
    upio::Port& port = *p.value();
    ASSERT_TRUE(send(port, frame(60, 1)));
    ASSERT_TRUE(std::system("ip link del nt0") == 0);
    int rc = 0;
    netmap_ring* r = port.tx_ring(0);
    const auto f = frame(60, 2);
    // More frames than the port's ring and the kernel's rings together hold.
    for (int i = 0; i < 8192 && rc >= 0; i++) {
        rc = port.wait(upio::Direction::tx, 50ms);
        if (rc <= 0) break;
        netmap_slot& s = r->slot[r->cur];
        std::memcpy(NETMAP_BUF(r, s.buf_idx), f.data(), f.size());
        s.len = static_cast<std::uint16_t>(f.size());
        r->head = r->cur = nm_ring_next(r, r->cur);
        rc = port.txsync();
    }
    EXPECT_LT(rc, 0) << "no error after the interface was deleted";
    EXPECT_NE(std::string(port.last_error()).find("nt0"), std::string::npos) << port.last_error();
    const double cpu0 = thread_cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    port.wait(upio::Direction::rx, 300ms);
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_LT(thread_cpu_seconds() - cpu0, wall / 2) << "an idle receive wait spun";
}

TEST_F(Netif, PacketReportsADeletedInterface) { deleted_under_port("netif:nt0@packet"); }
TEST_F(Netif, XdpReportsADeletedInterface) { deleted_under_port("netif:nt0@xdp"); }

} // namespace

namespace {

// A tap device deleted under its port: a receive wait returns an error
// naming the port instead of spinning on the descriptor's error, and
// transmission reports it too.
TEST_F(Netif, TapReportsADeletedDevice) {
    auto p = upio::Port::open("tap:ntap0", Netif::opts());
    ASSERT_TRUE(p.ok()) << p.error().message;
    upio::Port& port = *p.value();
    ASSERT_TRUE(std::system("ip link set ntap0 up && ip link del ntap0") == 0);
    const double cpu0 = thread_cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    const int rc = port.wait(upio::Direction::rx, 300ms);
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_LT(thread_cpu_seconds() - cpu0, wall / 2) << "an idle receive wait spun (rc " << rc << ")";
    EXPECT_LT(rc, 0);
    EXPECT_NE(std::string(port.last_error()).find("tap:ntap0"), std::string::npos) << port.last_error();
    netmap_ring* r = port.tx_ring(0);
    ASSERT_FALSE(nm_ring_empty(r));
    r->slot[r->cur].len = 60;
    r->head = r->cur = nm_ring_next(r, r->cur);
    EXPECT_LT(port.txsync(), 0);
    EXPECT_EQ(port.counters(upio::Direction::tx).drops, 1u);
}

} // namespace

namespace {

// A frame longer than the MTU allows (but within a buffer) cannot leave:
// it is counted as a drop, not as sent, and the frames around it go out.
// AF_PACKET allows 4 more bytes only for a VLAN tag; AF_XDP (veth) for any frame.
std::vector<unsigned char> tagged_frame(std::size_t len, unsigned seed) {
    auto f = frame(len, seed);
    const unsigned char tag[6] = {0x81, 0x00, 0x00, 0x05, 0x88, 0xb5};
    std::memcpy(f.data() + 12, tag, sizeof tag);
    return f;
}

void oversize(const std::string& tx_name, const std::string& rx_name, std::size_t untagged) {
    auto o = Netif::opts(4096);
    auto a = upio::Port::open(tx_name, o);
    ASSERT_TRUE(a.ok()) << a.error().message;
    auto b = upio::Port::open(rx_name, o);
    ASSERT_TRUE(b.ok()) << b.error().message;
    const auto before = a.value()->counters(upio::Direction::tx);
    ASSERT_TRUE(send(*a.value(), frame(untagged, 1))); // MTU 1500
    ASSERT_TRUE(send(*a.value(), tagged_frame(1519, 2))); // with a VLAN tag, at most 1518
    const auto f = frame(1514, 3);
    ASSERT_TRUE(send(*a.value(), f));
    EXPECT_TRUE(receive(*b.value()) == f);
    const auto g = tagged_frame(1518, 4); // the largest that fits
    ASSERT_TRUE(send(*a.value(), g));
    EXPECT_TRUE(receive(*b.value()) == g);
    const auto after = a.value()->counters(upio::Direction::tx);
    EXPECT_EQ(after.drops - before.drops, 2u);
    EXPECT_EQ(after.packets - before.packets, 2u);
}

TEST_F(Netif, PacketCountsFramesAboveTheMtuAsDrops) { oversize("netif:nt0@packet", "netif:nt1@packet", 1515); }
TEST_F(Netif, XdpCountsFramesAboveTheMtuAsDrops) { oversize("netif:nt0@xdp", "netif:nt1@xdp", 1519); }

} // namespace

#include "../common/scribble.hpp"

namespace {

// Sends up to `n` frames of 60 bytes on `p` without waiting; returns how many.
std::uint32_t send_some(upio::Port& p, std::uint32_t n, std::uint64_t& seq) {
    netmap_ring* r = p.tx_ring(0);
    std::uint32_t k = 0;
    for (; k < n && !nm_ring_empty(r); k++) {
        netmap_slot& s = r->slot[r->cur];
        const auto f = frame(60, unsigned(seq++));
        std::memcpy(NETMAP_BUF(r, s.buf_idx), f.data(), f.size());
        s.len = 60;
        s.flags = 0;
        r->head = r->cur = nm_ring_next(r, r->cur);
    }
    EXPECT_EQ(p.txsync(), 0) << p.last_error();
    return k;
}

// Frames arrive at `rx_name` (sent by `tx_name`) while a thread scribbles
// random values on the rx slots the application does not own and on the
// ring's tail: the port writes no frame through a bad index (a wild write
// would crash, or trip AddressSanitizer), counts the frames it could not
// place, and a port on another veth pair streams on untouched.
void scribbled_rx(const std::string& tx_name, const std::string& rx_name) {
    ASSERT_TRUE(sh("ip link add nt2 type veth peer name nt3 && ip link set nt2 up && ip link set nt3 up"));
    sh("sysctl -qw net.ipv6.conf.nt2.disable_ipv6=1 net.ipv6.conf.nt3.disable_ipv6=1");
    {
        auto rx = Netif::open_port(rx_name, Netif::opts());
        if (rx_name.starts_with("tap:")) {
            ASSERT_TRUE(sh("ip link set " + rx_name.substr(4) + " up"));
        }
        auto tx = Netif::open_port(tx_name, Netif::opts());
        auto calm_tx = Netif::open_port("netif:nt2@packet", Netif::opts());
        auto calm_rx = Netif::open_port("netif:nt3@packet", Netif::opts());
        ASSERT_TRUE(rx && tx && calm_tx && calm_rx);
        const upio::MemoryRegion& mem = rx->adapter().memory();
        netmap_ring* r = rx->rx_ring(0);
        upio::test::CarefulRing c(r, mem);
        std::uint64_t seq = 0, calm_seq = 0, frames = 0, repaired = 0, calm_frames = 0;
        const std::uint64_t total = 200000;
        {
            upio::test::Scribbler scribbler({r}, mem.num_bufs(), true);
            const auto until = std::chrono::steady_clock::now() + 60s;
            while (seq < total && std::chrono::steady_clock::now() < until) {
                send_some(*tx, 64, seq);
                send_some(*calm_tx, 8, calm_seq);
                c.sync([&] { return rx->rxsync(); });
                for (std::uint32_t n = c.avail(); n; n--) {
                    netmap_slot& s = r->slot[r->cur];
                    if (c.repair(s))
                        repaired++;
                    else if (s.len)
                        frames++;
                    r->head = r->cur = nm_ring_next(r, r->cur);
                }
                netmap_ring* cr = calm_rx->rx_ring(0);
                EXPECT_EQ(calm_rx->rxsync(), 0);
                while (!nm_ring_empty(cr)) {
                    calm_frames += cr->slot[cr->cur].len == 60;
                    cr->head = cr->cur = nm_ring_next(cr, cr->cur);
                }
            }
            EXPECT_GT(scribbler.writes(), 0u);
        }
        const auto rc = rx->counters(upio::Direction::rx);
        std::printf("%s: sent %llu, frames %llu, drops %llu, repaired %llu, prologue errors %llu; calm %llu\n",
                    rx_name.c_str(), (unsigned long long)seq, (unsigned long long)frames,
                    (unsigned long long)rc.drops, (unsigned long long)repaired,
                    (unsigned long long)rc.prologue_errors, (unsigned long long)calm_frames);
        EXPECT_GT(frames, 0u);
        EXPECT_GT(rc.drops, 0u) << "no frame met a scribbled slot";
        EXPECT_GT(calm_frames, 0u);
        EXPECT_EQ(calm_rx->counters(upio::Direction::rx).drops, 0u);
        EXPECT_EQ(calm_rx->counters(upio::Direction::rx).prologue_errors, 0u);
        EXPECT_EQ(tx->counters(upio::Direction::tx).prologue_errors, 0u);
    }
    sh("ip link del nt2 2>/dev/null");
}

TEST_F(Netif, PacketRxSurvivesAScribblingApplication) { scribbled_rx("netif:nt0@packet", "netif:nt1@packet"); }
TEST_F(Netif, XdpRxSurvivesAScribblingApplication) { scribbled_rx("netif:nt0@packet", "netif:nt1@xdp"); }
TEST_F(Netif, TapRxSurvivesAScribblingApplication) { scribbled_rx("netif:ntap1@packet", "tap:ntap1"); }

} // namespace

namespace {

// Opens each name in a child process that kept only the capabilities in
// `keep` (a CAP_* bit mask; root's others dropped) and returns each open's
// error message ("ok" when it opened).
std::vector<std::string> open_without_caps(std::uint64_t keep, const std::vector<std::string>& names) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) return {};
    const pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
        __user_cap_data_struct d[2]{};
        for (int i = 0; i < 2; i++)
            d[i].effective = d[i].permitted = std::uint32_t(keep >> (32 * i));
        if (syscall(SYS_capset, &h, d) < 0) _exit(2);
        std::string out;
        for (const std::string& n : names) {
            auto p = upio::Port::open(n, Netif::opts());
            out += (p.ok() ? std::string("ok") : p.error().message) + "\n";
        }
        (void)!write(fds[1], out.data(), out.size());
        _exit(0);
    }
    close(fds[1]);
    std::string all;
    char buf[4096];
    for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) all.append(buf, std::size_t(n));
    close(fds[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "the child could not drop its capabilities";
    std::vector<std::string> lines;
    for (std::size_t at = 0, nl; (nl = all.find('\n', at)) != std::string::npos; at = nl + 1)
        lines.push_back(all.substr(at, nl - at));
    return lines;
}

constexpr std::uint64_t cap(int c) { return std::uint64_t(1) << c; }

} // namespace

// Without the capabilities a back end needs, the open fails and says which
// ones it needs (the table in docs/troubleshooting.md).
TEST_F(Netif, PermissionErrorsNameTheCapabilitiesNeeded) {
    const auto none = open_without_caps(0, {"netif:nt0@packet", "netif:nt0@xdp", "tap:upcap0"});
    ASSERT_EQ(none.size(), 3u);
    EXPECT_NE(none[0].find("needs cap_net_raw"), std::string::npos) << none[0];
    EXPECT_NE(none[1].find("cap_net_raw"), std::string::npos) << none[1];
    EXPECT_NE(none[2].find("creating a tap needs cap_net_admin"), std::string::npos) << none[2];
    // AF_XDP with all it needs but cap_sys_admin (cap_bpf and cap_perfmon do
    // not stand in for it): libxdp attaches its program, then fails to read
    // its maps back; refused, naming the four
    const auto most = open_without_caps(cap(CAP_NET_RAW) | cap(CAP_NET_ADMIN) | cap(CAP_IPC_LOCK) | cap(CAP_BPF) | cap(CAP_PERFMON),
                                        {"netif:nt0@xdp"});
    ASSERT_EQ(most.size(), 1u);
    EXPECT_NE(most[0].find("AF_XDP needs cap_net_raw, cap_net_admin, cap_sys_admin and cap_ipc_lock"),
              std::string::npos)
        << most[0];
    // and leaves no XDP program on the interface
    EXPECT_TRUE(sh("! ip link show dev nt0 | grep -q xdp")) << "an XDP program was left attached to nt0";
}

namespace {

// UFO through a VALE switch to the kernel. A header port sends UDP
// datagrams of up to 20000 bytes as UFO frames (virtio-net GSO_UDP), the
// switch cuts them into IPv4 fragments toward a port without a header, whose
// frames the test passes on to a tap; the kernel reassembles each and a UDP
// socket receives it whole, its checksum (completed by the switch or the
// sender's) checked by the kernel.
TEST_F(Netif, UfoThroughValeReachesTheKernelReassembled) {
    auto tap = open("tap:nufo0", opts());
    ASSERT_TRUE(tap);
    ASSERT_TRUE(sh("sysctl -qw net.ipv6.conf.nufo0.disable_ipv6=1; ip addr add 10.201.0.1/24 dev nufo0 && "
                   "ip link set nufo0 up"));
    const std::string sw = "valeufo" + std::to_string(::getpid() % 1000);
    auto h = open(sw + ":h", opts()), plain = open(sw + ":p", opts());
    ASSERT_TRUE(h && plain);
    ASSERT_TRUE(h->set_vnet_hdr_len(10).ok());
    unsigned char tap_mac[6];
    {
        std::ifstream in("/sys/class/net/nufo0/address");
        unsigned m[6];
        std::string line;
        ASSERT_TRUE(std::getline(in, line));
        ASSERT_EQ(std::sscanf(line.c_str(), "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]), 6);
        for (int i = 0; i < 6; i++) tap_mac[i] = static_cast<unsigned char>(m[i]);
    }
    const int sock = ::socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_GE(sock, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(9000);
    a.sin_addr.s_addr = htonl(0x0ac90001); // 10.201.0.1
    ASSERT_EQ(::bind(sock, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
    const timeval tmo{5, 0}; // a datagram that never comes fails the test after 5 s
    ASSERT_EQ(::setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof tmo), 0);

    auto sum16 = [](const unsigned char* p, std::size_t n, std::uint32_t acc) {
        for (std::size_t i = 0; i < n; i++) acc += i % 2 == 0 ? p[i] << 8 : p[i];
        while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
        return std::uint16_t(acc);
    };
    struct Case {
        std::uint32_t payload;
        std::uint16_t gso_size;
        bool needs_csum;
    };
    std::uint16_t id = 0x4242;
    const Case cases[] = {{20000, 1480, true}, {9001, 1473, false}, {3000, 512, true}, {600, 1480, true}};
    for (const Case& c : cases) {
        SCOPED_TRACE(std::to_string(c.payload) + " bytes, gso_size " + std::to_string(c.gso_size));
        const std::uint32_t hl = 10, l3 = 14, l4 = 34, len = l4 + 8 + c.payload;
        std::vector<unsigned char> b(hl + len, 0);
        b[0] = c.needs_csum ? 1 : 0; // NEEDS_CSUM
        b[1] = 3;                    // GSO_UDP
        b[4] = std::uint8_t(c.gso_size), b[5] = std::uint8_t(c.gso_size >> 8);
        if (c.needs_csum) b[6] = l4, b[8] = 6; // csum_start, csum_offset
        unsigned char* e = b.data() + hl;
        std::memcpy(e, tap_mac, 6);
        const unsigned char src[6] = {0x02, 0, 0, 0, 0, 0x07};
        std::memcpy(e + 6, src, 6);
        e[12] = 0x08;
        unsigned char* ip = e + l3;
        ip[0] = 0x45, ip[2] = std::uint8_t((len - l3) >> 8), ip[3] = std::uint8_t(len - l3);
        ip[4] = std::uint8_t(id >> 8), ip[5] = std::uint8_t(id), ip[8] = 64, ip[9] = 17;
        ip[12] = 10, ip[13] = 201, ip[15] = 2, ip[16] = 10, ip[17] = 201, ip[19] = 1;
        const std::uint16_t ic = std::uint16_t(~sum16(ip, 20, 0));
        ip[10] = std::uint8_t(ic >> 8), ip[11] = std::uint8_t(ic);
        id++;
        unsigned char* uh = e + l4;
        const std::uint32_t ulen = len - l4;
        uh[0] = 0x9c, uh[1] = 0x40, uh[2] = 0x23, uh[3] = 0x28; // 40000 -> 9000
        uh[4] = std::uint8_t(ulen >> 8), uh[5] = std::uint8_t(ulen);
        for (std::uint32_t i = 0; i < c.payload; i++) uh[8 + i] = std::uint8_t(i * 29 + c.gso_size);
        std::uint32_t acc = 17 + ulen;
        for (int i = 12; i < 20; i += 2) acc += ip[i] << 8 | ip[i + 1];
        const std::uint16_t ph = sum16(nullptr, 0, acc); // CHECKSUM_PARTIAL: the folded pseudo-header
        std::uint16_t uc = c.needs_csum ? ph : std::uint16_t(~sum16(uh, ulen, ph));
        if (!c.needs_csum && uc == 0) uc = 0xffff;
        uh[6] = std::uint8_t(uc >> 8), uh[7] = std::uint8_t(uc);

        netmap_ring* tr = h->tx_ring(0);
        ASSERT_GE(nm_ring_space(tr), upio::chain_slots(std::uint32_t(b.size()), tr->nr_buf_size));
        tr->head = tr->cur = upio::nm_put_chain(tr, tr->cur, b.data(), b.size());
        ASSERT_EQ(h->txsync(), 0);
        // The plain port's frames, chains joined, out through the tap.
        ASSERT_EQ(plain->rxsync(), 0);
        netmap_ring* pr = plain->rx_ring(0);
        std::vector<unsigned char> cur;
        std::uint32_t frags = 0;
        while (!nm_ring_empty(pr)) {
            const netmap_slot& s = pr->slot[pr->cur];
            const auto* p = reinterpret_cast<const unsigned char*>(NETMAP_BUF(pr, s.buf_idx));
            cur.insert(cur.end(), p, p + s.len);
            if (!(s.flags & NS_MOREFRAG)) {
                EXPECT_LE(cur.size(), 1514u);
                ASSERT_TRUE(send(*tap, cur));
                frags++;
                cur.clear();
            }
            pr->head = pr->cur = nm_ring_next(pr, pr->cur);
        }
        ASSERT_EQ(plain->rxsync(), 0);
        const std::uint32_t fsize = c.gso_size & ~7u;
        EXPECT_EQ(frags, (8 + c.payload + fsize - 1) / fsize);
        std::vector<unsigned char> got(70000);
        const ssize_t n = ::recv(sock, got.data(), got.size(), 0);
        ASSERT_EQ(n, ssize_t(c.payload)) << (n < 0 ? std::strerror(errno) : "a datagram of another length");
        EXPECT_EQ(std::memcmp(got.data(), uh + 8, c.payload), 0);
    }
    EXPECT_EQ(h->counters(upio::Direction::tx).drops, 0u);
    ::close(sock);
}

} // namespace
