// The device's half of server-assisted side tuning (MobiLLM): every example through the frozen
// backbone's forward, the hidden states the loss reads captured and quantized (side_capture.h),
// handed to a SideClient whose sender thread ships them while the next batch runs; a lost server
// is reconnected to and the upload resumes where the server's durable examples end (or starts
// again from the point it lost); then the trained side network is received into a file.
//
// Order on the wire: the training examples shuffled by the task's seed (DataOrder epoch 0: the
// server's epoch 0 trains in arrival order), then the dev examples in file order. Batches never
// mix the two files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "model/model.h"
#include "side/side_client.h"
#include "task/evaluate.h"
#include "task/task.h"

namespace pocket {

struct SideUploadReport {
  std::int64_t forwarded = 0;    // examples through the backbone (more than all after a restart)
  double forward_seconds = 0.0;  // in the backbone's forward
  double upload_seconds = 0.0;   // until the server held every example
  double total_seconds = 0.0;    // until the side network was written
  std::size_t arena_bytes = 0;   // the forward session's activation arena
  SideTraffic traffic;
};

// Uploads train then dev (batches of options.task.batch, states at options.task.act_bits) and
// writes the trained side network to `side_path`. `say` gets the progress lines (connection,
// examples sent every ~2 s, the server's training steps, its dev accuracy). Throws pocket::Error
// when the server cannot be reached within options.retry_seconds or refuses the task.
SideUploadReport side_upload(const Model& model, const Task& task, const Dataset& train,
                             const Dataset& dev, const SideClientOptions& options,
                             const std::string& side_path,
                             const std::function<void(const std::string&)>& say);

}  // namespace pocket
