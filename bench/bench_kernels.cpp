// bench-kernels: the memory-bound transformer kernels against the copy bandwidth of this machine.
//
// Each kernel is timed (median of several runs, bench_util.h) and reported as GB/s of bytes read
// plus bytes written, and as a fraction of what a plain copy moves per second with the same
// threads: a kernel near 1.0x is limited by memory, not by its arithmetic. Attention also reports
// GFLOP/s, since at prompt sizes it is compute-bound and its GB/s says little.
//
// To add a kernel, time it and push one Row onto `rows` in run_kernels(); the table and the
// JSON output pick it up.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench_util.h"
#include "kernels/activations.h"
#include "kernels/attention.h"
#include "kernels/embedding.h"
#include "kernels/layernorm.h"
#include "kernels/residual.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "kernels/simd.h"
#include "kernels/softmax.h"
#include "kernels/thread_pool.h"
#include "kernels/zo_update.h"
#include "kernels/zrng.h"

namespace {

using namespace pocket;

struct Row {
  std::string name;
  std::string shape;
  double bytes;    // read + written by one call
  double seconds;  // median time of one call
  double flops = 0.0;
};

struct Options {
  bool smoke = false;
  bool json = false;
  int threads = 0;  // 0: all hardware threads
};

struct Timing {
  int reps;
  double min_seconds;
};

const char* kUsage =
    "usage: bench-kernels [--smoke] [--json] [--threads N]\n"
    "  Times layernorm, rmsnorm, softmax, GELU, residual add, RoPE, embedding gather and\n"
    "  attention; prints GB/s (bytes read + written) and the ratio to the copy bandwidth.\n"
    "  --smoke      tiny sizes, one repetition (a check that it runs, not a measurement)\n"
    "  --json       print one JSON object instead of the table\n"
    "  --threads N  threads for the kernels and the copy (default: all hardware threads)\n"
    "  --help       this text\n";

std::vector<float> filled(std::size_t n, float value) { return std::vector<float>(n, value); }

std::vector<float> ramp(std::size_t n) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<float>(i % 1024) / 512.0f - 1.0f;
  return v;
}

std::string dims(std::initializer_list<std::int64_t> sizes) {
  std::string s;
  for (std::int64_t d : sizes) s += (s.empty() ? "" : "x") + std::to_string(d);
  return s;
}

// memcpy of one large buffer, split over the pool in fixed chunks like the kernels are.
Row time_copy(bool smoke, const Timing& timing) {
  const std::size_t bytes = smoke ? (std::size_t{1} << 20) : (std::size_t{64} << 20);
  std::vector<char> src(bytes, 1), dst(bytes, 0);
  const std::size_t chunk = std::size_t{1} << 18;
  const std::int64_t n_chunks = static_cast<std::int64_t>((bytes + chunk - 1) / chunk);
  const double s = bench::median_seconds(
      [&] {
        default_pool().run(n_chunks, [&](std::int64_t c, int) {
          const std::size_t begin = static_cast<std::size_t>(c) * chunk;
          std::memcpy(dst.data() + begin, src.data() + begin, std::min(chunk, bytes - begin));
        });
      },
      timing.reps, timing.min_seconds);
  return {"copy (memcpy)", dims({static_cast<std::int64_t>(bytes >> 20)}) + " MiB",
          2.0 * static_cast<double>(bytes), s};
}

void run_kernels(bool smoke, const Timing& timing, std::vector<Row>& rows) {
  auto time = [&](auto&& fn) { return bench::median_seconds(fn, timing.reps, timing.min_seconds); };

  {  // layernorm over GPT-2 small rows
    const std::int64_t n_rows = smoke ? 64 : 8192, C = 768;
    const auto x = ramp(n_rows * C), w = filled(C, 1.0f), b = filled(C, 0.0f);
    std::vector<float> out(x.size());
    const double s =
        time([&] { layernorm(x.data(), out.data(), n_rows, C, w.data(), b.data(), 1e-5f); });
    rows.push_back({"layernorm", dims({n_rows, C}), 2.0 * 4 * n_rows * C, s});
  }
  {  // rmsnorm over Llama-style rows
    const std::int64_t n_rows = smoke ? 32 : 4096, C = 2048;
    const auto x = ramp(n_rows * C), w = filled(C, 1.0f);
    std::vector<float> out(x.size());
    const double s = time([&] { rmsnorm(x.data(), out.data(), n_rows, C, w.data(), 1e-6f); });
    rows.push_back({"rmsnorm", dims({n_rows, C}), 2.0 * 4 * n_rows * C, s});
  }
  {  // softmax over attention-score rows (12 heads x 512 queries x 512 keys), in place
    const std::int64_t n_rows = smoke ? 64 : 12 * 512, n = 512;
    const auto x0 = ramp(n_rows * n);
    std::vector<float> x = x0;
    const double s = time([&] { softmax(x.data(), n_rows, n); });
    rows.push_back({"softmax", dims({n_rows, n}), 2.0 * 4 * n_rows * n, s});
  }
  {  // activations over an MLP hidden state
    const std::int64_t n = smoke ? (1 << 14) : (std::int64_t{1} << 23);
    const auto x = ramp(n);
    std::vector<float> out(n);
    rows.push_back(
        {"gelu (erf)", dims({n}), 2.0 * 4 * n, time([&] { gelu(x.data(), out.data(), n); })});
    rows.push_back(
        {"gelu (tanh)", dims({n}), 2.0 * 4 * n, time([&] { gelu_tanh(x.data(), out.data(), n); })});
    rows.push_back({"residual add", dims({n}), 3.0 * 4 * n,
                    time([&] { residual_add(out.data(), x.data(), n); })});
  }
  {  // RoPE on the queries of a Llama-7B-sized prompt
    const std::int64_t T = smoke ? 16 : 512;
    const int n_heads = 32, head_dim = 128;
    const RopeTable table(head_dim, T, 10000.0f);
    std::vector<float> x = ramp(T * n_heads * head_dim);
    std::vector<std::int32_t> pos(T);
    for (std::int64_t t = 0; t < T; ++t) pos[t] = static_cast<std::int32_t>(t);
    const double s =
        time([&] { rope(x.data(), T, n_heads, n_heads * head_dim, pos.data(), table); });
    rows.push_back({"rope", dims({T, n_heads, head_dim}), 2.0 * 4 * x.size(), s});
  }
  {  // embedding gather from GPT-2's fp16 token table, plus position embeddings
    const std::int64_t vocab = smoke ? 1000 : 50257, d = 768, n = smoke ? 64 : 8192;
    const std::vector<fp16> table(vocab * d, f32_to_f16_scalar(0.5f));
    const auto addend = ramp(n * d);
    std::vector<std::int32_t> ids(n);
    for (std::int64_t i = 0; i < n; ++i) ids[i] = static_cast<std::int32_t>((i * 7919) % vocab);
    std::vector<float> out(n * d);
    const double s = time([&] {
      embedding_gather({WeightFormat::kF16, table.data(), nullptr, vocab, d, d}, ids.data(), n,
                       addend.data(), out.data());
    });
    rows.push_back({"embedding gather", dims({n, d}), static_cast<double>(n * d) * (2 + 4 + 4), s});
  }
  // ZO update W ← SR16(W − η(g·z + λW)) over an OPT-125m fc1-sized fp16 tensor, in place (read and
  // write 2 bytes per weight), and the fp32-master variant (master read+write, fp16 written).
  {
    const std::int64_t n = smoke ? 4096 : 3072 * 768 * 4;
    std::vector<fp16> w(n, 0x2E66);  // 0.1
    std::vector<float> master(n, 0.1f);
    const std::uint64_t pid = fnv1a64("bench.fc1.weight");
    ZoUpdate u{z_key(1, pid), sr_key(1, pid), 1e-6f, 0.5f, 0.0f, 0};
    double s = time([&] { zo_update_f16(w.data(), n, u); });
    rows.push_back({"zo update (SR16)", dims({n}), 4.0 * n, s});
    s = time([&] { zo_update_f32_master(master.data(), w.data(), n, u); });
    rows.push_back({"zo update (f32 master)", dims({n}), 10.0 * n, s});
  }
  // attention: a GPT-2 small prompt (causal) and one decode step over a 512-token KV cache
  for (const bool decode : {false, true}) {
    AttentionShape shape;
    shape.q_len = decode ? 1 : (smoke ? 16 : 128);
    shape.kv_len = decode ? (smoke ? 32 : 512) : shape.q_len;
    shape.n_heads = shape.n_heads_kv = 12;
    shape.head_dim = 64;
    shape.causal = true;
    const std::int64_t C = shape.n_heads * shape.head_dim;
    const auto q = ramp(shape.q_len * C), k = ramp(shape.kv_len * C), v = ramp(shape.kv_len * C);
    std::vector<float> out(q.size());
    const double s =
        time([&] { attention(q.data(), k.data(), v.data(), nullptr, out.data(), shape); });
    // Visible (query, key) pairs, each a dot product and an axpy of head_dim: 4 flops per element.
    const double T = static_cast<double>(shape.q_len), S = static_cast<double>(shape.kv_len);
    const double pairs = decode ? S : T * (T + 1) / 2;
    rows.push_back(
        {decode ? "attention decode" : "attention prefill",
         "T" + std::to_string(shape.q_len) + " S" + std::to_string(shape.kv_len) + " H12 hd64",
         4.0 * (2 * T * C + 2 * S * C), s, 4.0 * pairs * shape.n_heads * shape.head_dim});
  }
}

void print_table(const Row& copy, const std::vector<Row>& rows, int threads) {
  const double copy_gbps = copy.bytes / copy.seconds / 1e9;
  std::printf("bench-kernels: simd %s, %d thread%s; copy %s: %.2f GB/s (read + write)\n\n",
              kSimdPath, threads, threads == 1 ? "" : "s", copy.shape.c_str(), copy_gbps);
  std::printf("%-22s %-20s %10s %10s %9s %8s %9s\n", "kernel", "shape", "MB moved", "ms", "GB/s",
              "x copy", "GFLOP/s");
  for (const Row& r : rows) {
    const double gbps = r.bytes / r.seconds / 1e9;
    std::printf("%-22s %-20s %10.2f %10.4f %9.2f %7.2fx", r.name.c_str(), r.shape.c_str(),
                r.bytes / 1e6, r.seconds * 1e3, gbps, gbps / copy_gbps);
    if (r.flops > 0.0) std::printf(" %9.2f", r.flops / r.seconds / 1e9);
    std::printf("\n");
  }
}

void print_json(const Row& copy, const std::vector<Row>& rows, int threads) {
  const double copy_gbps = copy.bytes / copy.seconds / 1e9;
  nlohmann::json out = {
      {"simd", kSimdPath},
      {"threads", threads},
      {"copy", {{"bytes", copy.bytes}, {"seconds", copy.seconds}, {"gbps", copy_gbps}}},
      {"kernels", nlohmann::json::array()}};
  for (const Row& r : rows) {
    const double gbps = r.bytes / r.seconds / 1e9;
    nlohmann::json row = {{"name", r.name},   {"shape", r.shape},
                          {"bytes", r.bytes}, {"seconds", r.seconds},
                          {"gbps", gbps},     {"ratio_to_copy", gbps / copy_gbps}};
    if (r.flops > 0.0) row["gflops"] = r.flops / r.seconds / 1e9;
    out["kernels"].push_back(row);
  }
  std::printf("%s\n", out.dump(2).c_str());
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--smoke") {
      opt.smoke = true;
    } else if (arg == "--json") {
      opt.json = true;
    } else if (arg == "--threads" && i + 1 < argc) {
      opt.threads = std::atoi(argv[++i]);
    } else if (arg == "--help" || arg == "-h") {
      std::printf("%s", kUsage);
      return 0;
    } else {
      std::fprintf(stderr, "bench-kernels: unknown argument '%s'\n%s", arg.c_str(), kUsage);
      return 2;
    }
  }
  set_num_threads(opt.threads);
  const Timing timing = opt.smoke ? Timing{1, 0.0} : Timing{7, 0.05};

  const Row copy = time_copy(opt.smoke, timing);
  std::vector<Row> rows;
  run_kernels(opt.smoke, timing, rows);
  const int threads = default_pool().size();
  if (opt.json) {
    print_json(copy, rows, threads);
  } else {
    print_table(copy, rows, threads);
  }
  return 0;
}
