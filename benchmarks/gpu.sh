#!/usr/bin/env bash
# The GPU checks of issue 19 in one command, printing one table (under 8 minutes):
#
#   1. the CUDA tests: python -m pytest -q -m "not slow" -k cuda (tests/test_algorithms.py's
#      test_runs_on_cuda: every algorithm family runs on CUDA and resumes bit-exactly);
#   2. fitness evaluation at network scale on the GPU: ResNet-18 (11.2 M parameters,
#      10 classes), popsize 10, a batch of 256 random 3x224x224 images (the helpers of
#      benchmarks/evaluation.py), bf16 autocast and channels_last:
#        - bare bf16 inference, the floor: load each genome into the network and run
#          model(x) under inference_mode and bf16 autocast, nothing else;
#        - SupervisedNetProblem.evaluate of the population (loop path, channels_last,
#          autocast_dtype="bf16"): x the bare floor;
#        - one DE and one SHADE generation on that problem (its popsize trials scored, the
#          algorithm's work around them): x the problem's evaluation of popsize genomes;
#   3. the large-genome benchmark at ResNet-50's size (d = 25,557,032, popsize 10) on the
#      GPU: benchmarks/large_genome.py for DE, SHADE, SAShadeTriEnsin and PSO against its
#      memory-traffic floor (one fused pass over the population plus the objective), with
#      peak memory from torch.cuda.max_memory_allocated.
#
# On a machine without a CUDA GPU it says so and exits 0. Usage, from anywhere:
#
#   benchmarks/gpu.sh                   # PYTHON=... to choose the interpreter
#
# GPU_SH_DEVICE=cpu GPU_SH_SMALL=1 benchmarks/gpu.sh rehearses the whole script on CPU at
# a tiny size (to check the script itself where no GPU is lent; its numbers mean nothing).
set -u
cd "$(dirname "$0")/.." || exit 1
PY=${PYTHON:-python}
DEVICE=${GPU_SH_DEVICE:-cuda}
SMALL=${GPU_SH_SMALL:-0}

if [ "$DEVICE" = "cuda" ]; then
    if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' \
            >/dev/null 2>&1; then
        echo "benchmarks/gpu.sh: no CUDA GPU on this machine (torch.cuda.is_available() is" \
             "False in $PY); nothing to run."
        exit 0
    fi
fi

if [ "$SMALL" = "1" ]; then
    IMAGE=32; BATCH=8; LARGE_DIM=100000; GENS=1; REPEATS=1
else
    IMAGE=224; BATCH=256; LARGE_DIM=25557032; GENS=5; REPEATS=5
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
START=$SECONDS
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}

# 1. CUDA tests -------------------------------------------------------------------------
echo "[gpu.sh] 1/3 CUDA tests ..." >&2
timeout 150 "$PY" -m pytest -q -m "not slow" -k cuda -p no:cacheprovider tests \
    >"$WORK/tests.log" 2>&1
echo $? >"$WORK/tests.rc"

# 2. evaluation: ResNet-18, bf16, channels_last, against bare bf16 inference ---------------
echo "[gpu.sh] 2/3 ResNet-18 bf16 evaluation ..." >&2
timeout 150 "$PY" - "$DEVICE" "$IMAGE" "$BATCH" "$REPEATS" "$WORK/eval.json" \
    >"$WORK/eval.log" 2>&1 <<'EOF'
import importlib.util, json, sys, warnings
import torch
warnings.filterwarnings("ignore")
device, image, batch, repeats, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
    int(sys.argv[4]), sys.argv[5]
sys.path.insert(0, ".")
spec = importlib.util.spec_from_file_location("bench_evaluation", "benchmarks/evaluation.py")
ev = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ev)
from neuro_de.algorithms import DE, SHADE
from neuro_de.problems import ParameterView, SupervisedNetProblem

args = ev.parse_args(["--model", "resnet18", "--device", device, "--popsize", "10",
                      "--batch-size", str(batch), "--image-size", str(image),
                      "--autocast", "bf16", "--repeats", str(repeats)])
dev = torch.device(device)
torch.backends.cudnn.benchmark = dev.type == "cuda"
data, source = ev.load_images(args, args.batch_size)
model = ev.build_model(args).to(dev).eval()
view = ParameterView(model)
gen = torch.Generator().manual_seed(args.seed)
center = view.to_vector(model).cpu()
pop = (center + 0.01 * torch.randn(args.popsize, view.numel, generator=gen)).to(dev)

bare = model.to(memory_format=torch.channels_last)
for p in bare.parameters():
    p.requires_grad_(False)
x = data.tensors[0].to(dev).to(memory_format=torch.channels_last)

def bare_bf16():
    with torch.inference_mode(), torch.autocast(dev.type, dtype=torch.bfloat16):
        for i in range(args.popsize):
            view.load_into(bare, pop[i])
            bare(x)

_, bare_ms = ev.timed(bare_bf16, dev, args.repeats)

def problem():
    return SupervisedNetProblem(model, data, batch_size=args.batch_size, device=dev,
                                seed=args.seed, eval_mode="loop", channels_last=True,
                                autocast_dtype="bf16", store_solution_stats=False)

prob = problem()
sols = prob.generate_batch(args.popsize)
sols.set_values(pop)
_, eval_ms = ev.timed(lambda: prob.evaluate(sols), dev, args.repeats)
rows = [
    ["bare bf16 inference (load_into + model(x), channels_last), the floor", bare_ms,
     1.0, ""],
    ["SupervisedNetProblem.evaluate (loop, channels_last, bf16)", eval_ms,
     eval_ms / bare_ms, "x bare bf16 inference"],
]
for name, cls in (("DE", DE), ("SHADE", SHADE)):
    searcher = cls(problem(), init_population=pop.clone())
    searcher.step()  # scores the first population
    _, ms = ev.timed(searcher.step, dev, args.repeats)
    rows.append([f"{name} generation (popsize trials scored + the algorithm)", ms,
                 ms / eval_ms, "x SupervisedNetProblem.evaluate"])
name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
json.dump({"rows": rows, "device": name, "genome": view.numel, "source": source}, open(out, "w"))
EOF
echo $? >"$WORK/eval.rc"

# 3. large genome at ResNet-50's size on the GPU ---------------------------------------------
echo "[gpu.sh] 3/3 large genome d=$LARGE_DIM ..." >&2
timeout 180 "$PY" benchmarks/large_genome.py --dim "$LARGE_DIM" --device "$DEVICE" \
    --threads "$OMP_NUM_THREADS" --generations "$GENS" --repeats 1 \
    --algorithms DE,SHADE,SAShadeTriEnsin,PSO --json "$WORK/large.json" \
    >"$WORK/large.log" 2>&1
echo $? >"$WORK/large.rc"

# the table -----------------------------------------------------------------------------------
"$PY" - "$WORK" "$((SECONDS - START))" "$DEVICE" <<'EOF'
import json, os, re, sys
work, seconds, device = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def read(name):
    with open(os.path.join(work, name)) as f:
        return f.read()

def tail(name, n=15):
    return "\n".join(read(name).strip().splitlines()[-n:])

failed = []
print(f"# benchmarks/gpu.sh on {device} ({seconds} s)")
print()
print("| part | row | ms | ratio | peak / pop | goal / note |")
print("| --- | --- | ---: | ---: | ---: | --- |")
rc = int(read("tests.rc"))
summary = [l for l in read("tests.log").splitlines() if re.search(r"\d+ (passed|failed|skipped|deselected|error)", l)]
status = summary[-1].strip("= ") if summary else "no summary"
print(f"| CUDA tests | pytest -m 'not slow' -k cuda | | | | {status} (exit {rc}) |")
if rc != 0:
    failed.append("tests.log")
if int(read("eval.rc")) == 0:
    ev = json.loads(read("eval.json"))
    for name, ms, ratio, note in ev["rows"]:
        print(f"| ResNet-18 eval ({ev['device']}) | {name} | {ms:,.1f} | {ratio:.2f} | | {note} |")
else:
    failed.append("eval.log")
    print(f"| ResNet-18 eval | failed (exit {read('eval.rc').strip()}) | | | | see below |")
if int(read("large.rc")) == 0:
    lg = json.loads(read("large.json"))
    for r in lg["rows"]:
        print(f"| large genome d={lg['dim']:,} | {r['row']} | {r['ms']:,.1f} | "
              f"{r['x_floor']:.2f} | {r['peak']:.2f} | {r['goal']} |")
else:
    failed.append("large.log")
    print(f"| large genome | failed (exit {read('large.rc').strip()}) | | | | see below |")
for name in failed:
    print()
    print(f"--- last lines of {name} ---")
    print(tail(name))
sys.exit(1 if failed else 0)
EOF
