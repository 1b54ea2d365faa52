#include "kernels/rope_frequencies.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <numbers>

namespace pocket {

namespace {

// theta^(2i/d) in fp32, as torch evaluates `base ** (arange(0, d, 2).float() / d)`.
float pos_freq(float theta, int i, int head_dim) {
  return std::pow(theta, static_cast<float>(2 * i) / static_cast<float>(head_dim));
}

// YaRN's dimension of `rotations` full turns within `positions` (in double, as HF's math.log).
double correction_dim(double rotations, int dim, double theta, double positions) {
  return dim * std::log(positions / (rotations * 2.0 * std::numbers::pi)) / (2.0 * std::log(theta));
}

double yarn_mscale(double scale, double mscale) {
  return scale <= 1.0 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0;
}

}  // namespace

RopeFrequencies rope_frequencies(int head_dim, float theta, const RopeScaling& s,
                                 std::int64_t max_positions) {
  assert(head_dim > 0 && head_dim % 2 == 0 && theta > 0.0f);
  const int half = head_dim / 2;
  RopeFrequencies out;
  out.inv_freq.resize(static_cast<std::size_t>(half));
  const float factor = static_cast<float>(s.factor);
  const double l0 =
      static_cast<double>(s.original_max_positions > 0 ? s.original_max_positions : max_positions);
  switch (s.type) {
    case RopeScalingType::kNone:
    case RopeScalingType::kDynamic:
    case RopeScalingType::kLinear:
      for (int i = 0; i < half; ++i) {
        float f = 1.0f / pos_freq(theta, i, head_dim);
        if (s.type == RopeScalingType::kLinear) f /= factor;
        out.inv_freq[i] = f;
      }
      break;
    case RopeScalingType::kLlama3: {
      const float low_wavelen = static_cast<float>(l0 / s.low_freq_factor);
      const float high_wavelen = static_cast<float>(l0 / s.high_freq_factor);
      const float two_pi = static_cast<float>(2.0 * std::numbers::pi);
      const float old_len = static_cast<float>(l0);
      const float low = static_cast<float>(s.low_freq_factor);
      const float span = static_cast<float>(s.high_freq_factor - s.low_freq_factor);
      for (int i = 0; i < half; ++i) {
        const float inv = 1.0f / pos_freq(theta, i, head_dim);
        const float wavelen = (1.0f / inv) * two_pi;
        float f = wavelen > low_wavelen ? inv / factor : inv;
        if (!(wavelen < high_wavelen) && !(wavelen > low_wavelen)) {
          const float smooth = ((1.0f / wavelen) * old_len - low) / span;
          f = (1.0f - smooth) * f / factor + smooth * f;
        }
        out.inv_freq[i] = f;
      }
      break;
    }
    case RopeScalingType::kYarn: {
      double lo = correction_dim(s.beta_fast, head_dim, theta, l0);
      double hi = correction_dim(s.beta_slow, head_dim, theta, l0);
      if (s.truncate) {
        lo = std::floor(lo);
        hi = std::ceil(hi);
      }
      lo = std::max(lo, 0.0);
      hi = std::min(hi, static_cast<double>(head_dim - 1));
      if (lo == hi) hi += 0.001;  // HF's guard against a zero-width ramp
      const float ramp_lo = static_cast<float>(lo), ramp_width = static_cast<float>(hi - lo);
      for (int i = 0; i < half; ++i) {
        const float p = pos_freq(theta, i, head_dim);
        const float extrapolation = 1.0f / p, interpolation = 1.0f / (factor * p);
        const float ramp = std::clamp((static_cast<float>(i) - ramp_lo) / ramp_width, 0.0f, 1.0f);
        const float keep = 1.0f - ramp;  // weight of the extrapolated (unscaled) frequency
        out.inv_freq[i] = interpolation * (1.0f - keep) + extrapolation * keep;
      }
      double attention = s.attention_factor;
      if (attention == 0.0) {
        attention = s.mscale != 0.0 && s.mscale_all_dim != 0.0
                        ? yarn_mscale(s.factor, s.mscale) / yarn_mscale(s.factor, s.mscale_all_dim)
                        : yarn_mscale(s.factor, 1.0);
      }
      out.attention_factor = static_cast<float>(attention);
      break;
    }
  }
  return out;
}

}  // namespace pocket
