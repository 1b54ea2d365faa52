#include "cli/task_flags.h"

#include "io/error.h"

namespace pocket {

void TaskFlags::declare(Args& args) {
  args.option("--task", &task, "classification (label words, MeZO prompts) or lm");
  args.option("--template", &options.template_text,
              "prompt with {field} placeholders; RoBERTa: with one <mask>");
  args.option("--labels", &options.labels, "candidate label words in label order, '|'-separated");
  args.option("--label-field", &options.label_field, "JSON field of the label (index or word)");
  args.option("--text-field", &options.text_field,
              "JSON field cut from the left when an example is longer than --max-len");
  args.option("--max-len", &options.max_len, "tokens per sequence, candidate included");
}

TaskOptions TaskFlags::parse() const {
  TaskOptions o = options;
  if (task == "classification") {
    o.kind = TaskKind::kClassification;
  } else if (task == "lm") {
    o.kind = TaskKind::kLm;
  } else {
    throw Error("--task", "'" + task + "' is not classification or lm");
  }
  if (o.max_len < 2) throw Error("--max-len", "must be at least 2");
  return o;
}

TaskOptions TaskFlags::override(const Args& args, TaskOptions base) const {
  const TaskOptions given = parse();
  if (args.given("--task")) base.kind = given.kind;
  if (args.given("--template")) base.template_text = given.template_text;
  if (args.given("--labels")) base.labels = given.labels;
  if (args.given("--label-field")) base.label_field = given.label_field;
  if (args.given("--text-field")) base.text_field = given.text_field;
  if (args.given("--max-len")) base.max_len = given.max_len;
  return base;
}

}  // namespace pocket
