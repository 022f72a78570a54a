// DPDK's dpdk-testpmd as a child process: memif clients (--vdev=net_memifN)
// on sockets upio serves, no PCI, no hugepages, a runtime directory of its
// own (--file-prefix), interactive so that commands can be given while it
// runs. Killed (SIGKILL) when the object goes, and by the kernel if the test
// dies first (PR_SET_PDEATHSIG).
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace upio::memif::test {

// The testpmd binary on PATH, or "".
inline std::string testpmd_binary() {
    const char* path = std::getenv("PATH");
    std::stringstream ss(path ? path : "/usr/bin:/bin");
    for (std::string dir; std::getline(ss, dir, ':');) {
        const std::string p = dir + "/dpdk-testpmd";
        if (::access(p.c_str(), X_OK) == 0) return p;
    }
    return "";
}

class Testpmd {
public:
    // `vdevs`: the --vdev values; `commands`: run at start (testpmd's
    // --cmdline-file), e.g. "set fwd io retry\nstart\n".
    // `memory`: the EAL's memory arguments (no hugepages by default; a
    // zero-copy client needs hugepages and --single-file-segments).
    Testpmd(const std::vector<std::string>& vdevs, const std::string& commands, const std::string& tag,
            std::vector<std::string> memory = {"--no-huge", "-m", "512"}, unsigned mbufs = 32768) {
        static int n = 0;
        const std::string base = "/tmp/upio-testpmd-" + std::to_string(getpid()) + "-" + std::to_string(n++);
        log_ = base + ".log";
        cmds_ = base + ".cmds";
        std::ofstream(cmds_) << commands;
        prefix_ = "upio-" + tag + "-" + std::to_string(getpid());
        std::vector<std::string> args = {testpmd_binary(), "--no-pci", "--file-prefix", prefix_, "-l", "0-1",
                                         "--log-level", "pmd.net.memif:info"};
        args.insert(args.end(), memory.begin(), memory.end());
        for (const auto& v : vdevs) args.push_back("--vdev=" + v);
        for (const char* a : {"--", "--no-mlockall", "--no-flush-rx", "-i"}) args.emplace_back(a);
        args.push_back("--total-num-mbufs=" + std::to_string(mbufs));
        args.push_back("--cmdline-file=" + cmds_);
        int in[2];
        if (::pipe2(in, O_CLOEXEC) != 0) return;
        const pid_t parent = getpid();
        pid_ = fork();
        if (pid_ == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent) _exit(1);
            const int out = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            dup2(in[0], 0);
            dup2(out, 1);
            dup2(out, 2);
            std::vector<char*> argv;
            for (auto& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            execv(argv[0], argv.data());
            _exit(127);
        }
        ::close(in[0]);
        in_ = in[1];
    }
    ~Testpmd() {
        kill();
        if (in_ >= 0) ::close(in_);
        if (!keep_log_) ::unlink(log_.c_str());
        ::unlink(cmds_.c_str());
    }
    // Keeps the log file (a failing test prints where it is).
    void keep_log() noexcept { keep_log_ = true; }
    Testpmd(const Testpmd&) = delete;
    Testpmd& operator=(const Testpmd&) = delete;

    bool started() const noexcept { return pid_ > 0; }
    // A command at testpmd's prompt.
    void command(const std::string& line) {
        const std::string l = line + "\n";
        [[maybe_unused]] auto r = ::write(in_, l.data(), l.size());
    }
    // SIGKILL, as a crash would end it; then reaped, and its hugepage files
    // (DPDK's EAL keeps them in /dev/hugepages, named after the file prefix,
    // and a killed process leaves them behind) removed.
    void kill() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGKILL);
        int st;
        waitpid(pid_, &st, 0);
        pid_ = -1;
        std::error_code ec;
        for (const auto& e : std::filesystem::directory_iterator("/dev/hugepages", ec))
            if (e.path().filename().string().starts_with(prefix_ + "map_")) std::filesystem::remove(e.path(), ec);
    }
    std::string log() const {
        std::ifstream f(log_);
        std::stringstream s;
        s << f.rdbuf();
        return s.str();
    }

private:
    pid_t pid_ = -1;
    int in_ = -1;
    std::string log_, cmds_, prefix_;
    bool keep_log_ = false;
};

} // namespace upio::memif::test
