// Side tuning end to end on loopback: `pocket side-server` and `pocket side-tune` as separate
// processes on 127.0.0.1, the demo's held-out sentiment task on the demo's tiny model. Accuracy
// must rise clearly, `pocket eval --side` on the device must reproduce the server's final dev
// accuracy, and the faults of the issue: a wrong key is refused, garbage/truncated/oversized
// frames close only their own connection, and a server SIGKILLed mid-upload and mid-training,
// restarted on its state, ends with the same side network, byte for byte, as an uninterrupted run
// (so no example was lost or counted twice).
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli_util.h"
#include "io/atomic_file.h"
#include "side/frame.h"
#include "side/side_file.h"
#include "side/socket.h"
#include "test_util.h"

namespace pocket {
using namespace cli_test;

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const char* kTrain = "data/demo/train.jsonl";
const char* kDev = "data/demo/dev.jsonl";

int wait_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Waits (up to 60 s) until `pred` holds.
template <class F>
bool wait_until(F pred) {
  for (int i = 0; i < 6000; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

struct Server {
  pid_t pid = -1;
  int port = 0;
  std::string log;
  void kill_now() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      pid = -1;
    }
  }
  ~Server() {
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
  }
};

// Starts a server on `port` (0: any) and waits until it listens.
void start_server(Server& s, const test::TempDir& tmp, const std::string& model,
                  const std::string& key, const std::string& state, int port) {
  static int started = 0;
  const std::string port_file = tmp.file("port-" + std::to_string(++started));
  std::vector<std::string> args = {"side-server", "--model", model, "--listen",
                                   "127.0.0.1:" + std::to_string(port), "--key-file", key,
                                   "--port-file", port_file, "--checkpoint-every", "5",
                                   "--threads", "1", "--timeout", "20"};
  if (!state.empty()) args.insert(args.end(), {"--state", state});
  s.log = tmp.file("server.log");
  s.pid = spawn(args, s.log);
  REQUIRE(wait_until([&] { return fs::exists(port_file); }));
  s.port = std::stoi(slurp(port_file));
}

std::string side_tune_args(const std::string& model, int port, const std::string& key,
                           const std::string& out, const std::string& extra,
                           const std::string& train = kTrain, const std::string& dev = kDev) {
  return "side-tune " + model + " --server 127.0.0.1:" + std::to_string(port) + " --key-file " +
         key + " --data " + train + " --eval " + dev + " --labels ' hard| good' --out " + out +
         " --threads 1 --retry 30 " + extra;
}

std::string write_key(const test::TempDir& tmp, const std::string& name, const std::string& key) {
  const std::string path = tmp.file(name);
  write_file_atomic(path, key + "\n");
  ::chmod(path.c_str(), 0600);
  return path;
}

// What every test here starts from: the demo data (read from the repository root), a tiny model
// whose hidden states carry the task's signal through an int8 code (init --std 0.1; with the
// default 0.02 it sits below the code's step, src/side/README.md), and a key file. false (with a
// message) when the data is not there.
bool side_setup(const test::TempDir& tmp, std::string* model, std::string* key) {
  if (!fs::exists(kTrain)) {
    MESSAGE("skipped: data/demo not found from the working directory");
    return false;
  }
  *model = tmp.file("model");
  REQUIRE(run("init --arch opt --shape tiny --seed 1 --std 0.1 " + *model, tmp).status == 0);
  *key = write_key(tmp, "key", "an example key of 32 characters");
  return true;
}

double meta_value(const SideFile& f, const std::string& key) {
  return std::stod(f.metadata.at(key));
}

}  // namespace

TEST_CASE("side cli: loopback side tuning raises accuracy, eval --side matches the server, bad peers are refused") {
  SKIP_WITHOUT_POCKET();
  test::TempDir tmp;
  std::string model, key;
  if (!side_setup(tmp, &model, &key)) return;
  const std::string wrong = write_key(tmp, "wrong", "another key, also long enough..");
  Server server;
  start_server(server, tmp, model, key, "", 0);

  // Garbage first: random bytes, a truncated frame, an oversized one. Each connection is closed
  // by the server; the server keeps serving.
  std::mt19937 rng(5);
  std::string junk(4096, '\0');
  for (char& c : junk) c = static_cast<char>(rng());
  const std::string addr = "127.0.0.1:" + std::to_string(server.port);
  {
    Socket s = connect_tcp(addr, 2000);
    s.write_all(junk.data(), junk.size(), 2000);
    std::string sink(64 * 1024, '\0');
    CHECK_THROWS_AS(s.read_exact(sink.data(), sink.size(), 5000), NetError);  // ERROR frame, then EOF
  }
  {
    Socket s = connect_tcp(addr, 2000);
    const std::string frame = encode_frame(MsgType::kHello, std::string(80, 'x'));
    s.write_all(frame.data(), frame.size() / 2, 2000);  // half a frame, then close
  }
  {
    Socket s = connect_tcp(addr, 2000);
    std::string header = encode_frame(MsgType::kExamples, "").substr(0, 16);
    header[8] = header[9] = header[10] = header[11] = '\x7f';  // a 2 GiB payload announced
    s.write_all(header.data(), header.size(), 2000);
    std::string sink(64 * 1024, '\0');
    CHECK_THROWS_AS(s.read_exact(sink.data(), sink.size(), 5000), NetError);
  }

  // A wrong key: refused with a one-line error.
  const Result refused = run(side_tune_args(model, server.port, wrong, tmp.file("refused"), ""), tmp);
  check_one_line_error(refused, "authentication failed");
  CHECK(!fs::exists(tmp.file("refused")));  // nothing half-made is left behind
  // Another base model (same shape, other weights): refused after authentication.
  const std::string stranger = tmp.file("stranger");
  REQUIRE(run("init --arch opt --shape tiny --seed 2 --std 0.1 " + stranger, tmp).status == 0);
  const Result mismatch = run(side_tune_args(stranger, server.port, key, tmp.file("mismatch"), "--quiet"), tmp);
  check_one_line_error(mismatch, "base model differs");

  // The real run, and a second device with the same task at the same time: the server keeps a
  // job per device, and the two side networks come out the same bits.
  const std::string out = tmp.file("run"), other = tmp.file("run-other");
  const pid_t second = spawn({"side-tune", model, "--server", "127.0.0.1:" + std::to_string(server.port),
                              "--key-file", key, "--data", kTrain, "--eval", kDev, "--labels",
                              " hard| good", "--out", other, "--threads", "1", "--epochs", "5",
                              "--lr", "3e-3"},
                             tmp.file("second.log"));
  const Result r = run(side_tune_args(model, server.port, key, out, "--epochs 5 --lr 3e-3"), tmp);
  INFO(r.err);
  REQUIRE(r.status == 0);
  REQUIRE(wait_exit(second) == 0);
  CHECK(slurp(other + "/side.safetensors") == slurp(out + "/side.safetensors"));
  const SideFile side = read_side_file(out + "/side.safetensors");
  const double before = meta_value(side, "side.dev_before_accuracy");
  const double after = meta_value(side, "side.dev_accuracy");
  MESSAGE("dev accuracy " << before << " -> " << after);
  CHECK(after >= before + 0.25);
  CHECK(meta_value(side, "side.examples_trained") == 5 * 800);

  // On the device: backbone + side network reproduce the server's accuracy.
  const Result e = run("eval " + model + " --data " + kDev + " --labels ' hard| good' --side " +
                           out + "/side.safetensors --json --threads 1",
                       tmp);
  REQUIRE(e.status == 0);
  const auto j = nlohmann::json::parse(e.out);
  MESSAGE("eval --side accuracy " << j["accuracy"].get<double>());
  CHECK(std::abs(j["accuracy"].get<double>() - after) <= 1.0 / 400 + 1e-9);
  const std::string log = slurp(server.log);
  CHECK(log.find("authentication failed") != std::string::npos);
  CHECK(log.find("bad magic") != std::string::npos);
  CHECK(log.find("exceeds the limit") != std::string::npos);
  CHECK(log.find("connection closed after") != std::string::npos);
}

TEST_CASE("side cli: a server killed mid-upload and mid-training resumes; the result is byte-identical") {
  SKIP_WITHOUT_POCKET();
  test::TempDir tmp;
  std::string model, key;
  if (!side_setup(tmp, &model, &key)) return;
  // A third of the demo's examples: enough steps to kill the server inside, quick under ASan.
  const std::string train = tmp.file("train.jsonl"), dev = tmp.file("dev.jsonl");
  {
    std::ifstream train_in(kTrain), dev_in(kDev);
    std::ofstream train_out(train), dev_out(dev);
    std::string line;
    for (int i = 0; i < 240 && std::getline(train_in, line); ++i) train_out << line << "\n";
    for (int i = 0; i < 100 && std::getline(dev_in, line); ++i) dev_out << line << "\n";
  }
  const std::string settings = "--epochs 6 --batch 8 --act-bits 4 --seed 3";

  // Uninterrupted.
  std::string reference;
  {
    Server server;
    start_server(server, tmp, model, key, tmp.file("state-a"), 0);
    const Result r = run(side_tune_args(model, server.port, key, tmp.file("run-a"), settings, train, dev), tmp);
    INFO(r.err);
    REQUIRE(r.status == 0);
    reference = slurp(tmp.file("run-a") + "/side.safetensors");
  }

  // Interrupted twice: once while examples arrive, once while it trains.
  Server server;
  const std::string state = tmp.file("state-b");
  start_server(server, tmp, model, key, state, 0);
  const int port = server.port;
  const std::string out = tmp.file("run-b");
  std::vector<std::string> args = {"side-tune", model, "--server", "127.0.0.1:" + std::to_string(port),
                                   "--key-file", key, "--data", train, "--eval", dev,
                                   "--labels", " hard| good", "--out", out, "--threads", "1",
                                   "--retry", "60", "--epochs", "6", "--batch", "8",
                                   "--act-bits", "4", "--seed", "3"};
  const pid_t device = spawn(args, tmp.file("device.log"));
  auto job_file = [&](const std::string& name) -> std::string {
    if (!fs::exists(state)) return "";
    for (const auto& d : fs::directory_iterator(state)) {
      if (fs::exists(d.path() / name)) return (d.path() / name).string();
    }
    return "";
  };
  bool mid_upload = wait_until([&] {
    const std::string f = job_file("examples.bin");
    return !f.empty() && fs::file_size(f) > 16;
  });
  server.kill_now();
  start_server(server, tmp, model, key, state, port);
  const bool mid_training = wait_until([&] { return !job_file("ckpt.safetensors").empty(); });
  server.kill_now();
  const double killed_at = meta_value(read_side_file(job_file("ckpt.safetensors"),
                                                     {"", "adam.m.", "adam.v."}),
                                      "side.step");
  MESSAGE("server killed with a checkpoint at step " << killed_at << " of 180");
  CHECK(killed_at < 180);
  start_server(server, tmp, model, key, state, port);
  CHECK(mid_upload);
  CHECK(mid_training);
  const int status = wait_exit(device);
  INFO(slurp(tmp.file("device.log")));
  REQUIRE(status == 0);
  CHECK(slurp(out + "/side.safetensors") == reference);
  const SideFile side = read_side_file(out + "/side.safetensors");
  CHECK(meta_value(side, "side.examples_trained") == 6 * 240);
  const std::string device_log = slurp(tmp.file("device.log"));
  CHECK(device_log.find("reconnected") != std::string::npos);
}


TEST_CASE("side cli: an lm task side-tunes, and eval --side reproduces the server's dev loss") {
  SKIP_WITHOUT_POCKET();
  test::TempDir tmp;
  std::string model, key;
  if (!side_setup(tmp, &model, &key)) return;
  // The demo's sentences as plain text: every token after the first is a target.
  std::ifstream in(kTrain);
  std::ofstream train(tmp.file("train.jsonl")), dev(tmp.file("dev.jsonl"));
  std::string line;
  for (int i = 0; i < 120 && std::getline(in, line); ++i) {
    const auto j = nlohmann::json::parse(line);
    (i < 80 ? train : dev) << nlohmann::json({{"text", j["sentence"]}}).dump() << "\n";
  }
  train.close();
  dev.close();
  Server server;
  start_server(server, tmp, model, key, "", 0);
  const std::string out = tmp.file("run");
  const Result r = run("side-tune " + model + " --server 127.0.0.1:" + std::to_string(server.port) +
                           " --key-file " + key + " --task lm --data " + tmp.file("train.jsonl") +
                           " --eval " + tmp.file("dev.jsonl") + " --out " + out +
                           " --epochs 3 --batch 8 --lr 3e-3 --threads 1",
                       tmp);
  INFO(r.err);
  REQUIRE(r.status == 0);
  const SideFile side = read_side_file(out + "/side.safetensors");
  CHECK(side.metadata.at("side.task") == "lm");
  const double before = meta_value(side, "side.dev_before_loss");
  const double after = meta_value(side, "side.dev_loss");
  MESSAGE("lm dev loss " << before << " -> " << after);
  CHECK(after < before);
  const Result e = run("eval " + model + " --task lm --data " + tmp.file("dev.jsonl") + " --side " +
                           out + "/side.safetensors --json --threads 1",
                       tmp);
  REQUIRE(e.status == 0);
  const double device_loss = nlohmann::json::parse(e.out)["loss"].get<double>();
  MESSAGE("eval --side lm loss " << device_loss);
  CHECK(device_loss == doctest::Approx(after).epsilon(1e-4));
  // Generation with the side network: the cached path (one token per forward) runs it too.
  const std::string generate = "generate " + model + " --prompt 'The view was' -n 6 --temp 0 --ids --threads 1 --side " +
                               out + "/side.safetensors";
  const Result g1 = run(generate, tmp), g2 = run(generate, tmp);
  REQUIRE(g1.status == 0);
  CHECK(g1.out == g2.out);
  CHECK(g1.out.rfind("The view was", 0) == 0);
}

}  // namespace pocket
