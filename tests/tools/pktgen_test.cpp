// pkt-gen as a user runs it: output, exact counts, errors, footprint.
#include "frame.hpp"

#include <gtest/gtest.h>
#include <pcap/pcap.h>

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
    double cpu_seconds = 0; // user + system
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
    r.cpu_seconds = double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
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
    EXPECT_NE(r.out.find("needs at least 2 -i ports"), std::string::npos) << r.out;
    r = pktgen({"-l", "20"});
    EXPECT_NE(WEXITSTATUS(r.status), 0);
    r = pktgen({"-f", "tx", "-i", "ixgbe:0000:99:00.0", "-n", "1"});
    EXPECT_NE(WEXITSTATUS(r.status), 0);
    EXPECT_NE(r.out.find("0000:99:00.0"), std::string::npos) << r.out;
}

TEST(PktGen, SequenceModeCountsNoGapsOnAPipeWithMixedSizes) {
    Outcome r = pktgen({"-f", "txrxseq", "-i", "pipe:sq{0", "-i", "pipe:sq}0", "-n", "50000", "-l", "60-1514", "--json",
                        "--no-hugepages"});
    ASSERT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) << r.out;
    EXPECT_NE(r.out.find(R"("received":50000,"missing":0,"duplicates":0,"reordered":0)"), std::string::npos) << r.out;
}

TEST(PktGen, SequenceModeSeesTheDropsOfAnOverloadedValePort) {
    // the receiver's ring is tiny and it is slowed by capturing to a file:
    // the switch drops, and rxseq must report exactly what went missing
    Outcome r = pktgen({"-f", "txrxseq", "-i", "vale9:a", "-i", "vale9:b", "-n", "200000", "--slots", "64", "--json",
                        "--pcap", "/dev/null", "--no-hugepages"});
    ASSERT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) << r.out;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"("received":(\d+),"missing":(\d+),"duplicates":0,"reordered":0)")))
        << r.out;
    const auto received = std::stoull(m[1]), missing = std::stoull(m[2]);
    // every frame is either received or missing, except a tail never followed by a later one
    EXPECT_LE(received + missing, 200000u);
    EXPECT_GT(received, 0u);
}

TEST(PktGen, PingPongMeasuresRoundTrips) {
    for (const char* busy : {"--busy", "--json"}) {
        Outcome r = pktgen({"-f", "pingpong", "-i", "pipe:pp{0", "-i", "pipe:pp}0", "-n", "2000", "--json", busy,
                            "--no-hugepages"});
        ASSERT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) << r.out;
        std::smatch m;
        ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"("replies":(\d+),"lost":(\d+),"min_ns":(\d+))"))) << r.out;
        EXPECT_EQ(std::stoull(m[1]), 2000u);
        EXPECT_EQ(std::stoull(m[2]), 0u);
        EXPECT_GT(std::stoull(m[3]), 0u);
    }
    Outcome v = pktgen({"-f", "pingpong", "-i", "vale8:a", "-i", "vale8:b", "-n", "500", "--no-hugepages"});
    ASSERT_TRUE(WIFEXITED(v.status) && WEXITSTATUS(v.status) == 0) << v.out;
    EXPECT_NE(v.out.find("500 replies, 0 lost"), std::string::npos) << v.out;
    EXPECT_NE(v.out.find(" ns) "), std::string::npos) << "log2 histogram missing: " << v.out;
}

TEST(PktGen, CaptureToPcapAndReplayIt) {
    const std::string file = testing::TempDir() + "pktgen_capture.pcap";
    Outcome r = pktgen({"-f", "txrx", "-i", "pipe:cap{0", "-i", "pipe:cap}0", "-n", "300", "-l", "60-200", "-s",
                        "10.0.0.1-10.0.0.9:100-109", "-z", "--pcap", file, "--no-hugepages"});
    ASSERT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) << r.out;
    char err[PCAP_ERRBUF_SIZE];
    pcap_t* p = pcap_open_offline(file.c_str(), err);
    ASSERT_NE(p, nullptr) << err;
    pcap_pkthdr* h;
    const u_char* d;
    int n = 0;
    while (pcap_next_ex(p, &h, &d) == 1) {
        n++;
        ASSERT_TRUE(pktgen::verify_frame({d, h->caplen})) << "frame " << n;
        EXPECT_GE(h->caplen, 60u);
        EXPECT_LE(h->caplen, 200u);
        const std::uint8_t* ip = d + 14;
        EXPECT_EQ(ip[12], 10);
        EXPECT_GE(ip[15], 1);
        EXPECT_LE(ip[15], 9);
        const unsigned sport = unsigned(ip[20] << 8 | ip[21]);
        EXPECT_GE(sport, 100u);
        EXPECT_LE(sport, 109u);
    }
    pcap_close(p);
    EXPECT_EQ(n, 300);
    Outcome replay = pktgen({"-f", "txrx", "-i", "pipe:rep{0", "-i", "pipe:rep}0", "-n", "1000", "-P", file, "--json",
                             "--no-hugepages"});
    ASSERT_TRUE(WIFEXITED(replay.status) && WEXITSTATUS(replay.status) == 0) << replay.out;
    EXPECT_NE(replay.out.find(R"({"summary":"rx","packets":1000)"), std::string::npos) << replay.out;
    Outcome missing = pktgen({"-f", "tx", "-i", "pipe:rep{1", "-P", "/nonexistent.pcap"});
    EXPECT_NE(missing.out.find("cannot read pcap file"), std::string::npos) << missing.out;
}

TEST(PktGen, SeveralSendersIntoOneValeReceiverAddUp) {
    Outcome r = pktgen({"-f", "txrxseq", "-i", "vale6:a", "-i", "vale6:b", "-i", "vale6:c", "-n", "30000", "-R",
                        "1000000", "--json", "--no-hugepages"});
    ASSERT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) << r.out;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"(\{"summary":"rx","packets":(\d+))"))) << r.out;
    const auto received = std::stoull(m[1]);
    ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"(\{"vale_port":"vale6:c".*"rx_packets":(\d+).*"drop_no_space":(\d+))")))
        << r.out;
    EXPECT_EQ(std::stoull(m[1]), received);
    EXPECT_EQ(received + std::stoull(m[2]), 60000u) << "every frame of both senders is received or counted as dropped";
    EXPECT_NE(r.out.find(R"("stream":1)"), std::string::npos) << "one sequence stream per sender: " << r.out;
}

TEST(PktGen, ABlockedIdleReceiverUsesNoCpu) {
    // Waiting on an idle pipe for 1 s and for 3 s: the difference is what two
    // idle seconds cost (start-up and exit cancel out). Sleeping, not spinning.
    Outcome one = pktgen({"-f", "rx", "-i", "pipe:idle}0", "--duration", "1", "--no-hugepages"});
    Outcome three = pktgen({"-f", "rx", "-i", "pipe:idle}0", "--duration", "3", "--no-hugepages"});
    ASSERT_TRUE(WIFEXITED(three.status) && WEXITSTATUS(three.status) == 0) << three.out;
    const double idle = three.cpu_seconds - one.cpu_seconds;
    EXPECT_LT(idle, 0.02) << "an idle blocked receiver burned " << idle << " s of CPU in 2 s";
    Outcome busy = pktgen({"-f", "rx", "-i", "pipe:idle}0", "--duration", "1", "--busy", "--no-hugepages"});
    EXPECT_GT(busy.cpu_seconds - one.cpu_seconds, 0.1) << "the --busy receiver should spin (this checks the measurement)";
}

TEST(PktGen, RunsEndToEndOnTwoModelled82599s) {
    // Like hardware, the model drops what arrives while no receive descriptor
    // is free (a starved receiver thread on a loaded machine) and counts it
    // per queue; the port reports those counts. Every frame sent is received
    // or counted as dropped, and what arrived is in order and unduplicated.
    Outcome r = pktgen({"--ixgbe-model", "-f", "txrxseq", "-i", "ixgbe:0000:01:00.0", "-i", "ixgbe:0000:01:00.1", "-n",
                        "50000", "-R", "200000", "-l", "60-1514", "--json", "--no-hugepages"});
    ASSERT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) << r.out;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"("received":(\d+),"missing":(\d+),"duplicates":0,"reordered":0)")))
        << r.out;
    const auto received = std::stoull(m[1]);
    EXPECT_GT(received, 0u) << r.out;
    ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"(\{"summary":"rx","packets":(\d+),.*"port_drops":(\d+))")))
        << r.out;
    EXPECT_EQ(std::stoull(m[1]), received);
    EXPECT_EQ(received + std::stoull(m[2]), 50000u) << "every frame is received or counted by the NIC: " << r.out;
    // without --ixgbe-model the same name means a real device: a clear VFIO error here
    Outcome real = pktgen({"-f", "tx", "-i", "ixgbe:0000:01:00.0", "-n", "1"});
    EXPECT_NE(WEXITSTATUS(real.status), 0);
    EXPECT_NE(real.out.find("0000:01:00.0"), std::string::npos) << real.out;
}

TEST(PktGen, ThreadsOneRingEach) {
    Outcome r = pktgen({"-f", "txrx", "-i", "vale7:a", "-i", "vale7:b", "-p", "2", "-n", "20000", "-R", "200000",
                        "--json", "--no-hugepages"});
    ASSERT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) << r.out;
    EXPECT_NE(r.out.find(R"({"summary":"tx","packets":40000)"), std::string::npos) << r.out;
    Outcome pipe = pktgen({"-f", "tx", "-i", "pipe:thr{0", "-p", "2", "-n", "1"});
    EXPECT_NE(pipe.out.find("one ring pair"), std::string::npos) << pipe.out;
}

} // namespace
