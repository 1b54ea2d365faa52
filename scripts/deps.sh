#!/usr/bin/env bash
# Installs what the build needs: apt-get on Debian/Ubuntu, pkg on Termux. Packages already
# installed are skipped, so a re-run is fast and works offline when everything is present.
#
# usage: scripts/deps.sh [--arm]
#   --arm   also the aarch64 cross compiler and qemu-user, for `make test-arm` (Debian/Ubuntu only)
set -euo pipefail

arm=""
for arg in "$@"; do
  case "$arg" in
    --arm) arm=yes ;;
    -h | --help)
      sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "deps.sh: unknown option '$arg' (see --help)" >&2
      exit 2
      ;;
  esac
done

is_termux() {
  [[ "${PREFIX:-}" == *com.termux* ]] || command -v termux-info >/dev/null 2>&1
}

# Termux: every package is tried on its own, so one missing name does not hide the others.
install_termux() {
  # clang provides cc/c++ (and g++ as a link to clang); doctest may be missing from older mirrors,
  # sentencepiece is not packaged (see README.md, "Building on Termux").
  local packages=(clang make pkg-config xsimd doctest nlohmann-json libopenblas openssl python)
  local missing=() failed=()
  for p in "${packages[@]}"; do
    if dpkg -s "$p" >/dev/null 2>&1; then continue; fi
    missing+=("$p")
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    echo "deps.sh: all Termux packages present"
    return 0
  fi
  # pkg refreshes stale package lists by itself before installing.
  for p in "${missing[@]}"; do
    pkg install -y "$p" || failed+=("$p")
  done
  if [[ ${#failed[@]} -gt 0 ]]; then
    echo "deps.sh: could not install: ${failed[*]}" >&2
    echo "deps.sh: install those by hand (header-only ones can go in \$PREFIX/include); see README.md" >&2
    return 1
  fi
  echo "deps.sh: installed ${missing[*]}"
}

install_debian() {
  local packages=(g++ make pkg-config ccache libxsimd-dev doctest-dev nlohmann-json3-dev
    libopenblas-dev libsentencepiece-dev libssl-dev python3)
  if [[ -n "$arm" ]]; then packages+=(g++-aarch64-linux-gnu qemu-user); fi
  local missing=()
  for p in "${packages[@]}"; do
    # "install ok installed": a package that was removed but not purged is not installed.
    if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" == "install ok installed" ]]; then
      continue
    fi
    missing+=("$p")
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    echo "deps.sh: all packages present (${#packages[@]})"
    return 0
  fi
  local sudo=()
  if [[ "$(id -u)" -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo)
    else
      echo "deps.sh: not root and no sudo; as root run: apt-get install ${missing[*]}" >&2
      return 1
    fi
  fi
  echo "deps.sh: installing ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${missing[@]}" </dev/null
}

if is_termux; then
  if [[ -n "$arm" ]]; then
    echo "deps.sh: --arm is for cross-building on a PC; on the phone plain 'make' builds for ARM" >&2
  fi
  install_termux
elif command -v apt-get >/dev/null 2>&1; then
  install_debian
else
  echo "deps.sh: no apt-get and not Termux; install by hand: a C++20 compiler, make, pkg-config," >&2
  echo "  xsimd, doctest, nlohmann-json, OpenBLAS (optional, benchmarks only), sentencepiece," >&2
  echo "  OpenSSL, python3" >&2
  exit 1
fi
