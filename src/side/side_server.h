// `pocket side-server`: the server half of MobiLLM-style side tuning. It holds the same frozen base
// model as its devices (only its head is used), accepts authenticated devices over TCP
// (docs/side-protocol.md), stores the hidden states they send, and trains one side network per
// device (side_trainer.h) on a thread of its own, so training goes on while a device is away and
// several devices are served at once.
//
// Jobs are keyed by the device id of HELLO. With a state directory, STATE/<device id in hex>/ holds
// task.bin (the TASK payload), examples.bin (example_store.h), the trainer's checkpoint, log and
// result: a restarted server picks a job up where its last checkpoint and its last acknowledged
// example left it. Without one, jobs live in a temporary directory removed at exit.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "model/model.h"
#include "side/auth.h"
#include "side/socket.h"

namespace pocket {

struct SideServerOptions {
  std::string listen = "127.0.0.1:7878";
  std::string key;                  // the pre-shared key's bytes (auth.h load_key_file)
  std::string state_dir;            // "" = a temporary directory, removed at exit
  std::int64_t checkpoint_every = 50;
  std::uint32_t max_payload = 16u << 20;
  int timeout_ms = 60000;           // the longest a device may stay silent when a frame is due
  int max_connections = 64;
};

class SideServer {
 public:
  // log: one line per event (thread-safe calls; the CLI prints them with a time stamp).
  SideServer(const Model& model, const Digest& model_checksum, SideServerOptions options,
             std::function<void(const std::string&)> log);
  ~SideServer();

  std::uint16_t port() const { return listener_.port(); }
  // Accepts and serves until `stop` becomes true (checked a few times a second), then closes every
  // connection and stops every trainer after its current step, with a checkpoint.
  void serve(const std::atomic<bool>& stop);

 private:
  struct Job;
  void handle(Socket& socket);
  void shutdown();
  std::shared_ptr<Job> open_job(const std::string& id_hex, const std::string& task_payload);
  void train(Job& job);
  void say(const std::string& line);

  const Model& model_;
  Digest model_checksum_;
  SideServerOptions options_;
  std::function<void(const std::string&)> log_;
  std::string state_dir_;
  bool temporary_state_ = false;
  Listener listener_;
  struct Connection {
    std::thread thread;
    int fd = -1;  // -1 once the thread is about to close it
    bool done = false;
  };
  void reap(bool all);

  std::mutex mutex_;  // jobs_, connections_
  std::map<std::string, std::shared_ptr<Job>> jobs_;
  std::map<std::int64_t, Connection> connections_;
  std::int64_t next_connection_ = 0;
  std::atomic<bool> stopping_{false};
  std::mutex log_mutex_;
};

}  // namespace pocket
