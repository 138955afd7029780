# Shared by the bench/ scripts: medians and the results history.
# bench_record BENCH METRIC VALUE UNIT — appends one row to bench/results/history.tsv
# (UTC time, commit, host cores, bench, metric, value, unit), so every run is kept and a
# regression shows against the rows before it.
bench_history="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/results/history.tsv"
bench_record() {
  local commit
  commit=$(git -C "$(dirname "$bench_history")" rev-parse --short HEAD 2>/dev/null || echo unknown)
  [ -s "$bench_history" ] || printf 'time\tcommit\tcores\tbench\tmetric\tvalue\tunit\n' >"$bench_history"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$commit" "$(nproc)" "$1" "$2" "$3" "$4" >>"$bench_history"
}
# bench_median FILE — median of the numbers in FILE (one per line).
bench_median() { sort -g "$1" | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
# bench_hwm_kib PID — peak resident set (VmHWM) of PID in KiB.
bench_hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
# bench_rss_kib PID — current resident set (VmRSS) of PID in KiB.
bench_rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
