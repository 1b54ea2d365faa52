#include "zo/zo_step.h"

#include <algorithm>
#include <cmath>

#include "io/error.h"
#include "kernels/fp16.h"
#include "kernels/zo_update.h"
#include "kernels/zrng.h"
#include "zo/crash_point.h"

namespace pocket {

namespace {

// The trainable tensors of `model` after marking those the patterns select.
// With LoRA the adapters are trainable and the base only where --train globs select it.
std::vector<TrainableTensor> select_trainable(Model& model, const ZoOptions& options) {
  if (model.has_lora() != (options.lora.rank > 0)) {
    throw Error("--lora", model.has_lora() ? "the model has adapters the options do not name"
                                           : "the options name adapters the model does not have");
  }
  if (options.lora.rank == 0 || !options.train_patterns.empty()) {
    model.params().set_trainable(options.train_patterns);
  } else {
    model.params().set_all_trainable(false);
  }
  model.params().set_kind_trainable(ParamKind::kAdapter, true);
  std::vector<TrainableTensor> trainable;
  model.params().for_each_trainable([&](const Param& p) {
    TrainableTensor t;
    t.param = &p;
    const bool adapter = p.kind == ParamKind::kAdapter;
    if (adapter || model.writable()) t.data = model.mutable_view(p);
    if (options.master_f32 && t.data && !adapter) {
      t.master.resize(static_cast<std::size_t>(p.numel));
      f16_to_f32(static_cast<const fp16*>(t.data.data), t.master.data(), t.master.size());
    }
    trainable.push_back(std::move(t));
  });
  return trainable;
}

}  // namespace

ZoTuner::ZoTuner(Model& model, const Task& task, const ZoOptions& options, std::int64_t batch,
                 std::int64_t longest)
    : model_(model),
      task_(task),
      options_(options),
      trainable_(select_trainable(model, options)),
      builder_(task, batch, longest),
      session_(std::make_unique<Session>(model, task_session_limits(builder_, 2))),
      loss_(task, builder_, model.config().vocab_size) {
  if (!(options.eps > 0.0) || !std::isfinite(options.eps)) {
    throw Error("--eps", "must be a positive number");
  }
  eval_index_.resize(static_cast<std::size_t>(batch));
}

StepResult ZoTuner::step(const Dataset& data, const std::int64_t* index, std::int64_t n,
                         std::uint64_t step_seed, float lr) {
  const StepResult r = probe(data, index, n, step_seed);
  if (r.accepted) apply_update(step_seed, r.g, lr);
  return r;
}

StepResult ZoTuner::probe(const Dataset& data, const std::int64_t* index, std::int64_t n,
                          std::uint64_t step_seed) {
  builder_.build(data, index, n);
  loss_.begin(builder_, 2);
  const float eps = static_cast<float>(options_.eps);
  const Perturbation perturbation = Perturbation::pair(step_seed, eps);
  session_->forward_chunks(builder_.batch(), builder_.rows(), builder_.n_rows(), loss_,
                           &perturbation);
  StepResult r;
  r.loss_plus = loss_.loss(0);
  r.loss_minus = loss_.loss(1);
  const double g = (r.loss_plus - r.loss_minus) / (2.0 * static_cast<double>(eps));
  r.g = static_cast<float>(g);
  r.accepted = std::isfinite(r.loss_plus) && std::isfinite(r.loss_minus) && std::isfinite(r.g);
  return r;
}

// W <- round16(W - lr (g z + lambda W)) per trainable tensor (kernels/zo_update.h; adapters in
// fp32, zo_update_f32), then the fp32 copies of updated vectors are refreshed from the fp16 the
// checkpoint now holds.
void ZoTuner::apply_update(std::uint64_t step_seed, float g, float lr) {
  for (const TrainableTensor& t : trainable_) {
    if (!t.data) {
      throw Error(model_.path(), "model opened read-only: cannot update " + t.param->name);
    }
  }
  std::size_t done = 0;
  for (TrainableTensor& t : trainable_) {
    if (++done == trainable_.size() / 2 + 1) crash_point("update", crash_step_);
    const Param& p = *t.param;
    ZoUpdate u;
    u.z_key = z_key(step_seed, p.pid);
    u.sr_key = sr_key(step_seed, p.pid);
    u.lr = lr;
    u.grad = g;
    u.weight_decay = p.decay ? static_cast<float>(options_.weight_decay) : 0.0f;
    if (options_.master_f32 && !t.master.empty()) {
      zo_update(t.master_view(), t.data, u, session_->pool());
    } else {
      zo_update(t.data, u, session_->pool());
    }
    if (p.kind == ParamKind::kVector) model_.params().refresh_vector(p);
  }
}

void ZoTuner::refresh_vectors() {
  for (const TrainableTensor& t : trainable_) {
    if (t.param->kind == ParamKind::kVector && t.data) model_.params().refresh_vector(*t.param);
  }
}

EvalResult ZoTuner::evaluate(const Dataset& data) {
  return evaluate_dataset(*session_, builder_, loss_, task_, data, eval_index_);
}

}  // namespace pocket
