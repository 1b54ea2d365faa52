#include "task/task.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "io/error.h"
#include "io/json_parse.h"
#include "io/jsonl.h"

namespace pocket {
namespace {

using nlohmann::json;
using Ids = std::vector<std::int32_t>;

constexpr const char* kMask = "<mask>";

std::string in_quotes(const std::string& s) { return "'" + s + "'"; }

std::string trim(const std::string& s) {
  const auto begin = s.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  const auto end = s.find_last_not_of(" \t\r\n");
  return s.substr(begin, end - begin + 1);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::size_t begin = 0;
  for (std::size_t at; (at = s.find(sep, begin)) != std::string::npos; begin = at + 1) {
    parts.push_back(s.substr(begin, at - begin));
  }
  parts.push_back(s.substr(begin));
  return parts;
}

std::size_t count_of(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

// The text of field `name` of one example: strings as they are, numbers as JSON writes them.
std::string field_text(const json& example, const std::string& name, const std::string& where) {
  const auto it = example.find(name);
  if (it == example.end()) throw Error(where, "missing field \"" + name + "\"");
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number()) return it->dump();
  throw Error(where, "field \"" + name + "\" is " + it->dump() + ", not a string or a number");
}

// `tmpl` with every "{name}" replaced by the example's field `name`, except the text field, which
// takes `text` (the field, possibly cut). A '{' without a closing '}' is literal text.
std::string fill(const std::string& tmpl, const json& example, const std::string& text_field,
                 const std::string& text, const std::string& where) {
  std::string out;
  std::size_t at = 0;
  while (at < tmpl.size()) {
    const auto open = tmpl.find('{', at);
    const auto close = open == std::string::npos ? open : tmpl.find('}', open + 1);
    if (close == std::string::npos) break;
    out.append(tmpl, at, open - at);
    const std::string name = tmpl.substr(open + 1, close - open - 1);
    out += name == text_field ? text : field_text(example, name, where);
    at = close + 1;
  }
  if (at < tmpl.size()) out.append(tmpl, at, std::string::npos);
  return out;
}

// The label of one example as an index into the candidates: an integer in [0, C), or a
// candidate's text (exactly, or equal after trimming spaces on both sides).
std::int32_t parse_label(const json& example, const Task& task, const std::string& where) {
  const std::string& field = task.options.label_field;
  const auto it = example.find(field);
  if (it == example.end()) throw Error(where, "missing field \"" + field + "\"");
  const auto n = static_cast<std::int64_t>(task.label_words.size());
  if (it->is_number()) {
    if (const auto index = json_int_in(*it, 0, n - 1)) return static_cast<std::int32_t>(*index);
  } else if (it->is_string()) {
    const std::string value = it->get<std::string>();
    for (std::int64_t c = 0; c < n; ++c) {
      if (value == task.label_words[c]) return static_cast<std::int32_t>(c);
    }
    for (std::int64_t c = 0; c < n; ++c) {
      if (trim(value) == trim(task.label_words[c])) return static_cast<std::int32_t>(c);
    }
  }
  std::string known;
  for (const std::string& word : task.label_words)
    known += (known.empty() ? "" : ", ") + in_quotes(word);
  const std::string shown = it->is_string() ? it->get<std::string>() : it->dump();
  throw Error(where, "label " + in_quotes(shown) + " is not one of " + known +
                         " or an index below " + std::to_string(n));
}

// Classification: the prompt with the model's special tokens, for a given text-field value.
//   causal  encode_for_model(template)                     (OPT </s> first, Llama <s> first)
//   MLM     <s> encode(part 1) <mask> encode(part 2) </s>  (the template split at "<mask>")
class PromptEncoder {
 public:
  PromptEncoder(const Task& task, const Tokenizer& tokenizer, const json& example,
                const std::string& where)
      : task_(task), tokenizer_(tokenizer), example_(example), where_(where) {}

  // mask_pos: set to the position of <mask> (MLM).
  Ids encode(const std::string& text, std::int64_t* mask_pos) const {
    const TaskOptions& o = task_.options;
    if (!task_.mlm) {
      return tokenizer_.encode_for_model(
          fill(o.template_text, example_, o.text_field, text, where_));
    }
    const auto at = o.template_text.find(kMask);
    // RoBERTa's <mask> swallows the spaces before it ("was <mask>" -> "was", "<mask>"), as
    // Hugging Face's tokenizer does with the token's lstrip.
    std::string before = fill(o.template_text.substr(0, at), example_, o.text_field, text, where_);
    before.erase(before.find_last_not_of(' ') + 1);
    const std::string after = fill(o.template_text.substr(at + std::string(kMask).size()), example_,
                                   o.text_field, text, where_);
    Ids ids{tokenizer_.bos_id()};
    const Ids part1 = tokenizer_.encode(before), part2 = tokenizer_.encode(after);
    ids.insert(ids.end(), part1.begin(), part1.end());
    *mask_pos = static_cast<std::int64_t>(ids.size());  // not a search: the text may hold "<mask>"
    ids.push_back(task_.mask_id);
    ids.insert(ids.end(), part2.begin(), part2.end());
    ids.push_back(tokenizer_.eos_id());
    return ids;
  }

 private:
  const Task& task_;
  const Tokenizer& tokenizer_;
  const json& example_;
  const std::string& where_;
};

// Tokens a classification sequence has after the prompt: the longest candidate (causal), none
// (MLM: the candidate is scored at <mask>).
std::int64_t appended_tokens(const Task& task) {
  std::int64_t longest = 0;
  if (task.mlm) return longest;
  for (const Ids& c : task.candidates)
    longest = std::max(longest, static_cast<std::int64_t>(c.size()));
  return longest;
}

// Re-encoding a cut text changes its length by a token or two at most, so the search for the
// number of tokens to cut starts this far below the excess (linear time for long texts).
constexpr std::int64_t kCutSlack = 8;

// One classification example. Too long (prompt + longest candidate > max_len): cut k tokens from
// the left of the text field (encode it alone, drop k tokens, decode the rest, refill, re-encode),
// with k increasing until the sequence fits.
Example classification_example(const Task& task, const Tokenizer& tokenizer, const json& object,
                               const std::string& where, bool* truncated) {
  const TaskOptions& o = task.options;
  const std::int64_t longest_candidate = appended_tokens(task);
  const bool has_text = o.template_text.find("{" + o.text_field + "}") != std::string::npos;
  const std::string text = has_text ? field_text(object, o.text_field, where) : "";
  const PromptEncoder prompt(task, tokenizer, object, where);

  Example ex;
  ex.label = parse_label(object, task, where);
  ex.ids = prompt.encode(text, &ex.mask_pos);
  const auto length = [&] { return static_cast<std::int64_t>(ex.ids.size()) + longest_candidate; };
  *truncated = length() > o.max_len;
  if (*truncated) {
    const Ids field = has_text ? tokenizer.encode(text) : Ids{};
    const auto n_field = static_cast<std::int64_t>(field.size());
    bool fits = false;
    const std::int64_t first_k = std::max<std::int64_t>(1, length() - o.max_len - kCutSlack);
    for (std::int64_t k = std::min(first_k, n_field); k <= n_field && !fits; ++k) {
      ex.ids = prompt.encode(tokenizer.decode(Ids(field.begin() + k, field.end())), &ex.mask_pos);
      fits = length() <= o.max_len;
    }
    if (!fits) {
      ex.ids = prompt.encode("", &ex.mask_pos);
      throw Error(where, "does not fit in max_len " + std::to_string(o.max_len) +
                             " tokens even with an empty \"" + o.text_field + "\" (" +
                             std::to_string(length()) + " tokens)");
    }
  }
  return ex;
}

// One LM example: {"prompt", "completion"} (targets = the completion's tokens) or {"text"}
// (targets = every token after the leading special tokens, and never the first). Too long: the
// prompt (or the text) loses tokens from its left; the leading special tokens stay.
Example lm_example(const Tokenizer& tokenizer, const json& object, std::int64_t max_len,
                   const std::string& where, bool* truncated) {
  const auto string_field = [&](const char* name) -> const json* {
    const auto it = object.find(name);
    return it != object.end() && it->is_string() ? &*it : nullptr;
  };
  const auto n_lead = static_cast<std::int64_t>(tokenizer.encode_for_model("").size());
  // At least one token precedes the first target: nothing before it would predict it.
  const std::int64_t min_prefix = std::max<std::int64_t>(n_lead, 1);
  const json* prompt = string_field("prompt");
  const json* completion = string_field("completion");
  const json* text = string_field("text");
  Example ex;
  Ids targets;
  if (prompt != nullptr && completion != nullptr) {
    ex.ids = tokenizer.encode_for_model(prompt->get<std::string>());
    targets = tokenizer.encode(completion->get<std::string>());
    if (targets.empty()) throw Error(where, "the completion has no tokens");
  } else if (text != nullptr) {
    ex.ids = tokenizer.encode_for_model(text->get<std::string>());
  } else {
    throw Error(where, "expected \"prompt\" and \"completion\" strings, or a \"text\" string");
  }
  // Whole sequence = lead + body + targets: cut the body from its left.
  const auto total = static_cast<std::int64_t>(ex.ids.size() + targets.size());
  *truncated = total > max_len;
  if (*truncated) {
    const std::int64_t cut = total - max_len;
    const std::int64_t room = static_cast<std::int64_t>(ex.ids.size()) - n_lead;
    // A text keeps min_prefix + 1 tokens (one target); a prompt keeps min_prefix.
    const std::int64_t kept = targets.empty() ? min_prefix + 1 - n_lead : min_prefix - n_lead;
    if (cut > room - kept) {
      throw Error(where, "does not fit in max_len " + std::to_string(max_len) + " tokens (" +
                             std::to_string(total) + " tokens)");
    }
    ex.ids.erase(ex.ids.begin() + n_lead, ex.ids.begin() + n_lead + cut);
  }
  if (targets.empty()) {
    if (static_cast<std::int64_t>(ex.ids.size()) <= min_prefix) {
      throw Error(where, "the text has no tokens to predict");
    }
    ex.target_begin = min_prefix;
  } else {
    if (static_cast<std::int64_t>(ex.ids.size()) < min_prefix) {
      throw Error(where, "the prompt has no tokens to predict the completion from");
    }
    ex.target_begin = static_cast<std::int64_t>(ex.ids.size());
    ex.ids.insert(ex.ids.end(), targets.begin(), targets.end());
  }
  return ex;
}

}  // namespace

bool Task::single_token() const {
  return std::all_of(candidates.begin(), candidates.end(),
                     [](const auto& c) { return c.size() == 1; });
}

Task make_task(const TaskOptions& options, const Tokenizer& tokenizer, const ModelConfig& config) {
  Task task;
  task.options = options;
  task.mlm = !config.causal;
  task.pad_id = std::max(tokenizer.pad_id(), 0);
  const std::string where = "task";
  if (options.max_len < 2)
    throw Error(where, "max_len " + std::to_string(options.max_len) + " is below 2");
  if (options.kind == TaskKind::kLm) {
    if (task.mlm) throw Error(where, "an lm task needs a causal model, not " + config.model_type);
    return task;
  }
  const std::size_t masks = count_of(options.template_text, kMask);
  if (task.mlm) {
    if (masks != 1) {
      throw Error(where, "the template of an MLM model (" + config.model_type +
                             ") needs \"<mask>\" exactly once, it has " + std::to_string(masks) +
                             ": \"" + options.template_text + "\"");
    }
    task.mask_id = tokenizer.special_id(kMask);
    if (task.mask_id < 0 || tokenizer.bos_id() < 0 || tokenizer.eos_id() < 0) {
      throw Error(where, "the tokenizer lacks <mask>, <s> or </s>");
    }
  } else if (masks != 0) {
    throw Error(where, "\"<mask>\" in the template of a causal model (" + config.model_type +
                           "): it scores the candidates after the prompt");
  }
  task.label_words = split(options.labels, '|');
  if (task.label_words.size() < 2) {
    throw Error(where,
                "labels \"" + options.labels + "\" name fewer than 2 candidates ('|'-separated)");
  }
  for (const std::string& word : task.label_words) {
    Ids ids = tokenizer.encode(word);
    if (ids.empty()) throw Error(where, "candidate " + in_quotes(word) + " has no tokens");
    if (task.mlm && ids.size() != 1) {
      throw Error(where, "candidate " + in_quotes(word) + " is " + std::to_string(ids.size()) +
                             " tokens; an MLM model scores one token at <mask>");
    }
    task.candidates.push_back(std::move(ids));
  }
  return task;
}

Dataset load_dataset(const std::string& path, const Task& task, const Tokenizer& tokenizer) {
  Dataset data;
  data.path = path;
  const std::int64_t longest_candidate = appended_tokens(task);
  read_jsonl(path, [&](std::int64_t line, const json& object) {
    const std::string where = jsonl_where(path, line);
    if (!object.is_object()) throw Error(where, "expected a JSON object, got " + object.dump());
    bool truncated = false;
    Example ex = task.options.kind == TaskKind::kLm
                     ? lm_example(tokenizer, object, task.options.max_len, where, &truncated)
                     : classification_example(task, tokenizer, object, where, &truncated);
    data.truncated += truncated ? 1 : 0;
    const auto length = static_cast<std::int64_t>(ex.ids.size()) +
                        (task.options.kind == TaskKind::kLm ? 0 : longest_candidate);
    data.longest = std::max(data.longest, length);
    data.examples.push_back(std::move(ex));
  });
  if (data.examples.empty()) throw Error(path, "no examples");
  return data;
}

}  // namespace pocket
