// netmap_user.h: C ring loops and nm_open/nm_inject/nm_nextpkt/nm_poll.
#include <upio/netmap_user.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <string>

extern "C" int compat_send(struct nm_desc* d, const char* frame, unsigned len, int n);
extern "C" int compat_receive(struct nm_desc* d, unsigned long* bytes);

namespace {

TEST(NetmapCompat, CRingLoopsMovePacketsThroughAPipe) {
    nm_desc* tx = nm_open("pipe:compat{0", nullptr, 0, nullptr);
    ASSERT_NE(tx, nullptr) << nm_last_error();
    nm_desc* rx = nm_open("pipe:compat}0", nullptr, 0, nullptr);
    ASSERT_NE(rx, nullptr) << nm_last_error();
    char frame[60] = "hello";
    EXPECT_EQ(compat_send(tx, frame, 60, 100), 100);
    unsigned long bytes = 0;
    EXPECT_EQ(compat_receive(rx, &bytes), 100);
    EXPECT_EQ(bytes, 6000u);
    nm_close(tx);
    nm_close(rx);
}

TEST(NetmapCompat, InjectAndNextpkt) {
    nm_desc* a = nm_open("pipe:inj{0", nullptr, 0, nullptr);
    nm_desc* b = nm_open("pipe:inj}0", nullptr, 0, nullptr);
    ASSERT_TRUE(a && b);
    const char msg[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab";
    ASSERT_EQ(nm_inject(a, msg, 60), 60);
    ASSERT_EQ(nm_ioctl(NETMAP_FD(a), NIOCTXSYNC), 0);
    pollfd pfd{NETMAP_FD(b), POLLIN, 0};
    ASSERT_EQ(nm_poll(&pfd, 1, 1000), 1);
    EXPECT_TRUE(pfd.revents & POLLIN);
    nm_pkthdr h{};
    uint8_t* p = nm_nextpkt(b, &h);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(h.len, 60u);
    EXPECT_EQ(std::memcmp(p, msg, 60), 0);
    EXPECT_EQ(nm_nextpkt(b, &h), nullptr);
    nm_close(a);
    nm_close(b);
}

TEST(NetmapCompat, ErrorsAreReported) {
    errno = 0;
    EXPECT_EQ(nm_open("nosuchtype:x", nullptr, 0, nullptr), nullptr);
    EXPECT_EQ(errno, EINVAL);
    EXPECT_NE(std::string(nm_last_error()).find("unknown port type"), std::string::npos);
    EXPECT_EQ(nm_ioctl(12345, NIOCTXSYNC), -1);
    EXPECT_EQ(errno, EBADF);
}

TEST(NetmapCompat, PollTimesOutOnAnIdlePort) {
    nm_desc* b = nm_open("pipe:idle}0", nullptr, 0, nullptr);
    ASSERT_NE(b, nullptr);
    pollfd pfd{NETMAP_FD(b), POLLIN, 0};
    EXPECT_EQ(nm_poll(&pfd, 1, 50), 0);
    nm_close(b);
}

} // namespace
