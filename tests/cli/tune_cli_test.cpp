// `pocket tune`, `eval`, `export` and `replay` end to end, and the crash test: a run killed with
// SIGKILL at random moments and at the injected crash points (crash_point.h: mid-journal-record,
// mid-update, mid-snapshot), resumed each time, ends with the same weights, bit for bit, as an
// uninterrupted run; for a LoRA run, the same exported adapters.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <thread>

#include "cli_util.h"
#include "sha256.h"
#include "test_util.h"

namespace pocket {
using namespace cli_test;

namespace {

// A two-class task with a clear signal (the word decides the label) for a tiny model.
void write_task(const std::string& path, int n, int offset) {
  std::ofstream out(path);
  const char* good[] = {"good", "fine", "nice", "great"};
  const char* bad[] = {"bad", "poor", "awful", "sad"};
  for (int i = 0; i < n; ++i) {
    const int label = (i + offset) % 2;
    const char* w = label ? good[(i / 2 + offset) % 4] : bad[(i / 2 + offset) % 4];
    out << "{\"sentence\": \"the film was " << w << "\", \"label\": " << label << "}\n";
  }
}

int wait_for(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

const std::string kTuneArgs =
    " --data {D}/train.jsonl --eval {D}/dev.jsonl --steps {S} --batch 4 --lr 2e-3 --seed 9"
    " --snapshot-every 4 --eval-every 10 --quiet";

std::string fill(std::string s, const std::string& dir, int steps = 30) {
  for (std::size_t at; (at = s.find("{D}")) != std::string::npos;) s.replace(at, 3, dir);
  s.replace(s.find("{S}"), 3, std::to_string(steps));
  return s;
}

}  // namespace

TEST_CASE("cli: tune, eval, export and replay agree; errors are one line") {
  SKIP_WITHOUT_POCKET();
  test::TempDir tmp;
  const std::string d = tmp.path();
  REQUIRE(run("init --arch opt --shape tiny --seed 3 " + d + "/model", tmp).status == 0);
  write_task(d + "/train.jsonl", 24, 0);
  write_task(d + "/dev.jsonl", 12, 1);
  Result r = run("tune " + d + "/model --out " + d + "/run" + fill(kTuneArgs, d), tmp);
  REQUIRE_MESSAGE(r.status == 0, r.err);
  for (const char* f : {"meta.json", "journal.bin", "log.jsonl", "loss.csv", "loss.svg",
                        "snap-000000028.safetensors", "snap-000000030.safetensors"}) {
    CHECK_MESSAGE(std::filesystem::exists(d + "/run/" + f), f);
  }
  CHECK_FALSE(std::filesystem::exists(d + "/run/model"));  // no copy of the model in a run
  CHECK_FALSE(std::filesystem::exists(d + "/run/snap-000000024.safetensors"));  // last two kept
  CHECK(std::filesystem::file_size(d + "/run/journal.bin") == 16 + 30 * 48);
  const std::string svg = slurp(d + "/run/loss.svg");
  CHECK(svg.find("<svg") != std::string::npos);
  CHECK(svg.find("</svg>") != std::string::npos);
  // Not modified: the base model.
  CHECK(run("forward " + d + "/model --ids 2,5,9 --json", tmp).out ==
        run("forward " + d + "/model --ids 2,5,9 --json", tmp).out);

  r = run("export " + d + "/run " + d + "/exported", tmp);
  REQUIRE_MESSAGE(r.status == 0, r.err);
  r = run("replay " + d + "/model " + d + "/run " + d + "/replayed", tmp);
  REQUIRE_MESSAGE(r.status == 0, r.err);
  CHECK(slurp(d + "/exported/model.safetensors") == slurp(d + "/replayed/model.safetensors"));
  CHECK(slurp(d + "/exported/model.safetensors") != slurp(d + "/model/model.safetensors"));

  // eval of the run and of the exported directory: the same numbers.
  const Result a = run("eval " + d + "/run --data " + d + "/dev.jsonl --json", tmp);
  const Result b = run("eval " + d + "/exported --data " + d + "/dev.jsonl --json", tmp);
  REQUIRE_MESSAGE(a.status == 0, a.err);
  CHECK(a.out == b.out);
  CHECK(a.out.find("\"accuracy\"") != std::string::npos);
  const Result lm = run("eval " + d + "/exported --task lm --data " + d + "/dev.jsonl", tmp);
  CHECK_MESSAGE(lm.status == 1, lm.err);  // lm lines need "text" or "prompt"/"completion"

  check_one_line_error(run("tune " + d + "/model --out " + d + "/run" + fill(kTuneArgs, d), tmp),
                       "already exists");
  check_one_line_error(run("tune " + d + "/model --out " + d + "/x --data " + d + "/none.jsonl", tmp),
                       "none.jsonl");
  check_one_line_error(run("tune --resume " + d + "/run --lr 1", tmp), "keeps the settings");
  check_one_line_error(run("tune --resume " + d + "/model", tmp), "no meta.json");
  check_one_line_error(run("tune --data " + d + "/train.jsonl --out " + d + "/z", tmp), "MODEL_DIR");
  check_one_line_error(run("tune " + d + "/model --resume " + d + "/run", tmp), "keeps the base model");
  check_one_line_error(run("tune " + d + "/model --out " + d + "/y --data " + d +
                               "/train.jsonl --train 'nothing.*'", tmp),
                       "no tensor of the model matches");
  CHECK_FALSE(std::filesystem::exists(d + "/y/journal.bin"));
  check_one_line_error(run("export " + d + "/run " + d + "/exported", tmp), "already exists");
  {
    std::ofstream more(d + "/train.jsonl", std::ios::app);
    more << "{\"sentence\": \"an extra line\", \"label\": 1}\n";
  }
  check_one_line_error(run("tune --resume " + d + "/run", tmp), "changed since the run started");
  {
    std::ofstream bad(d + "/bad.jsonl");
    bad << "{\"sentence\": \"ok\", \"label\": 1}\n{\"sentence\": \"x\", \"label\": 7}\n";
  }
  check_one_line_error(run("eval " + d + "/model --data " + d + "/bad.jsonl", tmp), "bad.jsonl:2");
}

namespace {

// The crash test over one kind of run: `extra` is added to the tune flags (e.g. --lora), and the
// run's result is exported with `export_flags` into `exported` (the file compared).
void crash_test(const std::string& extra, const std::string& export_flags, const std::string& exported) {
  test::TempDir tmp;
  const std::string d = tmp.path();
  REQUIRE(run("init --arch opt --shape tiny --seed 4 " + d + "/model", tmp).status == 0);
  write_task(d + "/train.jsonl", 24, 0);
  write_task(d + "/dev.jsonl", 12, 1);

  // The uninterrupted run, timed: random kills land inside a run of this length.
  const auto t0 = std::chrono::steady_clock::now();
  constexpr int kSteps = 160;
  Result r = run("tune " + d + "/model --out " + d + "/a" + fill(kTuneArgs, d, kSteps) + extra, tmp);
  REQUIRE_MESSAGE(r.status == 0, r.err);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  REQUIRE(run("export " + d + "/a " + d + "/a-out" + export_flags, tmp).status == 0);

  // The interrupted run: three kills at the injected points, then at least five at random moments,
  // each a small fraction of the whole run's time so that the run is still going.
  const std::string args = fill(kTuneArgs, d, kSteps) + extra;
  auto start_args = [&] {
    std::vector<std::string> v = {"tune", d + "/model", "--out", d + "/b"};
    std::istringstream in(args);
    for (std::string w; in >> w;) v.push_back(w);
    return v;
  };
  const std::vector<std::string> resume = {"tune", "--resume", d + "/b", "--quiet"};
  int kills = 0;
  for (const char* point : {"journal:6", "update:11", "snapshot:16"}) {
    setenv("POCKET_CRASH_AT", point, 1);
    const int status = wait_for(spawn(std::filesystem::exists(d + "/b") ? resume : start_args()));
    unsetenv("POCKET_CRASH_AT");
    CHECK_MESSAGE(WIFSIGNALED(status), point);
    CHECK(WTERMSIG(status) == SIGKILL);
    kills += WIFSIGNALED(status) ? 1 : 0;
  }
  std::mt19937 rng(20261121);
  std::uniform_real_distribution<double> moment(0.02 * seconds, 0.09 * seconds);
  int random_kills = 0;
  for (int attempt = 0; attempt < 12 && random_kills < 5; ++attempt) {
    const pid_t pid = spawn(resume);
    std::this_thread::sleep_for(std::chrono::duration<double>(moment(rng)));
    ::kill(pid, SIGKILL);
    const int status = wait_for(pid);
    if (WIFSIGNALED(status)) ++random_kills;  // else it finished before the kill: try again
    if (WIFEXITED(status)) break;             // the run is complete; later resumes would no-op
  }
  MESSAGE("killed at 3 crash points and " << random_kills << " random moments");
  r = run("tune --resume " + d + "/b --quiet", tmp);
  REQUIRE_MESSAGE(r.status == 0, r.err);
  REQUIRE(run("export " + d + "/b " + d + "/b-out" + export_flags, tmp).status == 0);
  CHECK(slurp(d + "/a-out/" + exported) == slurp(d + "/b-out/" + exported));
  CHECK(slurp(d + "/a/journal.bin").substr(16) == slurp(d + "/b/journal.bin").substr(16));
  CHECK(slurp(d + "/a/loss.csv") == slurp(d + "/b/loss.csv"));
  CHECK(kills == 3);
  CHECK(random_kills >= 5);
}

}  // namespace

TEST_CASE("crash test: SIGKILL at random moments and inside journal, update and snapshot; resumed runs end bit-identical") {
  SKIP_WITHOUT_POCKET();
  crash_test("", "", "model.safetensors");
}

// A LoRA run (issue 14): the snapshots hold the fp32 adapters, the journal replays their updates,
// so a killed and resumed run exports the same adapters, byte for byte, as an uninterrupted one.
TEST_CASE("crash test: a LoRA run killed and resumed exports bit-identical adapters") {
  SKIP_WITHOUT_POCKET();
  crash_test(" --lora 4 --lora-alpha 16 --lora-targets q_proj,v_proj,fc2", " --adapter",
             "adapter_model.safetensors");
}

}  // namespace pocket

namespace pocket {
using namespace cli_test;

namespace {

std::uint64_t directory_bytes(const std::string& dir) {
  std::uint64_t bytes = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) bytes += e.file_size();
  }
  return bytes;
}

}  // namespace

TEST_CASE("cli: a run holds no model copy; a crashed run exports as the whole run; old runs and changed bases are refused") {
  SKIP_WITHOUT_POCKET();
  test::TempDir tmp;
  const std::string d = tmp.path();
  REQUIRE(run("init --arch opt --shape tiny --seed 5 " + d + "/model", tmp).status == 0);
  write_task(d + "/train.jsonl", 24, 0);
  write_task(d + "/dev.jsonl", 12, 1);
  const std::string subset = " --train '*.layers.0.fc1.weight' --master f32";
  Result r = run("tune " + d + "/model --out " + d + "/a" + fill(kTuneArgs, d) + subset, tmp);
  REQUIRE_MESSAGE(r.status == 0, r.err);
  // The run: meta, journal, logs and two snapshots of the fc1 matrices (fp16 + fp32 masters).
  for (const auto& e : std::filesystem::directory_iterator(d + "/a")) {
    CHECK_MESSAGE(e.is_regular_file(), e.path().string());
  }
  std::uint64_t trained = 0;
  for (const auto& e : std::filesystem::directory_iterator(d + "/a")) {
    if (e.path().extension() == ".safetensors") trained += e.file_size();
  }
  CHECK(directory_bytes(d + "/a") < trained + 64 * 1024);
  CHECK(directory_bytes(d + "/a") < directory_bytes(d + "/model"));

  // Killed after the journal record of the last step, inside its update: no snapshot of step 30.
  // export and eval restore snapshot 28 and replay steps 29 and 30, and agree with the clean run
  // and with replay, byte for byte.
  setenv("POCKET_CRASH_AT", "update:30", 1);
  r = run("tune " + d + "/model --out " + d + "/b" + fill(kTuneArgs, d) + subset, tmp);
  unsetenv("POCKET_CRASH_AT");
  REQUIRE(r.status != 0);
  CHECK_FALSE(std::filesystem::exists(d + "/b/snap-000000030.safetensors"));
  REQUIRE(run("export " + d + "/a " + d + "/a-out", tmp).status == 0);
  r = run("export " + d + "/b " + d + "/b-out", tmp);
  REQUIRE_MESSAGE(r.status == 0, r.err);
  CHECK_MESSAGE(r.err.find("replayed 2 journalled update(s) after step 28") != std::string::npos,
                r.err);
  REQUIRE(run("replay " + d + "/model " + d + "/b " + d + "/b-replay", tmp).status == 0);
  const std::string tuned = slurp(d + "/a-out/model.safetensors");
  CHECK(slurp(d + "/b-out/model.safetensors") == tuned);
  CHECK(slurp(d + "/b-replay/model.safetensors") == tuned);
  CHECK(tuned != slurp(d + "/model/model.safetensors"));
  const std::string eval = " --data " + d + "/dev.jsonl --json --quiet";
  const Result ea = run("eval " + d + "/a" + eval, tmp);
  const Result eb = run("eval " + d + "/b" + eval, tmp);
  const Result eo = run("eval " + d + "/a-out" + eval, tmp);
  REQUIRE_MESSAGE(ea.status == 0, ea.err);
  CHECK(ea.out == eb.out);
  CHECK(ea.out == eo.out);
  // eval and export read a run, never write it: b still resumes to the end, then has snapshot 30.
  REQUIRE(run("tune --resume " + d + "/b --quiet", tmp).status == 0);
  CHECK(std::filesystem::exists(d + "/b/snap-000000030.safetensors"));
  CHECK(slurp(d + "/a/journal.bin").substr(16) == slurp(d + "/b/journal.bin").substr(16));

  // A run of an older pocket (format 1: meta.json version 1, a model copy in RUN/model): resume,
  // eval and export say so in one line and name the way out; replay still reads it.
  std::filesystem::copy(d + "/a", d + "/old");
  {
    std::string meta = slurp(d + "/old/meta.json");
    meta.replace(meta.find("\"version\": 2"), 12, "\"version\": 1");
    std::ofstream(d + "/old/meta.json") << meta;
  }
  check_one_line_error(run("tune --resume " + d + "/old", tmp), "older pocket");
  check_one_line_error(run("eval " + d + "/old" + eval, tmp), "pocket replay");
  check_one_line_error(run("export " + d + "/old " + d + "/old-out", tmp), "older pocket");
  REQUIRE(run("replay " + d + "/model " + d + "/old " + d + "/old-replay", tmp).status == 0);
  CHECK(slurp(d + "/old-replay/model.safetensors") == tuned);

  // A base model that changed since the run started: refused, naming the base directory.
  REQUIRE(run("init --arch opt --shape tiny --seed 6 " + d + "/other", tmp).status == 0);
  std::filesystem::copy_file(d + "/other/model.safetensors", d + "/model/model.safetensors",
                             std::filesystem::copy_options::overwrite_existing);
  check_one_line_error(run("export " + d + "/a " + d + "/c-out", tmp), "not the base model");
  check_one_line_error(run("tune --resume " + d + "/b", tmp), d + "/model");
  check_one_line_error(run("eval " + d + "/a" + eval, tmp), "fingerprint differs");
}


// LoRA over a quantized base (issue 14): ../shared's stories260K as Q8_0 GGUF, mapped read-only.
// Step 0 (B = 0) is the base model: the run's first evaluation equals `pocket eval BASE` exactly;
// the steps run, the base file is unchanged, and `pocket eval RUN` restores the adapters of the
// last step (the tune's final evaluation, bit for bit in its printed digits), as does the base with
// the run's exported PEFT adapter.
TEST_CASE("cli: LoRA tunes over a Q8_0 GGUF base; step 0 is the base; eval restores the adapters") {
  SKIP_WITHOUT_POCKET();
  const std::string gguf = "../shared/models/stories260K-gguf/stories260K-Q8_0.gguf";
  if (!std::filesystem::exists(gguf)) {
    MESSAGE(gguf << " absent: skipped");
    return;
  }
  test::TempDir tmp;
  const std::string d = tmp.path();
  {
    std::ofstream train(d + "/train.jsonl"), dev(d + "/dev.jsonl");
    for (int i = 0; i < 12; ++i) {
      const std::string line = "{\"text\": \"Once upon a time in Zarbo there was a fox named " +
                               std::to_string(i) + " who liked the sun.\"}\n";
      train << line;
      if (i < 4) dev << line;
    }
  }
  const std::string base_sum = test::sha256_hex(slurp(gguf).data(), slurp(gguf).size());
  Result r = run("tune " + gguf + " --task lm --data " + d + "/train.jsonl --eval " + d +
                     "/dev.jsonl --out " + d + "/run --lora 4 --lora-targets q_proj,o_proj "
                     "--steps 4 --batch 4 --lr 1e-3 --eps 1e-2 --quiet",
                 tmp);
  REQUIRE_MESSAGE(r.status == 0, r.err);
  const std::string log = slurp(d + "/run/log.jsonl");
  std::vector<double> evals;
  for (std::size_t at = log.find("\"event\":\"eval\""); at != std::string::npos;
       at = log.find("\"event\":\"eval\"", at + 1)) {
    const std::size_t loss = log.find("\"loss\":", at);
    evals.push_back(std::stod(log.substr(loss + 7)));
  }
  REQUIRE(evals.size() == 2);
  const Result base = run("eval " + gguf + " --task lm --data " + d + "/dev.jsonl", tmp);
  REQUIRE_MESSAGE(base.status == 0, base.err);
  char want[64];
  std::snprintf(want, sizeof want, "loss %.4f", evals[0]);
  CHECK_MESSAGE((base.out + base.err).find(want) != std::string::npos, base.err << " vs " << want);
  const Result tuned = run("eval " + d + "/run --data " + d + "/dev.jsonl", tmp);
  REQUIRE_MESSAGE(tuned.status == 0, tuned.err);
  std::snprintf(want, sizeof want, "loss %.4f", evals[1]);
  CHECK_MESSAGE((tuned.out + tuned.err).find(want) != std::string::npos, tuned.err << " vs " << want);
  CHECK(evals[1] != evals[0]);  // the adapters moved the model
  // The exported PEFT adapter over the GGUF base evaluates as the run, digit for digit.
  REQUIRE(run("export " + d + "/run " + d + "/adapter --adapter", tmp).status == 0);
  const Result adapted = run("eval " + gguf + " --adapter " + d + "/adapter --task lm --data " + d +
                                 "/dev.jsonl --json --quiet",
                             tmp);
  REQUIRE_MESSAGE(adapted.status == 0, adapted.err);
  CHECK(adapted.out == run("eval " + d + "/run --data " + d + "/dev.jsonl --json --quiet", tmp).out);
  CHECK(slurp(d + "/run/meta.json").find("\"o_proj\"") != std::string::npos);
  CHECK(test::sha256_hex(slurp(gguf).data(), slurp(gguf).size()) == base_sum);
  // export without --adapter is refused in one line, nothing written
  r = run("export " + d + "/run " + d + "/out", tmp);
  check_one_line_error(r, "--adapter");
  CHECK_FALSE(std::filesystem::exists(d + "/out"));
  // a GGUF base cannot have base tensors trained
  r = run("tune " + gguf + " --task lm --data " + d + "/train.jsonl --out " + d + "/run2", tmp);
  check_one_line_error(r, "read-only");
}

}  // namespace pocket
