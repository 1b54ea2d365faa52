#include "side/side_upload.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>
#include <vector>

#include "side/side_capture.h"
#include "task/batch.h"
#include "task/data_order.h"

namespace pocket {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// The positions of the builder's current batch that the loss reads, with their targets.
void loss_positions(const BatchBuilder& b, bool lm, std::vector<CapturePosition>* out) {
  out->clear();
  if (lm) {
    for (const ScoreTerm& t : b.terms()) out->push_back({b.rows()[t.row], t.slot, t.token});
    return;
  }
  for (std::int64_t e = 0; e < b.n_examples(); ++e) out->push_back({b.rows()[e], e, b.labels()[e]});
}

}  // namespace

SideUploadReport side_upload(const Model& model, const Task& t, const Dataset& train,
                             const Dataset& dev, const SideClientOptions& co,
                             const std::string& side_path,
                             const std::function<void(const std::string&)>& say) {
  const ModelConfig& config = model.config();
  const bool lm = t.options.kind == TaskKind::kLm;
  const std::int64_t n_train = static_cast<std::int64_t>(train.examples.size());
  const std::int64_t n_dev = static_cast<std::int64_t>(dev.examples.size());
  const std::int64_t batch = co.task.batch;
  const int act_bits = co.task.act_bits;
  const std::string& server = co.server;
  SideUploadReport report;
  // Example order on the wire: the training examples shuffled (epoch 0 of the server trains in
  // arrival order), then the dev examples in file order.
  std::vector<std::int64_t> order(static_cast<std::size_t>(n_train));
  DataOrder(n_train, co.task.seed).permutation(0, order.data());
  BatchBuilder builder(t, batch, std::max(train.longest, dev.longest));
  SessionLimits limits = task_session_limits(builder, 1);
  Session session(model, limits);
  report.arena_bytes = session.arena_bytes();
  SideCapture capture(config.n_layers + 1, config.hidden, act_bits);
  session.set_observer(&capture);
  std::vector<CapturePosition> positions;
  std::vector<std::int64_t> index(static_cast<std::size_t>(batch));

  SideClient client(co, say);
  const Clock::time_point start = Clock::now();
  double forward_s = 0.0;
  std::int64_t forwards = 0;  // examples through the backbone (more than n_total after a restart)
  std::int64_t cursor = client.begin_upload();
  say("side-tune: connected to " + server + "; " + std::to_string(n_train) + " train + " +
      std::to_string(n_dev) + " dev examples, " + std::to_string(config.n_layers + 1) +
      " states x " + std::to_string(config.hidden) + " at " + std::to_string(act_bits) +
      " bits per position");
  if (cursor > 0) say("the server already holds " + std::to_string(cursor) + " examples");
  Clock::time_point last_report = Clock::now();
  while (true) {
    bool restarted = false;
    for (std::int64_t first = cursor; first < n_train + n_dev;) {
      // Batches never mix the two files: a batch ends at the train/dev boundary.
      const bool in_train = first < n_train;
      const std::int64_t end = std::min(first + batch, in_train ? n_train : n_train + n_dev);
      const std::int64_t n = end - first;
      for (std::int64_t i = 0; i < n; ++i) {
        index[static_cast<std::size_t>(i)] =
            in_train ? order[static_cast<std::size_t>(first + i)] : first + i - n_train;
      }
      builder.build(in_train ? train : dev, index.data(), n);
      loss_positions(builder, lm, &positions);
      std::string payload;
      capture.begin(static_cast<std::uint64_t>(first), n, positions, &payload);
      const Clock::time_point f0 = Clock::now();
      session.forward(builder.batch(), builder.rows(), 0, nullptr);
      forward_s += seconds_since(f0);
      forwards += n;
      if (!client.submit(first, n, std::move(payload))) {
        cursor = client.restart_point();
        restarted = true;
        break;
      }
      first = end;
      if (seconds_since(last_report) > 2.0) {
        say("sent " + std::to_string(first) + " of " + std::to_string(n_train + n_dev) +
            " examples");
        last_report = Clock::now();
      }
    }
    if (restarted) continue;
    const std::optional<std::int64_t> again = client.end_upload();
    if (again) {
      cursor = *again;
      continue;
    }
    const double upload_s = seconds_since(start);
    char held[128];
    std::snprintf(held, sizeof held, "all %lld examples held by the server after %.1f s; training",
                  static_cast<long long>(n_train + n_dev), upload_s);
    say(held);
    double shown_acc = NAN;
    last_report = Clock::now() - std::chrono::seconds(10);
    const bool received = client.receive_result(side_path, [&](const msg::Progress& p) {
      const bool new_eval = std::isfinite(p.dev_accuracy) && p.dev_accuracy != shown_acc;
      if (!new_eval && seconds_since(last_report) < 2.0 && p.step != p.total_steps) return;
      char line[160];
      std::snprintf(line, sizeof line, "server: step %llu/%llu (epoch %u)  loss %.4f%s",
                    static_cast<unsigned long long>(p.step),
                    static_cast<unsigned long long>(p.total_steps), p.epoch + 1, p.train_loss,
                    std::isfinite(p.dev_accuracy)
                        ? ("  dev accuracy " + std::to_string(p.dev_accuracy).substr(0, 6)).c_str()
                        : "");
      say(line);
      shown_acc = p.dev_accuracy;
      last_report = Clock::now();
    });
    if (!received) {
      cursor = client.restart_point();
      continue;
    }
    report.forwarded = forwards;
    report.forward_seconds = forward_s;
    report.upload_seconds = upload_s;
    report.total_seconds = seconds_since(start);
    report.traffic = client.traffic();
    return report;
  }
}

}  // namespace pocket
