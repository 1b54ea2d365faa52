// pocket side-tune: the device side of server-assisted side tuning (MobiLLM; src/side/). The
// backbone only runs forward, weights mapped read-only; the hidden states at the positions the loss
// reads go to the server, quantized; the trained side network comes back into RUN/side.safetensors.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/task_flags.h"
#include "io/atomic_file.h"
#include "io/error.h"
#include "io/tokenizer.h"
#include "io/memory_stats.h"
#include "io/hash.h"
#include "model/model.h"
#include "side/act_codec.h"
#include "side/auth.h"
#include "side/model_checksum.h"
#include "side/side_upload.h"
#include "task/evaluate.h"
#include "task/task.h"

namespace pocket {
namespace {

namespace fs = std::filesystem;
// Removes a directory at scope exit unless told to keep it.
struct RemoveUnlessKept {
  std::string dir;
  bool keep = false;
  ~RemoveUnlessKept() {
    if (keep) return;
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

}  // namespace

int cmd_side_tune(int argc, char** argv) {
  std::string model_dir, server, key_file, data, eval_data, out;
  TaskFlags task;
  std::int64_t act_bits = 8, reduction = 8, epochs = 3, batch = 16, seed = 0, threads = 0,
               retry_s = 120, timeout_s = 60;
  double lr = 1e-3;
  bool quiet = false;
  Args args("pocket side-tune MODEL_DIR --server HOST:PORT --key-file KEY --data TRAIN.jsonl "
            "--out RUN [options]",
            "Server-assisted side tuning (MobiLLM): this device runs only the frozen model's\n"
            "forward pass and sends the hidden states the loss needs (after the embeddings and\n"
            "after every layer, quantized; never the text or its token ids) to a `pocket\n"
            "side-server`, which trains a small side network with backprop and sends it back.\n"
            "RUN/side.safetensors then runs on the device: pocket eval/generate --side FILE.");
  args.positional("MODEL_DIR", &model_dir, "base model directory (read only; the server has the same)");
  args.option("--server", &server, "the side-tuning server, HOST:PORT");
  args.option("--key-file", &key_file, "pre-shared key file (the server's; chmod 600)");
  args.option("--data", &data, "training examples, JSONL");
  args.option("--eval", &eval_data, "held-out examples, JSONL: the server reports accuracy on them");
  args.option("--out", &out, "run directory to create (side.safetensors, result.json)");
  task.declare(args);
  args.option("--act-bits", &act_bits, "bits per activation sent: 8 or 4 (per-vector absmax)");
  args.option("--reduction", &reduction, "side network width = hidden / reduction");
  args.option("--epochs", &epochs, "passes over the training examples (the server caches them)");
  args.option("--batch", &batch, "examples per forward and per server step");
  args.option("--lr", &lr, "Adam learning rate of the side network");
  args.option("--seed", &seed, "order of the examples, side network init");
  args.option("--retry", &retry_s, "seconds to keep reconnecting to a lost server");
  args.option("--timeout", &timeout_s, "seconds of server silence before the connection counts as lost");
  args.flag("--quiet", &quiet, "only errors and the result");
  args.option("--threads", &threads, "threads (0 = every hardware thread)");
  if (!args.parse(argc, argv)) return 0;
  apply_threads(threads);
  if (model_dir.empty()) throw Error("MODEL_DIR", "missing (see --help)");
  if (server.empty()) throw Error("--server", "the side-tuning server is required (HOST:PORT)");
  if (key_file.empty()) throw Error("--key-file", "a pre-shared key file is required");
  if (data.empty()) throw Error("--data", "training data is required (JSONL)");
  if (out.empty()) throw Error("--out", "the run directory is required");
  if (act_bits != 8 && act_bits != 4) throw Error("--act-bits", "must be 8 or 4");
  if (reduction < 1) throw Error("--reduction", "must be at least 1");
  if (epochs < 1 || epochs > 1000) throw Error("--epochs", "must be in 1..1000");
  if (batch < 1 || batch > 4096) throw Error("--batch", "must be in 1..4096");
  if (!(lr > 0 && lr < 1)) throw Error("--lr", "must be in (0, 1)");
  // Both become ints (the timeout in milliseconds): a day bounds either.
  if (retry_s < 0 || retry_s > 86400) throw Error("--retry", "must be in 0..86400 seconds");
  if (timeout_s < 1 || timeout_s > 86400) throw Error("--timeout", "must be in 1..86400 seconds");
  std::error_code ec;
  if (fs::exists(out, ec) && !(fs::is_directory(out, ec) && fs::is_empty(out, ec))) {
    throw Error(out, "already exists (choose a new --out)");
  }
  parse_host_port(server, "--server");
  const std::string key = load_key_file(key_file);
  auto say = [&](const std::string& line) {
    if (!quiet) std::fprintf(stderr, "%s\n", line.c_str());
  };

  // The model, the task and the examples, as `pocket tune` reads them.
  const Model model(model_dir);
  const ModelConfig& config = model.config();
  const auto tokenizer = load_tokenizer(model_dir, config.model_type);
  const TaskOptions options = task.parse();
  const Task t = make_task(options, *tokenizer, config);
  const bool lm = options.kind == TaskKind::kLm;
  if (!lm && !t.single_token()) {
    throw Error("--labels", "side tuning scores one token per class; a label word here is several "
                            "tokens (choose single-token label words)");
  }
  const Dataset train = load_dataset(data, t, *tokenizer);
  const Dataset dev = eval_data.empty() ? Dataset{} : load_dataset(eval_data, t, *tokenizer);
  for (const Dataset* d : {&train, &dev}) {
    if (d->truncated > 0) {
      say(d->path + ": " + std::to_string(d->truncated) + " example(s) cut from the left of '" +
          options.text_field + "' to fit --max-len " + std::to_string(options.max_len));
    }
  }
  const std::int64_t n_train = static_cast<std::int64_t>(train.examples.size());
  const std::int64_t n_dev = static_cast<std::int64_t>(dev.examples.size());
  if (n_train == 0) throw Error(data, "no examples");

  const Digest checksum = side_model_checksum(model);
  SideClientOptions co;
  co.server = server;
  co.key = key;
  random_bytes(co.device_id.data(), co.device_id.size());
  co.model_checksum = checksum;
  co.timeout_ms = static_cast<int>(timeout_s * 1000);
  co.retry_seconds = static_cast<int>(retry_s);
  msg::Task& m = co.task;
  m.kind = lm ? msg::TaskKind::kLm : msg::TaskKind::kClassification;
  m.act_bits = static_cast<std::uint8_t>(act_bits);
  m.n_vectors = static_cast<std::uint32_t>(config.n_layers + 1);
  m.hidden = static_cast<std::uint32_t>(config.hidden);
  if (!lm) {
    for (const auto& c : t.candidates) m.candidates.push_back(c[0]);
  }
  m.n_train = static_cast<std::uint64_t>(n_train);
  m.n_dev = static_cast<std::uint64_t>(n_dev);
  m.reduction = static_cast<std::uint32_t>(reduction);
  m.epochs = static_cast<std::uint32_t>(epochs);
  m.batch = static_cast<std::uint32_t>(batch);
  m.lr = static_cast<float>(lr);
  m.seed = static_cast<std::uint64_t>(seed);

  // The run directory first: a bad --out fails before any work.
  const std::string device_id = hex_string(co.device_id.data(), co.device_id.size());
  nlohmann::json meta = {
      {"format", "pocket-side-run"},
      {"device_id", device_id},
      {"base_model", absolute_path(model_dir)},
      {"model_checksum", digest_hex(checksum)},
      {"server", server},
      {"train_data", absolute_path(data)},
      {"eval_data", eval_data.empty() ? "" : absolute_path(eval_data)},
      {"task", options.kind == TaskKind::kLm ? "lm" : "classification"},
      {"template", options.template_text},
      {"labels", options.labels},
      {"max_len", options.max_len},
      {"act_bits", act_bits},
      {"reduction", reduction},
      {"epochs", epochs},
      {"batch", batch},
      {"lr", lr},
      {"seed", seed}};
  create_directory_atomic(out, [&](const std::string& temp) {
    write_file_atomic(temp + "/meta.json", meta.dump(2) + "\n");
  });
  // A run that ends without its side network leaves nothing behind (there is no device-side
  // resume: a new side-tune starts a new job).
  RemoveUnlessKept run_dir{out};

  const std::string side_path = out + "/side.safetensors";
  const SideUploadReport report = side_upload(model, t, train, dev, co, side_path, say);
  const SideTraffic& tr = report.traffic;
  const double per_example = tr.examples > 0 ? static_cast<double>(tr.example_bytes) / tr.examples : 0.0;
  const double payload_floor = static_cast<double>((config.n_layers + 1) * config.hidden) * act_bits / 8.0;
  nlohmann::json r = {{"examples", n_train + n_dev},
                      {"forwarded_examples", report.forwarded},
                      {"bytes_per_example", per_example},
                      {"state_bytes_per_example", payload_floor},
                      {"example_bytes", tr.example_bytes},
                      {"other_bytes", tr.other_bytes},
                      {"reconnects", tr.reconnects},
                      {"forward_seconds", report.forward_seconds},
                      {"upload_seconds", report.upload_seconds},
                      {"total_seconds", report.total_seconds},
                      {"peak_rss_bytes", peak_rss_bytes()},
                      {"arena_bytes", report.arena_bytes}};
  write_file_atomic(out + "/result.json", r.dump(2) + "\n");
  std::fprintf(stderr,
               "side network: %s\n"
               "sent %.0f bytes per example (%lld states x %lld at %lld bits = %.0f bytes + "
               "scales and header), %lld reconnect(s)\n"
               "device: forward %.2f s for %lld examples (%.2f ms each), upload done at %.1f s, "
               "all done at %.1f s; peak RSS %s (activation arena %s)\n",
               side_path.c_str(), per_example, static_cast<long long>(config.n_layers + 1),
               static_cast<long long>(config.hidden), static_cast<long long>(act_bits),
               payload_floor, static_cast<long long>(tr.reconnects), report.forward_seconds,
               static_cast<long long>(report.forwarded), 1e3 * report.forward_seconds / std::max<std::int64_t>(report.forwarded, 1),
               report.upload_seconds, report.total_seconds, format_bytes(peak_rss_bytes()).c_str(),
               format_bytes(report.arena_bytes).c_str());
  run_dir.keep = true;
  return 0;
}

}  // namespace pocket
