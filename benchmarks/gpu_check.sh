#!/usr/bin/env bash
# The GPU checks in one run, for a machine with a CUDA GPU and PyTorch installed (no `make setup` needed):
# the gpu-marked tests, then the bench's sections that have GPU columns. Logs and build/bench-gpu.md go to
# ${OUT:-build/gpu}. Usage: bash benchmarks/gpu_check.sh
set -uo pipefail
out=${OUT:-build/gpu}
mkdir -p "$out"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 MPLBACKEND=Agg
python3 -c "import torch; print('torch', torch.__version__, '| GPU:', torch.cuda.get_device_name() if torch.cuda.is_available() else 'none')" | tee "$out/device.txt"
timeout 300 python3 -m pytest tests/test_gpu.py -m gpu -q -p no:cacheprovider 2>&1 | tee "$out/gpu_tests.log"
timeout 420 python3 -m benchmarks.bench --sections attention sampling models --no-training --out "$out/bench-gpu.md" 2>&1 \
    | tee "$out/bench.log"
