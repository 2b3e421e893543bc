#!/usr/bin/env bash
# Fuzzes the exporter's pure parsers with cargo-fuzz (libFuzzer). See docs/fuzzing.md.
#
#   scripts/fuzz.sh                  smoke run (scripts/test.sh): each target for 24 s
#   scripts/fuzz.sh --seconds 3600   longer run: an hour per target
#   scripts/fuzz.sh --seconds 600 classify report   only some targets
#
# For each target it replays the committed seeds (fuzz/corpus/<target>), the regression
# inputs (fuzz/regressions/<target>) and generated multi-megabyte inputs once each, then
# fuzzes from them for the given time. Any panic, broken property, allocation over the
# limits or hang fails the run and leaves the input in fuzz/artifacts/<target>/. Working
# corpora grow in fuzz/work/<target> (gitignored) and are reused by the next run.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-24}
targets=()
while (($#)); do
	case $1 in
	--seconds)
		seconds=${2:?--seconds needs a number}
		shift 2
		;;
	-h | --help)
		sed -n '2,13p' "$0"
		exit 0
		;;
	-*)
		echo "unknown option $1 (see --help)" >&2
		exit 2
		;;
	*)
		targets+=("$1")
		shift
		;;
	esac
done
if ((${#targets[@]} == 0)); then
	targets=(mountinfo unescape cgroup classify report)
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
	echo "missing cargo-fuzz: install it with 'cargo install --locked cargo-fuzz'" >&2
	exit 2
fi
if ! command -v c++ >/dev/null; then
	echo "missing a C++ compiler (libFuzzer is built from source): apt-get install g++" >&2
	exit 2
fi

# cargo-fuzz passes nightly-only flags (-Zsanitizer=address, sanitizer coverage) to rustc.
# Only a stable toolchain can be had here; RUSTC_BOOTSTRAP=1 lets stable rustc accept them.
export RUSTC_BOOTSTRAP=1

cargo fmt --manifest-path fuzz/Cargo.toml -- --check
echo "[fuzz] building targets (address sanitizer, debug assertions)"
cargo fuzz build
bin_dir=fuzz/target/x86_64-unknown-linux-gnu/release

work=fuzz/work
rm -rf "$work/huge"
fuzz/gen-huge-inputs.sh "$work/huge"

shopt -s nullglob
summary=()
failed=0
for t in "${targets[@]}"; do
	bin=$bin_dir/$t
	if [[ ! -x $bin ]]; then
		echo "no fuzz target named $t" >&2
		exit 2
	fi
	mkdir -p "$work/$t" "fuzz/artifacts/$t"
	log=$work/$t.log

	# 1. Every committed and generated input once. Huge ones may take seconds under ASan.
	replay=(fuzz/corpus/"$t"/* fuzz/regressions/"$t"/* "$work/huge/$t"/*)
	echo "[fuzz] $t: replaying ${#replay[@]} inputs"
	if ! "$bin" -rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=120 \
		-artifact_prefix="fuzz/artifacts/$t/" "${replay[@]}" >"$log.replay" 2>&1; then
		echo "[fuzz] $t: an input failed on replay:" >&2
		grep -E -A6 'panicked|ERROR|SUMMARY' "$log.replay" | head -40 >&2 ||
			tail -n 30 "$log.replay" >&2
		failed=1
		continue
	fi

	# 2. Fuzz from them. PATH_MAX-sized inputs; a single malloc over 64 MiB or RSS over
	# 1.5 GiB (ASan's quarantine included) fails, so does an input taking over 30 s.
	echo "[fuzz] $t: fuzzing for ${seconds}s"
	dirs=("$work/$t" "fuzz/corpus/$t")
	if [[ -d fuzz/regressions/$t ]]; then
		dirs+=("fuzz/regressions/$t")
	fi
	if ! "$bin" -max_total_time="$seconds" -max_len=4096 -timeout=30 \
		-rss_limit_mb=1536 -malloc_limit_mb=64 -print_final_stats=1 \
		-artifact_prefix="fuzz/artifacts/$t/" \
		"${dirs[@]}" >"$log" 2>&1; then
		echo "[fuzz] $t: failed; the input is in fuzz/artifacts/$t/:" >&2
		grep -E -A12 'panicked|ERROR|SUMMARY' "$log" | head -60 >&2 || tail -n 30 "$log" >&2
		failed=1
		continue
	fi
	done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1)
	execs=$(sed -E 's/^#([0-9]+).*/\1/' <<<"$done_line")
	rate=$(sed -E 's/.*exec\/s: ([0-9]+).*/\1/' <<<"$done_line")
	cov=$(sed -E 's/.*cov: ([0-9]+).*/\1/' <<<"$done_line")
	corp=$(sed -E 's/.*corp: ([0-9]+\/[0-9A-Za-z]+).*/\1/' <<<"$done_line")
	summary+=("$(printf '%-10s %10s %8s %6s %12s' "$t" "$execs" "$rate" "$cov" "$corp")")
done

echo "[fuzz] target       executions  exec/s    cov  corpus(n/size)"
for line in "${summary[@]}"; do
	echo "[fuzz] $line"
done
if ((failed)); then
	echo "[fuzz] FAILED (see above)" >&2
	exit 1
fi
echo "[fuzz] all ${#summary[@]} targets ran ${seconds}s each without a failure"
