// pkt-gen measurements: a latency histogram and a sequence checker.
// Neither allocates after construction.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <limits>
#include <vector>

namespace pktgen {

// Log2 buckets with 8 linear sub-buckets each: percentiles within 12.5%.
class Histogram {
public:
    void add(std::uint64_t ns) noexcept {
        count_++;
        sum_ += ns;
        min_ = std::min(min_, ns);
        max_ = std::max(max_, ns);
        buckets_[index(ns)]++;
    }
    std::uint64_t count() const noexcept { return count_; }
    std::uint64_t min() const noexcept { return count_ ? min_ : 0; }
    std::uint64_t max() const noexcept { return max_; }
    double avg() const noexcept { return count_ ? double(sum_) / double(count_) : 0; }
    // upper bound of the bucket holding the p-th percentile (0 < p <= 100)
    std::uint64_t percentile(double p) const noexcept {
        if (!count_) return 0;
        auto want = std::uint64_t(double(count_) * p / 100.0 + 0.5);
        if (want == 0) want = 1;
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < buckets_.size(); i++) {
            seen += buckets_[i];
            if (seen >= want) return std::min(upper(i), max_);
        }
        return max_;
    }
    // counts per power of two: [2^i, 2^(i+1)) ns
    std::array<std::uint64_t, 64> log2_counts() const noexcept {
        std::array<std::uint64_t, 64> out{};
        for (std::size_t i = 0; i < buckets_.size(); i++) out[i / 8] += buckets_[i];
        return out;
    }
    // The buckets that hold values, in order: f(lo, hi, count), lo and hi inclusive.
    template <class F>
    void for_each_bucket(F&& f) const {
        for (std::size_t i = 0; i < buckets_.size(); i++)
            if (buckets_[i]) f(lower(i), upper(i), buckets_[i]);
    }

private:
    static std::size_t index(std::uint64_t v) noexcept {
        if (v < 8) return std::size_t(v); // octave 0..2 collapse into the first buckets
        unsigned lg = 63u - unsigned(std::countl_zero(v));
        return std::size_t(lg) * 8 + std::size_t((v >> (lg - 3)) & 7);
    }
    static std::uint64_t lower(std::size_t i) noexcept {
        if (i < 8) return i;
        std::size_t lg = i / 8, sub = i % 8;
        return std::uint64_t(8 + sub) << (lg - 3);
    }
    static std::uint64_t upper(std::size_t i) noexcept {
        if (i < 8) return i;
        std::size_t lg = i / 8, sub = i % 8;
        return ((8 + sub + 1) << (lg - 3)) - 1;
    }
    std::array<std::uint64_t, 64 * 8> buckets_{};
    std::uint64_t count_ = 0, sum_ = 0, min_ = std::numeric_limits<std::uint64_t>::max(), max_ = 0;
};

// Checks a stream of sequence numbers that should arrive as 0, 1, 2, ...
// A number seen again within the window is a duplicate; one older than the
// next expected but never seen is reordered (and no longer missing).
class SeqChecker {
public:
    explicit SeqChecker(std::size_t window = 1 << 16) : seen_(window, false) {}
    void add(std::uint64_t s) noexcept {
        received_++;
        if (s >= next_) {
            if (s > next_) missing_ += s - next_;
            for (std::uint64_t k = next_; k < s && k - next_ < seen_.size(); k++) seen_[k % seen_.size()] = false;
            seen_[s % seen_.size()] = true;
            next_ = s + 1;
            return;
        }
        if (next_ - s > seen_.size()) { // too old to tell: call it reordered
            reordered_++;
            if (missing_) missing_--;
            return;
        }
        if (seen_[s % seen_.size()]) {
            duplicates_++;
        } else {
            seen_[s % seen_.size()] = true;
            reordered_++;
            if (missing_) missing_--;
        }
    }
    std::uint64_t received() const noexcept { return received_; }
    std::uint64_t missing() const noexcept { return missing_; }
    std::uint64_t duplicates() const noexcept { return duplicates_; }
    std::uint64_t reordered() const noexcept { return reordered_; }
    std::uint64_t next() const noexcept { return next_; }

private:
    std::vector<bool> seen_;
    std::uint64_t next_ = 0, received_ = 0, missing_ = 0, duplicates_ = 0, reordered_ = 0;
};

} // namespace pktgen
