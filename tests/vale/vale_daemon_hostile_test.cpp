// A hostile client of the VALE daemon: tests/core/xpipe_peer writes random
// values over every byte of its rings and of its control block while it
// syncs. The daemon and the other clients keep running, their counters
// move, and (in the ASan build) nothing reads or writes out of bounds. The
// scribbling races on purpose: this runs under AddressSanitizer, not TSan.
#include "vale_daemon_util.hpp"

#include "vale/daemon_proto.hpp"

namespace upio::test {
namespace {

using namespace xpipe;
using namespace valed;

// A daemon's refusal reaches the user as an error message: never empty,
// never raw bytes.
TEST(ValeDaemonProto, ARefusalSaysWhyInPrintableWords) {
    vale::daemon::Welcome w;
    w.status = EBUSY;
    auto r = vale::daemon::parse_welcome(&w, sizeof w, 0);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, EBUSY);
    EXPECT_NE(r.error().message.find("refused without saying why"), std::string::npos) << r.error().message;
    std::memcpy(w.message, "no\x01room\x7f", 9);
    r = vale::daemon::parse_welcome(&w, sizeof w, 0);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "no?room?");
}

TEST(ValeDaemonHostile, AClientScribblingOverItsRingsAndControlBlockHarmsNobodyElse) {
    const std::string sw = switch_name(), sw2 = switch_name();
    auto d = daemon(sw, {sw2});
    auto h = peer({"hostile", sw + ":h"});
    ASSERT_TRUE(h->read_until("ready")) << h->text;
    // on the hostile client's switch: a sender and a receiver that see its garbage
    auto r = peer({"rx", sw + ":r", "200000"});
    ASSERT_TRUE(r->read_until("ready")) << r->text;
    auto tx = pktgen({"-f", "tx", "-i", sw + ":a", "--timeout", "120"});
    // on the other switch of the same daemon: a sequence that must arrive whole
    const std::string n = "2000000";
    auto rx = pktgen({"-f", "rxseq", "-i", sw2 + ":b", "-n", n, "--lossless", "--timeout", "120"});
    ASSERT_TRUE(wait_listing(sw2, [&](const std::string& t) { return t.find("back_pressure=1") != std::string::npos; }))
        << rx->text;
    auto txs = pktgen({"-f", "txseq", "-i", sw2 + ":a", "-n", n, "--timeout", "120"});

    ASSERT_TRUE(r->finish(300s)) << r->text;
    EXPECT_TRUE(r->exited(0)) << r->text;
    ASSERT_TRUE(txs->finish(300s)) << txs->text;
    ASSERT_TRUE(rx->finish(300s)) << rx->text;
    EXPECT_TRUE(rx->exited(0)) << rx->text;
    EXPECT_NE(rx->text.find(n + " received, 0 missing, 0 duplicates, 0 reordered"), std::string::npos) << rx->text;

    // the daemon is alive and answers; the hostile client is still on its switch
    EXPECT_EQ(::kill(d.c->pid, 0), 0);
    auto [rc, out] = ctl({"-l", sw});
    EXPECT_EQ(rc, 0) << out;
    EXPECT_TRUE(has_port(out, sw + ":h")) << out << h->text;
    RecordProperty("listing", out);
    ::kill(tx->pid, SIGINT);
    tx->finish();
    // the daemon stops cleanly (its exit status says whether ASan saw anything)
    ::kill(d.c->pid, SIGTERM);
    ASSERT_TRUE(d.c->finish()) << d.c->text;
    EXPECT_TRUE(d.c->exited(0)) << d.c->text;
    ASSERT_TRUE(h->finish()) << h->text; // its link went down with the daemon
    EXPECT_TRUE(h->exited(0)) << h->text;
}

} // namespace
} // namespace upio::test
