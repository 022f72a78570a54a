// The memif server against the real peer: DPDK's dpdk-testpmd with net_memif
// clients (Debian's dpdk-dev package; scripts/install-deps installs it).
// pkt-gen's sequence-checked stream through testpmd forwarding, testpmd
// killed and started again mid-stream, and a receiver asleep until
// testpmd's eventfd write wakes it.
//
// testpmd forwards in "io retry" mode: it retries a transmit that found the
// ring full instead of dropping, so nothing is lost in testpmd while upio's
// receiver is slower than it. --no-flush-rx keeps what upio sent before the
// forwarding started.
#include "memif/memif.hpp"
#include "testpmd.hpp"

#include "../common/require.hpp"

#include <upio/backend/adapter.hpp>
#include <upio/netmap_user.h>
#include <upio/port.hpp>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <time.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <regex>
#include <thread>

namespace upio::memif {
namespace {

using namespace std::chrono_literals;
using test::Testpmd;

#define REQUIRE_TESTPMD()                                                                                              \
    do {                                                                                                               \
        if (test::testpmd_binary().empty())                                                                            \
            UPIO_MISSING_PREREQUISITE("dpdk-testpmd is not installed (Debian: dpdk-dev and librte-net-memif23; "       \
                                      "scripts/install-deps installs them)");                                          \
    } while (0)

const std::string io_retry = "set fwd io retry\nset burst tx delay 10 retry 1000000\nstart\n";

std::uint64_t scaled(std::uint64_t n) {
    const char* s = std::getenv("UPIO_TEST_SCALE");
    const double f = s ? std::atof(s) : 1.0;
    return std::max<std::uint64_t>(1000, std::uint64_t(double(n) * (f > 0 ? f : 1.0)));
}

std::string sock(const char* what) { return fmt::format("/tmp/upio-tp-{}-{}.sock", getpid(), what); }
std::string vdev(int n, const std::string& path, const std::string& extra = "") {
    return fmt::format("net_memif{},role=client,socket={},socket-abstract=no{}", n, path, extra);
}

bool eventually(const std::function<bool()>& pred, std::chrono::seconds limit = 60s) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > until) return false;
        std::this_thread::sleep_for(2ms);
    }
    return true;
}

// pkt-gen with `args`, stdout and stderr together; killed after 300 s.
std::pair<int, std::string> pktgen(std::vector<std::string> args) {
    int fds[2];
    // close-on-exec: a process another thread starts meanwhile (testpmd) must not
    // inherit the write end, or the read below never sees end-of-file
    if (pipe2(fds, O_CLOEXEC) != 0) return {-1, ""};
    std::vector<char*> argv{const_cast<char*>(PKTGEN_PATH)}; // built here: the child only execs
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        alarm(300);
        execv(PKTGEN_PATH, argv.data());
        _exit(127);
    }
    close(fds[1]);
    std::string out;
    std::array<char, 4096> buf;
    for (ssize_t n; (n = read(fds[0], buf.data(), buf.size())) > 0;) out.append(buf.data(), std::size_t(n));
    close(fds[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    return {st, out};
}

std::int64_t json_field(const std::string& out, const std::string& key) {
    std::smatch m;
    if (!std::regex_search(out, m, std::regex(R"(\{"seq":[^\n]*")" + key + R"(":(\d+))"))) return -1;
    return std::stoll(m[1]);
}

struct StreamCase {
    unsigned size;
    std::uint64_t frames;
    const char* testpmd_extra; // net_memif devargs
    bool upio_client = false;  // upio the client, testpmd the server
    const char* upio_extra = ""; // options of upio's memif ports
};

void PrintTo(const StreamCase& c, std::ostream* os) {
    *os << c.frames << " frames of " << c.size << " B, upio " << (c.upio_client ? "client" : "server") << c.upio_extra;
}

class ThroughTestpmd : public ::testing::TestWithParam<StreamCase> {};

// pkt-gen sends on memif:A, testpmd forwards A -> B, pkt-gen receives on
// memif:B and checks every sequence number: none missing, duplicated or
// out of order.
TEST_P(ThroughTestpmd, SequenceCheckedStreamArrivesWhole) {
    REQUIRE_TESTPMD();
    const StreamCase c = GetParam();
    const std::string a = sock("a"), b = sock("b");
    const std::uint64_t n = scaled(c.frames);
    // pkt-gen first: it opens the ports (as servers, the sockets), then waits
    // for the links (-w); a client port keeps trying until testpmd listens
    std::pair<int, std::string> r;
    const std::string role = std::string(c.upio_client ? ",role=client" : "") + c.upio_extra;
    std::thread gen([&] {
        r = pktgen({"-f", "txrxseq", "-i", "memif:" + a + role, "-i", "memif:" + b + role, "-n", std::to_string(n),
                    "-l", std::to_string(c.size), "-w", "120", "--no-hugepages", "--json", "--timeout", "120"});
    });
    if (!c.upio_client) {
        ASSERT_TRUE(eventually([&] { return access(a.c_str(), F_OK) == 0 && access(b.c_str(), F_OK) == 0; }));
    }
    const std::string tp_role = c.upio_client ? ",role=server" : ",role=client";
    auto dev = [&](int i, const std::string& p) {
        return fmt::format("net_memif{}{},socket={},socket-abstract=no{}", i, tp_role, p, c.testpmd_extra);
    };
    Testpmd tp({dev(0, a), dev(1, b)}, io_retry, "stream");
    ASSERT_TRUE(tp.started());
    gen.join();
    ASSERT_TRUE(WIFEXITED(r.first) && WEXITSTATUS(r.first) == 0) << r.second << "\ntestpmd:\n" << tp.log();
    EXPECT_EQ(json_field(r.second, "received"), std::int64_t(n)) << r.second;
    EXPECT_EQ(json_field(r.second, "missing"), 0) << r.second;
    EXPECT_EQ(json_field(r.second, "duplicates"), 0) << r.second;
    EXPECT_EQ(json_field(r.second, "reordered"), 0) << r.second;
    tp.kill();
    ::unlink(a.c_str()); // a killed testpmd server leaves its socket files
    ::unlink(b.c_str());
}

// upio_client: upio creates the regions and testpmd serves (the same
// stream, the roles swapped); zero_copy: upio's client exports its own
// buffers as the memif region.
// 9000-byte frames: upio's 2 KiB buffers make each an NS_MOREFRAG chain of
// five slots. testpmd's memif buffers are 9 KiB (bsize), one descriptor per
// frame: DPDK 22.11's net_memif transmit path overruns a nearly full ring
// with multi-descriptor frames (docs/memif.md); chains of memif descriptors
// are tested with the client in memif_port_test.cpp.
INSTANTIATE_TEST_SUITE_P(Memif, ThroughTestpmd,
                         ::testing::Values(StreamCase{60, 1000000, ""}, StreamCase{1514, 200000, ""},
                                           StreamCase{9000, 50000, ",bsize=9216"}, StreamCase{60, 1000000, "", true},
                                           StreamCase{1514, 200000, "", true},
                                           StreamCase{60, 1000000, "", true, ",zero-copy"},
                                           StreamCase{1514, 200000, "", true, ",zero-copy"}),
                         [](const auto& info) {
                             return fmt::format("{}{}bytes{}", info.param.upio_client ? "upio_client_" : "",
                                                *info.param.upio_extra ? "zero_copy_" : "", info.param.size);
                         });

// Two ports in this process, a sender of sequence-numbered frames on A and a
// receiver on B; testpmd between them is killed mid-stream (SIGKILL) and
// started again. The ports stay open: the links go down, come back with the
// new testpmd, and the stream resumes, in order.
TEST(Testpmd, StreamResumesAfterTestpmdIsKilledAndStartedAgain) {
    REQUIRE_TESTPMD();
    const std::string a = sock("ra"), b = sock("rb");
    PortOptions o;
    o.memory.hugepages = HugepagePolicy::never;
    auto pa = Port::open("memif:" + a, o);
    auto pb = Port::open("memif:" + b, o);
    ASSERT_TRUE(pa.ok()) << pa.error().message;
    ASSERT_TRUE(pb.ok()) << pb.error().message;
    Port& tx = *pa.value();
    Port& rx = *pb.value();

    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> received{0}, out_of_order{0}, sent{0};
    std::thread sender([&] {
        std::uint64_t seq = 0;
        netmap_ring* r = tx.tx_ring(0);
        while (!stop.load()) {
            if (tx.wait(Direction::tx, 100ms) <= 0) continue;
            for (unsigned k = 0; k < 64 && nm_ring_space(r); k++) {
                netmap_slot& s = r->slot[r->cur];
                char* p = NETMAP_BUF(r, s.buf_idx);
                std::memset(p, 0, 60);
                std::memcpy(p + 16, &seq, sizeof seq);
                s.len = 60;
                s.flags = 0;
                seq++;
                r->head = r->cur = nm_ring_next(r, r->cur);
            }
            tx.txsync();
            sent.store(seq);
        }
    });
    std::thread receiver([&] {
        std::uint64_t last = 0;
        bool first = true;
        netmap_ring* r = rx.rx_ring(0);
        while (!stop.load()) {
            if (rx.wait(Direction::rx, 100ms) <= 0) continue;
            while (r->cur != r->tail) {
                std::uint64_t v;
                std::memcpy(&v, NETMAP_BUF(r, r->slot[r->cur].buf_idx) + 16, sizeof v);
                if (!first && v <= last) out_of_order++;
                first = false;
                last = v;
                r->head = r->cur = nm_ring_next(r, r->cur);
                received++;
            }
        }
    });
    auto tp = std::make_unique<Testpmd>(std::vector{vdev(0, a), vdev(1, b)}, io_retry, "restart");
    EXPECT_TRUE(eventually([&] { return received.load() > 20000; })) << tp->log();
    tp->kill();
    EXPECT_TRUE(eventually([&] { return !tx.link_up() && !rx.link_up(); }));
    const std::uint64_t at_kill = received.load();
    tp = std::make_unique<Testpmd>(std::vector{vdev(0, a), vdev(1, b)}, io_retry, "restart");
    EXPECT_TRUE(eventually([&] { return received.load() > at_kill + 20000; })) << tp->log();
    stop = true;
    sender.join();
    receiver.join();
    EXPECT_EQ(out_of_order.load(), 0u);
    const LinkStatus sa = link_status(tx.adapter()).value();
    EXPECT_EQ(sa.connects, 2u);
    EXPECT_EQ(sa.disconnects, 1u);
    EXPECT_EQ(sa.last_disconnect, "the peer closed the socket");
    EXPECT_EQ(tx.counters(Direction::tx).drops, 0u); // frames waited while the link was down
}

// testpmd's zero-copy client: its regions are its hugepage memory (a
// memfd on hugetlbfs, one region per memseg list after the rings'), its
// descriptors point anywhere in them. upio maps every region and checks
// every descriptor as for the copy mode.
TEST(Testpmd, ZeroCopyClient) {
    REQUIRE_TESTPMD();
    std::ifstream f("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages");
    unsigned free_pages = 0;
    f >> free_pages;
    if (free_pages < 64)
        UPIO_MISSING_PREREQUISITE(fmt::format("testpmd's zero-copy client needs 64 free 2 MiB hugepages, {} are "
                                              "(scripts/upio-setup hugepages 64)", free_pages));
    const std::string a = sock("za"), b = sock("zb");
    const std::uint64_t n = scaled(200000);
    std::pair<int, std::string> r;
    std::thread gen([&] {
        r = pktgen({"-f", "txrxseq", "-i", "memif:" + a, "-i", "memif:" + b, "-n", std::to_string(n), "-l", "60",
                    "-w", "120", "--no-hugepages", "--json", "--timeout", "120"});
    });
    ASSERT_TRUE(eventually([&] { return access(a.c_str(), F_OK) == 0 && access(b.c_str(), F_OK) == 0; }));
    Testpmd tp({vdev(0, a, ",zero-copy=yes"), vdev(1, b, ",zero-copy=yes")}, io_retry, "zc",
               {"-m", "128", "--single-file-segments"}, 16384);
    gen.join();
    ASSERT_TRUE(WIFEXITED(r.first) && WEXITSTATUS(r.first) == 0) << r.second << "\ntestpmd:\n" << tp.log();
    EXPECT_EQ(json_field(r.second, "received"), std::int64_t(n)) << r.second;
    EXPECT_EQ(json_field(r.second, "missing"), 0) << r.second;
    EXPECT_EQ(json_field(r.second, "reordered"), 0) << r.second;
}

// upio's receiver sleeps (MASK_INT cleared on its ring); testpmd, told to
// send one burst, writes the ring's eventfd because the flag is clear, and
// the receiver wakes. Asleep for a second before that, it used next to no CPU.
TEST(Testpmd, ABlockedReceiverWakesOnTestpmdsEventfd) {
    REQUIRE_TESTPMD();
    const std::string a = sock("w");
    PortOptions o;
    o.memory.hugepages = HugepagePolicy::never;
    o.wait_spin = std::chrono::microseconds(0);
    auto p = Port::open("memif:" + a, o);
    ASSERT_TRUE(p.ok()) << p.error().message;
    Port& port = *p.value();
    Testpmd tp({vdev(0, a)}, "set fwd rxonly\n", "wake");
    ASSERT_TRUE(eventually([&] { return port.link_up(); })) << tp.log();
    int rc = -1;
    double cpu = -1;
    std::thread waiter([&] {
        timespec t0{}, t1{};
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
        rc = port.wait(Direction::rx, 120s);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
        cpu = double(t1.tv_sec - t0.tv_sec) + double(t1.tv_nsec - t0.tv_nsec) / 1e9;
    });
    KRing& k = port.adapter().kring(Direction::rx, 0);
    ASSERT_TRUE(eventually([&] { return k.sleeping.load() != 0; }));
    std::this_thread::sleep_for(1s); // idle time for the CPU figure, not synchronisation
    tp.command("start tx_first");
    waiter.join();
    EXPECT_EQ(rc, 1) << tp.log();
    EXPECT_GE(link_status(port.adapter())->interrupts, 1u);
    EXPECT_LT(cpu, 0.2) << "a receiver asleep for a second burned " << cpu << " s of CPU";
    netmap_ring* r = port.rx_ring(0);
    EXPECT_NE(r->cur, r->tail);
}

} // namespace
} // namespace upio::memif
