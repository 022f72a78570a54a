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
    auto rx = spawn(PKTGEN_PATH, {"-f", "rx", "-i", "vale0:b", "-n", "1000000"});
    ASSERT_TRUE(wait_listing("vale0", [&](const std::string& t) { return has_port(t, "vale0:b"); })) << rx->text;
    auto tx = spawn(PKTGEN_PATH, {"-f", "tx", "-i", "vale0:a", "-n", "1000000"});
    ASSERT_TRUE(tx->finish()) << tx->text;
    EXPECT_TRUE(tx->exited(0)) << tx->text;
    // VALE drops what a full receiver has no room for: every frame was
    // either delivered or counted as dropped on the receiver's port
    ASSERT_TRUE(wait_listing("vale0", [&](const std::string& t) {
        const auto at = t.find("vale0:b ");
        if (at == std::string::npos) return false;
        std::istringstream in(t.substr(at, t.find('\n', at) - at));
        std::uint64_t rx = 0, dropped = 0;
        for (std::string f; in >> f;) {
            if (f.starts_with("rx_packets=")) rx = std::stoull(f.substr(11));
            if (f.starts_with("drop_no_space=")) dropped = std::stoull(f.substr(14));
        }
        return rx + dropped == 1000000;
    })) << ctl({"-l", "vale0"}).second;
    ::kill(rx->pid, SIGINT);
    ASSERT_TRUE(rx->finish()) << rx->text;
    EXPECT_NE(rx->text.find("Received"), std::string::npos) << rx->text;
}

} // namespace
} // namespace upio::test
