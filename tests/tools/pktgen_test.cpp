// pkt-gen as a user runs it: output, exact counts, errors, footprint.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <regex>
#include <string>
#include <vector>

namespace {

struct Outcome {
    int status = -1;
    std::string out;
    long max_rss_kb = 0;
};

// Runs pkt-gen with `args`; stdout and stderr together.
Outcome pktgen(std::vector<std::string> args) {
    int fds[2];
    if (pipe(fds) != 0) return {};
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        close(fds[0]);
        std::vector<char*> argv{const_cast<char*>(PKTGEN_PATH)};
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        execv(PKTGEN_PATH, argv.data());
        _exit(127);
    }
    close(fds[1]);
    Outcome r;
    std::array<char, 4096> buf;
    for (ssize_t n; (n = read(fds[0], buf.data(), buf.size())) > 0;) r.out.append(buf.data(), std::size_t(n));
    close(fds[0]);
    rusage ru{};
    wait4(pid, &r.status, 0, &ru);
    r.max_rss_kb = ru.ru_maxrss;
    return r;
}

TEST(PktGen, DefaultRunsAPipeAndReportsEachInterval) {
    Outcome r = pktgen({"--duration", "2", "-T", "0.5", "--no-hugepages"});
    ASSERT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) << r.out;
    std::regex line(R"(\s+[0-9.]+ tx\s+[0-9.]+ Mpps\s+[0-9.]+ Gbit/s)");
    auto lines = std::distance(std::sregex_iterator(r.out.begin(), r.out.end(), line), std::sregex_iterator());
    EXPECT_GE(lines, 3) << r.out;
    EXPECT_NE(r.out.find("Sent "), std::string::npos);
    EXPECT_NE(r.out.find("Received "), std::string::npos);
    // the pipe demo's whole footprint stays under 64 MiB resident
    EXPECT_LT(r.max_rss_kb, 64 * 1024) << "max RSS " << r.max_rss_kb << " KiB";
}

TEST(PktGen, ExactCountIsSentAndReceived) {
    Outcome r = pktgen({"-n", "123457", "-l", "1514", "-b", "64", "--json", "--no-hugepages"});
    ASSERT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) << r.out;
    EXPECT_NE(r.out.find(R"({"summary":"tx","packets":123457,"bytes":186913898)"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(R"({"summary":"rx","packets":123457,"bytes":186913898)"), std::string::npos) << r.out;
}

TEST(PktGen, RateLimitIsHonoured) {
    Outcome r = pktgen({"-n", "2000", "-R", "4000", "--json", "--no-hugepages"});
    ASSERT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) << r.out;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"("summary":"tx".*"seconds":([0-9.]+))"))) << r.out;
    double secs = std::stod(m[1]);
    EXPECT_GT(secs, 0.4) << "2000 packets at 4000 pps cannot take less than 0.5 s";
}

TEST(PktGen, BadArgumentsGiveClearErrors) {
    Outcome r = pktgen({"-f", "tx", "-i", "pipe:x"});
    EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 2) << r.out;
    EXPECT_NE(r.out.find("'{N'"), std::string::npos) << r.out;
    r = pktgen({"-f", "txrx", "-i", "pipe:y{0"});
    EXPECT_NE(r.out.find("needs 2 -i ports"), std::string::npos) << r.out;
    r = pktgen({"-l", "20"});
    EXPECT_NE(WEXITSTATUS(r.status), 0);
    r = pktgen({"-f", "tx", "-i", "ixgbe:0000:99:00.0", "-n", "1"});
    EXPECT_NE(WEXITSTATUS(r.status), 0);
    EXPECT_NE(r.out.find("0000:99:00.0"), std::string::npos) << r.out;
}

} // namespace
