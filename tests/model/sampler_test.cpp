// The sampler: greedy is the argmax, sampling follows softmax(l / T) restricted to the top-k
// and the top-p nucleus, and the same seed draws the same tokens.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "io/error.h"
#include "model/sampler.h"

namespace pocket {

TEST_CASE("sampler: greedy picks the largest logit, the lowest id on ties") {
  Sampler s(5, {0.0f, 40, 0.95f, 1});
  const float logits[] = {0.5f, 2.0f, -1.0f, 2.0f, 1.0f};
  CHECK(s.sample(logits, 0) == 1);
  Sampler k1(5, {1.0f, 1, 1.0f, 1});  // top-k 1 is greedy at any temperature
  for (std::uint64_t step = 0; step < 50; ++step) CHECK(k1.sample(logits, step) == 1);
}

TEST_CASE("sampler: frequencies follow softmax(l / T)") {
  const std::vector<double> p = {0.1, 0.2, 0.3, 0.4};
  for (float temp : {1.0f, 0.5f}) {
    CAPTURE(temp);
    std::vector<float> logits;
    for (double x : p) logits.push_back(static_cast<float>(std::log(x)));
    // At temperature T the distribution is p_i^(1/T), renormalised.
    std::vector<double> want;
    double total = 0;
    for (double x : p) total += std::pow(x, 1.0 / temp);
    for (double x : p) want.push_back(std::pow(x, 1.0 / temp) / total);
    Sampler s(4, {temp, 0, 1.0f, 42});
    const int N = 40000;
    std::vector<int> count(4, 0);
    for (int i = 0; i < N; ++i) ++count[static_cast<std::size_t>(s.sample(logits.data(), i))];
    for (int i = 0; i < 4; ++i) {
      const double sigma = std::sqrt(want[i] * (1 - want[i]) / N);
      CHECK(std::fabs(count[i] / double(N) - want[i]) < 4 * sigma);
    }
  }
}

TEST_CASE("sampler: top-k and top-p keep only the head of the distribution") {
  const float logits[] = {std::log(0.1f), std::log(0.2f), std::log(0.3f), std::log(0.4f)};
  Sampler k2(4, {1.0f, 2, 1.0f, 5});
  Sampler p05(4, {1.0f, 0, 0.5f, 5});  // 0.4 < 0.5 <= 0.4 + 0.3: ids 3 and 2
  int seen_k[4] = {0}, seen_p[4] = {0};
  for (int i = 0; i < 4000; ++i) {
    ++seen_k[k2.sample(logits, i)];
    ++seen_p[p05.sample(logits, i)];
  }
  CHECK(seen_k[0] == 0);
  CHECK(seen_k[1] == 0);
  CHECK(seen_p[0] == 0);
  CHECK(seen_p[1] == 0);
  CHECK(seen_k[2] > 1500);  // renormalised: 3/7 of the draws
  CHECK(seen_k[3] > 2000);
  CHECK(seen_p[2] == seen_k[2]);  // same kept set, same seed: the same draws
}

TEST_CASE("sampler: same seed, same tokens; another seed, other tokens") {
  std::vector<float> logits(100);
  for (int i = 0; i < 100; ++i) logits[i] = std::sin(i * 0.7f);
  Sampler a(100, {1.0f, 0, 1.0f, 9}), b(100, {1.0f, 0, 1.0f, 9}), c(100, {1.0f, 0, 1.0f, 10});
  int same = 0;
  for (int i = 0; i < 200; ++i) {
    const auto x = a.sample(logits.data(), i);
    CHECK(x == b.sample(logits.data(), i));
    same += x == c.sample(logits.data(), i);
  }
  CHECK(same < 100);
}

TEST_CASE("sampler: options out of range are errors") {
  CHECK_THROWS_AS(Sampler(10, {1.0f, 0, 0.0f, 0}), Error);
  CHECK_THROWS_AS(Sampler(10, {1.0f, 0, 1.5f, 0}), Error);
  CHECK_THROWS_AS(Sampler(10, {1.0f, -1, 1.0f, 0}), Error);
  CHECK_THROWS_AS(Sampler(0, {1.0f, 0, 1.0f, 0}), Error);
}

}  // namespace pocket
