// The generated header and the library agree; prints the version for the test.
#include <upio/version.hpp>

#include <cstdio>
#include <cstring>

static_assert(UPIO_VERSION_NUMBER == UPIO_VERSION_MAJOR * 10000 + UPIO_VERSION_MINOR * 100 + UPIO_VERSION_PATCH);

int main() {
    if (std::strcmp(upio::version(), UPIO_VERSION_STRING) != 0 || upio::version_number() != UPIO_VERSION_NUMBER) {
        std::printf("header %s (%d), library %s (%d)\n", UPIO_VERSION_STRING, UPIO_VERSION_NUMBER, upio::version(),
                    upio::version_number());
        return 1;
    }
    std::printf("%s\n", upio::version());
    return 0;
}
