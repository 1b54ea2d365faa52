// Every backward of side_ops.h against central finite differences of its forward, in double
// (step 1e-6, relative tolerance 1e-6), through a loss Σ c ⊙ y with random weights c (so dy = c).
// Inputs use row strides wider than the rows where the op takes one.
#include "side/side_ops.h"

#include <doctest/doctest.h>

#include <vector>

#include "side_test_util.h"

namespace pocket {
namespace {

using test::all_indices;
using test::gradient_error;
using test::random_doubles;

constexpr double kTol = 1e-6;

double weighted_sum(const std::vector<double>& y, const std::vector<double>& c) {
  double s = 0.0;
  for (std::size_t i = 0; i < y.size(); ++i) s += y[i] * c[i];
  return s;
}

}  // namespace

TEST_CASE("side ops: linear backward (dx, dW, db) matches finite differences") {
  const std::int64_t rows = 3, in = 5, out = 4, ldx = 7, ldy = 6;
  auto x = random_doubles(rows * ldx, 1), W = random_doubles(out * in, 2),
       b = random_doubles(out, 3), c = random_doubles(rows * ldy, 4);
  std::vector<double> y(rows * ldy);
  auto loss = [&] {
    std::fill(y.begin(), y.end(), 0.0);
    linear_forward<double>(x.data(), ldx, W.data(), b.data(), y.data(), ldy, rows, in, out);
    return weighted_sum(y, c);  // the gap columns of y stay 0
  };
  std::vector<double> dx(rows * ldx, 0.0), dW(out * in), db(out);
  linear_backward<double>(c.data(), ldy, x.data(), ldx, W.data(), dx.data(), ldx, dW.data(),
                          db.data(), rows, in, out, false, false);
  std::vector<std::int64_t> x_used;
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t j = 0; j < in; ++j) x_used.push_back(r * ldx + j);
  }
  CHECK(gradient_error(x, dx, x_used, loss) < kTol);
  CHECK(gradient_error(W, dW, all_indices(W.size()), loss) < kTol);
  CHECK(gradient_error(b, db, all_indices(b.size()), loss) < kTol);

  // Accumulating adds the same gradients to what is there.
  std::vector<double> dx2(dx.size(), 1.0), dW2(dW.size(), 2.0), db2(db.size(), 3.0);
  linear_backward<double>(c.data(), ldy, x.data(), ldx, W.data(), dx2.data(), ldx, dW2.data(),
                          db2.data(), rows, in, out, true, true);
  for (std::int64_t i : x_used) CHECK(dx2[i] == doctest::Approx(dx[i] + 1.0).epsilon(1e-12));
  for (std::size_t i = 0; i < dW.size(); ++i) CHECK(dW2[i] == doctest::Approx(dW[i] + 2.0));
  for (std::size_t i = 0; i < db.size(); ++i) CHECK(db2[i] == doctest::Approx(db[i] + 3.0));
}

TEST_CASE("side ops: layernorm backward (dx, dgamma, dbeta) matches finite differences") {
  const std::int64_t rows = 3, C = 7, ldx = 9;
  auto x = random_doubles(rows * ldx, 5, 1.0, 3.0), w = random_doubles(C, 6, 0.5, 1.5),
       b = random_doubles(C, 7), c = random_doubles(rows * C, 8);
  std::vector<double> y(rows * C), mean(rows), rstd(rows);
  auto loss = [&] {
    layernorm_forward<double>(x.data(), ldx, w.data(), b.data(), 1e-5, y.data(), mean.data(),
                              rstd.data(), rows, C);
    return weighted_sum(y, c);
  };
  loss();
  std::vector<double> dx(rows * C), dw(C), db(C), dx_full(rows * ldx, 0.0);
  layernorm_backward<double>(c.data(), x.data(), ldx, mean.data(), rstd.data(), w.data(), dx.data(),
                             dw.data(), db.data(), rows, C, false, false);
  std::vector<std::int64_t> x_used;
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t j = 0; j < C; ++j) {
      x_used.push_back(r * ldx + j);
      dx_full[r * ldx + j] = dx[r * C + j];
    }
  }
  CHECK(gradient_error(x, dx_full, x_used, loss) < kTol);
  CHECK(gradient_error(w, dw, all_indices(C), loss) < kTol);
  CHECK(gradient_error(b, db, all_indices(C), loss) < kTol);

  std::vector<double> dx2(dx.size(), 0.5);
  layernorm_backward<double>(c.data(), x.data(), ldx, mean.data(), rstd.data(), w.data(),
                             dx2.data(), nullptr, nullptr, rows, C, true, false);
  for (std::size_t i = 0; i < dx.size(); ++i) CHECK(dx2[i] == doctest::Approx(dx[i] + 0.5));
}

TEST_CASE("side ops: rmsnorm backward matches finite differences") {
  const std::int64_t rows = 3, C = 6, ldx = 8;
  auto x = random_doubles(rows * ldx, 9), w = random_doubles(C, 10, 0.5, 1.5),
       c = random_doubles(rows * C, 11);
  std::vector<double> y(rows * C), rstd(rows);
  auto loss = [&] {
    rmsnorm_forward<double>(x.data(), ldx, w.data(), 1e-5, y.data(), rstd.data(), rows, C);
    return weighted_sum(y, c);
  };
  loss();
  std::vector<double> dx(rows * C), dx_full(rows * ldx, 0.0);
  rmsnorm_backward<double>(c.data(), x.data(), ldx, rstd.data(), w.data(), dx.data(), rows, C);
  std::vector<std::int64_t> x_used;
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t j = 0; j < C; ++j) {
      x_used.push_back(r * ldx + j);
      dx_full[r * ldx + j] = dx[r * C + j];
    }
  }
  CHECK(gradient_error(x, dx_full, x_used, loss) < kTol);
}

TEST_CASE("side ops: gelu backward matches finite differences; forward is x·Φ(x)") {
  auto x = random_doubles(40, 12, -4.0, 4.0), c = random_doubles(40, 13);
  std::vector<double> y(40);
  auto loss = [&] {
    gelu_forward<double>(x.data(), y.data(), 40);
    return weighted_sum(y, c);
  };
  std::vector<double> dx(40);
  gelu_backward<double>(x.data(), c.data(), dx.data(), 40);
  CHECK(gradient_error(x, dx, all_indices(40), loss) < kTol);
  loss();
  CHECK(y[0] == doctest::Approx(x[0] * 0.5 * std::erfc(-x[0] / std::sqrt(2.0))).epsilon(1e-14));
}

TEST_CASE("side ops: gate mix backward (ds, du, dalpha) matches finite differences") {
  const std::int64_t n = 12;
  auto s = random_doubles(n, 14), u = random_doubles(n, 15), c = random_doubles(n, 16);
  std::vector<double> alpha{0.07}, y(n);
  const double T = 0.1;
  auto loss = [&] {
    gate_mix_forward<double>(s.data(), u.data(), alpha[0], T, y.data(), n);
    return weighted_sum(y, c);
  };
  std::vector<double> ds(n), du(n), dalpha(1);
  dalpha[0] =
      gate_mix_backward<double>(c.data(), s.data(), u.data(), alpha[0], T, ds.data(), du.data(), n);
  CHECK(gradient_error(s, ds, all_indices(n), loss) < kTol);
  CHECK(gradient_error(u, du, all_indices(n), loss) < kTol);
  CHECK(gradient_error(alpha, dalpha, {0}, loss) < kTol);
  CHECK(gate_weight(0.0, T) == 0.5);
}

TEST_CASE("side ops: softmax cross-entropy: loss, d_logits, argmax count, rows without target") {
  const std::int64_t rows = 3, n = 6, ld = 7;
  auto z = random_doubles(rows * ld, 17, -3.0, 3.0);
  const std::int32_t targets[rows] = {2, -1, 5};
  const double scale = 0.5;
  auto loss = [&] {
    return scale *
           softmax_cross_entropy<double>(z.data(), ld, rows, n, targets, 1.0, nullptr, nullptr);
  };
  std::vector<double> dz(rows * ld, 7.0);
  std::int64_t correct = -1;
  const double total =
      softmax_cross_entropy<double>(z.data(), ld, rows, n, targets, scale, dz.data(), &correct);
  std::vector<std::int64_t> used;
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t j = 0; j < n; ++j) used.push_back(r * ld + j);
  }
  CHECK(gradient_error(z, dz, used, loss) < kTol);
  for (std::int64_t j = 0; j < n; ++j) CHECK(dz[ld + j] == 0.0);  // row 1 has no target
  // The loss by hand.
  double expected = 0.0;
  std::int64_t expected_correct = 0;
  for (std::int64_t r : {0, 2}) {
    double sum = 0.0;
    std::int64_t best = 0;
    for (std::int64_t j = 0; j < n; ++j) {
      sum += std::exp(z[r * ld + j]);
      if (z[r * ld + j] > z[r * ld + best]) best = j;
    }
    expected += std::log(sum) - z[r * ld + targets[r]];
    expected_correct += best == targets[r];
  }
  CHECK(total == doctest::Approx(expected).epsilon(1e-12));
  CHECK(correct == expected_correct);

  // Ties go to the lowest index; float logits, in place.
  std::vector<float> tied{1.0f, 3.0f, 3.0f, 1.0f, 3.0f, 3.0f};
  const std::int32_t tie_targets[2] = {1, 2};
  softmax_cross_entropy<float>(tied.data(), 3, 2, 3, tie_targets, 1.0f, tied.data(), &correct);
  CHECK(correct == 1);
  CHECK(tied[1] < 0.0f);
  CHECK(tied[2] > 0.0f);
}

}  // namespace pocket
