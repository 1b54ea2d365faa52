// The side network (side_net.h) as a safetensors file: what the server sends back as the
// result, and what it checkpoints (with the Adam moments) to resume training. Tensors are F32,
// named <prefix><side tensor name> (e.g. "side.up.weight", "adam.m.side.up.weight"); the shape is
// in the metadata, so a reader knows every tensor's name and shape before it looks:
//   "format": "pocket-side", "side.hidden", "side.layers", "side.width", "side.mlp",
//   "side.temperature" (decimal text; the temperature round-trips exactly).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "side/side_net.h"

namespace pocket {

// One flat vector in side_tensors() layout, stored under names prefix + tensor name:
// {"", params}, {"adam.m.", m}, {"adam.v.", v}.
struct SideTensorGroup {
  std::string prefix;
  const float* data = nullptr;
};

// Writes every group atomically (temp file, fsync, rename). `metadata` is stored as given, plus
// the format and shape keys above (which replace any of the same name).
void write_side_file(const std::string& path, const SideShape& shape,
                     const std::vector<SideTensorGroup>& groups,
                     const std::map<std::string, std::string>& metadata);

struct SideFile {
  SideShape shape;
  std::map<std::string, std::vector<float>> groups;  // by prefix, side_tensors() layout
  std::map<std::string, std::string> metadata;       // everything in the file's metadata
};

// Reads every tensor of each prefix (other tensors in the file are ignored). Any problem — not a
// valid safetensors file, a missing or malformed metadata key, a missing tensor, a dtype other
// than F32, a shape other than the metadata implies, a non-finite value — is a one-line
// pocket::Error naming the file.
SideFile read_side_file(const std::string& path, const std::vector<std::string>& prefixes = {""});

}  // namespace pocket
