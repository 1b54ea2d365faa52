// adam_step against two steps worked by hand (lr 0.1, β1 0.9, β2 0.999, eps 1e-8):
//   step 1, g = (0.5, −1):  m = 0.1·g, v = 0.001·g², m̂ = g, √v̂ = |g|  ⇒  p −= 0.1·sign(g)
//   step 2, g = (0.1, 0.2): m = (0.055, −0.07), v = (2.5975e-4, 1.039e-3),
//           m̂ = m/0.19, v̂ = v/0.001999  ⇒  p = (0.819695906, −1.848897394)
// and with weight decay 0.5 (p ← p·(1 − 0.05) before each update).
#include "side/adam.h"

#include <doctest/doctest.h>

namespace pocket {

TEST_CASE("side adam: two steps by hand, with and without decoupled weight decay") {
  struct Case {
    float weight_decay;
    float step1[2], step2[2];
  };
  const Case cases[] = {{0.0f, {0.900000002f, -1.900000001f}, {0.819695906f, -1.848897394f}},
                        {0.5f, {0.850000002f, -1.800000001f}, {0.727195906f, -1.658897394f}}};
  for (const Case& c : cases) {
    CAPTURE(c.weight_decay);
    AdamOptions options;
    options.lr = 0.1f;
    options.weight_decay = c.weight_decay;
    float p[2] = {1.0f, -2.0f}, m[2] = {0.0f, 0.0f}, v[2] = {0.0f, 0.0f};
    const float g1[2] = {0.5f, -1.0f}, g2[2] = {0.1f, 0.2f};
    adam_step(p, g1, m, v, 2, 1, options);
    CHECK(m[0] == doctest::Approx(0.05).epsilon(1e-6));
    CHECK(v[1] == doctest::Approx(0.001).epsilon(1e-6));
    for (int i = 0; i < 2; ++i) CHECK(p[i] == doctest::Approx(c.step1[i]).epsilon(1e-6));
    adam_step(p, g2, m, v, 2, 2, options);
    CHECK(m[1] == doctest::Approx(-0.07).epsilon(1e-6));
    CHECK(v[0] == doctest::Approx(2.5975e-4).epsilon(1e-6));
    for (int i = 0; i < 2; ++i) CHECK(p[i] == doctest::Approx(c.step2[i]).epsilon(1e-6));
  }
}

}  // namespace pocket
