// pocket side-server: trains side networks for devices that run `pocket side-tune` (src/side/).
#include <csignal>
#include <cstdio>
#include <ctime>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "io/atomic_file.h"
#include "io/error.h"
#include "model/model.h"
#include "side/auth.h"
#include "side/model_checksum.h"
#include "side/side_server.h"

namespace pocket {
namespace {

std::atomic<bool> g_stop{false};

void on_signal(int) { g_stop = true; }

void log_line(const std::string& line) {
  const std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%H:%M:%S", std::localtime(&now));
  std::fprintf(stderr, "[%s] %s\n", stamp, line.c_str());
  std::fflush(stderr);
}

}  // namespace

int cmd_side_server(int argc, char** argv) {
  std::string model_dir, key_file, port_file;
  SideServerOptions o;
  std::int64_t threads = 0, timeout_s = o.timeout_ms / 1000, max_frame = o.max_payload,
               max_connections = o.max_connections;
  Args args("pocket side-server --model MODEL_DIR --listen HOST:PORT --key-file KEY [--state DIR]",
            "Serves side tuning (MobiLLM): devices running `pocket side-tune` on the same base model\n"
            "send the hidden states of their examples; this server trains one side network per\n"
            "device with backprop + Adam and sends it back. Only the model's head is used here.\n"
            "Runs until interrupted (Ctrl-C / SIGTERM: every job checkpoints, then it exits).");
  args.option("--model", &model_dir, "the base model directory (the devices' checksum must match)");
  args.option("--listen", &o.listen, "address to listen on, HOST:PORT (port 0: any free port)");
  args.option("--key-file", &key_file, "pre-shared key file (>= 16 bytes, chmod 600)");
  args.option("--state", &o.state_dir, "directory for jobs (examples, checkpoints, results); "
                                       "default: a temporary one, lost at exit");
  args.option("--checkpoint-every", &o.checkpoint_every, "steps between checkpoints of each job");
  args.option("--timeout", &timeout_s, "seconds a device may stay silent when a frame is due");
  args.option("--max-frame", &max_frame, "largest frame payload accepted, bytes");
  args.option("--max-connections", &max_connections, "devices connected at once");
  args.option("--port-file", &port_file, "write the port listened on to this file (for scripts)");
  args.option("--threads", &threads, "threads (0 = every hardware thread)");
  if (!args.parse(argc, argv)) return 0;
  apply_threads(threads);
  if (model_dir.empty()) throw Error("--model", "the base model directory is required");
  if (key_file.empty()) throw Error("--key-file", "a pre-shared key file is required");
  if (o.checkpoint_every < 1) throw Error("--checkpoint-every", "must be at least 1");
  // Milliseconds in an int: a day is the most a silent device is worth waiting for.
  if (timeout_s < 1 || timeout_s > 86400) throw Error("--timeout", "must be in 1..86400 seconds");
  if (max_frame < 4096 || max_frame > (std::int64_t{1} << 31)) {
    throw Error("--max-frame", "must be in 4096..2147483648");
  }
  if (max_connections < 1) throw Error("--max-connections", "must be at least 1");
  o.key = load_key_file(key_file);
  o.timeout_ms = static_cast<int>(timeout_s * 1000);
  o.max_payload = static_cast<std::uint32_t>(max_frame);
  o.max_connections = static_cast<int>(max_connections);

  const Model model(model_dir);
  const Digest checksum = side_model_checksum(model);
  SideServer server(model, checksum, o, log_line);
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGPIPE, SIG_IGN);
  log_line("pocket side-server: listening on port " + std::to_string(server.port()) + " (" +
           o.listen + "), model " + model_dir + " (checksum " + digest_hex(checksum).substr(0, 16) +
           "), state " + (o.state_dir.empty() ? std::string("temporary") : o.state_dir));
  if (!port_file.empty()) write_file_atomic(port_file, std::to_string(server.port()) + "\n");
  server.serve(g_stop);
  log_line("pocket side-server: stopped");
  return 0;
}

}  // namespace pocket
