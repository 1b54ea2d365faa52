#include "kernels/activations.h"

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "kernels/simd.h"
#include "test_util.h"

using namespace pocket;

namespace {
double gelu_double(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }
double gelu_tanh_double(double x) {
  const double k = std::sqrt(2.0 / M_PI);
  return 0.5 * x * (1.0 + std::tanh(k * (x + 0.044715 * x * x * x)));
}
double silu_double(double x) { return x / (1.0 + std::exp(-x)); }

// Inputs over [-10, 10] in steps of 1/64 (covering both tails and 0), plus random ones.
std::vector<float> activation_inputs() {
  std::vector<float> x;
  for (int i = -640; i <= 640; ++i) x.push_back(static_cast<float>(i) / 64.0f);
  const auto r = test::random_floats(1000, 17, -6.0f, 6.0f);
  x.insert(x.end(), r.begin(), r.end());
  return x;
}

// |got - want| <= tol * max(1, |want|) for every element (relative for large values, absolute
// near zero, where the functions cross over).
template <class Ref>
void check_against_double(const std::vector<float>& x, const std::vector<float>& got, Ref want,
                          double tol) {
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double w = want(static_cast<double>(x[i]));
    INFO("x = " << x[i]);
    REQUIRE(std::fabs(got[i] - w) <= tol * std::max(1.0, std::fabs(w)));
  }
}

using Fn = void (*)(const float*, float*, std::int64_t);
// The fast forms on the default pool, as plain function pointers like the refs.
constexpr Fn kGelu = [](const float* x, float* out, std::int64_t n) { gelu(x, out, n); };
constexpr Fn kGeluTanh = [](const float* x, float* out, std::int64_t n) { gelu_tanh(x, out, n); };
constexpr Fn kSilu = [](const float* x, float* out, std::int64_t n) { silu(x, out, n); };
constexpr Fn kRelu = [](const float* x, float* out, std::int64_t n) { relu(x, out, n); };

void check_fast_against_ref(Fn ref_fn, Fn fast_fn, double tol) {
  for (int n : test::edge_sizes()) {
    const auto x = test::random_floats(n, n, -8.0f, 8.0f);
    std::vector<float> ref(n), fast(n);
    ref_fn(x.data(), ref.data(), n);
    fast_fn(x.data(), fast.data(), n);
    INFO("n = " << n);
    for (int i = 0; i < n; ++i) {
      REQUIRE(std::fabs(fast[i] - ref[i]) <= tol * std::max(1.0f, std::fabs(ref[i])));
    }
  }
  // Large enough to be split over threads; in place.
  auto x = test::random_floats(100000, 3, -8.0f, 8.0f);
  std::vector<float> ref(x.size());
  ref_fn(x.data(), ref.data(), x.size());
  fast_fn(x.data(), x.data(), x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    REQUIRE(std::fabs(x[i] - ref[i]) <= tol * std::max(1.0f, std::fabs(ref[i])));
  }
}
}  // namespace

TEST_CASE("GELU (erf form) and GELU (tanh form) at known values") {
  // Values of the double-precision definitions (Python math.erf / math.tanh).
  const float x[] = {1.0f, -1.0f, 2.0f, -3.0f, 0.5f, 0.0f};
  const double want_erf[] = {0.8413447460685429,   -0.15865525393145707, 1.9544997361036416,
                             -0.00404969409489031, 0.34573123063700656,  0.0};
  const double want_tanh[] = {0.8411919906082768,     -0.15880800939172324, 1.954597694087775,
                              -0.0036373920817729943, 0.34571400982514394,  0.0};
  float erf_ref[6], erf_fast[6], tanh_ref[6], tanh_fast[6];
  gelu_ref(x, erf_ref, 6);
  gelu(x, erf_fast, 6);
  gelu_tanh_ref(x, tanh_ref, 6);
  gelu_tanh(x, tanh_fast, 6);
  for (int i = 0; i < 6; ++i) {
    INFO("x = " << x[i]);
    CHECK(erf_ref[i] == doctest::Approx(want_erf[i]).epsilon(1e-6));
    CHECK(erf_fast[i] == doctest::Approx(want_erf[i]).epsilon(1e-6));
    CHECK(tanh_ref[i] == doctest::Approx(want_tanh[i]).epsilon(1e-6));
    CHECK(tanh_fast[i] == doctest::Approx(want_tanh[i]).epsilon(1e-6));
  }
}

TEST_CASE("activation refs match their double-precision definitions on [-10, 10]") {
  const auto x = activation_inputs();
  std::vector<float> out(x.size());
  gelu_ref(x.data(), out.data(), x.size());
  check_against_double(x, out, gelu_double, 1e-6);
  gelu_tanh_ref(x.data(), out.data(), x.size());
  check_against_double(x, out, gelu_tanh_double, 1e-6);
  silu_ref(x.data(), out.data(), x.size());
  check_against_double(x, out, silu_double, 1e-6);
  relu_ref(x.data(), out.data(), x.size());
  for (std::size_t i = 0; i < x.size(); ++i) REQUIRE(out[i] == (x[i] > 0.0f ? x[i] : 0.0f));
}

TEST_CASE("the two GELU forms differ by less than 5e-4 but do differ") {
  const auto x = activation_inputs();
  std::vector<float> exact(x.size()), approx(x.size());
  gelu(x.data(), exact.data(), x.size());
  gelu_tanh(x.data(), approx.data(), x.size());
  double max_diff = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    max_diff = std::max(max_diff, std::fabs(static_cast<double>(exact[i]) - approx[i]));
  }
  CHECK(max_diff < 5e-4);
  CHECK(max_diff > 4e-4);  // the known worst case is 4.73e-4 near x = -2.7
}

TEST_CASE("activations (" POCKET_SIMD_NAME ") match their refs") {
  check_fast_against_ref(gelu_ref, kGelu, 2e-6);
  check_fast_against_ref(gelu_tanh_ref, kGeluTanh, 2e-6);
  check_fast_against_ref(silu_ref, kSilu, 2e-6);
  check_fast_against_ref(relu_ref, kRelu, 0.0);
}

TEST_CASE("SiLU and GELU saturate without NaN in the far tails") {
  const float x[] = {-100.0f, -30.0f, 30.0f, 100.0f, -1e30f, 1e30f, 0.0f, -0.0f};
  for (Fn fn : {silu_ref, kSilu, gelu_ref, kGelu, gelu_tanh_ref, kGeluTanh}) {
    float out[8];
    fn(x, out, 8);
    CHECK(out[0] == 0.0f);
    CHECK(std::fabs(out[1]) < 1e-10f);
    CHECK(out[2] == doctest::Approx(30.0f));
    CHECK(out[3] == 100.0f);
    CHECK(out[4] == 0.0f);
    CHECK(out[5] == 1e30f);
    CHECK(out[6] == 0.0f);
    CHECK(out[7] == 0.0f);
  }
}
