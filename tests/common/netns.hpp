// Test helper: the calling process enters a private network namespace (and
// a /sys of its own, so /sys/class/net shows that namespace) once.
#pragma once

#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

namespace upio::test {

// "" when the process is in its own namespace, else why not. `needs` says
// what the test needs root for (in the message when it is not root).
inline std::string enter_netns(const char* needs) {
    static const std::string why = [needs]() -> std::string {
        if (geteuid() != 0) return std::string("needs root (") + needs + ")";
        if (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0) return std::string("unshare: ") + std::strerror(errno);
        if (mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) < 0) return "cannot make / a slave mount";
        umount2("/sys", MNT_DETACH);
        if (mount("sysfs", "/sys", "sysfs", 0, nullptr) < 0) return "cannot mount sysfs";
        if (std::system("ip link set lo up") != 0) return "ip (iproute2) does not work";
        return {};
    }();
    return why;
}

} // namespace upio::test
