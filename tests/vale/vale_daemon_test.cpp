// VALE across processes: upio-vale serving switches, pkt-gen, vale-ctl and
// tests/core/xpipe_peer as its clients. Each test runs a daemon of its own
// on switches named after this process, so tests run side by side and
// never meet another program's vale0. Every wait has a generous limit;
// nothing waits by sleeping for a guessed time.
#include "vale_daemon_util.hpp"

#include <upio/backend/adapter.hpp>

#include <sys/sysinfo.h>

namespace upio::test {
namespace {

using namespace xpipe;
using namespace valed;

// -- pkt-gen in two processes, through the daemon

void sequence_through_daemon(std::uint64_t frames) {
    auto d = daemon(switch_name());
    const std::string n = std::to_string(frames);
    auto rx = pktgen({"-f", "rxseq", "-i", d.sw + ":b", "-n", n, "--lossless", "--timeout", "120"});
    // the receiver is on the switch, with back-pressure, before anybody sends
    ASSERT_TRUE(wait_listing(d.sw, [&](const std::string& t) {
        return t.find(d.sw + ":b attached=process") != std::string::npos && t.find("back_pressure=1") != std::string::npos;
    })) << rx->text;
    auto tx = pktgen({"-f", "txseq", "-i", d.sw + ":a", "-n", n, "--timeout", "120"});
    ASSERT_TRUE(tx->finish(300s)) << tx->text;
    ASSERT_TRUE(rx->finish(300s)) << rx->text;
    EXPECT_TRUE(tx->exited(0)) << tx->text;
    EXPECT_TRUE(rx->exited(0)) << rx->text;
    EXPECT_NE(rx->text.find(n + " received, 0 missing, 0 duplicates, 0 reordered"), std::string::npos) << rx->text;
}

TEST(ValeDaemon, PktGenSequenceAcrossProcesses) { sequence_through_daemon(1000000); }
TEST(ValeDaemon, PktGenSequenceTenMillion) { sequence_through_daemon(10000000); }

TEST(ValeDaemon, PingInOneProcessPongInAnother) {
    auto d = daemon(switch_name());
    auto pong = pktgen({"-f", "pong", "-i", d.sw + ":b", "--timeout", "60"});
    ASSERT_TRUE(wait_listing(d.sw, [&](const std::string& t) { return has_port(t, d.sw + ":b"); })) << pong->text;
    auto ping = pktgen({"-f", "ping", "-i", d.sw + ":a", "-n", "2000", "--timeout", "60"});
    ASSERT_TRUE(ping->finish()) << ping->text;
    EXPECT_TRUE(ping->exited(0)) << ping->text;
    EXPECT_NE(ping->text.find("2000"), std::string::npos) << ping->text;
    ::kill(pong->pid, SIGINT);
    ASSERT_TRUE(pong->finish()) << pong->text;
}

// -- the rule, and forcing either side

TEST(ValeDaemon, LocalAndDaemonOptionsForceEitherSwitch) {
    const std::string sw = switch_name();
    auto none = Port::open(sw + ":a,daemon", small_opts(256));
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().code, ECONNREFUSED);
    EXPECT_NE(none.error().message.find("no daemon serves"), std::string::npos) << none.error().message;

    auto d = daemon(sw);
    auto joined = Port::open(sw + ":a", small_opts(256)); // a daemon serves it: joined
    ASSERT_TRUE(joined) << joined.error().message;
    EXPECT_NE(vale::daemon_control_block(joined.value()->adapter()).first, nullptr);
    auto local = Port::open(sw + ":a,local", small_opts(256)); // this process's own switch
    ASSERT_TRUE(local) << local.error().message;
    EXPECT_EQ(vale::daemon_control_block(local.value()->adapter()).first, nullptr);
    EXPECT_TRUE(vale::describe(sw)); // exists in this process only because of ",local"
    // a second process cannot take a port another one holds
    auto again = peer({"rx", sw + ":a", "1"});
    ASSERT_TRUE(again->finish()) << again->text;
    EXPECT_TRUE(again->exited(1)) << again->text;
    EXPECT_NE(again->text.find("open already"), std::string::npos) << again->text;
}

// Frames between this process and another, both through the daemon:
// counters on both sides and in the daemon's listing.
TEST(ValeDaemon, FramesReachAnotherProcessAndTheCountersSaySo) {
    auto d = daemon(switch_name());
    auto rx = peer({"rx", d.sw + ":r", "5000"});
    ASSERT_TRUE(rx->read_until("ready")) << rx->text;
    auto p = open_ok(d.sw + ":t", small_opts(256));
    ASSERT_TRUE(p);
    netmap_ring* r = p->tx_ring(0);
    std::uint64_t sent = 0;
    for (auto until = clock_type::now() + 60s; rx->text.find("received") == std::string::npos && clock_type::now() < until;) {
        while (!nm_ring_empty(r) && sent < 1000000) {
            char* b = NETMAP_BUF(r, r->slot[r->cur].buf_idx);
            std::memset(b, 0xff, 6); // broadcast
            std::memset(b + 6, 0x02, 6);
            r->slot[r->cur].len = 60;
            r->head = r->cur = nm_ring_next(r, r->cur);
            sent++;
        }
        ASSERT_EQ(p->txsync(), 0) << p->last_error();
        p->wait(Direction::tx, 10ms);
        if (sent >= 5000) rx->read_until("received", 1s);
    }
    ASSERT_TRUE(rx->finish()) << rx->text;
    EXPECT_TRUE(rx->exited(0)) << rx->text;
    EXPECT_GE(p->counters(Direction::tx).packets, 5000u);
    auto [rc, text] = ctl({"-l", d.sw});
    EXPECT_EQ(rc, 0);
    EXPECT_NE(text.find(d.sw + ":t attached=process_" + std::to_string(::getpid())), std::string::npos) << text;
}

// -- idle costs nothing

TEST(ValeDaemon, AnIdleDaemonAndIdleClientsUseNoCpu) {
    auto d = daemon(switch_name());
    auto rx = peer({"rx", d.sw + ":r", "1000000000"}); // waits for frames that never come
    ASSERT_TRUE(rx->read_until("ready")) << rx->text;
    auto p = open_ok(d.sw + ":t", small_opts(256));
    ASSERT_TRUE(p);
    // some traffic first, so that everybody has been awake
    netmap_ring* r = p->tx_ring(0);
    for (int i = 0; i < 100 && !nm_ring_empty(r); i++) {
        r->slot[r->cur].len = 60;
        r->head = r->cur = nm_ring_next(r, r->cur);
    }
    ASSERT_EQ(p->txsync(), 0);
    ASSERT_TRUE(rx->read_until("ready")); // (its output is read as we go)
    const long d0 = cpu_ticks(d.c->pid), r0 = cpu_ticks(rx->pid);
    const auto t0 = clock_type::now();
    std::this_thread::sleep_for(2s); // the interval measured, not a synchronisation
    const long d1 = cpu_ticks(d.c->pid), r1 = cpu_ticks(rx->pid);
    const double secs = std::chrono::duration<double>(clock_type::now() - t0).count();
    // A process that spins takes ~100 ticks a second; asleep, none. A few
    // ticks allow for the scheduler's accounting on a loaded machine.
    EXPECT_LE(d1 - d0, 10) << "the daemon used " << d1 - d0 << " ticks in " << secs << " s idle";
    EXPECT_LE(r1 - r0, 10) << "an idle client used " << r1 - r0 << " ticks in " << secs << " s";
    RecordProperty("daemon_idle_ticks", std::to_string(d1 - d0));
}

// -- waiting

// A client polls before it sleeps only on a machine with a CPU each for the
// sender, the daemon and the receiver; on fewer its poll would take the
// daemon's CPU. Ports of an in-process switch keep their poll.
TEST(ValeDaemon, AClientPollsBeforeSleepingOnlyWithACpuForEachOfThree) {
    auto d = daemon(switch_name());
    auto p = open_ok(d.sw + ":w", small_opts(256));
    ASSERT_TRUE(p);
    EXPECT_EQ(p->adapter().spin_pays(), get_nprocs() >= 3) << get_nprocs() << " CPUs online";
    auto l = open_ok(switch_name() + ":w,local", small_opts(256));
    ASSERT_TRUE(l);
    EXPECT_TRUE(l->adapter().spin_pays());
}

// -- peers die

TEST(ValeDaemon, KillingAClientFreesItsPortAndOtherStreamsLoseNothing) {
    auto d = daemon(switch_name());
    // a victim that receives (it gets the stream's flooded frames too)
    auto victim = peer({"rx", d.sw + ":v", "1000000000000"});
    ASSERT_TRUE(victim->read_until("ready")) << victim->text;
    const std::string n = "3000000";
    auto rx = pktgen({"-f", "rxseq", "-i", d.sw + ":b", "-n", n, "--lossless", "--timeout", "120"});
    ASSERT_TRUE(wait_listing(d.sw, [&](const std::string& t) { return t.find("back_pressure=1") != std::string::npos; }))
        << rx->text;
    auto tx = pktgen({"-f", "txseq", "-i", d.sw + ":a", "-n", n, "--timeout", "120"});
    ASSERT_TRUE(victim->read_until("streaming")) << victim->text;
    ::kill(victim->pid, SIGKILL);
    const auto killed = clock_type::now();
    ASSERT_TRUE(wait_listing(d.sw, [&](const std::string& t) { return !has_port(t, d.sw + ":v"); }));
    const double freed = std::chrono::duration<double>(clock_type::now() - killed).count();
    RecordProperty("port_freed_after_s", std::to_string(freed));
    ASSERT_TRUE(tx->finish(300s)) << tx->text;
    ASSERT_TRUE(rx->finish(300s)) << rx->text;
    EXPECT_TRUE(tx->exited(0)) << tx->text;
    EXPECT_TRUE(rx->exited(0)) << rx->text;
    EXPECT_NE(rx->text.find(n + " received, 0 missing, 0 duplicates, 0 reordered"), std::string::npos) << rx->text;
}

TEST(ValeDaemon, KillingTheDaemonIsLinkDownAndARestartedOneServesTheReopen) {
    const std::string sw = switch_name();
    auto d = daemon(sw);
    auto rx = pktgen({"-f", "rx", "-i", sw + ":r", "--timeout", "120"});
    ASSERT_TRUE(wait_listing(sw, [&](const std::string& t) { return has_port(t, sw + ":r"); })) << rx->text;
    auto tx = pktgen({"-f", "tx", "-i", sw + ":t", "--timeout", "120"});
    ASSERT_TRUE(wait_listing(sw, [&](const std::string& t) {
        return has_port(t, sw + ":t") && t.find("rx_packets=0") != std::string::npos &&
               t.find(sw + ":r attached=process_" + std::to_string(rx->pid) + " back_pressure=0 tx_packets=0 tx_bytes=0 rx_packets=0 ") == std::string::npos;
    })) << rx->text << tx->text; // frames flow
    auto idle = open_ok(sw + ":w", small_opts(256)); // this process waits meanwhile
    ASSERT_TRUE(idle);
    std::atomic<int> waited{1};
    std::thread waiter([&] { // takes the flooded frames until the link goes
        for (auto until = clock_type::now() + 120s; clock_type::now() < until;) {
            const int rc = idle->wait(Direction::rx, 120s);
            if (rc <= 0) {
                waited = rc;
                return;
            }
            netmap_ring* r = idle->rx_ring(0);
            r->head = r->cur = r->tail;
        }
    });
    ::kill(d.c->pid, SIGKILL);
    ASSERT_TRUE(tx->finish()) << "the sender must not hang: " << tx->text;
    ASSERT_TRUE(rx->finish()) << "the receiver must not hang: " << rx->text;
    EXPECT_FALSE(tx->exited(0)) << tx->text;
    EXPECT_FALSE(rx->exited(0)) << rx->text;
    EXPECT_NE(tx->text.find("the VALE daemon serving " + sw), std::string::npos) << tx->text;
    EXPECT_NE(rx->text.find("exited or was killed"), std::string::npos) << rx->text;
    waiter.join(); // the waiter woke
    EXPECT_LT(waited.load(), 0);
    EXPECT_FALSE(idle->link_up());
    EXPECT_EQ(idle->rxsync(), -ENOTCONN);
    EXPECT_NE(std::string(idle->last_error()).find("exited or was killed"), std::string::npos) << idle->last_error();
    idle.reset();

    auto d2 = daemon(sw); // a new daemon; the clients open their ports again
    auto rx2 = pktgen({"-f", "rxseq", "-i", sw + ":r", "-n", "100000", "--lossless", "--timeout", "120"});
    ASSERT_TRUE(wait_listing(sw, [&](const std::string& t) { return t.find("back_pressure=1") != std::string::npos; }))
        << rx2->text;
    auto tx2 = pktgen({"-f", "txseq", "-i", sw + ":t", "-n", "100000", "--timeout", "120"});
    ASSERT_TRUE(rx2->finish()) << rx2->text;
    ASSERT_TRUE(tx2->finish()) << tx2->text;
    EXPECT_TRUE(rx2->exited(0)) << rx2->text;
    EXPECT_NE(rx2->text.find("100000 received, 0 missing"), std::string::npos) << rx2->text;
}

// -- vale-ctl

TEST(ValeCtl, PersistentPortsAreCreatedListedAndRemoved) {
    auto d = daemon(switch_name());
    auto [rc, out] = ctl({"-n", d.sw + ":p"});
    EXPECT_EQ(rc, 0) << out;
    std::tie(rc, out) = ctl({"-l", d.sw});
    EXPECT_NE(out.find(d.sw + ":p persistent"), std::string::npos) << out;
    std::tie(rc, out) = ctl({"-n", d.sw + ":p"});
    EXPECT_EQ(rc, 1) << out;
    // a client opening its name takes the port over, and gives it back when it leaves
    {
        auto c = Port::open(d.sw + ":p", small_opts(256));
        ASSERT_TRUE(c) << c.error().message;
        std::tie(rc, out) = ctl({"-l", d.sw});
        EXPECT_NE(out.find(d.sw + ":p persistent_attached=process_" + std::to_string(::getpid())), std::string::npos)
            << out;
        auto second = Port::open(d.sw + ":p", small_opts(256));
        ASSERT_FALSE(second);
        EXPECT_EQ(second.error().code, EBUSY) << second.error().message; // its rings are taken
    }
    ASSERT_TRUE(wait_listing(d.sw, [&](const std::string& t) { return t.find(d.sw + ":p persistent ") != std::string::npos; }));
    std::tie(rc, out) = ctl({"-r", d.sw + ":p"});
    EXPECT_EQ(rc, 0) << out;
    std::tie(rc, out) = ctl({"-l", d.sw});
    EXPECT_FALSE(has_port(out, d.sw + ":p")) << out;
    std::tie(rc, out) = ctl({"-r", d.sw + ":p"});
    EXPECT_EQ(rc, 1) << out;
    std::tie(rc, out) = ctl({"-h", d.sw + ":p"});
    EXPECT_EQ(rc, 2) << out;
    EXPECT_NE(out.find("not supported"), std::string::npos) << out;
    std::tie(rc, out) = ctl({"-l", "valenobody"});
    EXPECT_EQ(rc, 1) << out;
    EXPECT_NE(out.find("no VALE daemon serves"), std::string::npos) << out;
}

// A port of another kind attached in the daemon (a pipe end, whose other
// end is in this process), detached and attached again while another
// stream runs: that stream loses nothing.
TEST(ValeCtl, AttachAndDetachWhileTrafficRunsLosesNothingElsewhere) {
    auto d = daemon(switch_name());
    const std::string pipe = pid_name("att");
    const std::string n = "10000000";
    auto rx = pktgen({"-f", "rxseq", "-i", d.sw + ":b", "-n", n, "--lossless", "--timeout", "120"});
    ASSERT_TRUE(wait_listing(d.sw, [&](const std::string& t) { return t.find("back_pressure=1") != std::string::npos; }))
        << rx->text;
    auto tx = pktgen({"-f", "txseq", "-i", d.sw + ":a", "-n", n, "--timeout", "120"});
    int rounds = 0;
    std::uint64_t got = 0;
    for (; rounds < 10; rounds++) {
        auto [rc, out] = ctl({"-a", d.sw + ":ext=pipe:" + pipe + "{0"});
        ASSERT_EQ(rc, 0) << out;
        {
            // the other end, here: it receives the stream's flooded frames
            auto p = Port::open("pipe:" + pipe + "}0", small_opts(256));
            ASSERT_TRUE(p) << p.error().message;
            for (int i = 0; i < 10; i++) {
                p.value()->wait(Direction::rx, 10ms);
                netmap_ring* r = p.value()->rx_ring(0);
                got += nm_ring_space(r);
                r->head = r->cur = r->tail;
            }
        }
        std::tie(rc, out) = ctl({"-d", d.sw + ":ext"});
        ASSERT_EQ(rc, 0) << out;
    }
    ASSERT_TRUE(tx->finish(300s)) << tx->text;
    ASSERT_TRUE(rx->finish(300s)) << rx->text;
    EXPECT_TRUE(rx->exited(0)) << rx->text;
    EXPECT_NE(rx->text.find(n + " received, 0 missing, 0 duplicates, 0 reordered"), std::string::npos) << rx->text;
    EXPECT_GT(rounds, 0);
    RecordProperty("attach_rounds", std::to_string(rounds));
    RecordProperty("frames_through_attached_pipe", std::to_string(got));
}

} // namespace
} // namespace upio::test
