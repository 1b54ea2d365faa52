#include "side/adam.h"

#include <cassert>
#include <cmath>

namespace pocket {

void adam_step(float* params, const float* grads, float* m, float* v, std::int64_t n,
               std::int64_t t, const AdamOptions& options) {
  assert(t >= 1);
  const double td = static_cast<double>(t);
  const float correction1 = static_cast<float>(1.0 - std::pow(double{options.beta1}, td));
  const float root_correction2 =
      static_cast<float>(std::sqrt(1.0 - std::pow(double{options.beta2}, td)));
  const float step = options.lr / correction1;
  const float decay = 1.0f - options.lr * options.weight_decay;
  const float b1 = options.beta1, b2 = options.beta2;
  for (std::int64_t i = 0; i < n; ++i) {
    const float g = grads[i];
    m[i] = b1 * m[i] + (1.0f - b1) * g;
    v[i] = b2 * v[i] + (1.0f - b2) * g * g;
    const float denom = std::sqrt(v[i]) / root_correction2 + options.eps;
    params[i] = params[i] * decay - step * m[i] / denom;
  }
}

}  // namespace pocket
