#include "side/side_trainer.h"

#include <algorithm>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/atomic_file.h"
#include "io/error.h"
#include "side/act_codec.h"
#include "side/adam.h"
#include "side/side_file.h"
#include "side/side_ops.h"
#include "task/data_order.h"

namespace pocket {

namespace fs = std::filesystem;

namespace {

// 17 significant digits: a double read back from a checkpoint is the same double, so a resumed
// run's moving averages go on exactly as an uninterrupted run's.
std::string fmt(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::int64_t meta_int(const std::map<std::string, std::string>& m, const std::string& key,
                      const std::string& path) {
  const auto it = m.find(key);
  if (it == m.end()) throw Error(path, "no '" + key + "' in the checkpoint's metadata");
  return std::stoll(it->second);
}

double meta_double(const std::map<std::string, std::string>& m, const std::string& key) {
  const auto it = m.find(key);
  return it == m.end() || it->second == "null" ? NAN : std::stod(it->second);
}

}  // namespace

SideTrainer::SideTrainer(const Model& model, const SideTaskSpec& spec, std::string dir,
                         std::int64_t checkpoint_every,
                         std::map<std::string, std::string> result_metadata,
                         std::function<void(const std::string&)> say)
    : model_(model),
      spec_(spec),
      dir_(std::move(dir)),
      checkpoint_every_(checkpoint_every),
      result_metadata_(std::move(result_metadata)),
      say_(std::move(say)),
      chunk_(spec.lm ? 64 : 256),
      vocab_(model.config().vocab_size),
      shape_(side_shape(spec.hidden, spec.n_vectors - 1, spec.reduction)) {
  net_ = std::make_unique<SideNet<float>>(shape_, chunk_, /*train=*/true);
  eval_net_ = std::make_unique<SideNet<float>>(shape_, chunk_, /*train=*/false);
  head_ = std::make_unique<FrozenHead<float>>(model, spec.candidates, chunk_, /*train=*/true);
  net_->init(spec.seed);
  const std::size_t n = static_cast<std::size_t>(net_->size());
  init_params_.assign(net_->params(), net_->params() + n);
  grad_sum_.assign(n, 0.0f);
  adam_m_.assign(n, 0.0f);
  adam_v_.assign(n, 0.0f);
  const std::int64_t d = spec.hidden, outputs = head_->outputs();
  h_.resize(static_cast<std::size_t>(chunk_ * spec.n_vectors * d));
  o_.resize(static_cast<std::size_t>(chunk_ * d));
  d_o_.resize(static_cast<std::size_t>(chunk_ * d));
  logits_.resize(static_cast<std::size_t>(chunk_ * outputs));
  d_logits_.resize(static_cast<std::size_t>(chunk_ * outputs));
  targets_.resize(static_cast<std::size_t>(chunk_));
  order_.resize(static_cast<std::size_t>(spec.n_train));
  index_.resize(static_cast<std::size_t>(std::max(spec.batch, spec.n_dev)));
  views_.resize(index_.size());
  status_.total_steps = spec.total_steps();
  resume();
}

std::int64_t SideTrainer::examples_needed() const {
  const std::int64_t t = status_.step, S = spec_.steps_per_epoch();
  if (done()) return spec_.n_total();
  const std::int64_t e = t / S, k = t % S;
  const bool ends_epoch = k == S - 1;
  if (ends_epoch && spec_.n_dev > 0) return spec_.n_total();
  return e == 0 ? std::min(spec_.n_train, (k + 1) * spec_.batch) : spec_.n_train;
}

SideTrainer::Sums SideTrainer::run(const ExampleStore& store, const std::int64_t* index,
                                   std::int64_t n, SideNet<float>& net, bool train) {
  const std::int64_t d = spec_.hidden, nv = spec_.n_vectors, L = nv - 1;
  const std::size_t vb = act_vector_bytes(d, spec_.act_bits);
  const std::int64_t outputs = head_->outputs();
  Sums sums;
  // Parsed once: the loss is a mean over all the batch's positions, so their count comes first.
  for (std::int64_t i = 0; i < n; ++i) {
    views_[static_cast<std::size_t>(i)] = parse_example(store.example(index[i]), spec_, vocab_);
    sums.positions += views_[static_cast<std::size_t>(i)].positions;
  }
  const float grad_scale = 1.0f / static_cast<float>(sums.positions);
  if (train) std::fill(grad_sum_.begin(), grad_sum_.end(), 0.0f);
  // Positions are taken in example order and processed chunk_ at a time: the gradient is a sum
  // over positions, so chunking changes nothing but the memory held.
  std::int64_t rows = 0;
  auto flush = [&]() {
    if (rows == 0) return;
    net.begin(rows);
    for (std::int64_t l = 0; l <= L; ++l) net.absorb(l, h_.data() + l * d, nv * d);
    net.output(h_.data() + L * d, nv * d, o_.data(), d);
    head_->forward(o_.data(), d, rows, logits_.data());
    std::int64_t correct = 0;
    sums.loss += softmax_cross_entropy(logits_.data(), outputs, rows, outputs, targets_.data(),
                                       grad_scale, d_logits_.data(), &correct);
    sums.correct += correct;
    if (train) {
      head_->backward(d_logits_.data(), d_o_.data());
      net.backward(d_o_.data(), d);
      const float* g = net.grads();
      for (std::size_t j = 0; j < grad_sum_.size(); ++j) grad_sum_[j] += g[j];
    }
    rows = 0;
  };
  for (std::int64_t i = 0; i < n; ++i) {
    const ExampleView& ex = views_[static_cast<std::size_t>(i)];
    for (std::int64_t p = 0; p < ex.positions; ++p) {
      std::memcpy(&targets_[static_cast<std::size_t>(rows)], ex.targets + p, 4);
      for (std::int64_t l = 0; l < nv; ++l) {
        dequantize_vector(ex.vectors + (p * nv + l) * vb, d, spec_.act_bits,
                          h_.data() + (rows * nv + l) * d);
      }
      if (++rows == chunk_) flush();
    }
  }
  flush();
  return sums;
}

SideEval SideTrainer::eval_with(const ExampleStore& store, const std::vector<float>& params) {
  SideEval r;
  if (spec_.n_dev == 0) return r;
  std::copy(params.begin(), params.end(), eval_net_->params());
  for (std::int64_t i = 0; i < spec_.n_dev; ++i) index_[static_cast<std::size_t>(i)] = spec_.n_train + i;
  const Sums s = run(store, index_.data(), spec_.n_dev, *eval_net_, /*train=*/false);
  r.loss = s.loss / static_cast<double>(s.positions);
  r.accuracy = static_cast<double>(s.correct) / static_cast<double>(s.positions);
  return r;
}

SideEval SideTrainer::evaluate(const ExampleStore& store) {
  return eval_with(store, std::vector<float>(net_->params(), net_->params() + net_->size()));
}

void SideTrainer::run_step(const ExampleStore& store) {
  if (done()) return;
  if (store.size() < examples_needed()) throw Error("side", "step run before its examples arrived");
  const std::int64_t t = status_.step, S = spec_.steps_per_epoch();
  const std::int64_t e = t / S, k = t % S;
  const std::int64_t first = k * spec_.batch, n = std::min(spec_.batch, spec_.n_train - first);
  if (e == 0) {
    for (std::int64_t i = 0; i < n; ++i) index_[static_cast<std::size_t>(i)] = first + i;
  } else {
    if (order_epoch_ != e) {
      DataOrder(spec_.n_train, spec_.seed).permutation(e, order_.data());
      order_epoch_ = e;
    }
    std::copy(order_.begin() + first, order_.begin() + first + n, index_.begin());
  }
  const Sums s = run(store, index_.data(), n, *net_, /*train=*/true);
  AdamOptions adam;
  adam.lr = spec_.lr;
  adam_step(net_->params(), grad_sum_.data(), adam_m_.data(), adam_v_.data(), net_->size(), t + 1, adam);
  const double loss = s.loss / static_cast<double>(s.positions);
  status_.train_loss = std::isfinite(status_.train_loss) ? 0.9 * status_.train_loss + 0.1 * loss : loss;
  status_.step = t + 1;
  status_.epoch = e;
  status_.examples_trained += n;
  log("{\"step\": " + std::to_string(t + 1) + ", \"epoch\": " + std::to_string(e) +
      ", \"loss\": " + fmt(loss) + ", \"examples\": " + std::to_string(n) + "}");
  if (k == S - 1 && spec_.n_dev > 0) {
    if (!std::isfinite(status_.dev_before.loss)) {
      status_.dev_before = eval_with(store, init_params_);
      // Logged at the step that measured it (not step 0): a resume cuts the log at its checkpoint,
      // and a checkpoint older than this evaluation must not keep a line it will redo.
      log("{\"step\": " + std::to_string(t + 1) + ", \"dev_before_loss\": " +
          fmt(status_.dev_before.loss) + ", \"dev_before_accuracy\": " +
          fmt(status_.dev_before.accuracy) + "}");
    }
    status_.dev = evaluate(store);
    log("{\"step\": " + std::to_string(t + 1) + ", \"dev_loss\": " + fmt(status_.dev.loss) +
        ", \"dev_accuracy\": " + fmt(status_.dev.accuracy) + "}");
    char line[160];
    std::snprintf(line, sizeof line, "epoch %lld: dev loss %.4f, accuracy %.4f (before tuning %.4f)",
                  static_cast<long long>(e + 1), status_.dev.loss, status_.dev.accuracy,
                  status_.dev_before.accuracy);
    say_(line);
  }
  if (done()) {
    checkpoint();
    write_result();
  } else if (checkpoint_every_ > 0 && status_.step % checkpoint_every_ == 0) {
    checkpoint();
  }
}

void SideTrainer::log(const std::string& json_line) {
  std::ofstream out(dir_ + "/log.jsonl", std::ios::app);
  out << json_line << '\n';
}

static std::map<std::string, std::string> status_metadata(const SideTrainerStatus& s) {
  return {{"side.step", std::to_string(s.step)},
          {"side.examples_trained", std::to_string(s.examples_trained)},
          {"side.train_loss", fmt(s.train_loss)},
          {"side.dev_loss", fmt(s.dev.loss)},
          {"side.dev_accuracy", fmt(s.dev.accuracy)},
          {"side.dev_before_loss", fmt(s.dev_before.loss)},
          {"side.dev_before_accuracy", fmt(s.dev_before.accuracy)}};
}

void SideTrainer::checkpoint() {
  write_side_file(dir_ + "/ckpt.safetensors", shape_,
                  {{"", net_->params()}, {"adam.m.", adam_m_.data()}, {"adam.v.", adam_v_.data()}},
                  status_metadata(status_));
}

void SideTrainer::resume() {
  const std::string path = dir_ + "/ckpt.safetensors";
  if (!fs::exists(path)) return;
  const SideFile f = read_side_file(path, {"", "adam.m.", "adam.v."});
  if (!(f.shape.hidden == shape_.hidden && f.shape.layers == shape_.layers &&
        f.shape.width == shape_.width && f.shape.mlp == shape_.mlp)) {
    throw Error(path, "checkpoint of a different side network shape");
  }
  std::copy(f.groups.at("").begin(), f.groups.at("").end(), net_->params());
  adam_m_ = f.groups.at("adam.m.");
  adam_v_ = f.groups.at("adam.v.");
  status_.step = meta_int(f.metadata, "side.step", path);
  status_.examples_trained = meta_int(f.metadata, "side.examples_trained", path);
  status_.train_loss = meta_double(f.metadata, "side.train_loss");
  status_.dev = {meta_double(f.metadata, "side.dev_loss"), meta_double(f.metadata, "side.dev_accuracy")};
  status_.dev_before = {meta_double(f.metadata, "side.dev_before_loss"),
                        meta_double(f.metadata, "side.dev_before_accuracy")};
  if (status_.step < 0 || status_.step > spec_.total_steps()) throw Error(path, "step out of range");
  status_.epoch = status_.step > 0 ? (status_.step - 1) / spec_.steps_per_epoch() : 0;
  // The log may run past the checkpoint (steps redone now): keep its lines up to the checkpoint.
  std::ifstream in(dir_ + "/log.jsonl");
  std::string kept, line;
  while (std::getline(in, line)) {
    const auto at = line.find("\"step\": ");
    if (at == std::string::npos) continue;
    if (std::stoll(line.substr(at + 8)) <= status_.step) kept += line + '\n';
  }
  write_file_atomic(dir_ + "/log.jsonl", kept);
  say_("resumed from the checkpoint at step " + std::to_string(status_.step) + " of " +
       std::to_string(spec_.total_steps()));
}

void SideTrainer::write_result() {
  std::map<std::string, std::string> meta = status_metadata(status_);
  for (const auto& [key, value] : result_metadata_) meta[key] = value;
  meta["side.act_bits"] = std::to_string(spec_.act_bits);
  meta["side.task"] = spec_.lm ? "lm" : "classification";
  std::string classes;
  for (std::int32_t c : spec_.candidates) classes += (classes.empty() ? "" : ",") + std::to_string(c);
  meta["side.classes"] = classes;
  write_side_file(result_path(), shape_, {{"", net_->params()}}, meta);
}

}  // namespace pocket
