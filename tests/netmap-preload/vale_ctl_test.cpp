// vale-ctl's requests (VALE_ATTACH, VALE_DETACH, VALE_NEWIF, VALE_DELIF,
// VALE_LIST) from netmap_client, a program on netmap's raw interface,
// through libupio-netmap.so, managing the switch of a VALE daemon
// (upio-vale) that programs in other processes use.
#include "../common/netns.hpp"
#include "../core/xpipe_util.hpp"

#include <sys/mount.h>
#include <sched.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <string>

namespace {

using namespace upio::test;
using namespace upio::test::xpipe;

// netmap_client ARGS... under the preload (run.sh puts a sanitizer's
// runtime first when the client has one); its output, status and text.
struct Outcome {
    int code = -1;
    std::string text;
};
Outcome client(std::vector<std::string> args) {
    args.insert(args.begin(), {NETMAP_CLIENT_PATH, PRELOAD_PATH, "exec"});
    auto c = spawn(RUN_SH, std::move(args));
    if (!c) return {};
    c->finish();
    return {WIFEXITED(c->status) ? WEXITSTATUS(c->status) : -1, c->text};
}
std::string refused(int err) { return "errno=" + std::to_string(err) + "\n"; }

struct Daemon {
    std::unique_ptr<Child> c;
    std::string sw;
};
Daemon daemon() {
    Daemon d{nullptr, "vale" + unique_name("np")};
    d.c = spawn(UPIO_VALE_PATH, {"-s", d.sw, "--slots", "256"});
    EXPECT_TRUE(d.c && d.c->read_until("ready")) << (d.c ? d.c->text : "cannot start upio-vale");
    return d;
}

std::string enter_netns() { return upio::test::enter_netns("a network namespace and a tap device"); }

std::uint64_t counter(const std::string& ifname, const char* what) {
    std::ifstream f("/sys/class/net/" + ifname + "/statistics/" + what);
    std::uint64_t v = 0;
    f >> v;
    return v;
}

// vale-ctl -a of a tap onto a daemon's switch; a program in another
// process on that switch pings the kernel behind the tap; vale-ctl -d
// takes it away again.
TEST(NetmapPreloadVale, AttachATapAndPingTheKernelBehindItThenDetach) {
    if (std::string why = enter_netns(); !why.empty()) GTEST_SKIP() << why;
    Daemon d = daemon();
    const std::string tap = "npt" + std::to_string(::getpid());
    const std::string port = d.sw + ":" + tap;

    Outcome a = client({"attach", d.sw + ":tap:" + tap});
    ASSERT_EQ(a.code, 0) << a.text;
    const auto at = a.text.find("port_index ");
    ASSERT_NE(at, std::string::npos) << a.text;
    const std::string index = a.text.substr(at + 11, a.text.find('\n', at) - at - 11);
    ASSERT_EQ(std::system(("ip addr add 10.77.0.1/24 dev " + tap + " && ip link set " + tap + " up").c_str()), 0);

    Outcome walk = client({"list"});
    ASSERT_EQ(walk.code, 0) << walk.text;
    EXPECT_NE(walk.text.find(port + " bridge_idx "), std::string::npos) << walk.text;
    Outcome one = client({"list", port});
    ASSERT_EQ(one.code, 0) << one.text;
    EXPECT_NE(one.text.find(" port_idx " + index + "\n"), std::string::npos) << one.text << " index " << index;

    const std::uint64_t rx_before = counter(tap, "rx_packets"), tx_before = counter(tap, "tx_packets");
    Outcome ping = client({"arp", d.sw + ":c", "10.77.0.2", "10.77.0.1", "5"});
    ASSERT_EQ(ping.code, 0) << ping.text;
    EXPECT_NE(ping.text.find("5 pings of 10.77.0.1 answered"), std::string::npos) << ping.text;
    // The kernel's own counters: at least the ARP request and five echo
    // requests came in through the tap, the replies went out.
    EXPECT_GE(counter(tap, "rx_packets") - rx_before, 6u);
    EXPECT_GE(counter(tap, "tx_packets") - tx_before, 6u);

    Outcome det = client({"detach", d.sw + ":tap:" + tap});
    ASSERT_EQ(det.code, 0) << det.text;
    EXPECT_NE(det.text.find("port_index " + index + "\n"), std::string::npos) << det.text;
    walk = client({"list"});
    ASSERT_EQ(walk.code, 0) << walk.text;
    EXPECT_EQ(walk.text.find(port + " "), std::string::npos) << walk.text;
    // the tap went with the daemon's port
    EXPECT_NE(std::system(("ip link show " + tap + " >/dev/null 2>&1").c_str()), 0);
    // and a second detach finds nothing: netmap's ENXIO
    det = client({"detach", d.sw + ":tap:" + tap});
    EXPECT_EQ(det.code, 3) << det.text;
    EXPECT_NE(det.text.find(refused(ENXIO)), std::string::npos) << det.text;
}

// "tx_slots A rx_slots B tx_rings C rx_rings D" after `prefix` in the
// client's output, or "".
std::string geometry(const std::string& text, const std::string& prefix) {
    const auto at = text.find(prefix);
    if (at == std::string::npos) return "";
    const auto from = at + prefix.size();
    const auto end = text.find(" rx_rings ", from);
    if (end == std::string::npos) return "";
    const auto stop = text.find_first_not_of("0123456789", end + 10);
    return text.substr(from, stop - from);
}

// vale-ctl -n / -r: a persistent port of the daemon's switch.
TEST(NetmapPreloadVale, NewIfAndDelIfRoundTrip) {
    Daemon d = daemon();
    const std::string p = d.sw + ":p";
    Outcome r = client({"newif", p});
    ASSERT_EQ(r.code, 0) << r.text;
    // netmap writes the new port's geometry back into the request: here
    // what a program registering the port gets
    const std::string made = geometry(r.text, "newif " + p + " done ");
    ASSERT_FALSE(made.empty()) << r.text;
    EXPECT_EQ(made.find("tx_slots 0 "), std::string::npos) << made;
    EXPECT_EQ(made.find("tx_rings 0 "), std::string::npos) << made;
    const auto mem = r.text.find(" mem_id ");
    ASSERT_NE(mem, std::string::npos) << r.text;
    EXPECT_NE(r.text.substr(mem, 9), " mem_id 0") << r.text;
    r = client({"list", p});
    ASSERT_EQ(r.code, 0) << r.text;
    EXPECT_EQ(r.text.find(" port_idx 255\n"), std::string::npos) << r.text; // found: not NM_BDG_NOPORT
    r = client({"list"});
    EXPECT_NE(r.text.find(p + " bridge_idx "), std::string::npos) << r.text;
    r = client({"newif", p}); // netmap: EEXIST for an interface that exists
    EXPECT_EQ(r.code, 3) << r.text;
    EXPECT_NE(r.text.find(refused(EEXIST)), std::string::npos) << r.text;
    r = client({"register", p}); // a program takes the persistent port over, and leaves it
    EXPECT_EQ(r.code, 0) << r.text;
    EXPECT_EQ(geometry(r.text, "registered " + p + " "), made) << r.text;
    r = client({"list", p}); // the daemon's again, on the switch still
    EXPECT_EQ(r.text.find(" port_idx 255\n"), std::string::npos) << r.text;

    r = client({"delif", p});
    ASSERT_EQ(r.code, 0) << r.text;
    r = client({"list"});
    EXPECT_EQ(r.text.find(p + " "), std::string::npos) << r.text;
    r = client({"list", p}); // the switch is there, the port is not: NM_BDG_NOPORT
    EXPECT_NE(r.text.find(" port_idx 255\n"), std::string::npos) << r.text;
    r = client({"delif", p});
    EXPECT_EQ(r.code, 3) << r.text;
    EXPECT_NE(r.text.find(refused(ENXIO)), std::string::npos) << r.text;
    // netmap's bare interface name has no switch to live on in upio
    r = client({"newif", "np" + std::to_string(::getpid())});
    EXPECT_EQ(r.code, 3) << r.text;
    EXPECT_NE(r.text.find(refused(EOPNOTSUPP)), std::string::npos) << r.text;
    // a client port opened after the removal is an ordinary port, gone when the client leaves
    r = client({"register", p});
    EXPECT_EQ(r.code, 0) << r.text;
}

// No daemon serves the switch: netmap's errno for a switch it does not
// have, and a line on stderr naming the request.
TEST(NetmapPreloadVale, ASwitchNoDaemonServesIsRefusedWithNetmapsErrno) {
    const std::string sw = "vale" + unique_name("nn");
    for (const char* op : {"attach", "detach", "newif", "delif"}) {
        Outcome r = client({op, sw + ":eth0"});
        EXPECT_EQ(r.code, 3) << op << ": " << r.text;
        EXPECT_NE(r.text.find(refused(ENXIO)), std::string::npos) << op << ": " << r.text;
        std::string req = std::string("VALE_") + (op == std::string("newif") ? "NEWIF" : op == std::string("delif") ? "DELIF"
                                                  : op == std::string("attach")                                 ? "ATTACH"
                                                                                                               : "DETACH");
        EXPECT_NE(r.text.find("upio-netmap: NIOCCTRL " + req + " '" + sw + ":eth0': no VALE daemon serves " + sw),
                  std::string::npos)
            << r.text;
    }
    Outcome r = client({"list", sw + ":eth0"}); // netmap: ENOENT for no such switch
    EXPECT_EQ(r.code, 3) << r.text;
    EXPECT_NE(r.text.find(refused(ENOENT)), std::string::npos) << r.text;
    r = client({"attach", "eth0"}); // not a VALE name
    EXPECT_NE(r.text.find(refused(EINVAL)), std::string::npos) << r.text;
}

} // namespace
