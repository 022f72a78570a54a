// Pipes across processes with a hostile peer: the other process writes
// random values over its rings and the shared control block while both
// stream. The races in that process are the point, so these tests run under
// AddressSanitizer, not ThreadSanitizer (label integration only).
#include "xpipe_util.hpp"

namespace upio::test {
namespace {

using namespace xpipe;

// -- hostile peers

// This process streams on `mine` while the peer process scribbles over its
// rings and the control block; this side must keep working and count.
void survive_hostile(Port& mine, Child& hostile) {
    std::uint64_t tx_moves = 0, rx_moves = 0, bad = 0;
    const auto until = clock_type::now() + 120s;
    for (std::uint64_t i = 0; clock_type::now() < until; i++) {
        netmap_ring* t = mine.tx_ring(0);
        while (!nm_ring_empty(t)) {
            t->slot[t->cur].len = 60;
            t->head = t->cur = nm_ring_next(t, t->cur);
        }
        EXPECT_EQ(mine.txsync(), 0) << mine.last_error();
        EXPECT_EQ(mine.rxsync(), 0) << mine.last_error();
        netmap_ring* r = mine.rx_ring(0);
        for (; !nm_ring_empty(r); r->head = r->cur = nm_ring_next(r, r->cur)) {
            const netmap_slot& s = r->slot[r->cur];
            // what the framework handed over is inside the region: read it all
            if (mine.memory().valid_buf(s.buf_idx) && s.len <= mine.buf_size()) {
                volatile char sink = 0;
                const char* b = NETMAP_BUF(r, s.buf_idx);
                for (std::uint32_t k = 0; k < s.len; k++) sink = sink + b[k];
            }
        }
        const RingStats ts = mine.counters(Direction::tx), rs = mine.counters(Direction::rx);
        tx_moves = ts.packets + ts.drops;
        rx_moves = rs.packets + rs.drops;
        bad = pipes::bad_shared_words(mine.adapter());
        if (tx_moves > 100000 && rx_moves > 1000 && bad > 1000) break;
        if (i % 64 == 0) mine.wait(Direction::rx, 1ms);
    }
    EXPECT_GT(tx_moves, 100000u);
    EXPECT_GT(rx_moves, 1000u);
    EXPECT_GT(bad, 1000u);
    EXPECT_TRUE(mine.link_up());
    (void)hostile;
}

TEST(CrossProcessPipe, AHostilePeerJoiningThisProcessesPipeCannotHurtIt) {
    const std::string name = pid_name("hj");
    auto p = open_ok("pipe:" + name + "{0", small_opts(256));
    ASSERT_TRUE(p);
    auto h = peer({"hostile", "pipe:" + name + "}0"});
    ASSERT_TRUE(h->read_until("ready")) << h->text;
    survive_hostile(*p, *h);
    p.reset(); // the hostile peer sees its link go down and ends
    ASSERT_TRUE(h->finish()) << h->text;
    EXPECT_TRUE(h->exited(0)) << h->text;
}

TEST(CrossProcessPipe, AHostilePeerServingThePipeCannotHurtThisProcess) {
    const std::string name = pid_name("hs");
    auto h = peer({"hostile", "pipe:" + name + "}0"});
    ASSERT_TRUE(h->read_until("ready")) << h->text;
    auto p = open_ok("pipe:" + name + "{0", small_opts(256));
    ASSERT_TRUE(p);
    ASSERT_NE(pipes::control_block(p->adapter()).first, nullptr) << "this end joined the other process's pair";
    survive_hostile(*p, *h);
    p.reset();
    ::kill(h->pid, SIGKILL); // the serving side never learns that a guest left, unless it looks
    h->finish();
}

} // namespace
} // namespace upio::test
