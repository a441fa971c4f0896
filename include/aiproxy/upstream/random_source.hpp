#pragma once
// RandomSource: the injected randomness of the randomised balancers. A seeded Mersenne
// Twister, reduced by plain modulo (the bias is below 2^-50 for node counts and weights), so a
// given seed gives the same picks on every platform, which std::uniform_int_distribution does
// not promise.

#include <cstddef>
#include <cstdint>
#include <random>
#include <utility>

namespace aiproxy::upstream {

class RandomSource {
public:
    // seed 0: a fresh seed from std::random_device.
    explicit RandomSource(std::uint64_t seed) : engine_(seed != 0 ? seed : freshSeed()) {}

    // Uniform in [0, n); n > 0.
    std::uint64_t below(std::uint64_t n) { return engine_() % n; }

    // Two different indexes in [0, n), uniformly; n >= 2.
    std::pair<std::size_t, std::size_t> twoDistinct(std::size_t n) {
        auto first = static_cast<std::size_t>(below(n));
        auto second = static_cast<std::size_t>(below(n - 1));
        if (second >= first) ++second;
        return {first, second};
    }

private:
    static std::uint64_t freshSeed() {
        std::random_device device;
        return (std::uint64_t{device()} << 32) ^ device();
    }

    std::mt19937_64 engine_;
};

}  // namespace aiproxy::upstream
