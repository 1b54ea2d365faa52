// Tasks: the checks of make_task, the sequences load_dataset makes for OPT (causal), RoBERTa
// (<mask>) and LM examples, truncation from the left of the text field, and every one-line error
// a broken JSONL file gives.
#include "task/task.h"

#include <doctest/doctest.h>

#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "io/error.h"
#include "io/tokenizer_files.h"
#include "model/random_model.h"
#include "test_util.h"

namespace pocket {
namespace {

using test::error_of;

using Ids = std::vector<std::int32_t>;
using test::TempDir;

// A tokenizer of the tiny shape of `arch`, in its own directory.
struct TinyModel {
  TempDir dir;
  ModelConfig config;
  std::unique_ptr<Tokenizer> tokenizer;
  explicit TinyModel(Arch arch) : config(shape_config(arch, "tiny")) {
    config.model_type = arch == Arch::kRoberta ? "roberta" : "opt";
    write_bpe_tokenizer_files(dir.path(), config.model_type, config.vocab_size);
    tokenizer = load_tokenizer(dir.path(), config.model_type);
  }
  std::string write(const std::string& name, const std::string& text) const {
    const std::string path = dir.file(name);
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }
};

Ids concat(Ids a, const Ids& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

bool ends_with(const Ids& ids, const Ids& tail) {
  return ids.size() >= tail.size() && std::equal(tail.rbegin(), tail.rend(), ids.rbegin());
}

const std::string kLong =
    "the film goes on and on about nothing in particular, then it ends with a long scene of rain";

}  // namespace

TEST_SUITE("zo-task") {
  TEST_CASE("make_task: candidates are the tokens of each label word, no special tokens") {
    const TinyModel opt(Arch::kOpt);
    const Task task = make_task(TaskOptions{}, *opt.tokenizer, opt.config);
    CHECK_FALSE(task.mlm);
    REQUIRE(task.label_words == std::vector<std::string>{" terrible", " great"});
    CHECK(task.candidates[0] == opt.tokenizer->encode(" terrible"));
    CHECK(task.candidates[1] == opt.tokenizer->encode(" great"));
    CHECK(task.pad_id == opt.tokenizer->pad_id());

    TaskOptions single;
    single.labels = "x|y|z";
    const Task one = make_task(single, *opt.tokenizer, opt.config);
    CHECK(one.single_token());
    CHECK(one.candidates.size() == 3);
    TaskOptions multi;
    multi.labels = "x| xylophonic";
    CHECK_FALSE(make_task(multi, *opt.tokenizer, opt.config).single_token());
  }

  TEST_CASE("make_task: every misfit of options and model is a one-line error") {
    const TinyModel opt(Arch::kOpt), roberta(Arch::kRoberta);
    const auto error = [](const TinyModel& m, const std::function<void(TaskOptions&)>& edit) {
      TaskOptions o;
      edit(o);
      return error_of([&] { make_task(o, *m.tokenizer, m.config); });
    };
    CHECK(contains(error(opt, [](auto& o) { o.template_text = "{sentence} was<mask>"; }),
                   "\"<mask>\" in the template of a causal model"));
    CHECK(contains(error(roberta, [](auto&) {}), "needs \"<mask>\" exactly once, it has 0"));
    CHECK(contains(error(roberta, [](auto& o) { o.template_text = "<mask> {sentence} <mask>"; }),
                   "exactly once, it has 2"));
    CHECK(contains(error(opt, [](auto& o) { o.labels = " great"; }), "fewer than 2 candidates"));
    CHECK(contains(error(opt, [](auto& o) { o.labels = "a||b"; }), "candidate '' has no tokens"));
    CHECK(contains(error(roberta,
                         [](auto& o) {
                           o.template_text = "{sentence}<mask>";
                           o.labels = "x| xylophonic";
                         }),
                   "candidate ' xylophonic' is"));
    CHECK(
        contains(error(roberta, [](auto& o) { o.kind = TaskKind::kLm; }), "needs a causal model"));
    CHECK(contains(error(opt, [](auto& o) { o.max_len = 1; }), "max_len 1"));
  }

  TEST_CASE("classification (OPT): template filled, </s> first, labels by index or by text") {
    const TinyModel opt(Arch::kOpt);
    TaskOptions o;
    o.template_text = "{sentence} ({n} stars) It was";
    const Task task = make_task(o, *opt.tokenizer, opt.config);
    const std::string path = opt.write(
        "train.jsonl",
        "{\"sentence\": \"a good film\", \"n\": 4, \"label\": 1}\n"
        "\n"
        "{\"sentence\": \"dull\", \"n\": 1.5, \"label\": \" terrible\"}\r\n"
        "   \n"
        "{\"sentence\": \"fine\", \"n\": \"three\", \"label\": \"great \", \"extra\": [1]}\n");
    const Dataset data = load_dataset(path, task, *opt.tokenizer);
    REQUIRE(data.examples.size() == 3);
    CHECK(data.path == path);
    CHECK(data.truncated == 0);
    const Example& first = data.examples[0];
    CHECK(first.ids == opt.tokenizer->encode_for_model("a good film (4 stars) It was"));
    CHECK(first.ids.front() == opt.tokenizer->bos_id());  // OPT's </s> first, and no EOS last
    CHECK(first.ids.back() != opt.tokenizer->eos_id());
    CHECK(data.examples[1].ids == opt.tokenizer->encode_for_model("dull (1.5 stars) It was"));
    CHECK(data.examples[2].ids == opt.tokenizer->encode_for_model("fine (three stars) It was"));
    CHECK(first.label == 1);
    CHECK(data.examples[1].label == 0);
    CHECK(data.examples[2].label == 1);  // "great " matches " great" once both are trimmed
    std::size_t longest = 0;
    for (const Example& ex : data.examples) longest = std::max(longest, ex.ids.size());
    const std::size_t candidate = std::max(task.candidates[0].size(), task.candidates[1].size());
    CHECK(data.longest == static_cast<std::int64_t>(longest + candidate));
  }

  TEST_CASE("classification: a JSONL error names the file and the line") {
    const TinyModel opt(Arch::kOpt);
    const Task task = make_task(TaskOptions{}, *opt.tokenizer, opt.config);
    const std::string good = "{\"sentence\": \"ok\", \"label\": 0}\n";
    const auto error = [&](const std::string& text) {
      const std::string path = opt.write("bad.jsonl", text);
      return error_of([&] { load_dataset(path, task, *opt.tokenizer); });
    };
    const std::string path = opt.dir.file("bad.jsonl");

    std::string msg = error(good + "\n{\"sentence\": \"x\", \"label\": 0\n" + good);
    CHECK(msg.starts_with(path + ":3: invalid JSON"));
    msg = error(good + "{\"label\": 1}\n");
    CHECK(msg == path + ":2: missing field \"sentence\"");
    msg = error(good + "{\"sentence\": \"x\"}\n");
    CHECK(msg == path + ":2: missing field \"label\"");
    msg = error(good + good + "{\"sentence\": \"x\", \"label\": \"neutral\"}\n");
    CHECK(msg ==
          path + ":3: label 'neutral' is not one of ' terrible', ' great' or an index below 2");
    msg = error("{\"sentence\": \"x\", \"label\": 2}\n");
    CHECK(msg.starts_with(path + ":1: label '2' is not one of"));
    msg = error("{\"sentence\": \"x\", \"label\": -1}\n");
    CHECK(msg.starts_with(path + ":1: label '-1' is not one of"));
    msg = error("{\"sentence\": \"x\", \"label\": true}\n");
    CHECK(msg.starts_with(path + ":1: label 'true' is not one of"));
    msg = error("{\"sentence\": [1], \"label\": 0}\n");
    CHECK(msg == path + ":1: field \"sentence\" is [1], not a string or a number");
    msg = error(good + "[1, 2]\n");
    CHECK(msg == path + ":2: expected a JSON object, got [1,2]");
    CHECK(error("") == path + ": no examples");
    CHECK(error("\n  \n\n") == path + ": no examples");
    const std::string missing = opt.dir.file("nowhere.jsonl");
    CHECK(error_of([&] { load_dataset(missing, task, *opt.tokenizer); }) ==
          missing + ": cannot open");
  }

  TEST_CASE("classification: too long -> tokens cut from the left of the text field only") {
    const TinyModel opt(Arch::kOpt);
    TaskOptions o;
    o.template_text = "Review: {sentence} It was";
    o.max_len = 24;
    const Task task = make_task(o, *opt.tokenizer, opt.config);
    const std::int64_t candidate = std::max(task.candidates[0].size(), task.candidates[1].size());
    const std::string path = opt.write(
        "long.jsonl", "{\"sentence\": \"short\", \"label\": 0}\n{\"sentence\": \"" + kLong +
                          "\", \"label\": 1}\n{\"sentence\": \"" + kLong + "\", \"label\": 0}\n");
    const Dataset data = load_dataset(path, task, *opt.tokenizer);
    CHECK(data.truncated == 2);
    CHECK(data.longest <= o.max_len);
    CHECK(data.examples[0].ids == opt.tokenizer->encode_for_model("Review: short It was"));
    const Example& cut = data.examples[1];
    const auto length = static_cast<std::int64_t>(cut.ids.size()) + candidate;
    CHECK(length <= o.max_len);
    CHECK(length >= o.max_len - 2);  // the fewest tokens cut: it fills max_len (re-encoding ±1)
    CHECK(cut.label == 1);
    // The template and the end of the text survive; the start of the text is gone.
    const std::string text = opt.tokenizer->decode(cut.ids);
    CHECK(text.starts_with("Review: "));
    CHECK(text.ends_with("long scene of rain It was"));
    CHECK_FALSE(contains(text, "the film goes"));
    CHECK(cut.ids.front() == opt.tokenizer->bos_id());
    CHECK(ends_with(cut.ids, opt.tokenizer->encode(" It was")));

    o.max_len = 4;  // "Review: ", " It was" and a candidate alone are more than 4 tokens
    const Task tight = make_task(o, *opt.tokenizer, opt.config);
    const std::string msg = error_of([&] { load_dataset(path, tight, *opt.tokenizer); });
    CHECK(msg.starts_with(path + ":1: does not fit in max_len 4 tokens even with an empty "
                                 "\"sentence\""));
  }

  TEST_CASE("classification (RoBERTa): <s> part1 <mask> part2 </s>, cut keeps the <mask>") {
    const TinyModel roberta(Arch::kRoberta);
    const Tokenizer& tok = *roberta.tokenizer;
    TaskOptions o;
    o.template_text = "{sentence} It was <mask>.";
    o.labels = "x|y";
    const Task task = make_task(o, tok, roberta.config);
    REQUIRE(task.mlm);
    REQUIRE(task.mask_id == tok.special_id("<mask>"));
    REQUIRE(task.mask_id >= 0);
    CHECK(task.single_token());
    const std::string path =
        roberta.write("mlm.jsonl", "{\"sentence\": \"good\", \"label\": \"y\"}\n{\"sentence\": \"" +
                                       kLong + "\", \"label\": 0}\n");
    const Dataset short_data = load_dataset(path, task, tok);
    const Example& ex = short_data.examples[0];
    // The space before <mask> goes with it, as RoBERTa's tokenizer does.
    const Ids expected = concat(concat(concat(Ids{tok.bos_id()}, tok.encode("good It was")),
                                       concat(Ids{task.mask_id}, tok.encode("."))),
                                Ids{tok.eos_id()});
    CHECK(ex.ids == expected);
    CHECK(ex.mask_pos == static_cast<std::int64_t>(tok.encode("good It was").size()) + 1);
    CHECK(ex.label == 1);
    // A "<mask>" inside the text does not move the scored position.
    const std::string tricky =
        roberta.write("tricky.jsonl", "{\"sentence\": \"a<mask>b\", \"label\": 0}\n");
    const Dataset tricky_data = load_dataset(tricky, task, tok);
    const Example& t = tricky_data.examples[0];
    CHECK(t.mask_pos == static_cast<std::int64_t>(tok.encode("a<mask>b It was").size()) + 1);
    CHECK(t.ids[t.mask_pos] == task.mask_id);

    o.max_len = 12;
    const Task tight = make_task(o, tok, roberta.config);
    const Dataset data = load_dataset(path, tight, tok);
    CHECK(data.truncated == 1);
    const Example& cut = data.examples[1];
    CHECK(static_cast<std::int64_t>(cut.ids.size()) <= o.max_len);
    CHECK(cut.ids.front() == tok.bos_id());
    CHECK(cut.ids.back() == tok.eos_id());
    REQUIRE(cut.mask_pos > 0);
    CHECK(cut.ids[cut.mask_pos] == task.mask_id);
    CHECK(std::count(cut.ids.begin(), cut.ids.end(), task.mask_id) == 1);
    CHECK(tok.decode(cut.ids).ends_with("of rain It was."));
  }

  TEST_CASE("lm: prompt + completion, or text; cut from the left, the leading </s> stays") {
    const TinyModel opt(Arch::kOpt);
    const Tokenizer& tok = *opt.tokenizer;
    TaskOptions o;
    o.kind = TaskKind::kLm;
    o.max_len = 64;
    const Task task = make_task(o, tok, opt.config);
    const std::string path =
        opt.write("lm.jsonl",
                  "{\"prompt\": \"Q: why? A:\", \"completion\": \" because\"}\n"
                  "{\"text\": \"hello world\"}\n");
    const Dataset data = load_dataset(path, task, tok);
    REQUIRE(data.examples.size() == 2);
    const Example& pc = data.examples[0];
    CHECK(pc.ids == concat(tok.encode_for_model("Q: why? A:"), tok.encode(" because")));
    CHECK(pc.target_begin == static_cast<std::int64_t>(tok.encode_for_model("Q: why? A:").size()));
    const Example& text = data.examples[1];
    CHECK(text.ids == tok.encode_for_model("hello world"));
    CHECK(text.target_begin == 1);
    CHECK(data.truncated == 0);
    CHECK(data.longest == static_cast<std::int64_t>(std::max(pc.ids.size(), text.ids.size())));

    const Ids completion = tok.encode(" the end");
    o.max_len = static_cast<std::int64_t>(completion.size()) + 4;
    const Task tight = make_task(o, tok, opt.config);
    const std::string long_path = opt.write(
        "lm_long.jsonl", "{\"prompt\": \"" + kLong + "\", \"completion\": \" the end\"}\n" +
                             "{\"text\": \"" + kLong + "\"}\n");
    const Dataset cut = load_dataset(long_path, tight, tok);
    CHECK(cut.truncated == 2);
    const Ids prompt = tok.encode(kLong);
    const Example& cut_pc = cut.examples[0];
    CHECK(cut_pc.ids ==
          concat(concat(Ids{tok.bos_id()}, Ids(prompt.end() - 3, prompt.end())), completion));
    CHECK(cut_pc.target_begin == 4);
    const Example& cut_text = cut.examples[1];
    CHECK(cut_text.ids ==
          concat(Ids{tok.bos_id()}, Ids(prompt.end() - (o.max_len - 1), prompt.end())));
    CHECK(cut_text.target_begin == 1);

    o.max_len = static_cast<std::int64_t>(completion.size());  // no room for the </s> before it
    const Task too_tight = make_task(o, tok, opt.config);
    CHECK(error_of([&] {
            load_dataset(long_path, too_tight, tok);
          }).starts_with(long_path + ":1: does not fit in max_len"));
    const std::string bad =
        opt.write("lm_bad.jsonl", "{\"text\": \"ok\"}\n{\"prompt\": \"only a prompt\"}\n");
    CHECK(error_of([&] { load_dataset(bad, task, tok); }) ==
          bad + ":2: expected \"prompt\" and \"completion\" strings, or a \"text\" string");
    const std::string empty = opt.write("lm_empty.jsonl", "{\"text\": \"\"}\n");
    CHECK(error_of([&] { load_dataset(empty, task, tok); }) ==
          empty + ":1: the text has no tokens to predict");
  }
}

}  // namespace pocket
