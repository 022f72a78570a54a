// Pipes across processes: pkt-gen or tests/core/xpipe_peer at one end, this
// process or another pkt-gen at the other. Every wait has a generous limit;
// nothing waits by sleeping for a guessed time.
#include "xpipe_util.hpp"

namespace upio::test {
namespace {

using namespace xpipe;

// -- pkt-gen in two processes

void sequence_across(bool receiver_first, std::uint64_t frames) {
    const std::string name = pid_name(receiver_first ? "seqr" : "seqt");
    const std::string n = std::to_string(frames);
    std::vector<std::string> rx{"-f", "rxseq", "-i", "pipe:" + name + "}0", "-n", n, "--timeout", "60"};
    std::vector<std::string> tx{"-f", "txseq", "-i", "pipe:" + name + "{0", "-n", n, "--timeout", "60"};
    auto first = pktgen(receiver_first ? rx : tx);
    ASSERT_TRUE(wait_served(name)) << first->text;
    auto second = pktgen(receiver_first ? tx : rx);
    Child& r = receiver_first ? *first : *second;
    Child& t = receiver_first ? *second : *first;
    ASSERT_TRUE(t.finish()) << t.text;
    ASSERT_TRUE(r.finish()) << r.text;
    EXPECT_TRUE(t.exited(0)) << t.text;
    EXPECT_TRUE(r.exited(0)) << r.text;
    EXPECT_NE(r.text.find(n + " received, 0 missing, 0 duplicates, 0 reordered"), std::string::npos) << r.text;
    // two processes on one host share CLOCK_MONOTONIC: the one-way latency of every frame
    EXPECT_NE(r.text.find("One-way latency on pipe:" + name + "}0: " + n + " frames; min "), std::string::npos)
        << r.text;
}

TEST(CrossProcessPipe, PktGenSequenceReceiverOpensFirst) { sequence_across(true, 1000000); }
TEST(CrossProcessPipe, PktGenSequenceSenderOpensFirst) { sequence_across(false, 1000000); }
TEST(CrossProcessPipe, PktGenSequenceTenMillion) { sequence_across(true, 10000000); }

// The README's two-terminal example, as written there.
TEST(CrossProcessPipe, TheReadmeTwoTerminalExample) {
    auto rx = spawn(PKTGEN_PATH, {"-f", "rx", "-i", "pipe:x}0", "-n", "10000000"});
    ASSERT_TRUE(wait_served("x")) << rx->text;
    auto tx = spawn(PKTGEN_PATH, {"-f", "tx", "-i", "pipe:x{0", "-n", "10000000"});
    ASSERT_TRUE(tx->finish()) << tx->text;
    ASSERT_TRUE(rx->finish()) << rx->text;
    EXPECT_TRUE(tx->exited(0)) << tx->text;
    EXPECT_TRUE(rx->exited(0)) << rx->text;
    EXPECT_NE(rx->text.find("Received 10000000 packets"), std::string::npos) << rx->text;
}

TEST(CrossProcessPipe, PingInOneProcessPongInAnother) {
    const std::string name = pid_name("pp");
    auto pong = pktgen({"-f", "pong", "-i", "pipe:" + name + "}0", "--timeout", "60"});
    ASSERT_TRUE(wait_served(name)) << pong->text;
    auto ping = pktgen({"-f", "ping", "-i", "pipe:" + name + "{0", "-n", "20000", "--timeout", "60"});
    ASSERT_TRUE(ping->finish()) << ping->text;
    EXPECT_TRUE(ping->exited(0)) << ping->text;
    EXPECT_NE(ping->text.find("20000"), std::string::npos) << ping->text;
    // the ping's end closing is the pong's link going down: it ends, saying so
    ASSERT_TRUE(pong->finish()) << pong->text;
    EXPECT_TRUE(pong->exited(1)) << pong->text;
    EXPECT_NE(pong->text.find("link down"), std::string::npos) << pong->text;
}

// A joined end opened as two Ports, one per direction (one thread each), as
// an in-process end can be.
TEST(CrossProcessPipe, AJoinedEndOpensOnePortPerDirection) {
    const std::string name = pid_name("dir");
    auto rx = peer({"rx", "pipe:" + name + "}0", "1000"});
    ASSERT_TRUE(rx->read_until("ready")) << rx->text;
    auto t = open_ok("pipe:" + name + "{0/T", small_opts(256));
    auto r = open_ok("pipe:" + name + "{0/R", small_opts(256));
    ASSERT_TRUE(t && r);
    EXPECT_EQ(&t->adapter(), &r->adapter());
    EXPECT_NE(pipes::control_block(t->adapter()).first, nullptr);
    netmap_ring* tx = t->tx_ring(0);
    for (std::uint64_t sent = 0; sent < 1000;) {
        ASSERT_GT(t->wait(Direction::tx, 60s), 0) << t->last_error();
        for (; !nm_ring_empty(tx) && sent < 1000; sent++) {
            tx->slot[tx->cur].len = 60;
            tx->head = tx->cur = nm_ring_next(tx, tx->cur);
        }
        ASSERT_EQ(t->txsync(), 0) << t->last_error();
    }
    // frames still queued behind a full receiver go with later syncs
    for (auto until = clock_type::now() + 60s; nm_tx_pending(tx) && clock_type::now() < until;) {
        ASSERT_EQ(r->rxsync(), 0) << r->last_error(); // the other Port works meanwhile
        ASSERT_EQ(t->txsync(), 0) << t->last_error();
        t->wait(Direction::tx, 10ms);
    }
    ASSERT_TRUE(rx->finish()) << rx->text;
    EXPECT_TRUE(rx->exited(0)) << rx->text << " sent " << t->counters(Direction::tx).packets << " drops "
                               << t->counters(Direction::tx).drops << " bad words "
                               << pipes::bad_shared_words(t->adapter()) << " tx head " << tx->head << " tail "
                               << tx->tail;
}

// -- peers that die

TEST(CrossProcessPipe, KillingTheSenderMidStreamIsLinkDownAtTheReceiver) {
    const std::string name = pid_name("k9s");
    auto rx = peer({"rx", "pipe:" + name + "}0", "1000000000000"});
    ASSERT_TRUE(rx->read_until("ready")) << rx->text;
    auto tx = peer({"tx", "pipe:" + name + "{0", "1000000000000"});
    ASSERT_TRUE(rx->read_until("streaming")) << rx->text << tx->text;
    ::kill(tx->pid, SIGKILL);
    ASSERT_TRUE(rx->finish()) << "the receiver must not hang: " << rx->text;
    EXPECT_TRUE(rx->exited(3)) << rx->text;
    EXPECT_NE(rx->text.find("link_up=0"), std::string::npos) << rx->text;
    EXPECT_NE(rx->text.find("closed it or died"), std::string::npos) << rx->text;
}

TEST(CrossProcessPipe, KillingTheServingReceiverIsLinkDownAtTheSender) {
    const std::string name = pid_name("k9r");
    auto rx = peer({"rx", "pipe:" + name + "}0", "1000000000000"});
    ASSERT_TRUE(rx->read_until("ready")) << rx->text;
    auto tx = peer({"tx", "pipe:" + name + "{0", "1000000000000"});
    ASSERT_TRUE(tx->read_until("streaming")) << tx->text;
    ::kill(rx->pid, SIGKILL);
    ASSERT_TRUE(tx->finish()) << "the sender must not hang: " << tx->text;
    EXPECT_TRUE(tx->exited(3)) << tx->text;
    EXPECT_NE(tx->text.find("link_up=0"), std::string::npos) << tx->text;
}

// The serving end stays open; the other process leaves and another comes.
TEST(CrossProcessPipe, APeerLeavingIsLinkDownAndANewOneReconnects) {
    const std::string name = pid_name("re");
    auto p = open_ok("pipe:" + name + "{0", small_opts(256));
    ASSERT_TRUE(p);
    for (int round = 0; round < 2; round++) {
        auto rx = peer({"rx", "pipe:" + name + "}0", "5000"});
        ASSERT_TRUE(rx->read_until("ready")) << rx->text;
        std::uint64_t sent = 0;
        const auto until = clock_type::now() + 60s;
        while (rx->text.find("received") == std::string::npos && clock_type::now() < until) {
            netmap_ring* r = p->tx_ring(0);
            while (!nm_ring_empty(r) && sent < 5000) {
                r->slot[r->cur].len = 60;
                r->head = r->cur = nm_ring_next(r, r->cur);
                sent++;
            }
            if (p->txsync() < 0) break; // the peer left after its 5000: fine
            if (sent == 5000) {
                rx->read_until("received", 1s);
                continue;
            }
            p->wait(Direction::tx, 1s);
        }
        ASSERT_TRUE(rx->finish()) << rx->text;
        EXPECT_TRUE(rx->exited(0)) << rx->text;
        EXPECT_NE(rx->text.find("received 5000"), std::string::npos) << rx->text;
        // its leaving reaches this process through the control thread
        for (auto t = clock_type::now() + 60s; p->link_up() && clock_type::now() < t;) p->wait(Direction::tx, 100ms);
        EXPECT_FALSE(p->link_up());
        EXPECT_EQ(p->txsync(), -ENOTCONN);
        EXPECT_NE(std::string(p->last_error()).find("link down"), std::string::npos) << p->last_error();
    }
}

// -- who may meet

TEST(CrossProcessPipe, ANameAnotherUserHoldsIsRefusedWithAMessage) {
    if (::getuid() != 0) GTEST_SKIP() << "needs root, to run a process as another user";
    const std::string name = pid_name("coll");
    const std::string rv = shm::rendezvous_name("pipe", name + "/0"); // this user's name, taken by another
    int in[2];
    ASSERT_EQ(::pipe2(in, O_CLOEXEC), 0);
    auto squatter = spawn(XPIPE_PEER_PATH, {"squat", rv}, [&] {
        ::dup2(in[0], 0);
        ::close(in[1]);
        if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(126);
    });
    ::close(in[0]);
    ASSERT_TRUE(squatter->read_until("listening")) << squatter->text;
    auto p = Port::open("pipe:" + name + "{0", small_opts());
    ASSERT_FALSE(p.ok());
    EXPECT_NE(p.error().message.find("another user"), std::string::npos) << p.error().message;
    EXPECT_NE(p.error().message.find("uid 65534"), std::string::npos) << p.error().message;
    ::close(in[1]);
    EXPECT_TRUE(squatter->finish());
}

// In one process, both ends are an in-process pipe, as ever: nothing shared.
// A sender that sends and exits at once: what it had handed over before it
// left is received whole, taken a part at a time, and only then do the
// receiver's syncs say link down.
TEST(CrossProcessPipe, FramesSentBeforeThePeerLeftAreStillReceived) {
    const std::string name = pid_name("left");
    auto rx = open_ok("pipe:" + name + "}0");
    ASSERT_TRUE(rx);
    auto tx = peer({"burst", "pipe:" + name + "{0", "100"});
    ASSERT_TRUE(tx->finish()) << tx->text;
    ASSERT_TRUE(tx->exited(0)) << tx->text;
    const auto at = tx->text.find("sent ");
    ASSERT_NE(at, std::string::npos) << tx->text;
    const std::uint32_t sent = std::uint32_t(std::stoul(tx->text.substr(at + 5))); // what its ring had room for
    ASSERT_GT(sent, 0u) << tx->text;
    // the hang-up reaches this process's reactor thread in its own time
    const auto until = std::chrono::steady_clock::now() + 60s;
    while (rx->link_up() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(1ms);
    ASSERT_FALSE(rx->link_up());
    ASSERT_GE(rx->rxsync(), 0) << rx->last_error();
    netmap_ring* r = rx->rx_ring(0);
    EXPECT_EQ(nm_ring_space(r), sent);
    for (std::uint32_t i = r->cur; i != r->tail; i = nm_ring_next(r, i)) EXPECT_EQ(r->slot[i].len, 60u);
    // half taken: the rest is still the application's, no error yet
    for (std::uint32_t k = 0; k < sent / 2; k++) r->head = r->cur = nm_ring_next(r, r->cur);
    EXPECT_GE(rx->rxsync(), 0) << rx->last_error();
    EXPECT_EQ(nm_ring_space(r), sent - sent / 2);
    r->head = r->cur = r->tail;
    EXPECT_LT(rx->rxsync(), 0) << "nothing left: link down";
    EXPECT_NE(std::string(rx->last_error()).find("link down"), std::string::npos) << rx->last_error();
}

TEST(CrossProcessPipe, BothEndsInOneProcessStayInProcess) {
    const std::string name = pid_name("one");
    auto a = open_ok("pipe:" + name + "}0");
    auto b = open_ok("pipe:" + name + "{0");
    ASSERT_TRUE(a && b);
    EXPECT_EQ(pipes::control_block(a->adapter()).first, nullptr);
    EXPECT_EQ(pipes::control_block(b->adapter()).first, nullptr);
    EXPECT_TRUE(a->shares_memory_with(*b));
    EXPECT_GE(a->memory().fd(), 0); // served: another process could still open a pipe of NAME
}

} // namespace
} // namespace upio::test
