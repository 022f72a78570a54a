// pkt-gen as a user runs it: output, exact counts, errors, footprint.
#include "frame.hpp"
#include "json_line.hpp"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <pcap/pcap.h>

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <sched.h>
#include <cstdio>
#include <regex>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Outcome {
    int status = -1;
    std::string out;
    long max_rss_kb = 0;
    double cpu_seconds = 0; // user + system
};

// Runs pkt-gen with `args`; stdout and stderr together. A run that hangs is
// killed after `limit` seconds (SIGALRM: the test sees a signalled exit).
// With `sig`, that signal is sent to it after `sig_after` seconds.
Outcome pktgen(std::vector<std::string> args, unsigned limit = 120, int sig = 0,
               std::chrono::milliseconds sig_after = {}) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return {}; // no other child inherits the write end
    std::vector<char*> argv{const_cast<char*>(PKTGEN_PATH)}; // built here: the child only execs
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        alarm(limit);
        execv(PKTGEN_PATH, argv.data());
        _exit(127);
    }
    close(fds[1]);
    std::thread signaller;
    if (sig)
        signaller = std::thread([=] {
            std::this_thread::sleep_for(sig_after);
            kill(pid, sig); // not yet reaped: the pid is still this child's
        });
    Outcome r;
    std::array<char, 4096> buf;
    for (ssize_t n; (n = read(fds[0], buf.data(), buf.size())) > 0;) r.out.append(buf.data(), std::size_t(n));
    close(fds[0]);
    if (signaller.joinable()) signaller.join();
    rusage ru{};
    wait4(pid, &r.status, 0, &ru);
    r.max_rss_kb = ru.ru_maxrss;
    r.cpu_seconds = double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    return r;
}

bool exited(const Outcome& r, int code) { return WIFEXITED(r.status) && WEXITSTATUS(r.status) == code; }

// The first number after `"key":` in the first line matching `prefix`.
std::uint64_t json_field(const std::string& out, const std::string& prefix, const std::string& key) {
    std::smatch m;
    std::regex re(prefix + R"([^\n]*")" + key + R"(":(-?\d+))");
    if (!std::regex_search(out, m, re)) return ~std::uint64_t(0);
    return std::stoull(m[1]);
}

// Every line of a --json run, parsed; a line that is no JSON object fails the test.
std::vector<pktgen::Json> json_lines(const std::string& out) {
    std::vector<pktgen::Json> lines;
    std::size_t at = 0;
    for (std::size_t nl; (nl = out.find('\n', at)) != std::string::npos; at = nl + 1) {
        const std::string text = out.substr(at, nl - at);
        try {
            lines.push_back(pktgen::Json::parse(text));
        } catch (const std::exception& e) {
            ADD_FAILURE() << "not JSON: " << text << " (" << e.what() << ")";
        }
    }
    return lines;
}

// The first line whose first member is `kind` (with that value when given).
const pktgen::Json* json_find(const std::vector<pktgen::Json>& lines, const std::string& kind,
                              const std::string& value = "") {
    for (const auto& l : lines)
        if (!l.empty() && l.begin().key() == kind && (value.empty() || l.begin().value() == value)) return &l;
    return nullptr;
}

double run_seconds(const std::string& out, const char* dir) {
    std::smatch m;
    if (!std::regex_search(out, m, std::regex(std::string(R"("summary":")") + dir + R"(".*"seconds":([0-9.]+))")))
        return -1;
    return std::stod(m[1]);
}

struct Frame {
    std::vector<std::uint8_t> data;
};

std::vector<Frame> read_pcap(const std::string& file) {
    std::vector<Frame> out;
    char err[PCAP_ERRBUF_SIZE];
    pcap_t* p = pcap_open_offline(file.c_str(), err);
    if (!p) return out;
    pcap_pkthdr* h;
    const u_char* d;
    while (pcap_next_ex(p, &h, &d) == 1) out.push_back({{d, d + h->caplen}});
    pcap_close(p);
    return out;
}

std::uint32_t ip_at(const std::vector<std::uint8_t>& f, std::size_t off) {
    return std::uint32_t(f[off]) << 24 | std::uint32_t(f[off + 1]) << 16 | std::uint32_t(f[off + 2]) << 8 | f[off + 3];
}
unsigned port_at(const std::vector<std::uint8_t>& f, std::size_t off) { return unsigned(f[off] << 8 | f[off + 1]); }

// Runs a shell command; its output (stdout and stderr) and exit status.
std::pair<int, std::string> shell(const std::string& cmd) {
    std::string out;
    FILE* f = popen((cmd + " 2>&1").c_str(), "r");
    if (!f) return {-1, out};
    std::array<char, 4096> buf;
    for (std::size_t n; (n = fread(buf.data(), 1, buf.size(), f)) > 0;) out.append(buf.data(), n);
    int st = pclose(f);
    return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

TEST(PktGen, DefaultRunsAPipeAndReportsEachInterval) {
    Outcome r = pktgen({"--duration", "2", "-T", "500", "--no-hugepages"}); // ms, as netmap's
    ASSERT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) << r.out;
    std::regex line(R"(\s+[0-9.]+ tx\s+[0-9.]+ Mpps\s+[0-9.]+ Gbit/s)");
    auto lines = std::distance(std::sregex_iterator(r.out.begin(), r.out.end(), line), std::sregex_iterator());
    EXPECT_GE(lines, 3) << r.out;
    EXPECT_NE(r.out.find("Sent "), std::string::npos);
    EXPECT_NE(r.out.find("Received "), std::string::npos);
    // the pipe demo's whole footprint stays under 64 MiB resident (under
    // ThreadSanitizer its shadow memory alone takes more: not judged there)
#if !defined(__SANITIZE_THREAD__)
    EXPECT_LT(r.max_rss_kb, 64 * 1024) << "max RSS " << r.max_rss_kb << " KiB";
#endif
}

// When --duration ends a run with both sides, the senders stop first and
// the receiver takes what is already on its way: a pipe delivers every
// packet, a VALE port every packet it did not drop; the run still ends
// promptly.
TEST(PktGen, ADurationRunAccountsForEveryPacket) {
    const std::vector<std::vector<std::string>> runs = {
        {"--duration", "1", "--no-hugepages"},
        {"-f", "txrx", "-i", "vale7:a", "-i", "vale7:b", "--duration", "1", "--no-hugepages"}};
    for (const auto& args : runs) {
        const auto t0 = std::chrono::steady_clock::now();
        Outcome r = pktgen(args);
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        ASSERT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) << r.out;
        EXPECT_LT(secs, 10) << r.out;
        std::smatch m;
        ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"(Sent (\d+) packets)"))) << r.out;
        const auto sent = std::stoull(m[1]);
        ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"(Received (\d+) packets[^(\n]*(?:\((\d+) dropped)?)")))
            << r.out;
        const auto received = std::stoull(m[1]);
        const auto dropped = m[2].matched ? std::stoull(m[2]) : 0ull;
        EXPECT_GT(sent, 0u);
        EXPECT_EQ(received + dropped, sent) << r.out;
    }
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

TEST(PktGen, JsonLinesAreVersionedAndCarryHistogramsAndOneWayLatency) {
    Outcome r = pktgen({"-f", "txrxseq", "-i", "pipe:js{0", "-i", "pipe:js}0", "-n", "20000", "-R", "100000", "--json",
                        "--no-hugepages"});
    ASSERT_TRUE(exited(r, 0)) << r.out;
    const auto lines = json_lines(r.out);
    ASSERT_FALSE(lines.empty());
    for (const auto& l : lines) {
        ASSERT_TRUE(l.is_object()) << l;
        ASSERT_GE(l.size(), 2u) << l;
        EXPECT_EQ(std::prev(l.end()).key(), "schema") << l;
        EXPECT_EQ(l["schema"], pktgen::json_schema) << l;
    }
    const auto* rx = json_find(lines, "summary", "rx");
    ASSERT_NE(rx, nullptr) << r.out;
    EXPECT_EQ((*rx)["packets"], 20000);
    // raw rate: 24 more bytes per frame on the wire (preamble, FCS, gap)
    EXPECT_NEAR(double((*rx)["l1_bps"]), (double((*rx)["bytes"]) + 24.0 * 20000) * 8 / double((*rx)["seconds"]),
                double((*rx)["l1_bps"]) * 1e-3);
    // one-way latency: both ends in this process, one clock
    const auto* ow = json_find(lines, "one_way", "pipe:js}0");
    ASSERT_NE(ow, nullptr) << r.out;
    EXPECT_EQ((*ow)["frames"], 20000);
    EXPECT_EQ((*ow)["other_clock"], 0);
    std::uint64_t in_buckets = 0;
    for (const auto& b : (*ow)["buckets"]) {
        EXPECT_LE(b["lo_ns"], b["hi_ns"]) << b;
        in_buckets += b["count"].get<std::uint64_t>();
    }
    EXPECT_EQ(in_buckets, 20000u);
    EXPECT_LE((*ow)["min_ns"], (*ow)["p50_ns"]);
    EXPECT_LE((*ow)["p50_ns"], (*ow)["max_ns"]);

    // round trips: the histogram's buckets hold every reply
    Outcome p = pktgen({"-f", "pingpong", "-i", "pipe:jp{0", "-i", "pipe:jp}0", "-n", "500", "--json", "--no-hugepages"});
    ASSERT_TRUE(exited(p, 0)) << p.out;
    const auto plines = json_lines(p.out);
    const auto* rtt = json_find(plines, "rtt");
    ASSERT_NE(rtt, nullptr) << p.out;
    std::uint64_t replies = 0;
    for (const auto& b : (*rtt)["buckets"]) replies += b["count"].get<std::uint64_t>();
    EXPECT_EQ(replies, 500u);
    EXPECT_EQ((*rtt)["replies"], 500);
}

TEST(PktGen, JsonRatesPerPortWhenPortsShareADirection) {
    Outcome r = pktgen({"-f", "txrx", "-i", "vale16:a", "-i", "vale16:b", "-i", "vale16:c", "-n", "5000", "-R", "20000",
                        "--json", "--no-hugepages"});
    ASSERT_TRUE(exited(r, 0)) << r.out;
    const auto lines = json_lines(r.out);
    // at each report: the tx line is the sum of its two ports'; the one receiver has no line of its own
    std::map<double, std::uint64_t> total, per_port;
    std::set<std::string> ports;
    for (const auto& l : lines) {
        if (!l.contains("t")) continue;
        EXPECT_FALSE(l["dir"] == "rx" && l.contains("port")) << l;
        if (l["dir"] != "tx") continue;
        if (l.contains("port")) {
            ports.insert(l["port"].get<std::string>());
            per_port[l["t"].get<double>()] += l["packets"].get<std::uint64_t>();
        } else {
            total[l["t"].get<double>()] = l["packets"].get<std::uint64_t>();
        }
    }
    EXPECT_EQ(ports, (std::set<std::string>{"vale16:a", "vale16:b"}));
    ASSERT_FALSE(total.empty()) << r.out;
    EXPECT_EQ(total, per_port) << r.out;
    EXPECT_EQ(total.rbegin()->second, 10000u) << r.out;
}

TEST(PktGen, OneWayLatencyInTheTextSummary) {
    Outcome r = pktgen({"-f", "txrxseq", "-i", "pipe:ow{0", "-i", "pipe:ow}0", "-n", "1000", "--no-hugepages"});
    ASSERT_TRUE(exited(r, 0)) << r.out;
    EXPECT_NE(r.out.find("One-way latency on pipe:ow}0: 1000 frames; min "), std::string::npos) << r.out;
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
    {
        // a nanosecond capture: its magic number, in the writer's byte order
        std::uint32_t magic = 0;
        FILE* f = std::fopen(file.c_str(), "rb");
        ASSERT_NE(f, nullptr);
        ASSERT_EQ(std::fread(&magic, 4, 1, f), 1u);
        std::fclose(f);
        EXPECT_EQ(magic, 0xa1b23c4du) << std::hex << magic;
    }
    char err[PCAP_ERRBUF_SIZE];
    pcap_t* p = pcap_open_offline_with_tstamp_precision(file.c_str(), PCAP_TSTAMP_PRECISION_NANO, err);
    ASSERT_NE(p, nullptr) << err;
    EXPECT_EQ(pcap_get_tstamp_precision(p), PCAP_TSTAMP_PRECISION_NANO);
    pcap_pkthdr* h;
    const u_char* d;
    int n = 0;
    while (pcap_next_ex(p, &h, &d) == 1) {
        n++;
        EXPECT_LT(h->ts.tv_usec, 1000000000) << "nanoseconds within the second";
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
    // and a real tool reads the file too
    if (shell("command -v tcpdump").first == 0) {
        auto [rc, out] = shell("tcpdump -r " + file + " -nn");
        EXPECT_EQ(rc, 0) << out;
        std::regex line(R"(IP 10\.0\.0\.[1-9]\.10[0-9] > 10\.1\.0\.1\.4321: UDP, length \d+)");
        auto lines = std::distance(std::sregex_iterator(out.begin(), out.end(), line), std::sregex_iterator());
        EXPECT_EQ(lines, 300) << out;
    } else {
        std::cout << "tcpdump is not installed (scripts/install-deps installs it): the capture was checked with "
                     "libpcap only\n";
    }
    Outcome replay = pktgen({"-f", "txrx", "-i", "pipe:rep{0", "-i", "pipe:rep}0", "-n", "1000", "-P", file, "--json",
                             "--no-hugepages"});
    ASSERT_TRUE(WIFEXITED(replay.status) && WEXITSTATUS(replay.status) == 0) << replay.out;
    EXPECT_NE(replay.out.find(R"({"summary":"rx","packets":1000)"), std::string::npos) << replay.out;
    Outcome missing = pktgen({"-f", "tx", "-i", "pipe:rep{1", "-P", "/nonexistent.pcap"});
    EXPECT_NE(missing.out.find("cannot read pcap file"), std::string::npos) << missing.out;
}

// A pcap file of Ethernet frames of the given sizes (written with libpcap).
std::string write_pcap(const std::string& name, const std::vector<std::size_t>& sizes) {
    const std::string file = testing::TempDir() + name;
    pcap_t* dead = pcap_open_dead(DLT_EN10MB, 65535);
    pcap_dumper_t* d = pcap_dump_open(dead, file.c_str());
    if (!d) {
        ADD_FAILURE() << "cannot write " << file << ": " << pcap_geterr(dead);
        pcap_close(dead);
        return file;
    }
    for (std::size_t n : sizes) {
        pktgen::FrameSpec spec;
        spec.size = n;
        const auto f = pktgen::build_frame(spec);
        pcap_pkthdr h{};
        h.caplen = h.len = std::uint32_t(n);
        pcap_dump(reinterpret_cast<u_char*>(d), &h, f.data());
    }
    pcap_dump_close(d);
    pcap_close(dead);
    return file;
}

TEST(PktGen, ReplayOfATruncatedFileFailsWithLibpcapsMessage) {
    // Three 100-byte records, the last cut in the middle: libpcap reads two,
    // then reports the truncated record. pkt-gen must not replay the two.
    const std::string file = write_pcap("pktgen_truncated.pcap", {100, 100, 100});
    const auto full = std::filesystem::file_size(file);
    std::filesystem::resize_file(file, full - 50);
    Outcome r = pktgen({"-f", "txrx", "-i", "pipe:trunc{0", "-i", "pipe:trunc}0", "-n", "100", "-P", file,
                        "--no-hugepages"});
    EXPECT_TRUE(exited(r, 1)) << r.out;
    EXPECT_NE(r.out.find("pkt-gen: " + file + ": truncated dump file"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("Sent"), std::string::npos) << "nothing is replayed: " << r.out;
    // a record header cut short is a read error too
    std::filesystem::resize_file(file, full - 100 - 8);
    Outcome h = pktgen({"-f", "tx", "-i", "pipe:trunc{1", "-n", "1", "-P", file, "--no-hugepages"});
    EXPECT_TRUE(exited(h, 1)) << h.out;
    EXPECT_NE(h.out.find("pkt-gen: " + file + ": truncated dump file"), std::string::npos) << h.out;
    // the same file whole replays
    std::filesystem::remove(file);
    write_pcap("pktgen_truncated.pcap", {100, 100, 100});
    Outcome ok = pktgen({"-f", "txrx", "-i", "pipe:trunc{2", "-i", "pipe:trunc}2", "-n", "100", "-P", file, "--json",
                         "--no-hugepages"});
    EXPECT_TRUE(exited(ok, 0)) << ok.out;
    EXPECT_NE(ok.out.find(R"({"summary":"rx","packets":100)"), std::string::npos) << ok.out;
}

TEST(PktGen, ReplayRefusesFramesAboveTheLimit) {
    const std::string big = write_pcap("pktgen_oversized.pcap", {60, 9018, 9019, 60});
    Outcome r = pktgen({"-f", "tx", "-i", "pipe:big{0", "-n", "1", "-P", big, "--no-hugepages"});
    EXPECT_TRUE(exited(r, 1)) << r.out;
    EXPECT_NE(r.out.find("pkt-gen: " + big + ": frame 3 has 9019 bytes; pkt-gen sends frames of at most 9018 bytes"),
              std::string::npos)
        << r.out;
    EXPECT_EQ(r.out.find("Sent"), std::string::npos) << r.out;
    // 9018 bytes is the largest frame, and replays (an NS_MOREFRAG chain)
    const std::string ok = write_pcap("pktgen_largest.pcap", {60, 9018});
    Outcome o = pktgen({"-f", "txrx", "-i", "pipe:big{1", "-i", "pipe:big}1", "-n", "50", "-P", ok, "--json",
                        "--no-hugepages"});
    EXPECT_TRUE(exited(o, 0)) << o.out;
    EXPECT_NE(o.out.find(R"({"summary":"rx","packets":50,"bytes":226950)"), std::string::npos) << o.out;
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

TEST(PktGen, LosslessValeLosesNothingIntoASlowReceiver) {
    // Two unpaced senders into one receiver with a tiny ring, slowed by
    // capturing to a file: with --lossless the switch holds the senders
    // back instead of dropping, and every frame of both streams arrives.
    Outcome r = pktgen({"-f", "txrxseq", "-i", "vale15:a", "-i", "vale15:b", "-i", "vale15:c", "-n", "100000",
                        "--slots", "64", "--lossless", "--pcap", "/dev/null", "--json", "--no-hugepages"});
    ASSERT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) << r.out;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"(\{"summary":"rx","packets":(\d+))"))) << r.out;
    EXPECT_EQ(std::stoull(m[1]), 200000u) << r.out;
    ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"(\{"vale_port":"vale15:c".*"drop_no_space":(\d+))"))) << r.out;
    EXPECT_EQ(std::stoull(m[1]), 0u) << r.out;
    EXPECT_EQ(r.out.find(R"("missing":)"), r.out.find(R"("missing":0)")) << r.out;
    EXPECT_EQ(r.out.find(R"("reordered":)"), r.out.find(R"("reordered":0)")) << r.out;
}

TEST(PktGen, ABlockedIdleReceiverUsesNoCpu) {
    // pkt-gen reports the CPU its run used (workers and reporter, without
    // start-up and exit) and each worker's own: three idle seconds waiting
    // on a pipe cost next to nothing. Sleeping, not spinning.
    auto cpu = [](const std::string& out, const char* pattern) {
        std::smatch m;
        return std::regex_search(out, m, std::regex(pattern)) ? std::stod(m[1]) : -1.0;
    };
    const char* run_cpu = R"(\{"summary":"cpu","cpu_seconds":([0-9.]+))";
    const char* receiver_cpu = R"(\{"worker":0,"role":"rx".*"cpu_seconds":([0-9.]+))";
    Outcome idle = pktgen({"-f", "rx", "-i", "pipe:idle}0", "--duration", "3", "--json", "--no-hugepages"});
    ASSERT_TRUE(WIFEXITED(idle.status) && WEXITSTATUS(idle.status) == 0) << idle.out;
    const double run = cpu(idle.out, run_cpu), receiver = cpu(idle.out, receiver_cpu);
    ASSERT_GE(run, 0) << idle.out;
    ASSERT_GE(receiver, 0) << idle.out;
    EXPECT_LT(run, 0.03) << "an idle blocked run burned " << run << " s of CPU in 3 s";
    EXPECT_LT(receiver, 0.02) << "an idle blocked receiver burned " << receiver << " s of CPU in 3 s";
    EXPECT_LE(receiver, run + 1e-3) << "the run's CPU includes its workers'";
    Outcome busy = pktgen({"-f", "rx", "-i", "pipe:idle}0", "--duration", "1", "--busy", "--json", "--no-hugepages"});
    // A spinning thread gets what the machine's load leaves it (a few tenths
    // of a second on a busy 2-CPU machine): far more than the sleeper, whatever
    // the load, which is what this checks.
    const double spun = cpu(busy.out, receiver_cpu);
    EXPECT_GT(spun, 0.05) << "the --busy receiver should spin (this checks the measurement): " << busy.out;
    EXPECT_GT(spun, 3 * run) << "spinning costs more than sleeping: " << busy.out;
    EXPECT_GE(cpu(busy.out, run_cpu), spun - 1e-3) << busy.out;
}

TEST(PktGen, ASenderWithNobodyReceivingEndsAtItsDurationWithoutSpinning) {
    // The pipe's other end never opens: the ring fills, the sender sleeps,
    // --duration ends the run between two reports, and the final push of
    // what is still queued gives up once nothing moves (not after a second
    // of spinning).
    Outcome r = pktgen({"-f", "tx", "-i", "pipe:lonely{0", "--duration", "0.5", "-T", "2s", "--json", "--no-hugepages"});
    ASSERT_TRUE(exited(r, 0)) << r.out;
    const double secs = run_seconds(r.out, "tx");
    EXPECT_GE(secs, 0.5) << r.out;
    EXPECT_LT(secs, 1.5) << "--duration 0.5 should end the run long before the 2 s report: " << r.out;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"(\{"summary":"cpu","cpu_seconds":([0-9.]+))"))) << r.out;
    EXPECT_LT(std::stod(m[1]), 0.25) << "a sender with a full ring should sleep: " << r.out;
}

TEST(PktGen, NumericOptionsOutOfRangeSayTheirBound) {
    Outcome r = pktgen({"-f", "tx", "-i", "pipe:n{0", "-R", "-5"});
    EXPECT_FALSE(exited(r, 0)) << r.out;
    EXPECT_NE(r.out.find("--rate: '-5' must be 0 or more"), std::string::npos) << r.out;
    r = pktgen({"-f", "tx", "-i", "pipe:n{0", "-T", "0"});
    EXPECT_NE(r.out.find("--interval: '0' must be more than 0"), std::string::npos) << r.out;
    r = pktgen({"-f", "tx", "-i", "pipe:n{0", "--duration", "soon"});
    EXPECT_NE(r.out.find("--duration: 'soon' is not a number"), std::string::npos) << r.out;
}

// -- netmap's habits

TEST(PktGen, IntervalInMillisecondsOrWithAUnit) {
    std::regex rate(R"(\{"t":)");
    for (const char* t : {"100", "100ms", "0.1s", "100000us"}) {
        Outcome r = pktgen({"-f", "txrx", "-i", "pipe:ti{0", "-i", "pipe:ti}0", "-R", "1000", "--duration", "2", "-T", t,
                            "--json", "--no-hugepages"});
        ASSERT_TRUE(exited(r, 0)) << t << ": " << r.out;
        const auto lines = std::distance(std::sregex_iterator(r.out.begin(), r.out.end(), rate), std::sregex_iterator());
        EXPECT_GE(lines, 6) << "-T " << t << " is a tenth of a second, not " << t << " seconds: " << r.out;
        EXPECT_EQ(r.out.find("warning"), std::string::npos) << r.out;
    }
    // a bare value that was likely meant in seconds (or is a minute or more) works, with a warning
    for (const char* t : {"2", "60000"}) {
        Outcome r = pktgen({"-f", "tx", "-i", "pipe:tw{0", "-n", "10", "-T", t, "--no-hugepages"});
        EXPECT_TRUE(exited(r, 0)) << r.out;
        EXPECT_NE(r.out.find(std::string("pkt-gen: warning: -T ") + t + " is in milliseconds"), std::string::npos)
            << r.out;
    }
    Outcome bad = pktgen({"-f", "tx", "-i", "pipe:tw{0", "-T", "2h"});
    EXPECT_TRUE(exited(bad, 2)) << bad.out;
    EXPECT_NE(bad.out.find("pkt-gen: --interval: '2h'"), std::string::npos) << bad.out;
}

TEST(PktGen, InterfaceNamesAsNetmapWritesThem) {
    // a bare IFNAME and netmap:IFNAME open the kernel interface (netif:)
    for (const char* name : {"upionosuch0", "netmap:upionosuch0"}) {
        Outcome r = pktgen({"-f", "tx", "-i", name, "-n", "1", "--no-hugepages"});
        EXPECT_TRUE(exited(r, 2)) << r.out;
        EXPECT_NE(r.out.find("pkt-gen: netif:upionosuch0: no interface 'upionosuch0'"), std::string::npos)
            << name << ": " << r.out;
    }
    // a registered type's name stays what it is
    Outcome p = pktgen({"-f", "txrx", "-i", "pipe:nm{0", "-i", "pipe:nm}0", "-n", "10", "--json", "--no-hugepages"});
    ASSERT_TRUE(exited(p, 0)) << p.out;
    EXPECT_NE(p.out.find(R"("port":"pipe:nm{0")"), std::string::npos) << p.out;
    // netmap's pipes: netmap:X{N and X}N
    Outcome q = pktgen({"-f", "txrx", "-i", "netmap:nq{0", "-i", "nq}0", "-n", "10", "--json", "--no-hugepages"});
    ASSERT_TRUE(exited(q, 0)) << q.out;
    EXPECT_NE(q.out.find(R"("port":"pipe:nq{0")"), std::string::npos) << q.out;
    EXPECT_NE(q.out.find(R"("port":"pipe:nq}0")"), std::string::npos) << q.out;
}

TEST(PktGen, SizeAndAddressRangesAsNetmapWritesThem) {
    const std::string file = testing::TempDir() + "pktgen_netmap_ranges.pcap";
    Outcome r = pktgen({"-f", "txrx", "-i", "pipe:nr{0", "-i", "pipe:nr}0", "-n", "2000", "-l", "300", "-l", "60", "-s",
                        "10.0.0.1:1000-10.0.0.3:1002", "-d", "10.1.0.1:2000-10.1.0.2", "--pcap", file,
                        "--no-hugepages"});
    ASSERT_TRUE(exited(r, 0)) << r.out;
    EXPECT_NE(r.out.find(" Gbit/s on the wire"), std::string::npos) << "netmap's -B rate: " << r.out;
    const auto frames = read_pcap(file);
    ASSERT_EQ(frames.size(), 2000u);
    std::set<std::size_t> sizes;
    std::set<std::uint32_t> srcs, dsts;
    std::set<unsigned> sports, dports;
    for (const auto& f : frames) {
        sizes.insert(f.data.size());
        srcs.insert(ip_at(f.data, 26));
        dsts.insert(ip_at(f.data, 30));
        sports.insert(port_at(f.data, 34));
        dports.insert(port_at(f.data, 36));
    }
    EXPECT_EQ(*sizes.begin(), 60u);
    EXPECT_EQ(*sizes.rbegin(), 300u);
    EXPECT_EQ(sizes.size(), 241u) << "-l 300 -l 60: every size from 60 to 300";
    EXPECT_EQ(srcs, (std::set<std::uint32_t>{0x0a000001, 0x0a000002, 0x0a000003}));
    EXPECT_EQ(sports, (std::set<unsigned>{1000, 1001, 1002}));
    EXPECT_EQ(dsts, (std::set<std::uint32_t>{0x0a010001, 0x0a010002}));
    EXPECT_EQ(dports, (std::set<unsigned>{2000}));
    std::filesystem::remove(file);
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
    const auto received = std::stoull(m[1]), missing = std::stoull(m[2]);
    // paced at 200 kpps, a receiver thread keeps up with most of it even on
    // a loaded machine; a model that lost frames wholesale would not
    EXPECT_GE(received, 25000u) << r.out;
    ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"(\{"summary":"rx","packets":(\d+),.*"port_drops":(\d+))")))
        << r.out;
    const auto drops = std::stoull(m[2]);
    EXPECT_EQ(std::stoull(m[1]), received);
    EXPECT_EQ(received + drops, 50000u) << "every frame is received or counted by the NIC: " << r.out;
    EXPECT_LE(missing, drops) << "the gaps the sequence checker saw are frames the NIC counted: " << r.out;
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

// -- error paths

TEST(PktGen, PingWithoutAPongFailsAfterTheTimeout) {
    // nothing answers on this switch: without --timeout a run of 2000 pings
    // would wait a second for each
    const auto t0 = std::chrono::steady_clock::now();
    Outcome r = pktgen({"-f", "ping", "-i", "vale12:a", "-n", "2000", "--timeout", "1", "--json", "--no-hugepages"});
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_TRUE(exited(r, 1)) << r.out;
    EXPECT_NE(r.out.find("vale12:a: no reply for 1 s"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("-f pong"), std::string::npos) << "the error says what to run: " << r.out;
    EXPECT_EQ(json_field(r.out, R"(\{"rtt")", "replies"), 0u) << r.out;
    EXPECT_GE(json_field(r.out, R"(\{"rtt")", "lost"), 1u) << r.out;
    EXPECT_LT(secs, 30) << "the run should end about a second after the last reply";
}

TEST(PktGen, ASenderWhoseRingStaysFullFailsAfterTheTimeout) {
    // the other end of this pipe is never opened: the ring fills and stays full
    Outcome r = pktgen({"-f", "tx", "-i", "pipe:stall{0", "--timeout", "1", "--no-hugepages"});
    EXPECT_TRUE(exited(r, 1)) << r.out;
    EXPECT_NE(r.out.find("pipe:stall{0: the tx ring stayed full for 1 s"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("--timeout 0 waits forever"), std::string::npos) << r.out;
}

TEST(PktGen, OneFailingWorkerStopsTheOthers) {
    // The receiver's capture cannot be written (/dev/full): it fails. The
    // sender, now on a pipe nobody drains, must stop with it -- with no
    // count, no duration and no timeout nothing else would end the run.
    Outcome r = pktgen({"-f", "txrx", "-i", "pipe:full{0", "-i", "pipe:full}0", "--pcap", "/dev/full", "--timeout", "0",
                        "--no-hugepages"});
    ASSERT_TRUE(WIFEXITED(r.status)) << "pkt-gen did not end by itself: " << r.out;
    EXPECT_EQ(WEXITSTATUS(r.status), 1) << r.out;
    EXPECT_NE(r.out.find("pipe:full}0: cannot write the capture to /dev/full: No space left on device"),
              std::string::npos)
        << r.out;
}

TEST(PktGen, SigintOrSigtermEndsARunWithItsSummary) {
    // no count, no duration: only the signal ends the run
    for (int sig : {SIGINT, SIGTERM}) {
        const auto t0 = std::chrono::steady_clock::now();
        Outcome r = pktgen({"-f", "txrx", "-i", "pipe:sig{0", "-i", "pipe:sig}0", "-R", "10000", "--json",
                            "--no-hugepages"},
                           60, sig, std::chrono::milliseconds(1000));
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        EXPECT_TRUE(exited(r, 0)) << "signal " << sig << ": " << r.out;
        const auto sent = json_field(r.out, R"(\{"summary":"tx")", "packets");
        EXPECT_GT(sent, 0u) << r.out;
        EXPECT_NE(sent, ~std::uint64_t(0)) << r.out;
        EXPECT_LT(secs, 20) << "the run should end soon after the signal";
    }
}

TEST(PktGen, UnpinnableCpuIsAUsageErrorBeforeTheRun) {
    cpu_set_t set;
    ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
    int outside = 0; // the first CPU this process may not run on
    while (outside < CPU_SETSIZE && CPU_ISSET(outside, &set)) outside++;
    for (const std::string& cpu : {std::string("4000"), std::to_string(outside)}) {
        Outcome r = pktgen({"-f", "txrx", "-i", "pipe:pin{0", "-i", "pipe:pin}0", "-n", "10", "-a", "0", "-a", cpu,
                            "--json", "--no-hugepages"});
        EXPECT_TRUE(exited(r, 2)) << r.out;
        EXPECT_EQ(r.out.find("pkt-gen: -a " + cpu + ": CPU " + cpu + " is not one this process may run on (CPUs "),
                  0u)
            << r.out;
        EXPECT_EQ(r.out.find("\"summary\""), std::string::npos) << "refused before the run: " << r.out;
    }
    // -c spreads over CPUs from the first -a: each of them is checked
    Outcome c = pktgen({"-f", "txrx", "-i", "pipe:pin{0", "-i", "pipe:pin}0", "-n", "10", "-a", std::to_string(outside),
                        "-c", "2", "--no-hugepages"});
    EXPECT_TRUE(exited(c, 2)) << c.out;
    EXPECT_NE(c.out.find("pkt-gen: -c 2: CPU " + std::to_string(outside) + " is not one"), std::string::npos) << c.out;
}

TEST(PktGen, UsageErrorsExitTwoWithTheToolsPrefix) {
    const std::vector<std::vector<std::string>> bad = {
        {"--no-such-option"},          // CLI11: an unknown option
        {"-f", "sideways"},            // not one of the modes
        {"-n", "many"},                // not a number
        {"-R", "-5"},                  // out of range
        {"-f", "tx"},                  // no port
        {"-l", "59"},                  // too small a frame
        {"-f", "tx", "-i", "pipe:u{0", "extra"}, // a stray argument
    };
    for (const auto& args : bad) {
        Outcome r = pktgen(args);
        EXPECT_TRUE(exited(r, 2)) << args[0] << ": " << r.out;
        EXPECT_EQ(r.out.rfind("pkt-gen: ", 0), 0u) << args[0] << ": " << r.out;
    }
}

// -- options

TEST(PktGen, LowRateIsNeitherTooFastNorFarTooSlow) {
    Outcome r = pktgen({"-n", "300", "-R", "1000", "--json", "--no-hugepages"});
    ASSERT_TRUE(exited(r, 0)) << r.out;
    const double secs = run_seconds(r.out, "tx");
    EXPECT_GE(secs, 0.25) << "300 packets at 1000 pps cannot take less than 0.3 s";
    EXPECT_LT(secs, 10) << "300 packets at 1000 pps took " << secs << " s";
    EXPECT_EQ(json_field(r.out, R"(\{"summary":"rx")", "packets"), 300u) << r.out;
}

TEST(PktGen, WorkersRunOnTheCpusTheyArePinnedTo) {
    cpu_set_t set;
    ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
    std::vector<int> cpus;
    for (int c = 0; c < CPU_SETSIZE && cpus.size() < 2; c++)
        if (CPU_ISSET(c, &set)) cpus.push_back(c);
    if (cpus.size() < 2) GTEST_SKIP() << "needs two CPUs";
    const std::string a = std::to_string(cpus[0]), b = std::to_string(cpus[1]);
    // -a in order: worker 0 (the sender) on b, worker 1 (the receiver) on a
    Outcome r = pktgen({"-f", "txrx", "-i", "pipe:aff{0", "-i", "pipe:aff}0", "-n", "1000", "-a", b, "-a", a, "--json",
                        "--no-hugepages"});
    ASSERT_TRUE(exited(r, 0)) << r.out;
    EXPECT_NE(r.out.find(R"({"worker":0,"role":"tx","port":"pipe:aff{0","pinned":)" + b + R"(,"cpu":)" + b +
                         R"(,"allowed_cpus":")" + b + "\","),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find(R"({"worker":1,"role":"rx","port":"pipe:aff}0","pinned":)" + a + R"(,"cpu":)" + a +
                         R"(,"allowed_cpus":")" + a + "\","),
              std::string::npos)
        << r.out;
    // -c 2 -a FIRST: round-robin over two CPUs from FIRST
    if (cpus[1] == cpus[0] + 1) {
        Outcome c = pktgen({"-f", "txrx", "-i", "pipe:aff2{0", "-i", "pipe:aff2}0", "-n", "1000", "-a", a, "-c", "2",
                            "--no-hugepages"});
        ASSERT_TRUE(exited(c, 0)) << c.out;
        EXPECT_NE(c.out.find("Worker 0 (tx on pipe:aff2{0): pinned to CPU " + a + ", ran on CPU " + a), std::string::npos)
            << c.out;
        EXPECT_NE(c.out.find("Worker 1 (rx on pipe:aff2}0): pinned to CPU " + b + ", ran on CPU " + b), std::string::npos)
            << c.out;
    }
    // unpinned workers may run anywhere the process may
    Outcome u = pktgen({"-f", "txrx", "-i", "pipe:aff3{0", "-i", "pipe:aff3}0", "-n", "10", "--json", "--no-hugepages"});
    ASSERT_TRUE(exited(u, 0)) << u.out;
    EXPECT_NE(u.out.find(R"("pinned":-1)"), std::string::npos) << u.out;
}

TEST(PktGen, AddressRangesAndMacsAreWalkedInOrder) {
    const std::string file = testing::TempDir() + "pktgen_ranges.pcap";
    Outcome r = pktgen({"-f", "txrx", "-i", "pipe:rg{0", "-i", "pipe:rg}0", "-n", "60", "-s", "10.0.0.1-10.0.0.4:100-102",
                        "-d", "10.1.0.1-10.1.0.3:200", "-S", "02:aa:bb:cc:dd:01", "-D", "02:11:22:33:44:55", "--pcap",
                        file, "--no-hugepages"});
    ASSERT_TRUE(exited(r, 0)) << r.out;
    auto frames = read_pcap(file);
    ASSERT_EQ(frames.size(), 60u);
    const std::vector<std::uint8_t> dst_mac{0x02, 0x11, 0x22, 0x33, 0x44, 0x55}, src_mac{0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0x01};
    for (std::size_t n = 0; n < frames.size(); n++) {
        const auto& f = frames[n].data;
        ASSERT_TRUE(pktgen::verify_frame(f)) << "frame " << n;
        EXPECT_TRUE(std::equal(dst_mac.begin(), dst_mac.end(), f.begin())) << "frame " << n;
        EXPECT_TRUE(std::equal(src_mac.begin(), src_mac.end(), f.begin() + 6)) << "frame " << n;
        EXPECT_EQ(ip_at(f, 26), 0x0a000001u + n % 4) << "frame " << n;
        EXPECT_EQ(ip_at(f, 30), 0x0a010001u + n % 3) << "frame " << n;
        EXPECT_EQ(port_at(f, 34), 100u + n % 3) << "frame " << n;
        EXPECT_EQ(port_at(f, 36), 200u) << "frame " << n;
    }
}

TEST(PktGen, RandomDestinationsStayInTheirRange) {
    const std::string file = testing::TempDir() + "pktgen_random.pcap";
    Outcome r = pktgen({"-f", "txrx", "-i", "pipe:rnd{0", "-i", "pipe:rnd}0", "-n", "500", "-s", "10.0.0.1-10.0.0.4",
                        "-d", "10.1.0.1-10.1.0.200:1000-1999", "-Z", "--pcap", file, "--no-hugepages"});
    ASSERT_TRUE(exited(r, 0)) << r.out;
    auto frames = read_pcap(file);
    ASSERT_EQ(frames.size(), 500u);
    std::set<std::uint32_t> dsts;
    std::set<unsigned> dports;
    std::size_t in_order = 0;
    for (std::size_t n = 0; n < frames.size(); n++) {
        const auto& f = frames[n].data;
        ASSERT_TRUE(pktgen::verify_frame(f)) << "frame " << n;
        const std::uint32_t dst = ip_at(f, 30);
        EXPECT_GE(dst, 0x0a010001u);
        EXPECT_LE(dst, 0x0a0100c8u);
        EXPECT_GE(port_at(f, 36), 1000u);
        EXPECT_LE(port_at(f, 36), 1999u);
        EXPECT_EQ(ip_at(f, 26), 0x0a000001u + n % 4) << "-s without -z is still walked in order";
        dsts.insert(dst);
        dports.insert(port_at(f, 36));
        in_order += dst == 0x0a010001u + n % 200;
    }
    EXPECT_GT(dsts.size(), 100u) << "500 random picks from 200 addresses";
    EXPECT_GT(dports.size(), 200u) << "500 random picks from 1000 ports";
    EXPECT_LT(in_order, 50u) << "-Z picks at random, not in order";
}

TEST(PktGen, BatchBoundsEverySync) {
    Outcome r = pktgen({"-n", "50000", "-b", "8", "-T", "20ms", "-R", "200000", "--json", "--no-hugepages"});
    ASSERT_TRUE(exited(r, 0)) << r.out;
    std::regex re(R"re("dir":"(tx|rx)".*"packets":(\d+),"avg_batch":([0-9.]+))re");
    int lines = 0;
    for (auto it = std::sregex_iterator(r.out.begin(), r.out.end(), re); it != std::sregex_iterator(); ++it) {
        const double b = std::stod((*it)[3]);
        EXPECT_LE(b, 8.0) << (*it)[0];
        lines += b > 0;
    }
    EXPECT_GE(lines, 2) << r.out;
    EXPECT_EQ(json_field(r.out, R"(\{"summary":"rx")", "packets"), 50000u) << r.out;
}

TEST(PktGen, SpinMakesAWaitPollBeforeItSleeps) {
    // an idle receiver with --spin 0 sleeps at once; with a spin longer than
    // its 100 ms wait slices it polls all the time. The receiving worker's
    // own CPU time (pkt-gen reports it, without start-up and exit, which a
    // sanitizer makes large) is compared, not a rate: a loaded machine gives
    // the spinner only its share of a CPU, still many times a sleeper's.
    auto receiver_cpu = [](const Outcome& r) {
        std::smatch m;
        return std::regex_search(r.out, m, std::regex(R"(\{"worker":0,"role":"rx".*"cpu_seconds":([0-9.]+))"))
                   ? std::stod(m[1])
                   : -1.0;
    };
    Outcome sleeps =
        pktgen({"-f", "rx", "-i", "pipe:spin}0", "--duration", "2", "--spin", "0", "--json", "--no-hugepages"});
    Outcome spins =
        pktgen({"-f", "rx", "-i", "pipe:spin}0", "--duration", "2", "--spin", "200000", "--json", "--no-hugepages"});
    ASSERT_TRUE(exited(sleeps, 0)) << sleeps.out;
    ASSERT_TRUE(exited(spins, 0)) << spins.out;
    const double slept = receiver_cpu(sleeps), spun = receiver_cpu(spins);
    ASSERT_GE(slept, 0) << sleeps.out;
    ASSERT_GE(spun, 0) << spins.out;
    EXPECT_GT(spun, std::max(0.2, 10 * slept))
        << "--spin 200000: the receiver used " << spun << " s of CPU, --spin 0: " << slept << " s";
}

// -- jumbo frames: NS_MOREFRAG chains

TEST(PktGen, JumboFramesTravelAsChainsThroughAPipe) {
    Outcome r = pktgen({"-f", "txrxseq", "-i", "pipe:jb{0", "-i", "pipe:jb}0", "-n", "5000", "-l", "9000", "--json",
                        "--no-hugepages"});
    ASSERT_TRUE(exited(r, 0)) << r.out;
    EXPECT_NE(r.out.find(R"({"summary":"rx","packets":5000,"bytes":45000000)"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(R"("received":5000,"missing":0,"duplicates":0,"reordered":0)"), std::string::npos) << r.out;
    // mixed sizes, captured: each chain is one whole, valid frame in the file
    const std::string file = testing::TempDir() + "pktgen_jumbo.pcap";
    Outcome c = pktgen({"-f", "txrx", "-i", "pipe:jc{0", "-i", "pipe:jc}0", "-n", "300", "-l", "60-9018", "-z",
                        "--pcap", file, "--no-hugepages"});
    ASSERT_TRUE(exited(c, 0)) << c.out;
    auto frames = read_pcap(file);
    ASSERT_EQ(frames.size(), 300u);
    std::size_t big = 0;
    for (const auto& f : frames) {
        EXPECT_TRUE(pktgen::verify_frame(f.data)) << "a " << f.data.size() << "-byte frame";
        EXPECT_EQ(f.data.size(), 14u + port_at(f.data, 16)) << "the IP length covers the whole frame";
        big += f.data.size() > 2048;
    }
    EXPECT_GT(big, 100u) << "most of 60..9018 takes more than one buffer";
}

TEST(PktGen, JumboFramesCrossAValeSwitch) {
    Outcome r = pktgen({"-f", "txrxseq", "-i", "vale14:a", "-i", "vale14:b", "-l", "9000", "-n", "5000", "-R", "50000",
                        "--json", "--no-hugepages"});
    ASSERT_TRUE(exited(r, 0)) << r.out;
    const auto received = json_field(r.out, R"(\{"seq")", "received");
    EXPECT_GT(received, 0u) << r.out;
    EXPECT_NE(r.out.find(R"("duplicates":0,"reordered":0)"), std::string::npos) << r.out;
    EXPECT_EQ(json_field(r.out, R"(\{"summary":"rx")", "bytes"), received * 9000) << r.out;
    EXPECT_EQ(json_field(r.out, R"(\{"vale_port":"vale14:b")", "rx_packets"), received) << r.out;
    EXPECT_EQ(received + json_field(r.out, R"(\{"vale_port":"vale14:b")", "drop_no_space"), 5000u)
        << "every frame is received or counted as dropped: " << r.out;
    EXPECT_EQ(json_field(r.out, R"(\{"vale_port":"vale14:a")", "drop_malformed"), 0u) << r.out;
    Outcome p = pktgen({"-f", "pingpong", "-i", "vale14:c", "-i", "vale14:d", "-l", "9018", "-n", "200", "--no-hugepages"});
    ASSERT_TRUE(exited(p, 0)) << p.out;
    EXPECT_NE(p.out.find("200 replies, 0 lost"), std::string::npos) << p.out;
}

// -- a modelled 82599 wired to a upio port

TEST(PktGen, ModelledNicWiredToAValePortSendsAndReceives) {
    // the model transmits onto vale13:nic; vale13:b receives
    Outcome out = pktgen({"--ixgbe-model", "--ixgbe-model-wire", "vale13:nic", "-f", "txrxseq", "-i",
                          "ixgbe:0000:01:00.0", "-i", "vale13:b", "-n", "20000", "-R", "100000", "-l", "60-1514",
                          "--json", "--no-hugepages"});
    ASSERT_TRUE(exited(out, 0)) << out.out;
    auto received = json_field(out.out, R"(\{"seq":"vale13:b")", "received");
    EXPECT_GT(received, 0u) << out.out;
    EXPECT_NE(out.out.find(R"("duplicates":0,"reordered":0)"), std::string::npos) << out.out;
    EXPECT_EQ(json_field(out.out, R"(\{"model_wire")", "to_port") + json_field(out.out, R"(\{"model_wire")", "dropped"),
              20000u)
        << "every frame the model sent went to the wire's port or is counted: " << out.out;
    EXPECT_EQ(received + json_field(out.out, R"(\{"vale_port":"vale13:b")", "drop_no_space") +
                  json_field(out.out, R"(\{"model_wire")", "dropped"),
              20000u)
        << "every frame is received or counted as dropped: " << out.out;
    // vale13:a sends; the switch floods to vale13:nic, the model receives
    Outcome in = pktgen({"--ixgbe-model", "--ixgbe-model-wire", "vale13:nic", "-f", "txrxseq", "-i", "vale13:a", "-i",
                         "ixgbe:0000:01:00.0", "-n", "20000", "-R", "100000", "-l", "60-1514", "--json",
                         "--no-hugepages"});
    ASSERT_TRUE(exited(in, 0)) << in.out;
    received = json_field(in.out, R"(\{"seq":"ixgbe:0000:01:00.0")", "received");
    EXPECT_GT(received, 0u) << in.out;
    EXPECT_NE(in.out.find(R"("duplicates":0,"reordered":0)"), std::string::npos) << in.out;
    EXPECT_EQ(received, json_field(in.out, R"(\{"model_wire")", "from_port")) << in.out;
    EXPECT_EQ(received + json_field(in.out, R"(\{"vale_port":"vale13:nic")", "drop_no_space") +
                  json_field(in.out, R"(\{"model_wire")", "refused_by_model"),
              20000u)
        << "every frame is received, dropped by the switch or refused by the model: " << in.out;
    Outcome bad = pktgen({"--ixgbe-model-wire", "vale13:nic", "-f", "tx", "-i", "vale13:a", "-n", "1"});
    EXPECT_TRUE(exited(bad, 2)) << bad.out;
    EXPECT_NE(bad.out.find("--ixgbe-model-wire needs --ixgbe-model"), std::string::npos) << bad.out;
}

TEST(PktGen, SequenceOnModelled82574LsBackToBack) {
    Outcome r = pktgen({"--e1000-model", "-f", "txrxseq", "-i", "e1000:0000:02:00.0", "-i", "e1000:0000:02:00.1", "-n",
                        "5000", "-R", "100000", "-l", "60-1514", "--json", "--no-hugepages"});
    ASSERT_TRUE(exited(r, 0)) << r.out;
    EXPECT_EQ(json_field(r.out, R"(\{"summary":"tx")", "packets"), 5000u) << r.out;
    const auto received = json_field(r.out, R"(\{"summary":"rx")", "packets");
    EXPECT_GT(received, 0u) << r.out;
    // frames the receiving model had no descriptor for are missing from the
    // sequence (the e1000 driver counts them in MPC, read by its stats()),
    // never duplicated or out of order
    EXPECT_LE(received + json_field(r.out, R"(\{"seq":"e1000:0000:02:00.1")", "missing"), 5000u) << r.out;
    EXPECT_NE(r.out.find(R"("duplicates":0,"reordered":0)"), std::string::npos) << r.out;
    Outcome bad = pktgen({"--e1000-model-wire", "vale16:nic", "-f", "tx", "-i", "vale16:a", "-n", "1"});
    EXPECT_TRUE(exited(bad, 2)) << bad.out;
    EXPECT_NE(bad.out.find("--e1000-model-wire needs --e1000-model"), std::string::npos) << bad.out;
}

TEST(PktGen, AModelledNicThatFailsToOpenWithAWireExitsCleanly) {
    // The driver creates the model, then refuses the ring size and destroys
    // it: the wire (its thread, its transmit callback) and the table of
    // models must let go of it, and pkt-gen ends with the driver's error
    // instead of touching the freed model.
    for (const char* mode : {"rx", "tx"}) {
        const auto t0 = std::chrono::steady_clock::now();
        Outcome r = pktgen({"--ixgbe-model", "--ixgbe-model-wire", "vale15:x", "-f", mode, "-i", "ixgbe:0000:01:00.0",
                            "--slots", "100", "--no-hugepages"},
                           30);
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        EXPECT_TRUE(exited(r, 2)) << "-f " << mode << ": " << r.out;
        EXPECT_NE(r.out.find("ixgbe:0000:01:00.0: rings of 100 slots; ixgbe rings need a multiple of 8"),
                  std::string::npos)
            << r.out;
        EXPECT_LT(secs, 10) << "-f " << mode;
    }
}

TEST(PktGen, AModelWireToAFullPortDropsInsteadOfStalling) {
    // Nobody opens the other end of the wire's pipe: its ring fills and stays
    // full. The model hands over hundreds of frames per flush; waiting for
    // room for each would hold the sender for minutes. The run ends at its
    // duration, and the wire counts what it dropped.
    const auto t0 = std::chrono::steady_clock::now();
    Outcome r = pktgen({"--ixgbe-model", "--ixgbe-model-wire", "pipe:mwfull{0", "-f", "tx", "-i", "ixgbe:0000:01:00.0",
                        "--duration", "2", "--no-hugepages"},
                       110);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_TRUE(exited(r, 0)) << r.out;
    EXPECT_LT(secs, 15) << "a 2 s run toward a full port took " << secs << " s";
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"(Sent (\d+) packets)"))) << r.out;
    const auto sent = std::stoull(m[1]);
    ASSERT_TRUE(std::regex_search(
        r.out, m, std::regex(R"(Model wire pipe:mwfull\{0: (\d+) frames to the port \((\d+) dropped: its ring stayed full\))")))
        << r.out;
    const auto to_port = std::stoull(m[1]), dropped = std::stoull(m[2]);
    EXPECT_GT(to_port, 0u) << r.out;
    EXPECT_GT(dropped, 0u) << r.out;
    EXPECT_EQ(to_port + dropped, sent) << "every frame the model sent went to the port or is counted: " << r.out;
}

TEST(PktGen, ThreadsOneRingEachOnModelled82599s) {
    // -p 2: two sender threads on function 0's queue pairs, two receivers on
    // function 1's; RSS spreads the varied addresses over both receive queues.
    // (Each stream's frames are split between the two receivers, so their
    // sequence checkers see gaps: only the totals are compared.)
    Outcome r = pktgen({"--ixgbe-model", "-f", "txrxseq", "-i", "ixgbe:0000:01:00.0", "-i", "ixgbe:0000:01:00.1", "-p",
                        "2", "-s", "10.0.0.1-10.0.0.200", "-n", "10000", "-R", "100000", "--json", "--no-hugepages"});
    ASSERT_TRUE(exited(r, 0)) << r.out;
    EXPECT_EQ(json_field(r.out, R"(\{"summary":"tx")", "packets"), 20000u) << r.out;
    std::uint64_t per_ring[2] = {0, 0};
    std::regex re(R"re(\{"seq":"ixgbe:0000:01:00\.1,ring=(\d)","stream":\d+,"received":(\d+),"missing":\d+,)re"
                  R"re("duplicates":0,"reordered":0)re");
    for (auto it = std::sregex_iterator(r.out.begin(), r.out.end(), re); it != std::sregex_iterator(); ++it)
        per_ring[std::stoi((*it)[1])] += std::stoull((*it)[2]);
    EXPECT_GT(per_ring[0], 0u) << r.out;
    EXPECT_GT(per_ring[1], 0u) << r.out;
    const auto received = json_field(r.out, R"(\{"summary":"rx")", "packets");
    EXPECT_EQ(per_ring[0] + per_ring[1], received) << r.out;
    EXPECT_EQ(received + json_field(r.out, R"(\{"summary":"rx")", "port_drops"), 20000u)
        << "every frame is received or counted by the NIC: " << r.out;
}

} // namespace
