// The README's two-terminal VALE example, as written there. It takes
// vale0, which other tests use in-process: this program runs alone
// (RUN_SERIAL).
#include "vale_daemon_util.hpp"

namespace upio::test {
namespace {

using namespace xpipe;
using namespace valed;

// The README's two-terminal example, as written there (on vale0, so it
// runs alone: see the test's CMake properties).
TEST(ValeDaemon, TheReadmeTwoTerminalExample) {
    auto d = daemon("vale0");
    auto rx = spawn(PKTGEN_PATH, {"-f", "rx", "-i", "vale0:b", "-n", "10000000", "--lossless"});
    // (a person starts the sender after the receiver is up; so does the test)
    ASSERT_TRUE(wait_listing("vale0", [&](const std::string& t) { return t.find("back_pressure=1") != std::string::npos; }))
        << rx->text;
    auto tx = spawn(PKTGEN_PATH, {"-f", "tx", "-i", "vale0:a", "-n", "10000000"});
    ASSERT_TRUE(tx->finish()) << tx->text;
    ASSERT_TRUE(rx->finish()) << rx->text;
    EXPECT_TRUE(tx->exited(0)) << tx->text;
    EXPECT_TRUE(rx->exited(0)) << rx->text;
    EXPECT_NE(rx->text.find("Received 10000000 packets"), std::string::npos) << rx->text;
    auto [rc, text] = ctl({"-l"});
    EXPECT_EQ(rc, 0) << text;
    EXPECT_NE(text.find("vale0 ports="), std::string::npos) << text;
}

} // namespace
} // namespace upio::test
