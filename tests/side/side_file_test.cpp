// The side network's safetensors file: a round trip of several groups with the metadata, and
// one-line errors for a missing tensor, a wrong shape, a truncated file, non-finite values and
// a file that is not a side network.
#include "side/side_file.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "io/error.h"
#include "io/safetensors.h"
#include "side/side_net.h"
#include "test_util.h"

namespace pocket {
namespace {

using test::error_of;

SideShape small_shape() {
  SideShape s = side_shape(16, 2, 4);
  s.temperature = 0.3f;  // not a short decimal in binary: must round-trip exactly
  return s;
}

}  // namespace

TEST_CASE("side file: round trip of parameters and Adam moments with metadata") {
  test::TempDir dir;
  const SideShape s = small_shape();
  const std::size_t n = static_cast<std::size_t>(side_param_count(s));
  const auto params = test::random_floats(n, 1), m = test::random_floats(n, 2),
             v = test::random_floats(n, 3, 0.0f, 1.0f);
  const std::string path = dir.file("side.safetensors");
  write_side_file(path, s, {{"", params.data()}, {"adam.m.", m.data()}, {"adam.v.", v.data()}},
                  {{"step", "12"}, {"format", "overridden"}});
  const SideFile f = read_side_file(path, {"", "adam.m.", "adam.v."});
  CHECK(f.shape.hidden == s.hidden);
  CHECK(f.shape.layers == s.layers);
  CHECK(f.shape.width == s.width);
  CHECK(f.shape.mlp == s.mlp);
  CHECK(f.shape.temperature == s.temperature);
  CHECK(f.groups.at("") == params);
  CHECK(f.groups.at("adam.m.") == m);
  CHECK(f.groups.at("adam.v.") == v);
  CHECK(f.metadata.at("step") == "12");
  CHECK(f.metadata.at("format") == "pocket-side");
  CHECK(dir.names() == std::set<std::string>{"side.safetensors"});  // no temporary left
  // Reading only the parameters ignores the other groups.
  CHECK(read_side_file(path).groups.size() == 1);
  CHECK(error_of([&] { read_side_file(path, {"adam.x."}); }) ==
        path + ": tensor 'adam.x.side.down.0.weight' is missing");
}

TEST_CASE("side file: a missing tensor, a wrong shape, a truncated file are one-line errors") {
  test::TempDir dir;
  const SideShape s = small_shape();
  const auto params = test::random_floats(static_cast<std::size_t>(side_param_count(s)), 4);
  const std::string path = dir.file("side.safetensors");

  // The metadata of the shape, and the tensors of another shape or one tensor short.
  const std::vector<SideTensor> tensors = side_tensors(s);
  const std::map<std::string, std::string> meta = {
      {"format", "pocket-side"}, {"side.hidden", "16"}, {"side.layers", "2"},
      {"side.width", "4"},       {"side.mlp", "16"},    {"side.temperature", "0.3"}};
  auto write_with = [&](const std::vector<TensorSpec>& specs) {
    write_safetensors(path, specs, meta, [&](std::size_t, std::uint8_t* dst, std::size_t bytes) {
      std::memset(dst, 0, bytes);
    });
  };
  std::vector<TensorSpec> specs;
  for (const SideTensor& t : tensors) specs.push_back({t.name, Dtype::kF32, t.shape});
  std::vector<TensorSpec> missing(specs.begin(), specs.end() - 1);
  write_with(missing);
  CHECK(error_of([&] { read_side_file(path); }) == path + ": tensor 'side.up.weight' is missing");

  std::vector<TensorSpec> wrong = specs;
  wrong[0].shape = {4, 15};
  write_with(wrong);
  CHECK(error_of([&] { read_side_file(path); }) ==
        path + ": tensor 'side.down.0.weight' has shape [4, 15], the metadata implies [4, 16]");

  std::vector<TensorSpec> f16 = specs;
  f16[1].dtype = Dtype::kF16;
  write_with(f16);
  CHECK(error_of([&] { read_side_file(path); }) ==
        path + ": tensor 'side.down.1.weight' is F16, not F32");

  write_side_file(path, s, {{"", params.data()}}, {});
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 10);
  const std::string truncated = error_of([&] { read_side_file(path); });
  CHECK(truncated.rfind(path, 0) == 0);
  CHECK(truncated.find('\n') == std::string::npos);
}

TEST_CASE("side file: non-finite values and bad metadata are one-line errors") {
  test::TempDir dir;
  const SideShape s = small_shape();
  auto params = test::random_floats(static_cast<std::size_t>(side_param_count(s)), 5);
  const std::string path = dir.file("side.safetensors");
  params[side_tensors(s)[2].offset + 1] = std::nanf("");
  write_side_file(path, s, {{"", params.data()}}, {});
  CHECK(error_of([&] { read_side_file(path); }) ==
        path + ": tensor 'side.down.1.bias' holds a non-finite value at element 1");

  const std::vector<SideTensor> tensors = side_tensors(s);
  std::vector<TensorSpec> specs;
  for (const SideTensor& t : tensors) specs.push_back({t.name, Dtype::kF32, t.shape});
  auto write_meta = [&](const std::map<std::string, std::string>& meta) {
    write_safetensors(path, specs, meta, [&](std::size_t, std::uint8_t* dst, std::size_t bytes) {
      std::memset(dst, 0, bytes);
    });
  };
  write_meta({});
  CHECK(error_of([&] { read_side_file(path); }) == path + ": metadata has no 'format'");
  write_meta({{"format", "pocket-side"}, {"side.hidden", "16x"}});
  CHECK(error_of([&] { read_side_file(path); }) ==
        path + ": metadata 'side.hidden' is '16x', not an integer in [1, 1048576]");
  write_meta({{"format", "pocket-side"},
              {"side.hidden", "16"},
              {"side.layers", "2"},
              {"side.width", "4"},
              {"side.mlp", "16"},
              {"side.temperature", "-1"}});
  CHECK(error_of([&] { read_side_file(path); }) ==
        path + ": metadata 'side.temperature' is '-1', not a positive number");
}

}  // namespace pocket
