// Tasks for tuning and evaluation (DESIGN.md, "Losses and tasks"): JSONL examples turned into
// token sequences, and the positions whose logits the loss reads.
//
//   classification  MeZO's prompts: a template filled from the example's fields, then label
//                   words as candidates. Causal models score candidate c by the mean log-prob of
//                   its tokens after the prompt; RoBERTa (a "<mask>" in the template) by the MLM
//                   head's log-prob of the candidate's single token at <mask>. loss = cross-
//                   entropy over the candidates' scores, prediction = the best-scoring candidate.
//   lm              {"prompt", "completion"}: loss on the completion's tokens; {"text"}: on every
//                   token after the first. loss = mean cross-entropy over target tokens.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/model_config.h"
#include "io/tokenizer.h"

namespace pocket {

enum class TaskKind { kClassification, kLm };

struct TaskOptions {
  TaskKind kind = TaskKind::kClassification;
  std::string template_text = "{sentence} It was";  // {field} is replaced by the example's field
  std::string labels = " terrible| great";          // candidates, '|'-separated, in label order
  std::string label_field = "label";  // an integer index into the candidates, or a candidate's text
  std::string text_field = "sentence";  // the field truncated from the left when too long
  std::int64_t max_len = 128;           // tokens per sequence, candidate included
};

// A task bound to a model: its tokenizer's ids for the candidates.
struct Task {
  TaskOptions options;
  bool mlm = false;  // RoBERTa-style: the template holds "<mask>"
  std::int32_t mask_id = -1;
  std::int32_t pad_id = 0;               // padding of the batches: the tokenizer's <pad>, else 0
  std::vector<std::string> label_words;  // classification: candidate texts
  std::vector<std::vector<std::int32_t>> candidates;  // their token ids (one each when mlm)
  bool single_token() const;  // every candidate is one token: one sequence per example
};

// Checks the options against the model (e.g. "<mask>" only for an MLM model, one token per
// candidate for it, at least two candidates) and tokenizes the candidates. Throws pocket::Error.
Task make_task(const TaskOptions& options, const Tokenizer& tokenizer, const ModelConfig& config);

// One example as the model sees it.
struct Example {
  // classification: the prompt with the model's special tokens (ends right before a candidate;
  // for MLM the whole sequence, <mask> included); lm: the whole sequence.
  std::vector<std::int32_t> ids;
  std::int32_t label = -1;        // classification: index of the right candidate
  std::int64_t mask_pos = -1;     // MLM: position of <mask> in ids
  std::int64_t target_begin = 1;  // lm: ids[t] for t >= target_begin are the targets
};

struct Dataset {
  std::string path;
  std::vector<Example> examples;
  std::int64_t truncated = 0;  // examples whose text field was cut from the left to fit max_len
  std::int64_t longest = 0;    // longest sequence in tokens, candidate included
};

// Reads a JSONL file (one JSON object per line; blank lines skipped) and encodes every example.
// A line that is not a JSON object, lacks a field, or has a label outside the label set is a
// one-line pocket::Error "<path>:<line>: <problem>". Too-long sequences lose tokens from the left
// of text_field (the template and candidates stay whole); an example that cannot fit even with
// an empty text field is an error.
Dataset load_dataset(const std::string& path, const Task& task, const Tokenizer& tokenizer);

}  // namespace pocket
