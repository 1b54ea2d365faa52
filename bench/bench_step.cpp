// bench-step: what one ZO step costs against one forward, in time and memory, on the same batch.
// The two targets (DESIGN.md, "Numbers that matter"): ZO step time / forward time <= 2.0 (2.05
// with noise), peak RSS of a tuning process / peak RSS of an inference process <= 1.0.
//
// Models: random F16 weights in published shapes (opt-125m, opt-1.3b, roberta-large by default),
// made once and cached like bench-forward's (build/bench-models/<shape>; no tokenizer needed: the
// inputs are token ids). The task is synthetic classification with two single-token candidates:
// B examples of T random token ids (RoBERTa: <s> ... <mask> . </s>), random labels.
//
// Time, in this process, per thread count:
//   forward  Evaluator::run on the batch: BatchBuilder + Session::forward_chunks (one unperturbed
//            stream) + TaskLoss, exactly `pocket eval`'s work for one batch. Read-only model.
//   step     ZoTuner::step on the same batch: the two-stream (±εz) forward, g, and the update of
//            every parameter (fp16, stochastic rounding) in a working copy mapped read-write
//            (the model's files copied into a temp directory, as a tuning run's RUN/model).
//   update   ZoTuner::apply_update alone (the step's second half), to show where step time goes;
//            probe (the two-stream forward) = step - update.
//   Each once to warm up, then the median of --reps.
// Memory: each mode re-executes this binary as a child (`--child eval|step`), which loads the
// model, runs one forward or one step and exits; the parent reads the child's own peak RSS from
// wait4's rusage (ru_maxrss), so each mode has its own high-water mark. The child reports what
// it holds: mapped weight bytes, Session::arena_bytes(), the thread pool's GEMM scratch; rest =
// peak - those (the trainer's buffers, batch, logits chunks, libc, the binary).
//
// GFLOP/s of the forward counts 2 · (Linear weights applied per token) · B·T + 2 · (head
// weights) · logit rows + 4 · head_dim · n_heads · n_layers · B · (visible query-key pairs), as
// bench-forward does.

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
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
#include "kernels/zrng.h"
#include "model/model.h"
#include "model/random_model.h"
#include "task/evaluate.h"
#include "task/task.h"
#include "zo/zo_step.h"

namespace {

using namespace pocket;
namespace fs = std::filesystem;

const char* kUsage =
    "usage: bench-step [--shapes a,b,c] [--threads N[,M...]] [--batch B] [--len T] [--reps R]\n"
    "                  [--models DIR] [--work DIR] [--no-memory] [--json FILE|-] [--smoke]\n"
    "  One forward (pocket eval's work) against one ZO step (ZoTuner::step: two-stream forward\n"
    "  + fp16 SR update of every parameter) on the same synthetic classification batch, and the\n"
    "  peak RSS of a step process against an eval process (each re-executed as a child).\n"
    "  --shapes    opt-125m, opt-350m, opt-1.3b, roberta-large, tinyllama-1.1b, tiny-opt,\n"
    "              tiny-roberta, tiny-llama (default opt-125m,opt-1.3b,roberta-large)\n"
    "  --threads   thread counts to time, comma-separated (default 2; 0 = all cores); memory is\n"
    "              measured with the largest\n"
    "  --batch     examples per batch (default 16)\n"
    "  --len       tokens per example (default 64)\n"
    "  --reps      timed repetitions, median reported, after one warm-up (default 3)\n"
    "  --models    cache of model directories, DIR/<shape> (default build/bench-models)\n"
    "  --work      where the working copies go (default: a temp directory inside --models)\n"
    "  --no-memory skip the child processes (time only)\n"
    "  --json      also write the results as one JSON document to FILE ('-': stdout, no table)\n"
    "  --smoke     tiny-opt and tiny-roberta in a temp dir, batch 4 x 16, 1 rep (CI)\n"
    "  --help      this text\n";

struct Options {
  std::vector<std::string> shapes = {"opt-125m", "opt-1.3b", "roberta-large"};
  std::vector<int> threads = {2};
  std::int64_t batch = 16;
  std::int64_t len = 64;
  int reps = 3;
  std::string models_dir = "build/bench-models";
  std::string work_dir;
  std::string json_path;
  bool memory = true;
  bool smoke = false;
  // Child mode.
  std::string child;  // "eval" | "step"
  std::string child_model;
  std::string child_out;
  std::string child_shape;
};





// A tuning run's working copy of `base`: its config and safetensors files.
void copy_model(const std::string& base, const std::string& dir) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir, ec);
  if (ec) throw Error(dir, "cannot create directory: " + ec.message());
  for (const auto& entry : fs::directory_iterator(base)) {
    const std::string name = entry.path().filename().string();
    if (name == "config.json" || name.find(".safetensors") != std::string::npos) {
      fs::copy_file(entry.path(), fs::path(dir) / name, fs::copy_options::overwrite_existing, ec);
      if (ec) throw Error(dir + "/" + name, "cannot copy: " + ec.message());
    }
  }
}

// The synthetic task: classification, two single-token candidates, RoBERTa through <mask>.
Task synthetic_task(const ModelConfig& c, std::int64_t len) {
  Task task;
  task.options.kind = TaskKind::kClassification;
  task.options.max_len = len;
  task.options.labels = " terrible| great";
  task.mlm = !c.causal;
  task.mask_id = task.mlm ? static_cast<std::int32_t>(c.vocab_size - 1) : -1;
  task.pad_id = c.pad_token_id >= 0 ? c.pad_token_id : 0;
  task.label_words = {" terrible", " great"};
  task.candidates = {{static_cast<std::int32_t>(6587 % c.vocab_size)},
                     {static_cast<std::int32_t>(372 % c.vocab_size)}};
  return task;
}

// n examples of exactly `len` random token ids (never a special id), random labels.
Dataset synthetic_data(const ModelConfig& c, const Task& task, std::int64_t n, std::int64_t len) {
  std::mt19937_64 rng(12345);
  const std::int64_t lo = std::min<std::int64_t>(4, c.vocab_size - 2);
  std::uniform_int_distribution<std::int64_t> token(lo, c.vocab_size - 2);
  Dataset data;
  data.path = "<synthetic>";
  data.longest = len;
  for (std::int64_t e = 0; e < n; ++e) {
    Example ex;
    ex.ids.resize(static_cast<std::size_t>(len));
    for (auto& id : ex.ids) id = static_cast<std::int32_t>(token(rng));
    ex.label = static_cast<std::int32_t>(rng() & 1);
    if (task.mlm) {
      // "<s> text <mask> . </s>"
      ex.ids.front() = c.bos_token_id >= 0 ? c.bos_token_id : 0;
      ex.ids.back() = c.eos_token_id >= 0 ? c.eos_token_id : 2;
      ex.mask_pos = len >= 3 ? len - 3 : 0;
      ex.ids[static_cast<std::size_t>(ex.mask_pos)] = task.mask_id;
    }
    data.examples.push_back(std::move(ex));
  }
  return data;
}

// Weights of the Linear layers applied to every token, and to every logit row only.
double forward_flops(const Model& model, std::int64_t B, std::int64_t T, std::int64_t rows) {
  auto size = [](const Linear& l) { return l ? static_cast<double>(l.out() * l.in()) : 0.0; };
  const ModelWeights& w = model.weights();
  double per_token = 0.0;
  for (const LayerWeights& L : w.layers) {
    for (const Linear* l : {&L.q, &L.k, &L.v, &L.o, &L.up, &L.down, &L.gate}) per_token += size(*l);
  }
  per_token += size(w.project_in);
  const double per_row = size(w.project_out) + size(w.mlm_dense) + size(w.head);
  const ModelConfig& c = model.config();
  const double t = static_cast<double>(T);
  const double pairs = c.causal ? t * (t + 1) / 2 : t * t;
  return 2.0 * per_token * B * t + 2.0 * per_row * rows +
         4.0 * c.head_dim * c.n_heads * c.n_layers * B * pairs;
}

template <class F>
double warm_median(int reps, F&& run) {
  run();
  std::vector<double> seconds;
  for (int r = 0; r < reps; ++r) {
    const double t0 = bench::now_seconds();
    run();
    seconds.push_back(bench::now_seconds() - t0);
  }
  std::sort(seconds.begin(), seconds.end());
  return seconds[seconds.size() / 2];
}

constexpr std::uint64_t kRunSeed = 0x5eed;
constexpr float kLr = 1e-6f;

// What a child reports about itself.
struct Memory {
  double peak_rss = 0.0;      // wait4's ru_maxrss of the child
  double weight_bytes = 0.0;  // the mapped checkpoint
  double arena_bytes = 0.0;   // Session::arena_bytes()
  double scratch_bytes = 0.0; // thread pool: per-worker GEMM scratch x workers
  double seconds = 0.0;       // the one (cold) forward or step
  double rest() const { return peak_rss - weight_bytes - arena_bytes - scratch_bytes; }
};

// --child eval|step: load, one forward or one step, write what we hold to child_out, exit.
int run_child(const Options& opt) {
  set_num_threads(opt.threads.front());
  const bool step = opt.child == "step";
  Model model(opt.child_model, /*writable=*/step);
  const ModelConfig& c = model.config();
  const Task task = synthetic_task(c, opt.len);
  const Dataset data = synthetic_data(c, task, opt.batch, opt.len);
  nlohmann::json out;
  double seconds = 0.0;
  std::size_t arena = 0;
  if (step) {
    ZoTuner tuner(model, task, ZoOptions{}, opt.batch, opt.len);
    std::vector<std::int64_t> index(static_cast<std::size_t>(opt.batch));
    for (std::int64_t i = 0; i < opt.batch; ++i) index[static_cast<std::size_t>(i)] = i;
    const double t0 = bench::now_seconds();
    const StepResult r = tuner.step(data, index.data(), opt.batch, z_word(kRunSeed, 1), kLr);
    seconds = bench::now_seconds() - t0;
    arena = tuner.session().arena_bytes();
    out["loss_plus"] = r.loss_plus;
    out["loss_minus"] = r.loss_minus;
  } else {
    Evaluator evaluator(model, task, opt.batch, opt.len);
    const double t0 = bench::now_seconds();
    const EvalResult r = evaluator.run(data);
    seconds = bench::now_seconds() - t0;
    arena = evaluator.session().arena_bytes();
    out["loss"] = r.loss;
  }
  out["weight_bytes"] = static_cast<double>(model.weight_file_bytes());
  out["arena_bytes"] = static_cast<double>(arena);
  out["scratch_bytes"] =
      static_cast<double>(default_pool().scratch_bytes()) * default_pool().size();
  out["seconds"] = seconds;
  out["self_peak_rss"] = static_cast<double>(peak_rss_bytes());
  std::ofstream(opt.child_out) << out.dump() << "\n";
  return 0;
}

// Re-executes this binary as `--child mode` and returns the child's own peak RSS and report.
Memory measure_child(const Options& opt, const std::string& mode, const std::string& model_dir,
                     int threads, const std::string& out_path) {
  const std::string exe = fs::read_symlink("/proc/self/exe").string();
  std::vector<std::string> args = {exe,
                                   "--child",
                                   mode,
                                   "--child-model",
                                   model_dir,
                                   "--child-out",
                                   out_path,
                                   "--threads",
                                   std::to_string(threads),
                                   "--batch",
                                   std::to_string(opt.batch),
                                   "--len",
                                   std::to_string(opt.len)};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) throw Error("fork", std::strerror(errno));
  if (pid == 0) {
    execv(exe.c_str(), argv.data());
    _exit(127);
  }
  int status = 0;
  rusage usage{};
  if (wait4(pid, &status, 0, &usage) != pid) throw Error("wait4", std::strerror(errno));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw Error("bench-step --child " + mode, "child failed (status " + std::to_string(status) + ")");
  }
  std::ifstream in(out_path);
  const nlohmann::json j = nlohmann::json::parse(in);
  Memory m;
  m.peak_rss = static_cast<double>(usage.ru_maxrss) * 1024.0;
  m.weight_bytes = j.at("weight_bytes").get<double>();
  m.arena_bytes = j.at("arena_bytes").get<double>();
  m.scratch_bytes = j.at("scratch_bytes").get<double>();
  m.seconds = j.at("seconds").get<double>();
  std::error_code ec;
  fs::remove(out_path, ec);
  return m;
}

struct Row {
  std::string shape;
  int threads = 0;
  double forward_s = 0.0;
  double step_s = 0.0;
  double update_s = 0.0;
  double flops = 0.0;
  double fma_peak = 0.0;
  double loss_plus = 0.0, loss_minus = 0.0, loss_eval = 0.0;
  double ratio() const { return step_s / forward_s; }
  double probe_s() const { return step_s - update_s; }
};

struct ShapeReport {
  std::string name;
  std::string arch;
  double params = 0.0;
  double weight_bytes = 0.0;
  bool measured_memory = false;
  int memory_threads = 0;
  Memory eval, step;
};

struct TempDir {
  std::string path;
  ~TempDir() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
};

void run_shape(const std::string& name, const Options& opt, const std::string& models_dir,
               const std::string& work_root, std::map<int, double>& fma_peak,
               std::vector<Row>& rows, ShapeReport& report) {
  const ModelConfig config = bench::config_for(name);
  report.name = name;
  report.arch = arch_name(config.arch);
  report.params = static_cast<double>(config.n_params());
  const std::string base = (fs::path(models_dir) / name).string();
  set_num_threads(0);
  double created_seconds = 0.0;
  bench::ensure_model("bench-step", base, config, &created_seconds);
  const std::string work = (fs::path(work_root) / name).string();
  {
    const double t0 = bench::now_seconds();
    copy_model(base, work);
    std::fprintf(stderr, "bench-step: working copy of %s in %.1f s\n", name.c_str(),
                 bench::now_seconds() - t0);
  }

  {
    const Model eval_model(base);                       // read-only, as `pocket eval`
    Model tune_model(work, /*writable=*/true);          // the run's working copy
    report.weight_bytes = static_cast<double>(eval_model.weight_file_bytes());
    const Task task = synthetic_task(config, opt.len);
    const Dataset data = synthetic_data(config, task, opt.batch, opt.len);
    std::vector<std::int64_t> index(static_cast<std::size_t>(opt.batch));
    for (std::int64_t i = 0; i < opt.batch; ++i) index[static_cast<std::size_t>(i)] = i;

    for (const int threads : opt.threads) {
      set_num_threads(threads);
      std::fprintf(stderr, "bench-step: %s, %d thread%s\n", name.c_str(), threads,
                   threads == 1 ? "" : "s");
      Row row;
      row.shape = name;
      row.threads = threads;
      // Constructed after set_num_threads: each reserves its GEMM scratch in the current pool.
      Evaluator evaluator(eval_model, task, opt.batch, opt.len);
      ZoTuner tuner(tune_model, task, ZoOptions{}, opt.batch, opt.len);
      row.flops = forward_flops(eval_model, opt.batch, opt.len, opt.batch);
      row.forward_s = warm_median(opt.reps, [&] { row.loss_eval = evaluator.run(data).loss; });
      std::fprintf(stderr, "  forward %.3f s\n", row.forward_s);
      std::uint64_t t = 0;
      row.step_s = warm_median(opt.reps, [&] {
        const StepResult r = tuner.step(data, index.data(), opt.batch, z_word(kRunSeed, ++t), kLr);
        row.loss_plus = r.loss_plus;
        row.loss_minus = r.loss_minus;
      });
      std::fprintf(stderr, "  step    %.3f s (%.2fx)\n", row.step_s, row.step_s / row.forward_s);
      row.update_s = warm_median(opt.reps, [&] { tuner.apply_update(z_word(kRunSeed, ++t), 1.0f, kLr); });
      std::fprintf(stderr, "  update  %.3f s\n", row.update_s);
      row.fma_peak = fma_peak[threads];
      rows.push_back(row);
    }
  }

  if (opt.memory) {
    const int threads = *std::max_element(opt.threads.begin(), opt.threads.end());
    report.memory_threads = threads;
    std::fprintf(stderr, "bench-step: %s peak RSS, %d thread%s (child processes)\n", name.c_str(),
                 threads, threads == 1 ? "" : "s");
    const std::string out = (fs::path(work_root) / (name + ".child.json")).string();
    report.eval = measure_child(opt, "eval", base, threads, out);
    report.step = measure_child(opt, "step", work, threads, out);
    report.measured_memory = true;
    std::fprintf(stderr, "  eval %.3f GB, step %.3f GB (%.3fx)\n", report.eval.peak_rss / 1e9,
                 report.step.peak_rss / 1e9, report.step.peak_rss / report.eval.peak_rss);
  }
  std::error_code ec;
  fs::remove_all(work, ec);
}

void print_table(const Options& opt, const std::vector<ShapeReport>& shapes,
                 const std::vector<Row>& rows) {
  std::printf("bench-step: simd %s, batch %lld x %lld tokens, medians of %d run%s after a warm-up\n",
              kSimdPath, static_cast<long long>(opt.batch), static_cast<long long>(opt.len),
              opt.reps, opt.reps == 1 ? "" : "s");
  std::printf("\n%-14s %3s %10s %8s %6s %10s %10s %10s %10s\n", "shape", "thr", "forward ms",
              "GFLOP/s", "%peak", "step ms", "step/fwd", "probe ms", "update ms");
  for (const Row& r : rows) {
    const double gflops = r.flops / r.forward_s / 1e9;
    std::printf("%-14s %3d %10.1f %8.1f %6.1f %10.1f %10.3f %10.1f %10.1f\n", r.shape.c_str(),
                r.threads, r.forward_s * 1e3, gflops, 100.0 * gflops / r.fma_peak, r.step_s * 1e3,
                r.ratio(), r.probe_s() * 1e3, r.update_s * 1e3);
  }
  bool any_memory = false;
  for (const ShapeReport& s : shapes) any_memory |= s.measured_memory;
  if (any_memory) {
    std::printf("\n%-14s %3s %-5s %10s %10s %9s %9s %9s %9s\n", "shape", "thr", "mode", "peak RSS",
                "step/eval", "weights", "arena", "scratch", "rest");
    for (const ShapeReport& s : shapes) {
      if (!s.measured_memory) continue;
      for (const auto& [mode, m] : {std::pair<const char*, const Memory&>{"eval", s.eval},
                                    std::pair<const char*, const Memory&>{"step", s.step}}) {
        std::printf("%-14s %3d %-5s %9.3fG", s.name.c_str(), s.memory_threads, mode,
                    m.peak_rss / 1e9);
        if (&m == &s.step) {
          std::printf(" %10.3f", s.step.peak_rss / s.eval.peak_rss);
        } else {
          std::printf(" %10s", "");
        }
        std::printf(" %8.1fM %8.1fM %8.1fM %8.1fM\n", m.weight_bytes / 1e6, m.arena_bytes / 1e6,
                    m.scratch_bytes / 1e6, m.rest() / 1e6);
      }
    }
  }
  std::printf(
      "\nforward: Evaluator::run on the batch (pocket eval's work); step: ZoTuner::step (two-stream\n"
      "forward + fp16 SR update of every parameter); update: apply_update alone; probe = step -\n"
      "update. Targets: step/fwd <= 2.05, step/eval peak RSS <= 1.0. %%peak: over the FMA peak of\n"
      "the same threads. Peak RSS: each mode in its own child process (wait4 ru_maxrss), mapped\n"
      "weights included; scratch = the pool's GEMM packing buffers; rest = peak - the others.\n");
}

nlohmann::json to_json(const Options& opt, const std::map<int, double>& fma_peak,
                       const std::vector<ShapeReport>& shapes, const std::vector<Row>& rows) {
  nlohmann::json out = {{"simd", kSimdPath},       {"reps", opt.reps},
                        {"smoke", opt.smoke},      {"batch", opt.batch},
                        {"len", opt.len},          {"threads", opt.threads},
                        {"fma_peak_gflops", nlohmann::json::object()},
                        {"shapes", nlohmann::json::array()},
                        {"results", nlohmann::json::array()}};
  for (const auto& [t, p] : fma_peak) out["fma_peak_gflops"][std::to_string(t)] = p;
  auto memory_json = [](const Memory& m) {
    return nlohmann::json{{"peak_rss_bytes", m.peak_rss},   {"weight_bytes", m.weight_bytes},
                          {"arena_bytes", m.arena_bytes},   {"scratch_bytes", m.scratch_bytes},
                          {"rest_bytes", m.rest()},         {"cold_seconds", m.seconds}};
  };
  for (const ShapeReport& s : shapes) {
    nlohmann::json j = {{"shape", s.name},
                        {"arch", s.arch},
                        {"params", s.params},
                        {"weight_bytes", s.weight_bytes}};
    if (s.measured_memory) {
      j["memory_threads"] = s.memory_threads;
      j["eval"] = memory_json(s.eval);
      j["step"] = memory_json(s.step);
      j["peak_rss_ratio_step_to_eval"] = s.step.peak_rss / s.eval.peak_rss;
    }
    out["shapes"].push_back(j);
  }
  for (const Row& r : rows) {
    const double gflops = r.flops / r.forward_s / 1e9;
    out["results"].push_back({{"shape", r.shape},
                              {"threads", r.threads},
                              {"forward_seconds", r.forward_s},
                              {"forward_flops", r.flops},
                              {"forward_gflops", gflops},
                              {"percent_of_fma_peak", 100.0 * gflops / r.fma_peak},
                              {"step_seconds", r.step_s},
                              {"update_seconds", r.update_s},
                              {"probe_seconds", r.probe_s()},
                              {"ratio_step_to_forward", r.ratio()},
                              {"loss_eval", r.loss_eval},
                              {"loss_plus", r.loss_plus},
                              {"loss_minus", r.loss_minus}});
  }
  return out;
}

Options parse_options(int argc, char** argv, bool* help) {
  Options opt;
  bool shapes_given = false, batch_given = false, len_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--smoke") {
      opt.smoke = true;
    } else if (arg == "--help" || arg == "-h") {
      *help = true;
    } else if (arg == "--no-memory") {
      opt.memory = false;
    } else if (arg == "--shapes" && has_value) {
      opt.shapes = bench::split_commas(argv[++i]);
      shapes_given = true;
    } else if (arg == "--threads" && has_value) {
      opt.threads.clear();
      for (const std::string& t : bench::split_commas(argv[++i])) {
        const int n = bench::parse_int("--threads", t, 0);
        opt.threads.push_back(n == 0 ? hardware_threads() : n);
      }
    } else if (arg == "--batch" && has_value) {
      opt.batch = bench::parse_int("--batch", argv[++i], 1);
      batch_given = true;
    } else if (arg == "--len" && has_value) {
      opt.len = bench::parse_int("--len", argv[++i], 4);
      len_given = true;
    } else if (arg == "--reps" && has_value) {
      opt.reps = bench::parse_int("--reps", argv[++i], 1);
    } else if (arg == "--models" && has_value) {
      opt.models_dir = argv[++i];
    } else if (arg == "--work" && has_value) {
      opt.work_dir = argv[++i];
    } else if (arg == "--json" && has_value) {
      opt.json_path = argv[++i];
    } else if (arg == "--child" && has_value) {
      opt.child = argv[++i];
      if (opt.child != "eval" && opt.child != "step") throw Error("--child", "eval or step");
    } else if (arg == "--child-model" && has_value) {
      opt.child_model = argv[++i];
    } else if (arg == "--child-out" && has_value) {
      opt.child_out = argv[++i];
    } else {
      throw Error(arg, "unknown argument or missing value (see --help)");
    }
  }
  if (opt.smoke) {
    opt.reps = 1;
    if (!shapes_given) opt.shapes = {"tiny-opt", "tiny-roberta"};
    if (!batch_given) opt.batch = 4;
    if (!len_given) opt.len = 16;
  }
  std::sort(opt.threads.begin(), opt.threads.end());
  opt.threads.erase(std::unique(opt.threads.begin(), opt.threads.end()), opt.threads.end());
  return opt;
}

int run(const Options& opt) {
  std::string models_dir = opt.models_dir;
  TempDir temp_models, temp_work;
  if (opt.smoke) {
    std::string pattern = (fs::temp_directory_path() / "bench-step-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw Error(pattern, "cannot create a temp directory");
    models_dir = temp_models.path = pattern;
  }
  std::string work_root = opt.work_dir;
  if (work_root.empty()) {
    // Beside the models (same disk; /tmp may be memory), removed at the end.
    std::error_code ec;
    fs::create_directories(models_dir, ec);
    std::string pattern = (fs::path(models_dir) / ".step-work-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw Error(pattern, "cannot create a temp directory");
    work_root = temp_work.path = pattern;
  }

  std::map<int, double> fma_peak;
  for (const int t : opt.threads) fma_peak[t] = bench::measure_fma_peak_gflops(t, opt.smoke ? 0.02 : 0.3);
  std::vector<Row> rows;
  std::vector<ShapeReport> shapes;
  for (const std::string& name : opt.shapes) {
    ShapeReport report;
    run_shape(name, opt, models_dir, work_root, fma_peak, rows, report);
    shapes.push_back(report);
    for (const int t : opt.threads) {
      fma_peak[t] = std::max(fma_peak[t], bench::measure_fma_peak_gflops(t, opt.smoke ? 0.02 : 0.3));
    }
  }
  for (Row& r : rows) r.fma_peak = fma_peak[r.threads];

  if (opt.json_path != "-") print_table(opt, shapes, rows);
  if (!opt.json_path.empty()) {
    const std::string text = to_json(opt, fma_peak, shapes, rows).dump(2) + "\n";
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
    if (!opt.child.empty()) return run_child(opt);
    return run(opt);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench-step: %s\n", e.what());
    return 1;
  }
}
