// The vhost fuzz target's seed corpus (fuzz/corpus/vhost), replayed once
// through LLVMFuzzerTestOneInput in every build with tests.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

TEST(VhostFuzzCorpus, Replays) {
    std::size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(UPIO_VHOST_CORPUS)) {
        std::ifstream in(e.path(), std::ios::binary);
        std::vector<char> b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        SCOPED_TRACE(e.path().string());
        EXPECT_EQ(LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(b.data()), b.size()), 0);
        n++;
    }
    EXPECT_GE(n, 5u);
}
