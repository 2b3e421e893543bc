#!/usr/bin/env bash
# Writes the oversized seed inputs (megabytes each, so generated rather than committed) into
# OUT_DIR/<target>/. scripts/fuzz.sh runs each once against its target: no panic, memory
# within -rss_limit_mb/-malloc_limit_mb and the targets' linear-heap assertion, and done
# within -timeout.
set -euo pipefail

out=${1:?usage: fuzz/gen-huge-inputs.sh OUT_DIR}
mkdir -p "$out"/{mountinfo,unescape,cgroup,classify,report}

id=ca74eaa1b342c64a7f6c558299bedf74a5b7016c194e885bf290281161605d58
incident="596 340 0:57 / /var/lib/docker/containers/$id/shm rw,nosuid,nodev,noexec,relatime shared:111 - tmpfs shm rw,size=65536k"
mib=$((1024 * 1024))

# N copies of STRING, without a separator.
rep() {
	# yes dies of SIGPIPE when head has enough: that is the normal end here.
	{ yes -- "$2" || true; } | head -n "$1" | tr -d '\n'
}
# N lines of STRING.
lines() {
	{ yes -- "$2" || true; } | head -n "$1"
}
# N bytes of one raw byte given as an octal escape (e.g. 377 for 0xff).
bytes() {
	head -c "$1" /dev/zero | tr '\0' "\\$2"
}

mi=$out/mountinfo
{
	printf '1 2 0:1 / /'
	rep $((mib / 4)) '\040\011\012\134'
	printf ' rw - tmpfs tmpfs rw\n'
} >"$mi/line-4MiB-of-escapes"
{
	printf '1 2 0:1 / /x rw '
	rep 200000 'shared:1 '
	printf -- '- tmpfs tmpfs rw\n'
} >"$mi/line-200k-optional-fields"
{
	printf '1 2 0:1 / /var/lib/docker/containers/'
	bytes $((4 * mib)) 377
	printf '/shm rw - tmpfs shm rw\n'
} >"$mi/line-4MiB-invalid-utf8"
{
	printf '1 2 0:1 / /x rw - tmpfs tmpfs '
	rep $((4 * mib)) 'a'
	printf '\n'
} >"$mi/line-4MiB-super-options"
lines 100000 "$incident" >"$mi/file-100k-lines"
# A truncated huge line: no separator ever comes.
{
	printf '1 2 0:1 / /x rw '
	rep $mib 'master:7 '
} >"$mi/line-truncated-1M-fields"

un=$out/unescape
bytes $((4 * mib)) 134 >"$un/4MiB-backslashes"
rep $mib '\377' >"$un/4MiB-escaped-invalid-utf8"
bytes $((4 * mib)) 377 >"$un/4MiB-raw-invalid-utf8"
rep $mib '\04' >"$un/3MiB-truncated-escapes"

cg=$out/cgroup
{
	printf '0::/'
	rep 400000 'a.service/'
	printf '\n'
} >"$cg/line-4MiB-of-units"
{
	printf '1:name=systemd:'
	rep 50000 "/docker/$id"
	printf '\n'
} >"$cg/line-50k-container-ids"
lines 100000 '1:name=systemd:/system.slice/httpd.service' >"$cg/file-100k-lines"
{
	printf '0::/'
	bytes $((4 * mib)) 377
	printf '.service\n'
} >"$cg/line-4MiB-invalid-utf8"

# classify: a mount point of PATH_MAX made of the data root repeated is the worst a plain
# mount(2) can make; a 4 MiB path with a single root is linear work.
cl=$out/classify
{
	rep 272 '/var/lib/docker'
	printf '/overlay2/x/merged'
} >"$cl/path-max-of-repeated-root"
# Deeper than PATH_MAX (chdir down, mount on `.`): classify was quadratic in the number of
# root occurrences (fixed; a unit test in src/layout.rs times it too).
{
	rep 40000 '/var/lib/docker'
	printf '/overlay2/x/merged'
} >"$cl/600KiB-of-repeated-root"
{
	rep 40000 '/var/lib/docker'
	printf '/containers/c/a//b'
} >"$cl/600KiB-of-repeated-root-then-empty-component"
{
	rep $((2 * mib)) '/a'
	printf '/var/lib/docker/volumes/v/_data'
} >"$cl/4MiB-then-a-volume"
{
	printf '/var/lib/docker/containers/'
	bytes $((4 * mib)) 377
	printf '/shm'
} >"$cl/4MiB-invalid-utf8-id"

rp=$out/report
{
	printf '1 2 0:1 / /var/lib/docker/volumes/'
	rep $((mib / 16)) '\042\134\012<'
	printf '/_data rw - tmpfs tmpfs rw\n\0\0comm\0\001'
} >"$rp/850KiB-volume-name-to-escape"
{
	printf '1 2 0:1 / '
	rep 40000 '/var/lib/docker'
	printf '/containers/%s/shm rw - tmpfs shm rw\n\0\0comm\0\001' "$id"
} >"$rp/600KiB-of-repeated-root"
{
	for i in $(seq 1000 3999); do
		printf '%d 2 0:%d / /var/lib/docker/containers/%064x/shm rw - tmpfs shm rw\n' "$i" "$i" "$i"
	done
	printf '\0'
	printf '0::/system.slice/httpd.service\n\0httpd\0\001'
} >"$rp/3000-leaks"
