// bench-forward: whole-model speed. Prefill and decode tokens/s of OPT-125m, OPT-1.3B and
// TinyLlama-1.1B (random weights in the published shapes, made once and cached on disk), read
// against the ceilings measured in the same run: the FMA peak for prefill (compute-bound) and the
// memory read bandwidth for decode (one pass over the weights per token), and against llama.cpp
// on the same machine kind for TinyLlama (the issue's anchors).
//
// What is counted:
//   prefill flops = 2 · (weights of every Linear applied to each token) · B·T
//                 + 2 · (weights of the head) · B               (logits at the last position only)
//                 + 4 · head_dim · n_heads · n_layers · B · pairs (attention: a dot product and an
//                   axpy per visible (query, key) pair; pairs = T(T+1)/2 causal, T² otherwise)
//     Norms, softmax, activations, RoPE and the embedding gather are not counted (O(d) per token).
//   decode weight GB/s = checkpoint bytes · tokens/s, as the llama.cpp anchor counts it (the
//     token-embedding rows of an untied model are gathered, not streamed; the JSON also gives the
//     bytes the GEMMs stream per token).
//   peak RSS = getrusage's high-water mark of the whole process, mapped weights included: run one
//     shape per process (--shapes with one name) to read it for that shape alone.

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "bench_util.h"
#include "models.h"
#include "fma_peak.h"
#include "io/atomic_file.h"
#include "io/error.h"
#include "io/model_config.h"
#include "io/memory_stats.h"
#include "kernels/simd.h"
#include "kernels/thread_pool.h"
#include "model/gguf_export.h"
#include "model/model.h"
#include "model/random_model.h"
#include "read_bandwidth.h"

namespace {

using namespace pocket;
namespace fs = std::filesystem;

// llama.cpp on TinyLlama-1.1B F16, 2 threads, this machine kind (the issue's measurements).
struct LlamaCppAnchor {
  double prefill128_tps = 84.0;
  double prefill512_tps = 74.0;
  double decode_tps = 21.0;  // ≈ 46 GB/s of weights
  double peak_rss_bytes = 2.24e9;
  int threads = 2;
  const char* shape = "tinyllama-1.1b";
};
constexpr LlamaCppAnchor kAnchor;

const char* kUsage =
    "usage: bench-forward [--shapes a,b,c] [--threads N[,M...]] [--reps R] [--models DIR]\n"
    "                     [--json FILE|-] [--read-mib N] [--smoke]\n"
    "  Prefill (1x128, 16x64, and 1x512 for Llama) and decode (32 tokens after a 128-token\n"
    "  prompt) tokens/s of random-weight models in published shapes; prefill GFLOP/s against the\n"
    "  FMA peak, decode weight GB/s against the measured read bandwidth, peak RSS; TinyLlama\n"
    "  rows against llama.cpp. Models are created on first use (opt-1.3b: 2.6 GB, ~a minute).\n"
    "  --shapes    opt-125m, opt-350m, opt-1.3b, roberta-large, tinyllama-1.1b, tiny-opt,\n"
    "              tiny-roberta, tiny-llama (default opt-125m,opt-1.3b,tinyllama-1.1b). Peak RSS\n"
    "              is per process: give one shape to measure it for that shape alone.\n"
    "              SHAPE:FORMAT (q8_0, q4_0, q4_k, f16) runs the shape's model written as a\n"
    "              GGUF file in that format (as pocket quantize; cached beside the directory)\n"
    "  --threads   thread counts to measure, comma-separated (default 2; 0 = all cores)\n"
    "  --reps      timed repetitions, median reported, after one warm-up run (default 3)\n"
    "  --models    cache of model directories, DIR/<shape> (default build/bench-models)\n"
    "  --json      also write every row as one JSON document to FILE ('-': stdout, no table)\n"
    "  --read-mib  buffer of the DRAM read-bandwidth measurement (default 1024)\n"
    "  --smoke     the tiny shape of each family in a temp dir, 1 rep, tiny sizes (CI)\n"
    "  --help      this text\n";

struct Options {
  std::vector<std::string> shapes = {"opt-125m", "opt-1.3b", "tinyllama-1.1b"};
  std::vector<int> threads = {2};
  int reps = 3;
  std::string models_dir = "build/bench-models";
  std::string json_path;  // empty: no JSON; "-": stdout
  std::size_t read_mib = 1024;
  bool smoke = false;
};

// Token counts of the runs; --smoke shrinks them.
struct Sizes {
  std::vector<std::pair<std::int64_t, std::int64_t>> prefill;  // (batch, tokens per sequence)
  std::int64_t llama_long = 512;                               // extra 1 x this for Llama
  std::int64_t decode_context = 128;
  std::int64_t decode_steps = 32;
};

struct Row {
  std::string shape;
  int threads = 0;
  bool decode = false;
  std::int64_t batch = 1;
  std::int64_t len = 0;     // prefill: tokens per sequence; decode: the prompt before the steps
  double tokens = 0.0;      // tokens per timed run
  double seconds = 0.0;     // median seconds of one timed run
  double flops = 0.0;       // prefill: flops of one run
  double anchor_tps = 0.0;  // llama.cpp tokens/s for this row (0: none)
  double tps() const { return tokens / seconds; }
};

struct ShapeReport {
  std::string name;
  std::string arch;
  double params = 0.0;
  double weight_bytes = 0.0;    // weight_file_bytes()
  double streamed_bytes = 0.0;  // fp16 bytes of the matrices a decode step's GEMMs read
  bool created = false;
  double create_seconds = 0.0;
  double peak_rss = 0.0;  // process high-water mark after this shape
  bool rss_includes_earlier = false;
  double arena_bytes = 0.0;     // largest Session arena of the runs
  double kv_cache_bytes = 0.0;  // the decode session's KV cache
  double session_bytes = 0.0;   // largest arena + KV cache of one Session (one lives at a time)
  std::map<int, bench::ReadBandwidth> weights_read;  // streaming the mapped checkpoint, by threads
};





// Weights of the Linear layers applied to every token, and to every logit row only.
struct MatmulWeights {
  double per_token = 0.0;
  double per_logit_row = 0.0;
};

// `bytes`: in the weights' own formats instead of values.
MatmulWeights matmul_weights(const ModelWeights& w, bool bytes = false) {
  auto size = [bytes](const Linear& l) {
    if (!l) return 0.0;
    const std::int64_t n = l.out() * l.in();
    return static_cast<double>(bytes ? weight_bytes(l.weight->view.format, n) : n);
  };
  MatmulWeights m;
  for (const LayerWeights& L : w.layers) {
    for (const Linear* l : {&L.q, &L.k, &L.v, &L.o, &L.up, &L.down, &L.gate}) {
      m.per_token += size(*l);
    }
  }
  m.per_token += size(w.project_in);
  m.per_logit_row = size(w.project_out) + size(w.mlm_dense) + size(w.head);
  return m;
}

double prefill_flops(const Model& model, std::int64_t B, std::int64_t T) {
  const ModelConfig& c = model.config();
  const MatmulWeights m = matmul_weights(model.weights());
  const double t = static_cast<double>(T);
  const double pairs = c.causal ? t * (t + 1) / 2 : t * t;
  return 2.0 * m.per_token * B * t + 2.0 * m.per_logit_row * B +
         4.0 * c.head_dim * c.n_heads * c.n_layers * B * pairs;
}

std::vector<std::int32_t> token_ids(std::int64_t n, std::int64_t vocab) {
  std::vector<std::int32_t> ids(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) ids[i] = static_cast<std::int32_t>((i * 7919 + 17) % vocab);
  return ids;
}

// One untimed warm-up run, then the median of `reps` runs; run() returns its own seconds (so
// that a decode run can leave its prompt out). bench::median_seconds repeats short calls up to a
// minimum time; these runs take 10 ms to 20 s and are timed once each.
template <class F>
double warm_median(int reps, F&& run) {
  run();
  std::vector<double> seconds;
  for (int r = 0; r < reps; ++r) seconds.push_back(run());
  std::sort(seconds.begin(), seconds.end());
  return seconds[seconds.size() / 2];
}

void note_session(const Session& session, ShapeReport& report) {
  const double arena = static_cast<double>(session.arena_bytes());
  const double kv = static_cast<double>(session.kv_cache_bytes());
  report.arena_bytes = std::max(report.arena_bytes, arena);
  report.kv_cache_bytes = std::max(report.kv_cache_bytes, kv);
  report.session_bytes = std::max(report.session_bytes, arena + kv);
}

// B sequences of T tokens through Session::forward, logits at the last position of each.
Row time_prefill(const Model& model, std::int64_t B, std::int64_t T, int reps,
                 ShapeReport& report) {
  const ModelConfig& c = model.config();
  Session session(model, {B, T, B, 0});
  note_session(session, report);
  const std::vector<std::int32_t> ids = token_ids(B * T, c.vocab_size);
  std::vector<std::int64_t> rows(static_cast<std::size_t>(B));
  for (std::int64_t b = 0; b < B; ++b) rows[b] = b * T + T - 1;
  std::vector<float> logits(static_cast<std::size_t>(B * c.vocab_size));
  const TokenBatch batch{B, T, ids.data(), nullptr};
  Row row;
  row.batch = B;
  row.len = T;
  row.tokens = static_cast<double>(B * T);
  row.flops = prefill_flops(model, B, T);
  row.seconds = warm_median(reps, [&] {
    const double t0 = bench::now_seconds();
    session.forward(batch, rows.data(), B, logits.data());
    return bench::now_seconds() - t0;
  });
  return row;
}

// A `context`-token prompt through forward_cached (untimed), then `steps` single-token
// forward_cached calls, timed together.
Row time_decode(const Model& model, std::int64_t context, std::int64_t steps, int reps,
                ShapeReport& report) {
  const ModelConfig& c = model.config();
  Session session(model, {1, context, 1, context + steps});
  note_session(session, report);
  const std::vector<std::int32_t> ids = token_ids(context + steps, c.vocab_size);
  std::vector<float> logits(static_cast<std::size_t>(c.vocab_size));
  Row row;
  row.decode = true;
  row.len = context;
  row.tokens = static_cast<double>(steps);
  row.seconds = warm_median(reps, [&] {
    session.reset_cache();
    session.forward_cached(ids.data(), 1, context, logits.data());
    const double t0 = bench::now_seconds();
    for (std::int64_t s = 0; s < steps; ++s) {
      session.forward_cached(ids.data() + context + s, 1, 1, logits.data());
    }
    return bench::now_seconds() - t0;
  });
  return row;
}

double anchor_for(const std::string& shape, int threads, const Row& row) {
  if (shape != kAnchor.shape || threads != kAnchor.threads) return 0.0;
  if (row.decode) return row.len == 128 ? kAnchor.decode_tps : 0.0;
  if (row.batch != 1) return 0.0;
  if (row.len == 128) return kAnchor.prefill128_tps;
  if (row.len == 512) return kAnchor.prefill512_tps;
  return 0.0;
}

std::string run_name(const Row& r, std::int64_t steps) {
  if (r.decode) return "decode " + std::to_string(steps) + " @" + std::to_string(r.len);
  return "prefill " + std::to_string(r.batch) + "x" + std::to_string(r.len);
}

// Every run of one shape on every thread count.
void run_shape(const std::string& name, const std::string& dir, const Options& opt,
               const Sizes& sizes, std::vector<Row>& rows, ShapeReport& report) {
  // "tinyllama-1.1b:q4_0": the shape's directory, written as a GGUF file in that format.
  const std::size_t colon = name.find(':');
  const std::string shape = name.substr(0, colon);
  const std::string format = colon == std::string::npos ? "" : name.substr(colon + 1);
  const ModelConfig config = bench::config_for(shape);
  report.name = name;
  report.arch = arch_name(config.arch);
  report.params = static_cast<double>(config.n_params());
  set_num_threads(0);  // creation: every core
  report.created = bench::ensure_model("bench-forward", dir, config, &report.create_seconds);
  const std::string path = format.empty() ? dir : dir + "-" + format + ".gguf";
  if (!format.empty() && !fs::exists(path)) {
    std::fprintf(stderr, "bench-forward: writing %s\n", path.c_str());
    GgufExportOptions options;
    options.format = options.embed_format = parse_export_format("--shapes", format);
    options.tokenizer = false;  // random weights, no vocabulary
    write_model_gguf(Model(dir), path, options);
  }

  const Model model(path);
  report.weight_bytes = static_cast<double>(model.weight_file_bytes());
  const MatmulWeights matmul = matmul_weights(model.weights(), true);
  report.streamed_bytes = matmul.per_token + matmul.per_logit_row;
  std::vector<std::span<const std::uint8_t>> mapped;
  for (const MappedFile* file : model.mapped_files()) {
    mapped.emplace_back(file->data(), file->size());
  }

  for (const int threads : opt.threads) {
    set_num_threads(threads);
    std::fprintf(stderr, "bench-forward: %s, %d thread%s\n", name.c_str(), threads,
                 threads == 1 ? "" : "s");
    auto push = [&](Row row) {
      row.shape = name;
      row.threads = threads;
      row.anchor_tps = anchor_for(name, threads, row);
      std::fprintf(stderr, "  %s: %.1f tokens/s\n", run_name(row, sizes.decode_steps).c_str(),
                   row.tps());
      rows.push_back(row);
    };
    report.weights_read[threads] = bench::measure_read_bandwidth(mapped, opt.reps);
    auto prefill = sizes.prefill;
    if (config.arch == Arch::kLlama) prefill.emplace_back(1, sizes.llama_long);
    for (const auto& [B, T] : prefill) push(time_prefill(model, B, T, opt.reps, report));
    if (config.causal) {
      push(time_decode(model, sizes.decode_context, sizes.decode_steps, opt.reps, report));
    }
  }
  report.peak_rss = static_cast<double>(peak_rss_bytes());
}

// --smoke's model directory, removed however the run ends.
struct TempDir {
  std::string path;
  ~TempDir() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
};

struct Machine {
  std::map<int, double> fma_peak_gflops;
  std::map<int, bench::ReadBandwidth> dram_read;  // private buffer of --read-mib
};

void print_table(const Options& opt, const Sizes& sizes, const Machine& machine,
                 const std::vector<ShapeReport>& shapes, const std::vector<Row>& rows) {
  std::printf("bench-forward: simd %s, medians of %d run%s after a warm-up\n", kSimdPath, opt.reps,
              opt.reps == 1 ? "" : "s");
  for (const int t : opt.threads) {
    const bench::ReadBandwidth& r = machine.dram_read.at(t);
    std::printf(
        "  %d thread%s: FMA peak %.1f GFLOP/s, read bandwidth %.2f GB/s (best %.2f) over "
        "%.0f MiB\n",
        t, t == 1 ? "" : "s", machine.fma_peak_gflops.at(t), r.median_gbps, r.best_gbps,
        r.bytes / (1 << 20));
  }
  std::printf("\n%-15s %3s %-16s %9s %9s %8s %6s %7s %6s %6s %8s\n", "shape", "thr", "run",
              "tokens/s", "ms/run", "GFLOP/s", "%peak", "wGB/s", "x read", "x dram", "x llama");
  for (const Row& r : rows) {
    const ShapeReport& s = *std::find_if(shapes.begin(), shapes.end(),
                                         [&](const auto& x) { return x.name == r.shape; });
    std::printf("%-15s %3d %-16s %9.1f %9.1f", r.shape.c_str(), r.threads,
                run_name(r, sizes.decode_steps).c_str(), r.tps(), r.seconds * 1e3);
    if (r.decode) {
      const double gbps = s.weight_bytes * r.tps() / 1e9;
      std::printf(" %8s %6s %7.2f %6.2f %6.2f", "", "", gbps,
                  gbps / s.weights_read.at(r.threads).median_gbps,
                  gbps / machine.dram_read.at(r.threads).median_gbps);
    } else {
      const double gflops = r.flops / r.seconds / 1e9;
      std::printf(" %8.1f %6.1f %7s %6s %6s", gflops,
                  100.0 * gflops / machine.fma_peak_gflops.at(r.threads), "", "", "");
    }
    if (r.anchor_tps > 0.0) std::printf(" %8.2f", r.tps() / r.anchor_tps);
    std::printf("\n");
  }
  std::printf("\n%-15s %9s %9s %9s %9s %9s %9s %12s\n", "shape", "params", "weights", "peak RSS",
              "arena", "KV cache", "rest", "read weights");
  for (const ShapeReport& s : shapes) {
    const double rest = s.peak_rss - s.weight_bytes - s.session_bytes;
    std::printf("%-15s %8.1fM %8.3fG %8.3fG%s %8.1fM %8.1fM %8.1fM", s.name.c_str(), s.params / 1e6,
                s.weight_bytes / 1e9, s.peak_rss / 1e9, s.rss_includes_earlier ? "*" : " ",
                s.arena_bytes / 1e6, s.kv_cache_bytes / 1e6, rest / 1e6);
    for (const auto& [t, r] : s.weights_read) std::printf("  %.1f GB/s (%d thr)", r.median_gbps, t);
    if (s.name == kAnchor.shape) {
      std::printf("  RSS x llama.cpp %.2f", s.peak_rss / kAnchor.peak_rss_bytes);
    }
    if (s.created) std::printf("  (created in %.1f s)", s.create_seconds);
    std::printf("\n");
  }
  std::printf(
      "\nGFLOP/s counts the matmuls and attention (see bench_forward.cpp); %%peak is over the FMA\n"
      "peak of the same threads. wGB/s = checkpoint bytes x decode tokens/s; x read = over\n"
      "streaming the mapped checkpoint, x dram = over the private buffer, same threads.\n"
      "x llama = tokens/s (RSS: bytes) over llama.cpp's on TinyLlama F16, %d threads: prefill\n"
      "%.0f tokens/s at 128 and %.0f at 512, decode %.0f tokens/s, peak RSS %.2f GB.\n"
      "arena: the largest Session's; KV cache: the decode Session's; rest = peak RSS - weights -\n"
      "(arena + KV cache) of the largest Session: GEMM scratch, logits, libc, the binary.\n",
      kAnchor.threads, kAnchor.prefill128_tps, kAnchor.prefill512_tps, kAnchor.decode_tps,
      kAnchor.peak_rss_bytes / 1e9);
  if (std::any_of(shapes.begin(), shapes.end(),
                  [](const auto& s) { return s.rss_includes_earlier; })) {
    std::printf(
        "*: the process peak includes the shapes before it (give one shape per process).\n");
  }
}

nlohmann::json to_json(const Options& opt, const Sizes& sizes, const Machine& machine,
                       const std::vector<ShapeReport>& shapes, const std::vector<Row>& rows) {
  auto read_json = [](const bench::ReadBandwidth& r) {
    return nlohmann::json{
        {"bytes", r.bytes}, {"median_gbps", r.median_gbps}, {"best_gbps", r.best_gbps}};
  };
  nlohmann::json out = {{"simd", kSimdPath},
                        {"reps", opt.reps},
                        {"smoke", opt.smoke},
                        {"threads", opt.threads},
                        {"fma_peak_gflops", nlohmann::json::object()},
                        {"dram_read_bandwidth", nlohmann::json::object()},
                        {"llama_cpp_anchor",
                         {{"shape", kAnchor.shape},
                          {"threads", kAnchor.threads},
                          {"prefill_128_tokens_per_second", kAnchor.prefill128_tps},
                          {"prefill_512_tokens_per_second", kAnchor.prefill512_tps},
                          {"decode_tokens_per_second", kAnchor.decode_tps},
                          {"peak_rss_bytes", kAnchor.peak_rss_bytes}}},
                        {"shapes", nlohmann::json::array()},
                        {"results", nlohmann::json::array()}};
  for (const int t : opt.threads) {
    out["fma_peak_gflops"][std::to_string(t)] = machine.fma_peak_gflops.at(t);
    out["dram_read_bandwidth"][std::to_string(t)] = read_json(machine.dram_read.at(t));
  }
  for (const ShapeReport& s : shapes) {
    nlohmann::json j = {{"shape", s.name},
                        {"arch", s.arch},
                        {"params", s.params},
                        {"weight_bytes", s.weight_bytes},
                        {"decode_streamed_bytes_per_token", s.streamed_bytes},
                        {"created", s.created},
                        {"peak_rss_bytes", s.peak_rss},
                        {"peak_rss_includes_earlier_shapes", s.rss_includes_earlier},
                        {"arena_bytes", s.arena_bytes},
                        {"kv_cache_bytes", s.kv_cache_bytes},
                        {"largest_session_bytes", s.session_bytes},
                        {"weights_read_bandwidth", nlohmann::json::object()}};
    if (s.created) j["create_seconds"] = s.create_seconds;
    if (s.name == kAnchor.shape)
      j["peak_rss_ratio_to_llama_cpp"] = s.peak_rss / kAnchor.peak_rss_bytes;
    for (const auto& [t, r] : s.weights_read)
      j["weights_read_bandwidth"][std::to_string(t)] = read_json(r);
    out["shapes"].push_back(j);
  }
  for (const Row& r : rows) {
    const ShapeReport& s = *std::find_if(shapes.begin(), shapes.end(),
                                         [&](const auto& x) { return x.name == r.shape; });
    nlohmann::json j = {{"shape", r.shape},
                        {"threads", r.threads},
                        {"run", r.decode ? "decode" : "prefill"},
                        {"batch", r.batch},
                        {r.decode ? "context" : "tokens_per_sequence", r.len},
                        {"tokens", r.tokens},
                        {"seconds", r.seconds},
                        {"tokens_per_second", r.tps()}};
    if (r.decode) {
      const double gbps = s.weight_bytes * r.tps() / 1e9;
      j["steps"] = sizes.decode_steps;
      j["weight_gbps"] = gbps;
      j["ratio_to_weights_read_bandwidth"] = gbps / s.weights_read.at(r.threads).median_gbps;
      j["ratio_to_dram_read_bandwidth"] = gbps / machine.dram_read.at(r.threads).median_gbps;
    } else {
      const double gflops = r.flops / r.seconds / 1e9;
      j["flops"] = r.flops;
      j["gflops"] = gflops;
      j["percent_of_fma_peak"] = 100.0 * gflops / machine.fma_peak_gflops.at(r.threads);
    }
    if (r.anchor_tps > 0.0) {
      j["llama_cpp_tokens_per_second"] = r.anchor_tps;
      j["ratio_to_llama_cpp"] = r.tps() / r.anchor_tps;
    }
    out["results"].push_back(j);
  }
  return out;
}

Options parse_options(int argc, char** argv, bool* help) {
  Options opt;
  bool shapes_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--smoke") {
      opt.smoke = true;
    } else if (arg == "--help" || arg == "-h") {
      *help = true;
    } else if (arg == "--shapes" && has_value) {
      opt.shapes = bench::split_commas(argv[++i]);
      shapes_given = true;
    } else if (arg == "--threads" && has_value) {
      opt.threads.clear();
      for (const std::string& t : bench::split_commas(argv[++i])) {
        const int n = bench::parse_int("--threads", t, 0);
        opt.threads.push_back(n == 0 ? hardware_threads() : n);
      }
    } else if (arg == "--reps" && has_value) {
      opt.reps = bench::parse_int("--reps", argv[++i], 1);
    } else if (arg == "--models" && has_value) {
      opt.models_dir = argv[++i];
    } else if (arg == "--json" && has_value) {
      opt.json_path = argv[++i];
    } else if (arg == "--read-mib" && has_value) {
      opt.read_mib = static_cast<std::size_t>(bench::parse_int("--read-mib", argv[++i], 1));
    } else {
      throw Error(arg, "unknown argument or missing value (see --help)");
    }
  }
  if (opt.smoke) {
    opt.reps = 1;
    opt.read_mib = 16;
    if (!shapes_given) opt.shapes = {"tiny-opt", "tiny-roberta", "tiny-llama"};
  }
  std::sort(opt.threads.begin(), opt.threads.end());
  opt.threads.erase(std::unique(opt.threads.begin(), opt.threads.end()), opt.threads.end());
  return opt;
}

int run(const Options& opt) {
  Sizes sizes;
  sizes.prefill = {{1, 128}, {16, 64}};
  std::string models_dir = opt.models_dir;
  TempDir temp;
  if (opt.smoke) {
    sizes.prefill = {{1, 16}, {4, 8}};
    sizes.llama_long = 32;
    sizes.decode_context = 16;
    sizes.decode_steps = 4;
    std::string pattern = (fs::temp_directory_path() / "bench-forward-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw Error(pattern, "cannot create a temp directory");
    models_dir = temp.path = pattern;
  }

  // The FMA peak is a ceiling that other tenants of the machine only lower: measured before and
  // after every shape, the highest reading counts.
  Machine machine;
  auto measure_peaks = [&] {
    for (const int t : opt.threads) {
      double& peak = machine.fma_peak_gflops[t];
      peak = std::max(peak, bench::measure_fma_peak_gflops(t, opt.smoke ? 0.02 : 0.3));
    }
  };
  measure_peaks();
  std::vector<Row> rows;
  std::vector<ShapeReport> shapes;
  for (const std::string& name : opt.shapes) {
    ShapeReport report;
    report.rss_includes_earlier = !shapes.empty();
    run_shape(name, (fs::path(models_dir) / name.substr(0, name.find(':'))).string(), opt, sizes,
              rows, report);
    shapes.push_back(report);
    measure_peaks();
  }
  // Last: the private buffer must not count in the shapes' peak RSS.
  for (const int t : opt.threads) {
    set_num_threads(t);
    machine.dram_read[t] = bench::measure_read_bandwidth(opt.read_mib << 20, opt.reps);
  }

  if (opt.json_path != "-") print_table(opt, sizes, machine, shapes, rows);
  if (!opt.json_path.empty()) {
    const std::string text = to_json(opt, sizes, machine, shapes, rows).dump(2) + "\n";
    if (opt.json_path == "-") {
      std::printf("%s", text.c_str());
    } else {
      write_file_atomic(opt.json_path, text);
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    bool help = false;
    const Options opt = parse_options(argc, argv, &help);
    if (help) {
      std::printf("%s", kUsage);
      return 0;
    }
    return run(opt);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench-forward: %s\n", e.what());
    return 1;
  }
}
