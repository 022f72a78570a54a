// DPDK's dpdk-testpmd as a client of VALE switches: the switch daemon
// (upio-vale) serves a memif socket as a port of a switch (vale-ctl -a
// valeX:tp=memif:PATH), testpmd joins with --vdev=net_memif0,role=client,
// and pkt-gen on other ports of the switches (daemon clients) exchanges
// frames with it. "retry": testpmd retries a transmit that found the memif
// ring full instead of dropping the frames.
#include "memif/memif.hpp"
#include "testpmd.hpp"

#include "../common/require.hpp"
#include "../vale/vale_daemon_util.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <regex>
#include <utility>

namespace upio::test {
namespace {

using namespace xpipe;
using namespace valed;
using memif::test::Testpmd;

#define REQUIRE_TESTPMD()                                                                                              \
    do {                                                                                                               \
        if (memif::test::testpmd_binary().empty())                                                                     \
            UPIO_MISSING_PREREQUISITE("dpdk-testpmd is not installed (Debian: dpdk-dev and librte-net-memif23; "       \
                                      "scripts/install-deps installs them)");                                          \
    } while (0)

const std::string macswap_retry = "set fwd macswap retry\nset burst tx delay 10 retry 1000000\nstart\n";
const std::string io_retry = "set fwd io retry\nset burst tx delay 10 retry 1000000\nstart\n";

std::uint64_t scaled(std::uint64_t n) {
    const char* s = std::getenv("UPIO_TEST_SCALE");
    const double f = s ? std::atof(s) : 1.0;
    return std::max<std::uint64_t>(1000, std::uint64_t(double(n) * (f > 0 ? f : 1.0)));
}

std::string memif_vdev(int i, const std::string& path) {
    return fmt::format("net_memif{},role=client,socket={},socket-abstract=no", i, path);
}

// A counter of `port` ("valeX:tp") in a vale-ctl -l listing; -1 if absent.
std::int64_t counter(const std::string& listing, const std::string& port, const std::string& field) {
    std::smatch m;
    if (!std::regex_search(listing, m, std::regex(" " + port + " [^\n]* " + field + "=(\\d+)"))) return -1;
    return std::stoll(m[1]);
}
std::int64_t counter_now(const std::string& sw, const std::string& port, const std::string& field) {
    auto [rc, text] = ctl({"-l", sw});
    return rc == 0 ? counter(text, port, field) : -1;
}

// Whether `ports` memif ports of testpmd are connected (its log says so).
bool wait_connected(const Testpmd& tp, int ports = 1, std::chrono::seconds limit = 120s) {
    const std::string line = "memif_msg_receive_connected()";
    for (auto until = clock_type::now() + limit; clock_type::now() < until; std::this_thread::sleep_for(10ms)) {
        const std::string log = tp.log();
        int found = 0;
        for (auto at = log.find(line); at != std::string::npos; at = log.find(line, at + 1)) found++;
        if (found >= ports) return true;
    }
    return false;
}

// A memif socket of the daemon's, removed when the test ends.
struct SocketPath {
    std::string path = fmt::format("/tmp/upio-valetp-{}.sock", unique_name("s"));
    ~SocketPath() { ::unlink(path.c_str()); }
};

// testpmd between two switches: its port 0 on sw1, its port 1 on sw2,
// forwarding 0 -> 1 (io retry). pkt-gen sends a sequence-checked stream on
// sw1:a (broadcast: the switch floods it to testpmd, the only other port),
// pkt-gen on sw2:b receives it from testpmd and checks every number. The
// two ends are separate processes on separate switches so that the
// receiver waits for every frame (-n) and no frame reaches it but through
// testpmd. Back-pressure on testpmd's sw1 port and on b: nothing is dropped.
TEST(ValeMemif, TestpmdOnValeSwitchesCarriesASequenceCheckedStreamBetweenPktgens) {
    REQUIRE_TESTPMD();
    const std::string sw1 = switch_name(), sw2 = switch_name();
    auto d = daemon(sw1, {sw2});
    SocketPath s1, s2;
    const std::string tp0 = sw1 + ":tp", tp1 = sw2 + ":tp";
    for (const auto& [port, path] : {std::pair{tp0, s1.path}, std::pair{tp1, s2.path}}) {
        auto [rc, text] = ctl({"-a", port + "=memif:" + path});
        ASSERT_EQ(rc, 0) << text;
        EXPECT_EQ(text, "attached memif:" + path + " as " + port + "\n");
    }
    auto [brc, btext] = ctl({"-b", tp0});
    ASSERT_EQ(brc, 0) << btext;
    ASSERT_TRUE(wait_listing(sw1, [&](const std::string& t) {
        return t.find(tp0 + " attached=memif:" + s1.path + " back_pressure=1 ") != std::string::npos;
    }));
    Testpmd tp({memif_vdev(0, s1.path), memif_vdev(1, s2.path)}, io_retry, "vale");
    ASSERT_TRUE(tp.started());
    ASSERT_TRUE(wait_connected(tp, 2)) << tp.log();
    const std::uint64_t n = scaled(300000);
    const std::string ns = std::to_string(n);
    auto rx = pktgen({"-f", "rxseq", "-i", sw2 + ":b", "-n", ns, "--lossless", "--timeout", "120"});
    ASSERT_TRUE(wait_listing(sw2, [&](const std::string& t) { return t.find("back_pressure=1") != std::string::npos; }))
        << rx->text;
    auto tx = pktgen({"-f", "txseq", "-i", sw1 + ":a", "-n", ns, "-l", "60-1514", "--timeout", "120"});
    ASSERT_TRUE(tx->finish(300s)) << tx->text;
    ASSERT_TRUE(rx->finish(300s)) << rx->text << "\ntestpmd:\n" << tp.log();
    EXPECT_TRUE(tx->exited(0)) << tx->text;
    EXPECT_TRUE(rx->exited(0)) << rx->text;
    EXPECT_NE(rx->text.find(ns + " received, 0 missing, 0 duplicates, 0 reordered"), std::string::npos) << rx->text;
    // every frame went into testpmd on sw1 and came out of it on sw2
    EXPECT_EQ(counter_now(sw1, tp0, "rx_packets"), std::int64_t(n));
    EXPECT_EQ(counter_now(sw2, tp1, "tx_packets"), std::int64_t(n));
    EXPECT_EQ(counter_now(sw1, tp0, "drop_no_space"), 0);
    EXPECT_EQ(counter_now(sw2, tp1, "drop_malformed"), 0);
}

// testpmd killed while two other ports of the switch stream: the stream
// loses nothing, the daemon keeps serving, and the memif port takes a new
// testpmd on the same socket, whose frames enter the switch again.
TEST(ValeMemif, KillingTestpmdLeavesTheSwitchAndItsOtherPortsWorking) {
    REQUIRE_TESTPMD();
    auto d = daemon(switch_name());
    SocketPath s;
    const std::string tp_port = d.sw + ":tp";
    auto [rc, text] = ctl({"-a", tp_port + "=memif:" + s.path});
    ASSERT_EQ(rc, 0) << text;
    auto tp = std::make_unique<Testpmd>(std::vector{memif_vdev(0, s.path)}, macswap_retry, "valekill");
    ASSERT_TRUE(tp->started());
    ASSERT_TRUE(wait_connected(*tp)) << tp->log();
    // a broadcasts: the stream reaches b and testpmd, which sends it back
    // to a (a does not read; what its ring has no room for is dropped there)
    // at a rate that makes the stream last 20 s or more: testpmd dies mid-stream
    const std::uint64_t frames = scaled(1000000);
    const std::string n = std::to_string(frames), rate = std::to_string(std::max<std::uint64_t>(frames / 20, 50));
    auto rx = pktgen({"-f", "rxseq", "-i", d.sw + ":b", "-n", n, "--lossless", "--timeout", "120"});
    ASSERT_TRUE(wait_listing(d.sw, [&](const std::string& t) { return t.find("back_pressure=1") != std::string::npos; }))
        << rx->text;
    auto tx = pktgen({"-f", "txseq", "-i", d.sw + ":a", "-n", n, "-R", rate, "-D", "ff:ff:ff:ff:ff:ff", "--timeout",
                      "120"});
    ASSERT_TRUE(wait_listing(d.sw, [&](const std::string& t) { return counter(t, tp_port, "tx_packets") > 1000; }))
        << tp->log() << ctl({"-l", d.sw}).second;
    tp->kill();
    int st;
    EXPECT_EQ(::waitpid(rx->pid, &st, WNOHANG), 0) << "the stream ended before testpmd was killed";
    ASSERT_TRUE(tx->finish(300s)) << tx->text;
    ASSERT_TRUE(rx->finish(300s)) << rx->text;
    EXPECT_TRUE(tx->exited(0)) << tx->text;
    EXPECT_TRUE(rx->exited(0)) << rx->text;
    EXPECT_NE(rx->text.find(n + " received, 0 missing, 0 duplicates, 0 reordered"), std::string::npos) << rx->text;

    // The port stays, and serves the next testpmd.
    auto [lrc, listing] = ctl({"-l", d.sw});
    ASSERT_EQ(lrc, 0) << listing;
    ASSERT_TRUE(has_port(listing, tp_port)) << listing;
    const std::int64_t before = counter(listing, tp_port, "tx_packets");
    auto [brc, btext] = ctl({"-b", tp_port}); // from now on nothing for testpmd is dropped
    ASSERT_EQ(brc, 0) << btext;
    tp = std::make_unique<Testpmd>(std::vector{memif_vdev(0, s.path)}, macswap_retry, "valekill");
    ASSERT_TRUE(tp->started());
    ASSERT_TRUE(wait_connected(*tp)) << tp->log();
    const std::uint64_t m = 20000;
    auto again = pktgen({"-f", "tx", "-i", d.sw + ":c", "-n", std::to_string(m), "--timeout", "120"});
    ASSERT_TRUE(again->finish(300s)) << again->text;
    EXPECT_TRUE(again->exited(0)) << again->text;
    // testpmd sends every one back into the switch (and what the killed one
    // left in the port's rings)
    EXPECT_TRUE(wait_listing(d.sw, [&](const std::string& t) {
        return counter(t, tp_port, "tx_packets") >= before + std::int64_t(m);
    })) << tp->log();
    EXPECT_EQ(counter_now(d.sw, tp_port, "drop_no_space"), counter(listing, tp_port, "drop_no_space"));
}

} // namespace
} // namespace upio::test
