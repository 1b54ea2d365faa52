#include "kernels/zo_update.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/fp16.h"
#include "kernels/simd.h"
#include "kernels/sr16.h"
#include "kernels/thread_pool.h"
#include "kernels/zrng.h"
#include "test_util.h"

using namespace pocket;

namespace {

ZoUpdate make_update(std::uint64_t seed, const char* name, float lr, float grad, float wd,
                     std::uint64_t index_base) {
  const std::uint64_t pid = fnv1a64(name);
  ZoUpdate p;
  p.z_key = z_key(seed, pid);
  p.sr_key = sr_key(seed, pid);
  p.lr = lr;
  p.grad = grad;
  p.weight_decay = wd;
  p.index_base = index_base;
  return p;
}

// The update written out element by element, straight from the definition in zo_update.h.
void update_by_definition(std::vector<fp16>& w, const ZoUpdate& p) {
  for (std::size_t i = 0; i < w.size(); ++i) {
    const std::uint64_t index = p.index_base + i;
    const float x = f16_to_f32_scalar(w[i]);
    const float z = z_sign(p.z_key, index);
    const float gz = p.grad * z;
    const float wd = p.weight_decay * x;
    const float d = gz + wd;
    const float step = p.lr * d;
    const float v = x - step;
    w[i] = f32_to_f16_sr(v, sr_bits(p.sr_key, index));
  }
}

// One fp32 operation computed in double and rounded once: exact for + - * of two floats.
float f32_op(double v) { return static_cast<float>(v); }

std::vector<int> test_sizes() {
  std::vector<int> sizes = test::edge_sizes();
  for (int n : {1000, 16384, 16385, 40000}) sizes.push_back(n);
  return sizes;
}

}  // namespace

TEST_CASE("zo_update_f16 (" POCKET_SIMD_NAME ") and its reference match the definition") {
  for (float wd : {0.0f, 0.05f}) {
    for (std::uint64_t index_base : {0ull, 5ull, 131ull, (1ull << 33) + 64}) {
      for (int n : test_sizes()) {
        INFO("n = " << n << " index_base = " << index_base << " weight_decay = " << wd);
        // lr * grad of a few ulps of the weights, so the update visibly moves them
        const ZoUpdate p = make_update(9, "layers.0.fc1.weight", 1e-3f, 2.5f, wd, index_base);
        const auto w0 = test::random_f16(n, 40 + n);
        auto want = w0, ref = w0, fast = w0;
        update_by_definition(want, p);
        zo_update_f16_ref(ref.data(), n, p);
        zo_update_f16(fast.data(), n, p);
        REQUIRE(ref == want);
        REQUIRE(fast == want);
        if (n >= 64) CHECK(fast != w0);
      }
    }
  }
}

TEST_CASE("zo_update is bit-identical for 1, 2, 3 and 4 threads") {
  const std::size_t n = 300007;
  const ZoUpdate p = make_update(11, "threads", 1e-3f, -0.75f, 0.01f, 77);
  const auto w0 = test::random_f16(n, 3);
  const auto m0 = test::random_floats(n, 4);
  std::vector<fp16> w1, w_master1;
  std::vector<float> m1;
  for (int threads = 1; threads <= 4; ++threads) {
    INFO("threads = " << threads);
    set_num_threads(threads);
    auto w = w0;
    zo_update_f16(w.data(), n, p);
    auto m = m0;
    std::vector<fp16> wm(n);
    zo_update_f32_master(m.data(), wm.data(), n, p);
    if (threads == 1) {
      w1 = w;
      m1 = m;
      w_master1 = wm;
    } else {
      REQUIRE(w == w1);
      REQUIRE(m == m1);
      REQUIRE(wm == w_master1);
    }
  }
  set_num_threads(0);
  auto ref = w0;
  zo_update_f16_ref(ref.data(), n, p);
  CHECK(ref == w1);
}

TEST_CASE("weight decay alone pulls every weight toward zero, never past it") {
  const std::size_t n = 5000;
  const auto w0 = test::random_f16(n, 8);
  auto with_wd = w0, without = w0;
  zo_update_f16(with_wd.data(), n, make_update(1, "wd", 0.1f, 0.0f, 0.5f, 0));
  zo_update_f16(without.data(), n, make_update(1, "wd", 0.1f, 0.0f, 0.0f, 0));
  std::size_t moved = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const float before = f16_to_f32_scalar(w0[i]);
    const float after = f16_to_f32_scalar(with_wd[i]);
    REQUIRE(std::fabs(after) <= std::fabs(before));
    REQUIRE((after == 0.0f || std::signbit(after) == std::signbit(before)));
    moved += after != before;
    // g = 0, lambda = 0: nothing moves
    REQUIRE(f16_to_f32_scalar(without[i]) == before);
  }
  CHECK(moved > n * 9 / 10);  // a 5% shrink is several ulps: almost every weight moves
}

TEST_CASE("g = 0 and lambda = 0 leave W bit-identical (SR of an exact value is exact)") {
  // every finite fp16 value; -0 may come back as +0 (-0 - (-0) = +0), equal as a number
  std::vector<fp16> w0;
  for (int h = 0; h < 65536; ++h) {
    if ((h & 0x7C00) != 0x7C00) w0.push_back(static_cast<fp16>(h));
  }
  for (std::uint64_t index_base : {0ull, 3ull}) {
    const ZoUpdate p = make_update(5, "identity", 1e-3f, 0.0f, 0.0f, index_base);
    auto w = w0;
    zo_update_f16(w.data(), w.size(), p);
    std::vector<float> master(w0.size());
    f16_to_f32_ref(w0.data(), master.data(), w0.size());
    const auto master0 = master;
    std::vector<fp16> wm(w0.size());
    zo_update_f32_master(master.data(), wm.data(), w0.size(), p);
    for (std::size_t i = 0; i < w0.size(); ++i) {
      if (w0[i] == 0x8000) {
        REQUIRE((w[i] & 0x7FFF) == 0);
        REQUIRE((wm[i] & 0x7FFF) == 0);
      } else {
        REQUIRE(w[i] == w0[i]);
        REQUIRE(f32_bits(master[i]) == f32_bits(master0[i]));
        REQUIRE(wm[i] == w0[i]);
      }
    }
  }
}

TEST_CASE("fp32-master update follows the stated fp32 operation order exactly") {
  // Golden values from a Python float32 emulation (struct.pack('<f')) of
  //   gz = g*z; wd = lambda*m; d = gz + wd; step = lr*d; m' = m - step
  // with z from z_key(42, fnv1a64("golden")) at flat indices 1..4: z = -1, +1, -1, +1.
  ZoUpdate p = make_update(42, "golden", 1e-3f, 1.7f, 0.01f, 1);
  std::vector<float> master = {0.1f, -2.5f, 3e-3f, 65000.0f};
  const std::uint32_t want_bits[] = {0x3dd04791u, 0xc0201b71u, 0x3b9a0235u, 0x477de759u};
  const float want_z[] = {-1.0f, 1.0f, -1.0f, 1.0f};
  std::vector<float> by_hand(master.size());
  for (std::size_t i = 0; i < master.size(); ++i) {
    REQUIRE(z_sign(p.z_key, p.index_base + i) == want_z[i]);
    const double m = master[i];
    const float gz = f32_op(static_cast<double>(p.grad) * want_z[i]);
    const float wd = f32_op(static_cast<double>(p.weight_decay) * m);
    const float d = f32_op(static_cast<double>(gz) + wd);
    const float step = f32_op(static_cast<double>(p.lr) * d);
    by_hand[i] = f32_op(m - step);
    REQUIRE(f32_bits(by_hand[i]) == want_bits[i]);
  }
  auto ref_master = master;
  std::vector<fp16> w(master.size()), ref_w(master.size());
  zo_update_f32_master(master.data(), w.data(), master.size(), p);
  zo_update_f32_master_ref(ref_master.data(), ref_w.data(), ref_master.size(), p);
  for (std::size_t i = 0; i < master.size(); ++i) {
    CHECK(f32_bits(master[i]) == want_bits[i]);
    CHECK(f32_bits(ref_master[i]) == want_bits[i]);
    CHECK(w[i] == f32_to_f16_scalar(by_hand[i]));
    CHECK(ref_w[i] == w[i]);
  }
}

TEST_CASE("fp32-master update (" POCKET_SIMD_NAME ") matches its reference") {
  for (std::uint64_t index_base : {0ull, 29ull}) {
    for (int n : test_sizes()) {
      INFO("n = " << n << " index_base = " << index_base);
      const ZoUpdate p = make_update(13, "master", 3e-4f, -12.0f, 0.1f, index_base);
      auto master = test::random_floats(n, 70 + n, -2.0f, 2.0f);
      auto ref_master = master;
      std::vector<fp16> w(n), ref_w(n);
      zo_update_f32_master(master.data(), w.data(), n, p);
      zo_update_f32_master_ref(ref_master.data(), ref_w.data(), n, p);
      for (int i = 0; i < n; ++i) REQUIRE(f32_bits(master[i]) == f32_bits(ref_master[i]));
      REQUIRE(w == ref_w);
    }
  }
}

TEST_CASE("an update far below an fp16 ulp survives in expectation (RNE would drop it)") {
  // w in ±[0.5, 1): ulp 2^-11 ~ 4.9e-4. lr * g = 1e-5 ~ 2% of an ulp. Over many seeds the mean of
  // (W' - W) * z must be -lr * g; round-to-nearest would give exactly 0.
  const std::size_t n = 4096;
  const int seeds = 100;
  const float lr = 1e-5f, grad = 1.0f;
  std::vector<fp16> w0(n);
  {
    const auto mag = test::random_floats(n, 5, 0.5f, 1.0f);
    for (std::size_t i = 0; i < n; ++i) w0[i] = f32_to_f16_scalar(i & 1 ? -mag[i] : mag[i]);
  }
  double sum = 0.0, sum_sq = 0.0;
  std::size_t rne_moved = 0;
  for (int seed = 0; seed < seeds; ++seed) {
    const ZoUpdate p = make_update(1000 + seed, "expectation", lr, grad, 0.0f, 0);
    auto w = w0;
    zo_update_f16(w.data(), n, p);
    for (std::size_t i = 0; i < n; ++i) {
      const float before = f16_to_f32_scalar(w0[i]);
      const double change = static_cast<double>(f16_to_f32_scalar(w[i])) - before;
      const double along_z = change * z_sign(p.z_key, i);
      sum += along_z;
      sum_sq += along_z * along_z;
      rne_moved += f32_to_f16_scalar(zo_update_value(before, z_sign(p.z_key, i), p)) != w0[i];
    }
  }
  const double count = static_cast<double>(n) * seeds;
  const double mean = sum / count;
  const double sigma = std::sqrt((sum_sq / count - mean * mean) / count);
  INFO("mean change along z = " << mean << " +- " << sigma << ", want " << -lr * grad);
  CHECK(std::fabs(mean - (-static_cast<double>(lr) * grad)) < 3.0 * sigma);
  CHECK(sigma < 0.1 * lr * grad);  // the test has the power to see the update
  CHECK(rne_moved == 0);
}

TEST_CASE("zo_update over a view: element (r, c) is flat index index_base + r·stride + c") {
  // A [5, 37] view with row stride 41 into a buffer of 5·41 elements: the view's elements are
  // updated as the whole buffer would be, the 4 elements after each row are left alone.
  const std::int64_t rows = 5, cols = 37, stride = 41, n = rows * stride;
  const auto init = test::random_floats(static_cast<int>(n), 5, -1.0f, 1.0f);
  std::vector<fp16> w(static_cast<std::size_t>(n));
  f32_to_f16(init.data(), w.data(), w.size());
  const ZoUpdate p = make_update(3, "view", 1e-2f, 0.7f, 0.1f, 11);
  auto whole = w;
  zo_update_f16_ref(whole.data(), whole.size(), p);
  auto viewed = w;
  zo_update({WeightFormat::kF16, viewed.data(), nullptr, rows, cols, stride}, p);
  for (std::int64_t i = 0; i < n; ++i) {
    CAPTURE(i);
    REQUIRE(viewed[i] == (i % stride < cols ? whole[i] : w[i]));
  }
  // The master form: the master as zo_update_f32_master, w its round-to-nearest copy.
  std::vector<float> master(init), whole_master(init);
  std::vector<fp16> master_w = w, whole_w = w;
  zo_update_f32_master_ref(whole_master.data(), whole_w.data(), whole_w.size(), p);
  zo_update({WeightFormat::kF32, master.data(), nullptr, rows, cols, stride},
            {WeightFormat::kF16, master_w.data(), nullptr, rows, cols, stride}, p);
  for (std::int64_t i = 0; i < n; ++i) {
    CAPTURE(i);
    const bool in_view = i % stride < cols;
    REQUIRE(f32_bits(master[i]) == f32_bits(in_view ? whole_master[i] : init[i]));
    REQUIRE(master_w[i] == (in_view ? whole_w[i] : w[i]));
  }
  // A contiguous view is one call over all of it.
  auto flat = w;
  zo_update({WeightFormat::kF16, flat.data(), nullptr, rows, stride, stride}, p);
  CHECK(flat == whole);
}

TEST_CASE("fp32 update (" POCKET_SIMD_NAME ") of an adapter: the stated order, by hand and by its reference") {
  for (std::uint64_t index_base : {0ull, 29ull}) {
    for (int n : test_sizes()) {
      INFO("n = " << n << " index_base = " << index_base);
      const ZoUpdate p = make_update(17, "adapter", 3e-4f, -12.0f, 0.1f, index_base);
      const auto init = test::random_floats(n, 90 + n, -2.0f, 2.0f);
      auto w = init, ref = init;
      zo_update_f32(w.data(), n, p);
      zo_update_f32_ref(ref.data(), n, p);
      for (int i = 0; i < n; ++i) {
        // by hand, one rounding per statement: gz = g·z, wd = λ·w, d = gz + wd, step = lr·d
        const float z = z_sign(p.z_key, index_base + static_cast<std::uint64_t>(i));
        const float gz = p.grad * z;
        const float wd = p.weight_decay * init[i];
        const float d = gz + wd;
        const float step = p.lr * d;
        const float want = init[i] - step;
        REQUIRE(f32_bits(w[i]) == f32_bits(want));
        REQUIRE(f32_bits(ref[i]) == f32_bits(want));
      }
      // through an F32 view: the same
      auto v = init;
      zo_update({WeightFormat::kF32, v.data(), nullptr, 1, n, n}, p);
      for (int i = 0; i < n; ++i) REQUIRE(f32_bits(v[i]) == f32_bits(w[i]));
    }
  }
}
