// DPDK's dpdk-testpmd as a client of a VALE switch: the switch daemon
// (upio-vale) serves a memif socket as a port of the switch (vale-ctl -a
// valeX:tp=memif:PATH), testpmd joins it with --vdev=net_memif0,role=client,
// and pkt-gen on another port of the switch (a daemon client) exchanges
// frames with it.
//
// testpmd forwards in macswap mode: each frame goes back with its MAC
// addresses swapped, so the switch learns pkt-gen's source address on
// pkt-gen's port and delivers the answer there. "retry": a transmit that
// found the memif ring full is retried instead of dropped.
#include "memif/memif.hpp"
#include "testpmd.hpp"

#include "../common/require.hpp"
#include "../vale/vale_daemon_util.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <regex>

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

std::uint64_t scaled(std::uint64_t n) {
    const char* s = std::getenv("UPIO_TEST_SCALE");
    const double f = s ? std::atof(s) : 1.0;
    return std::max<std::uint64_t>(1000, std::uint64_t(double(n) * (f > 0 ? f : 1.0)));
}

std::string memif_vdev(const std::string& path) {
    return fmt::format("net_memif0,role=client,socket={},socket-abstract=no", path);
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

std::int64_t json_field(const std::string& out, const std::string& key) {
    std::smatch m;
    if (!std::regex_search(out, m, std::regex(R"(\{"seq":[^\n]*")" + key + R"(":(\d+))"))) return -1;
    return std::stoll(m[1]);
}

// Whether testpmd's memif port is connected (its log says so).
bool wait_connected(const Testpmd& tp, std::chrono::seconds limit = 120s) {
    for (auto until = clock_type::now() + limit; clock_type::now() < until; std::this_thread::sleep_for(10ms))
        if (tp.log().find("connected.") != std::string::npos) return true;
    return false;
}

// A memif socket of the daemon's, removed when the test ends.
struct SocketPath {
    std::string path = fmt::format("/tmp/upio-valetp-{}.sock", unique_name("s"));
    ~SocketPath() { ::unlink(path.c_str()); }
};

// pkt-gen's sequence-checked stream from port g of `sw` through testpmd
// and back to g: every frame arrives, once, in order.
void stream_through_testpmd(const std::string& sw, const std::string& g, std::uint64_t n,
                            const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args{"-f",   "txrxseq", "-i", sw + ":" + g + "/T", "-i", sw + ":" + g + "/R", "-n",
                                  std::to_string(n), "-l", "60-1514", "--lossless", "--json", "--timeout", "120"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto gen = pktgen(args);
    ASSERT_TRUE(gen->finish(300s)) << gen->text;
    ASSERT_TRUE(gen->exited(0)) << gen->text;
    EXPECT_EQ(json_field(gen->text, "received"), std::int64_t(n)) << gen->text;
    EXPECT_EQ(json_field(gen->text, "missing"), 0) << gen->text;
    EXPECT_EQ(json_field(gen->text, "duplicates"), 0) << gen->text;
    EXPECT_EQ(json_field(gen->text, "reordered"), 0) << gen->text;
}

TEST(ValeMemif, TestpmdOnAValeSwitchExchangesFramesWithPktgen) {
    REQUIRE_TESTPMD();
    auto d = daemon(switch_name());
    SocketPath s;
    const std::string tp_port = d.sw + ":tp";
    auto [rc, text] = ctl({"-a", tp_port + "=memif:" + s.path});
    ASSERT_EQ(rc, 0) << text;
    // nothing sent to testpmd's port is dropped: the sender waits for room
    auto [brc, btext] = ctl({"-b", tp_port});
    ASSERT_EQ(brc, 0) << btext;
    ASSERT_TRUE(wait_listing(d.sw, [&](const std::string& t) {
        return t.find(tp_port + " attached=memif:" + s.path + " back_pressure=1 ") != std::string::npos;
    }));
    Testpmd tp({memif_vdev(s.path)}, macswap_retry, "vale");
    ASSERT_TRUE(tp.started());
    ASSERT_TRUE(wait_connected(tp)) << tp.log();
    const std::uint64_t n = scaled(200000);
    stream_through_testpmd(d.sw, "g", n);
    // Every frame crossed the switch twice: into testpmd's port (the first
    // ones flooded, the others to the learned address), and back out of it.
    auto [lrc, listing] = ctl({"-l", d.sw});
    ASSERT_EQ(lrc, 0) << listing;
    EXPECT_EQ(counter(listing, tp_port, "rx_packets"), std::int64_t(n)) << listing;
    EXPECT_EQ(counter(listing, tp_port, "tx_packets"), std::int64_t(n)) << listing;
    EXPECT_EQ(counter(listing, tp_port, "drop_no_space"), 0) << listing;
    EXPECT_EQ(counter(listing, tp_port, "drop_malformed"), 0) << listing;
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
    auto tp = std::make_unique<Testpmd>(std::vector{memif_vdev(s.path)}, macswap_retry, "valekill");
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
    tp = std::make_unique<Testpmd>(std::vector{memif_vdev(s.path)}, macswap_retry, "valekill");
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
