// bench-gemm: GFLOP/s of pocket's fp16-weight GEMM (plain and MeZO two-stream perturbed)
// against OpenBLAS sgemm/sgemv on fp32 copies of the same weights, and against the machine's
// measured FMA peak, on the Linear shapes of the models pocket targets. --decode instead measures
// the decode GEMMs (M ≤ 16) as weight streams: GB/s of fp16 W against the measured read bandwidth.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench_util.h"
#include "fma_peak.h"
#include "kernels/fp16.h"
#include "kernels/gemm.h"
#include "kernels/quant_blocks.h"
#include "kernels/simd.h"
#include "kernels/thread_pool.h"
#include "kernels/zrng.h"
#include "read_bandwidth.h"

#if defined(POCKET_HAVE_OPENBLAS)
#include <cblas.h>
#endif

using namespace pocket;

namespace {

struct Shape {
  const char* model;
  int N, K;
};

// (N, K) = (out_features, in_features) of each model's Linear layers.
const Shape kShapes[] = {
    {"opt-125m", 768, 768},        {"opt-125m", 3072, 768},       {"opt-125m", 768, 3072},
    {"opt-1.3b", 2048, 2048},      {"opt-1.3b", 8192, 2048},      {"opt-1.3b", 2048, 8192},
    {"roberta-large", 1024, 1024}, {"roberta-large", 4096, 1024}, {"tinyllama", 5632, 2048},
};
const int kMs[] = {1, 16, 128, 512};

const Shape kSmokeShapes[] = {{"smoke", 64, 96}, {"smoke", 200, 130}};
const int kSmokeMs[] = {1, 16};

// Decode shapes: OPT-1.3B's three, TinyLlama's other three (its q/o are 2048×2048 too).
const Shape kDecodeShapes[] = {
    {"opt-1.3b", 2048, 2048}, {"opt-1.3b", 8192, 2048},  {"opt-1.3b", 2048, 8192},
    {"tinyllama", 256, 2048}, {"tinyllama", 5632, 2048}, {"tinyllama", 2048, 5632},
};
const int kDecodeMs[] = {1, 2, 4, 8, 16};

struct Result {
  const char* model;
  const char* format;
  int M, N, K, threads;
  double pocket = 0, perturbed = 0, openblas = -1, gemv = -1;
};

void usage() {
  std::printf(
      "usage: bench-gemm [--json] [--smoke] [--threads N] [--reps R] [--formats LIST]\n"
      "                  [--decode [--mib B]]\n"
      "  GFLOP/s of pocket's fp16-weight GEMM, plain and two-stream perturbed (counted as two\n"
      "  GEMMs), OpenBLAS cblas_sgemm on fp32 copies (cblas_sgemv too at M = 1), for\n"
      "  M in {1,16,128,512} and the Linear shapes of OPT-125m/1.3B, RoBERTa-large, TinyLlama,\n"
      "  on 1 thread and on N threads (default: all cores), with the measured FMA peak.\n"
      "  --json     one JSON object instead of the table\n"
      "  --smoke    tiny shapes, one repetition: checks that everything runs (CI)\n"
      "  --threads  the multi-thread count (default: hardware threads)\n"
      "  --reps     timed repetitions per measurement, median reported (default 5)\n"
      "  --decode   instead: M in {1,2,4,8,16} on the OPT-1.3B and TinyLlama shapes, W streamed\n"
      "             from memory (copies of W fill B MiB, each pass multiplies every copy once),\n"
      "             GB/s of fp16 W, plain and two-stream perturbed, over the read bandwidth\n"
      "             of a private B MiB buffer (bench/read_bandwidth.h) on as many threads\n"
      "  --mib      the decode working set (default 1024: far past the last-level cache)\n"
      "  --formats  weight formats, comma-separated (default f16,q8_0,q4_0,q4_k): F16 is the\n"
      "             packed fp32 GEMM, the ggml block formats the integer GEMM (gemm_quant.h);\n"
      "             those rows have no perturbed or OpenBLAS columns, and GB/s counts their "
      "bytes\n");
}

double gflops(double M, double N, double K, double seconds) {
  return 2 * M * N * K / seconds / 1e9;
}

// Weights uniform in ±0.02 (fp16), the same for every run.
void fill_weights(std::vector<fp16>& w) {
  std::vector<float> wf(w.size());
  for (std::size_t i = 0; i < wf.size(); ++i) {
    wf[i] = 0.02f * static_cast<float>(static_cast<int>(mix64(i) % 2001) - 1000) / 1000.0f;
  }
  f32_to_f16(wf.data(), w.data(), wf.size());
}

// The formats a run measures (--formats): F16 (the packed fp32 GEMM) and ggml blocks (the integer
// GEMM, gemm_quant.h).
struct Format {
  const char* name;
  WeightFormat format;
};
const Format kAllFormats[] = {{"f16", WeightFormat::kF16},
                              {"q8_0", WeightFormat::kQ8_0},
                              {"q4_0", WeightFormat::kQ4_0},
                              {"q4_k", WeightFormat::kQ4_K}};

// N rows of K weights in `format`: F16 as fill_weights; blocks with random integers (every value
// occurs) and fp16 scales of a real model's size. The speed depends on neither.
std::vector<std::uint8_t> make_weights(WeightFormat format, int N, int K) {
  std::vector<std::uint8_t> bytes(
      static_cast<std::size_t>(weight_bytes(format, std::int64_t{N} * K)));
  if (format == WeightFormat::kF16) {
    std::vector<fp16> w(static_cast<std::size_t>(N) * K);
    fill_weights(w);
    std::memcpy(bytes.data(), w.data(), bytes.size());
    return bytes;
  }
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(mix64(i));
  const fp16 d = f32_to_f16_scalar(0.001f);
  const std::int64_t bb = weight_block_bytes(format);
  for (std::size_t at = 0; at < bytes.size(); at += bb) {
    const std::size_t d_at = format == WeightFormat::kQ6_K ? offsetof(BlockQ6_K, d) : 0;
    std::memcpy(bytes.data() + at + d_at, &d, 2);
    if (format == WeightFormat::kQ4_K) std::memcpy(bytes.data() + at + 2, &d, 2);
  }
  return bytes;
}

// The decode table: each pass runs the GEMM over every copy of W in a buffer of `mib` MiB (in
// turn, X and Y shared), so W comes from memory, not from the caches, as in a decode step.
// GB/s = fp16 bytes of W per second (the two-stream pair reads W once).
int run_decode(bool json, bool smoke, int reps, std::size_t mib,
               const std::vector<int>& thread_counts, const std::vector<Format>& formats) {
  std::vector<Shape> shapes(std::begin(kDecodeShapes), std::end(kDecodeShapes));
  std::vector<int> ms(std::begin(kDecodeMs), std::end(kDecodeMs));
  if (smoke) {
    shapes.assign(std::begin(kSmokeShapes), std::end(kSmokeShapes));
    mib = 4;
  }
  const std::size_t bytes = mib << 20;
  nlohmann::json read = nlohmann::json::object();
  std::vector<double> read_gbps;
  for (int t : thread_counts) {
    set_num_threads(t);
    read_gbps.push_back(bench::measure_read_bandwidth(bytes, std::max(reps, 3)).median_gbps);
    read[std::to_string(t)] = read_gbps.back();
  }
  if (!json) {
    std::printf("pocket bench-gemm --decode: simd %s, %zu MiB of W per pass, read bandwidth",
                kSimdPath, mib);
    for (std::size_t i = 0; i < thread_counts.size(); ++i) {
      std::printf(" %.1f GB/s (%d thr)", read_gbps[i], thread_counts[i]);
    }
    std::printf("\n%-10s %4s %3s %5s %5s %3s | %7s %6s | %7s %6s | %7s\n", "model", "W", "M", "N",
                "K", "thr", "W GB/s", "x read", "perturb", "x read", "GFLOP/s");
  }
  nlohmann::json rows = nlohmann::json::array();
  for (const Shape& s : shapes) {
    for (const Format& f : formats) {
      const std::size_t per = static_cast<std::size_t>(s.N) * s.K;
      if (static_cast<std::int64_t>(per) % weight_block_size(f.format) != 0 ||
          s.K % weight_block_size(f.format) != 0) {
        continue;
      }
      const std::vector<std::uint8_t> one = make_weights(f.format, s.N, s.K);
      const std::size_t copies = std::max<std::size_t>(1, bytes / one.size());
      std::vector<std::uint8_t> w(copies * one.size());
      for (std::size_t c = 0; c < copies; ++c)
        std::copy(one.begin(), one.end(), w.begin() + c * one.size());
      const double w_bytes = static_cast<double>(w.size());
      const bool quantized = is_quantized(f.format);
      for (int M : ms) {
        std::vector<float> x(static_cast<std::size_t>(M) * s.K), x2(x.size());
        for (std::size_t i = 0; i < x.size(); ++i) {
          x[i] = static_cast<float>(mix64(i + 7) % 1000) / 1000.0f - 0.5f;
          x2[i] = -x[i];
        }
        std::vector<float> y(static_cast<std::size_t>(M) * s.N), y2(y.size());
        const GemmStream plain[1] = {{x.data(), y.data(), nullptr}};
        const GemmStream pair[2] = {{x.data(), y.data(), nullptr}, {x2.data(), y2.data(), nullptr}};
        WeightPerturbation pert;
        pert.streams = 2;
        pert.key[0] = pert.key[1] = z_key(1, fnv1a64("bench.weight"));
        pert.scale[0] = 1e-3f;
        pert.scale[1] = -1e-3f;
        auto pass = [&](int streams) {
          for (std::size_t c = 0; c < copies; ++c) {
            const WeightView wv{f.format, w.data() + c * one.size(), nullptr, s.N, s.K, s.K};
            gemm(M, wv, streams, streams == 1 ? plain : pair, s.K, s.N, {},
                 streams == 1 ? nullptr : &pert);
          }
        };
        for (std::size_t ti = 0; ti < thread_counts.size(); ++ti) {
          const int T = thread_counts[ti];
          set_num_threads(T);
          const double t1 = bench::median_seconds([&] { pass(1); }, reps, 0.0);
          // A perturbed block format is dequantized by the packer: not this table's subject.
          const double t2 = quantized ? 0.0 : bench::median_seconds([&] { pass(2); }, reps, 0.0);
          const double gb1 = w_bytes / t1 / 1e9, gb2 = quantized ? 0.0 : w_bytes / t2 / 1e9;
          const double gf = 2.0 * M * static_cast<double>(copies * per) / t1 / 1e9;
          rows.push_back({{"model", s.model},
                          {"format", f.name},
                          {"M", M},
                          {"N", s.N},
                          {"K", s.K},
                          {"threads", T},
                          {"weight_gbps", gb1},
                          {"perturbed_weight_gbps", gb2},
                          {"ratio_to_read_bandwidth", gb1 / read_gbps[ti]},
                          {"perturbed_ratio_to_read_bandwidth", gb2 / read_gbps[ti]},
                          {"gflops", gf}});
          if (!json) {
            std::printf("%-10s %4s %3d %5d %5d %3d | %7.1f %6.2f | %7.1f %6.2f | %7.1f\n", s.model,
                        f.name, M, s.N, s.K, T, gb1, gb1 / read_gbps[ti], gb2, gb2 / read_gbps[ti],
                        gf);
            std::fflush(stdout);
          }
        }
      }
    }
  }
  if (json) {
    nlohmann::json out;
    out["simd"] = kSimdPath;
    out["mib"] = mib;
    out["read_bandwidth_gbps"] = read;
    out["decode"] = rows;
    std::printf("%s\n", out.dump(1).c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  bool json = false, smoke = false, decode = false;
  int threads_all = hardware_threads(), reps = 5, mib = 1024;
  std::vector<Format> formats(std::begin(kAllFormats), std::end(kAllFormats));
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--json") {
      json = true;
    } else if (a == "--smoke") {
      smoke = true;
    } else if (a == "--decode") {
      decode = true;
    } else if ((a == "--threads" || a == "--reps" || a == "--mib") && i + 1 < argc) {
      const int v = std::atoi(argv[++i]);
      if (v < 1) {
        std::fprintf(stderr, "bench-gemm: %s needs a positive number\n", a.c_str());
        return 2;
      }
      (a == "--threads" ? threads_all : a == "--reps" ? reps : mib) = v;
    } else if (a == "--formats" && i + 1 < argc) {
      formats.clear();
      const std::string list = std::string(argv[++i]) + ",";
      for (std::size_t at = 0, comma; (comma = list.find(',', at)) != std::string::npos;
           at = comma + 1) {
        const std::string name = list.substr(at, comma - at);
        bool known = false;
        for (const Format& f : kAllFormats) {
          if (name == f.name) formats.push_back(f), known = true;
        }
        if (!known) {
          std::fprintf(stderr, "bench-gemm: unknown format '%s' (f16, q8_0, q4_0, q4_k)\n",
                       name.c_str());
          return 2;
        }
      }
    } else if (a == "-h" || a == "--help") {
      usage();
      return 0;
    } else {
      std::fprintf(stderr, "bench-gemm: unknown option '%s' (see --help)\n", a.c_str());
      return 2;
    }
  }
  if (smoke) reps = 1;
  const double min_seconds = smoke ? 0.0 : 0.05;

  std::vector<int> thread_counts = {1};
  if (threads_all > 1) thread_counts.push_back(threads_all);
  if (decode) {
    return run_decode(json, smoke, reps, static_cast<std::size_t>(mib), thread_counts, formats);
  }

  nlohmann::json peak = nlohmann::json::object();
  std::vector<double> peak_by_threads;
  for (int t : thread_counts) {
    const double p = bench::measure_fma_peak_gflops(t, smoke ? 0.02 : 0.5);
    peak[std::to_string(t)] = p;
    peak_by_threads.push_back(p);
  }

  std::vector<Shape> shapes(std::begin(kShapes), std::end(kShapes));
  std::vector<int> ms(std::begin(kMs), std::end(kMs));
  if (smoke) {
    shapes.assign(std::begin(kSmokeShapes), std::end(kSmokeShapes));
    ms.assign(std::begin(kSmokeMs), std::end(kSmokeMs));
  }

  if (!json) {
    std::printf("pocket bench-gemm: simd %s, FMA peak", kSimdPath);
    for (std::size_t i = 0; i < thread_counts.size(); ++i) {
      std::printf(" %.1f GFLOP/s (%d thr)", peak_by_threads[i], thread_counts[i]);
    }
#if !defined(POCKET_HAVE_OPENBLAS)
    std::printf("\nOpenBLAS not found at build time: the baseline columns are skipped.");
#endif
    std::printf("\n%-14s %4s %4s %5s %5s %3s | %8s %8s %6s | %8s %8s %7s | %6s\n", "model", "W",
                "M", "N", "K", "thr", "pocket", "perturb", "p/plain", "sgemm", "sgemv", "pocket/",
                "%peak");
    std::printf("%-14s %4s %4s %5s %5s %3s | %8s %8s %6s | %8s %8s %7s | %6s\n", "", "", "", "", "",
                "", "GFLOP/s", "GFLOP/s", "", "GFLOP/s", "GFLOP/s", "openblas", "");
  }

  std::vector<Result> results;
  for (const Shape& s : shapes) {
    for (const Format& f : formats) {
      const int N = s.N, K = s.K;
      if (K % weight_block_size(f.format) != 0) continue;
      const bool quantized = is_quantized(f.format);
      const std::vector<std::uint8_t> wbytes = make_weights(f.format, N, K);
      std::vector<float> w32;  // OpenBLAS gets exactly the fp16 values, widened (F16 rows only)
      if (!quantized) {
        w32.resize(static_cast<std::size_t>(N) * K);
        f16_to_f32(reinterpret_cast<const fp16*>(wbytes.data()), w32.data(), w32.size());
      }
      for (int M : ms) {
        std::vector<float> x(static_cast<std::size_t>(M) * K), x2(x.size());
        for (std::size_t i = 0; i < x.size(); ++i) {
          x[i] = static_cast<float>(mix64(i + 7) % 1000) / 1000.0f - 0.5f;
          x2[i] = -x[i];
        }
        std::vector<float> y(static_cast<std::size_t>(M) * N), y2(y.size());
        const WeightView wv{f.format, wbytes.data(), nullptr, N, K, K};
        const GemmStream plain[1] = {{x.data(), y.data(), nullptr}};
        const GemmStream pair[2] = {{x.data(), y.data(), nullptr}, {x2.data(), y2.data(), nullptr}};
        for (std::size_t ti = 0; ti < thread_counts.size(); ++ti) {
          const int T = thread_counts[ti];
          set_num_threads(T);
          Result r{s.model, f.name, M, N, K, T};
          r.pocket = gflops(
              M, N, K,
              bench::median_seconds([&] { gemm(M, wv, 1, plain, K, N); }, reps, min_seconds));
          WeightPerturbation pert;
          pert.streams = 2;
          pert.key[0] = pert.key[1] = z_key(1, fnv1a64("bench.weight"));
          pert.scale[0] = 1e-3f;
          pert.scale[1] = -1e-3f;
          // A perturbed block format is dequantized by the packer: not this table's subject.
          r.perturbed =
              quantized
                  ? -1
                  : 2 * gflops(M, N, K,
                               bench::median_seconds([&] { gemm(M, wv, 2, pair, K, N, {}, &pert); },
                                                     reps, min_seconds));
#if defined(POCKET_HAVE_OPENBLAS)
          if (!quantized) {
            openblas_set_num_threads(T);
            r.openblas =
                gflops(M, N, K,
                       bench::median_seconds(
                           [&] {
                             cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f,
                                         x.data(), K, w32.data(), K, 0.0f, y.data(), N);
                           },
                           reps, min_seconds));
            if (M == 1) {
              r.gemv = gflops(M, N, K,
                              bench::median_seconds(
                                  [&] {
                                    cblas_sgemv(CblasRowMajor, CblasNoTrans, N, K, 1.0f, w32.data(),
                                                K, x.data(), 1, 0.0f, y.data(), 1);
                                  },
                                  reps, min_seconds));
            }
          }
#endif
          results.push_back(r);
          if (!json) {
            const double base = r.gemv > 0 ? r.gemv : r.openblas;
            char ratio[16] = "-", blas[16] = "-", gemv[16] = "-", pert[16] = "-", pratio[16] = "-";
            if (r.perturbed > 0) {
              std::snprintf(pert, sizeof pert, "%.1f", r.perturbed);
              std::snprintf(pratio, sizeof pratio, "%.2f", r.perturbed / r.pocket);
            }
            if (base > 0) std::snprintf(ratio, sizeof ratio, "%.2f", r.pocket / base);
            if (r.openblas > 0) std::snprintf(blas, sizeof blas, "%.1f", r.openblas);
            if (r.gemv > 0) std::snprintf(gemv, sizeof gemv, "%.1f", r.gemv);
            std::printf("%-14s %4s %4d %5d %5d %3d | %8.1f %8s %6s | %8s %8s %7s | %5.1f%%\n",
                        s.model, f.name, M, N, K, T, r.pocket, pert, pratio, blas, gemv, ratio,
                        100.0 * r.pocket / peak_by_threads[ti]);
            std::fflush(stdout);
          }
        }
      }
    }
  }

  if (json) {
    nlohmann::json out;
    out["simd"] = kSimdPath;
    out["peak_gflops"] = peak;
    out["results"] = nlohmann::json::array();
    for (const Result& r : results) {
      nlohmann::json j = {{"model", r.model},
                          {"format", r.format},
                          {"M", r.M},
                          {"N", r.N},
                          {"K", r.K},
                          {"threads", r.threads},
                          {"pocket_gflops", r.pocket},
                          {"pocket_perturbed_gflops", r.perturbed}};
      j["pocket_perturbed_gflops"] =
          r.perturbed >= 0 ? nlohmann::json(r.perturbed) : nlohmann::json();
      j["openblas_gflops"] = r.openblas >= 0 ? nlohmann::json(r.openblas) : nlohmann::json();
      if (r.M == 1)
        j["openblas_gemv_gflops"] = r.gemv >= 0 ? nlohmann::json(r.gemv) : nlohmann::json();
      out["results"].push_back(j);
    }
    std::printf("%s\n", out.dump(1).c_str());
  }
  return 0;
}
