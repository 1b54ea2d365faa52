// meta.json through RunConfig's one visit(): every field written and read back, keys unique, and
// the one-line errors of a broken or older meta.json.
#include "zo/run_dir.h"

#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "io/error.h"
#include "test_util.h"

namespace pocket {

namespace {

// A config whose every field differs from RunConfig's default.
RunConfig unusual_config() {
  RunConfig c;
  c.run_id = "0123456789abcdef";
  c.base_model = "/models/opt";
  c.base_fingerprint = "00000000deadbeef";
  c.train_data = "/data/train.jsonl";
  c.eval_data = "/data/dev.jsonl";
  c.train_fingerprint = "1111111111111111";
  c.eval_fingerprint = "2222222222222222";
  c.task.kind = TaskKind::kLm;
  c.task.template_text = "{text}";
  c.task.labels = " no| yes";
  c.task.label_field = "y";
  c.task.text_field = "text";
  c.task.max_len = 77;
  c.zo.eps = 2.5e-3;
  c.zo.weight_decay = 0.125;
  c.zo.master_f32 = true;
  c.zo.train_patterns = {"*.fc1.*", "*bias"};
  c.lr = 3e-5;
  c.schedule = Schedule::kLinear;
  c.batch = 7;
  c.steps = 99;
  c.seed = 0xFEDCBA9876543210ull;  // above 2^63: written as a decimal string, not a double
  c.snapshot_every = 11;
  c.eval_every = 13;
  c.fsync = FsyncPolicy::kNever;
  return c;
}

void write_meta(const test::TempDir& dir, const std::string& text) {
  std::ofstream(dir.file("meta.json")) << text;
}

struct KeyCollector {
  std::set<std::string> keys, flags;
  int fields = 0;
  template <class T, class... Names>
  void operator()(const RunField& f, T&, const Names&...) {
    ++fields;
    keys.insert(f.key);
    if (*f.flag != '\0') {
      CHECK(flags.insert(f.flag).second);
      CHECK(*f.help != '\0');
    }
  }
};

// The error of loading meta.json `json` with the value of field `key` replaced by `value`
// ("" when it loads).
std::string meta_error_with(const test::TempDir& dir, const std::string& json,
                            const std::string& key, const std::string& value) {
  std::string text = json;
  const std::size_t at = text.find("\"" + key + "\": ") + key.size() + 4;
  text.replace(at, text.find_first_of(",\n", at) - at, value);
  write_meta(dir, text);
  return test::error_of([&] { load_run_config(dir.path()); });
}

}  // namespace

TEST_CASE("run_dir: meta.json round-trips every RunConfig field through visit()") {
  test::TempDir dir;
  const RunConfig c = unusual_config();
  write_meta(dir, run_config_json(c));
  RunConfig back = load_run_config(dir.path());
  CHECK(run_config_json(back) == run_config_json(c));
  // Field by field, so that a field the visitor forgot shows up here.
  CHECK(back.run_id == c.run_id);
  CHECK(back.base_model == c.base_model);
  CHECK(back.base_fingerprint == c.base_fingerprint);
  CHECK(back.train_data == c.train_data);
  CHECK(back.eval_data == c.eval_data);
  CHECK(back.train_fingerprint == c.train_fingerprint);
  CHECK(back.eval_fingerprint == c.eval_fingerprint);
  CHECK(back.task.kind == c.task.kind);
  CHECK(back.task.template_text == c.task.template_text);
  CHECK(back.task.labels == c.task.labels);
  CHECK(back.task.label_field == c.task.label_field);
  CHECK(back.task.text_field == c.task.text_field);
  CHECK(back.task.max_len == c.task.max_len);
  CHECK(back.zo.eps == c.zo.eps);
  CHECK(back.zo.weight_decay == c.zo.weight_decay);
  CHECK(back.zo.master_f32 == c.zo.master_f32);
  CHECK(back.zo.train_patterns == c.zo.train_patterns);
  CHECK(back.lr == c.lr);
  CHECK(back.schedule == c.schedule);
  CHECK(back.batch == c.batch);
  CHECK(back.steps == c.steps);
  CHECK(back.seed == c.seed);
  CHECK(back.snapshot_every == c.snapshot_every);
  CHECK(back.eval_every == c.eval_every);
  CHECK(back.fsync == c.fsync);

  KeyCollector collector;
  visit(back, collector);
  CHECK(collector.keys.size() == static_cast<std::size_t>(collector.fields));  // unique keys
  CHECK(collector.flags.count("--lr") == 1);
  CHECK(collector.flags.count("--fsync") == 1);
  const std::string json = run_config_json(c);
  CHECK(json.find("\"seed\": \"18364758544493064720\"") != std::string::npos);
  CHECK(json.find("\"version\": 2") != std::string::npos);
  CHECK(json.find("\"kind\": \"lm\"") != std::string::npos);
}

TEST_CASE("run_dir: a broken, unknown or older meta.json is a one-line error naming the file") {
  test::TempDir dir;
  const std::string json = run_config_json(unusual_config());
  auto error_of = [&](const std::string& text, int oldest = kRunFormatVersion) {
    write_meta(dir, text);
    try {
      load_run_config(dir.path(), oldest);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  std::string older = json;
  older.replace(older.find("\"version\": 2"), 12, "\"version\": 1");
  const std::string e1 = error_of(older);
  CHECK(e1.find("meta.json") != std::string::npos);
  CHECK(e1.find("older pocket") != std::string::npos);
  CHECK(e1.find("pocket replay /models/opt " + dir.path() + " OUT_DIR") != std::string::npos);
  CHECK(e1.find('\n') == std::string::npos);
  CHECK(error_of(older, /*oldest=*/1).empty());  // what `pocket replay` reads

  std::string future = json;
  future.replace(future.find("\"version\": 2"), 12, "\"version\": 9");
  CHECK(error_of(future).find("run format version 9") != std::string::npos);

  std::string bad_choice = json;
  bad_choice.replace(bad_choice.find("\"never\""), 7, "\"often\"");
  CHECK(error_of(bad_choice).find("/fsync 'often'") != std::string::npos);

  std::string missing = json;
  missing.replace(missing.find("\"steps\""), 7, "\"stepz\"");
  CHECK(error_of(missing).find("broken") != std::string::npos);

  std::string bad_seed = json;
  bad_seed.replace(bad_seed.find("\"18364758544493064720\""), 22, "\"x\"");
  CHECK(error_of(bad_seed).find("broken") != std::string::npos);
}

// Issue 17: get<std::int64_t>() of 8.8e98 was undefined behaviour; a number outside double range
// escaped as nlohmann's exception.
TEST_CASE("run_dir: meta.json counts that are no integers in range are one-line errors") {
  test::TempDir dir;
  const std::string json = run_config_json(unusual_config());
  const std::string path = dir.file("meta.json");
  auto error_with = [&](const std::string& key, const std::string& value) {
    return meta_error_with(dir, json, key, value);
  };
  for (const char* steps : {"8.8e98", "-5", "3.5", "18446744073709551615"}) {
    CAPTURE(steps);
    const std::string e = error_with("steps", steps);
    CHECK(e.starts_with(path + ": field '/steps' = "));
    CHECK(e.find("is not an integer in [0, ") != std::string::npos);
  }
  CHECK(error_with("version", "8.8e98").starts_with(path + ": field 'version' = "));
  const std::string overflow = error_with("steps", "9.9e572");
  CHECK(overflow.starts_with(path + ": invalid JSON: number overflow"));
  CHECK(overflow.find("[json.exception") == std::string::npos);
  CHECK(error_with("steps", "99").empty());
}

// Issue 17: rates were read with get<double>() unchecked (1e300 became a float through an
// undefined cast in the step), and the seed with std::stoull ("12abc" -> 12, "-1" -> 2^64-1).
TEST_CASE("run_dir: meta.json rates and seed outside their range are one-line errors") {
  test::TempDir dir;
  const std::string json = run_config_json(unusual_config());
  const std::string path = dir.file("meta.json");
  auto error_with = [&](const std::string& key, const std::string& value) {
    return meta_error_with(dir, json, key, value);
  };
  for (const char* key : {"lr", "eps", "weight_decay"}) {
    for (const char* value : {"1e300", "-0.5", "\"0.1\"", "true"}) {
      CAPTURE(key);
      CAPTURE(value);
      const std::string e = error_with(key, value);
      CHECK(e == path + ": broken: /" + key + " = " + nlohmann::json::parse(value).dump() +
                     " is not a non-negative number a float can hold");
    }
    CHECK(error_with(key, "0.25").empty());
  }
  for (const char* seed : {"\"12abc\"", "\"-1\"", "\" 7\"", "\"\"", "\"18446744073709551616\""}) {
    CAPTURE(seed);
    const std::string text = nlohmann::json::parse(seed).get<std::string>();
    CHECK(error_with("seed", seed) ==
          path + ": broken: /seed '" + text + "' is not a decimal 64-bit unsigned integer");
  }
  CHECK(error_with("seed", "\"18446744073709551615\"").empty());
}

}  // namespace pocket
