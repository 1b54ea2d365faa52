#include "model/params.h"

#include <cstring>

#include "io/error.h"
#include "io/hash.h"
#include "kernels/fp16.h"

namespace pocket {

const char* param_kind_name(ParamKind kind) {
  switch (kind) {
    case ParamKind::kMatrix: return "matrix";
    case ParamKind::kVector: return "vector";
    case ParamKind::kEmbedding: return "embedding";
    case ParamKind::kAdapter: return "adapter";
  }
  return "?";
}

Param& ParamTable::add(std::string name, std::vector<std::int64_t> shape, ParamKind kind) {
  Param& p = params_.emplace_back();
  p.pid = fnv1a64(name);
  p.name = std::move(name);
  p.shape = std::move(shape);
  p.kind = kind;
  p.decay = p.shape.size() >= 2;
  p.numel = 1;
  for (const std::int64_t dim : p.shape) p.numel *= dim;
  return p;
}

void ParamTable::finish_vectors() {
  std::int64_t total = 0;
  for (const Param& p : params_) {
    if (p.kind == ParamKind::kVector && p.view) total += p.numel;
  }
  vectors_.assign(static_cast<std::size_t>(total), 0.0f);
  float* next = vectors_.data();
  for (Param& p : params_) {
    if (p.kind != ParamKind::kVector || !p.view) continue;
    p.f32 = next;
    next += p.numel;
    refresh_vector(p);
  }
}

std::size_t ParamTable::trainable_count() const {
  std::size_t n = 0;
  for (const Param& p : params_) n += p.trainable ? 1 : 0;
  return n;
}

const Param* ParamTable::find(std::string_view name) const {
  for (const Param& p : params_) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

void ParamTable::set_trainable(const std::vector<std::string>& patterns) {
  std::vector<bool> wanted;
  bool any = false;
  for (const Param& p : params_) {
    bool match = patterns.empty();
    for (const std::string& pattern : patterns) match = match || glob_match(pattern, p.name);
    wanted.push_back(match);
    any = any || match;
  }
  if (!any) {
    std::string list;
    for (const std::string& pattern : patterns) list += " '" + pattern + "'";
    throw Error("--train", "no tensor of the model matches" + list);
  }
  for (std::size_t i = 0; i < params_.size(); ++i) params_[i].trainable = wanted[i];
}

void ParamTable::set_all_trainable(bool trainable) {
  for (Param& p : params_) p.trainable = trainable;
}

void ParamTable::set_kind_trainable(ParamKind kind, bool trainable) {
  for (Param& p : params_) {
    if (p.kind == kind) p.trainable = trainable;
  }
}

void ParamTable::refresh_vector(const Param& p) {
  // f32 points into vectors_, which this table owns: writing through it is this table's right.
  float* out = vectors_.data() + vector_offset(p);
  const auto n = static_cast<std::size_t>(p.numel);
  if (p.view.format == WeightFormat::kF32) {
    std::memcpy(out, p.view.data, n * sizeof(float));  // GGUF stores vectors as F32
  } else {
    f16_to_f32(static_cast<const fp16*>(p.view.data), out, n);
  }
}

std::int64_t ParamTable::matrix_bytes() const {
  std::int64_t bytes = 0;
  for (const Param& p : params_) {
    if (p.kind != ParamKind::kVector && p.view) {
      bytes += p.view.rows * weight_bytes(p.view.format, p.view.cols);
    }
  }
  return bytes;
}

bool glob_match(const std::string& pattern, const std::string& name) {
  // Iterative wildcard match with one backtracking point (the last '*'): linear in practice.
  std::size_t p = 0, n = 0, star = std::string::npos, mark = 0;
  while (n < name.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == name[n])) {
      ++p;
      ++n;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = n;
    } else if (star != std::string::npos) {
      p = star + 1;
      n = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace pocket
