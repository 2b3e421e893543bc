// Pieces of the alerts' Go templates (Prometheus template functions:
// https://prometheus.io/docs/prometheus/latest/configuration/template_reference/).
// Text blocks hold them verbatim; <<X>> marks where an argument goes.
local verbatim(block, args={}) =
  std.foldl(
    function(text, k) std.strReplace(text, '<<' + k + '>>', args[k]),
    std.objectFields(args),
    std.rstripChars(block, '\n'),
  );

{
  // An alert text block folded as YAML's `>-` folds it: lines joined by one space.
  fold(block):: std.join(' ', std.split(std.rstripChars(block, '\n'), '\n')),

  // The value of template expression `x` as one shell word, safe to paste as root
  // whatever it holds: bare when every byte is harmless, else single-quoted; a value with
  // a backslash (the exporter writes non-UTF-8 and control bytes as \ooo) as bash's
  // $'...', which turns \ooo back into the byte. src/quote.rs does the same for the
  // exporter's own output.
  shellWord(x):: verbatim(|||
    {{ if match `^[A-Za-z0-9/._:@+=,-]+$` <<X>> }}{{ <<X>> }}{{ else if match `\\` <<X>> }}$'{{ reReplaceAll "'" "\\047" <<X>> }}'{{ else }}'{{ reReplaceAll "'" "'\\''" <<X>> }}'{{ end }}
  |||, { X: x }),

  // The holder's unit, or what holds the copy when it is in none.
  unitOr(none):: verbatim(|||
    {{ if $labels.unit }}{{ $labels.unit }}{{ else }}<<NONE>>{{ end }}
  |||, { NONE: none }),

  // The restart that frees the holder's copies: the holder container's engine, the
  // systemd service, else an unmount in its namespace of every mount in `mounts` (a range
  // over series with a mountpoint label). A unit name is printed for systemctl only when
  // it is a valid service name (systemd's unit_name_is_valid: no shell metacharacters).
  restart(mounts):: verbatim(|||
    {{ if match `^docker-[0-9a-f]{64}\.scope$` $labels.unit }}docker restart {{ reReplaceAll "^docker-([0-9a-f]{12}).*$" "$1" $labels.unit }}
    {{- else if match `^libpod-[0-9a-f]{64}\.scope$` $labels.unit }}podman restart {{ reReplaceAll "^libpod-([0-9a-f]{12}).*$" "$1" $labels.unit }}
    {{- else if match `^(cri-containerd|crio)-[0-9a-f]{64}\.scope$` $labels.unit }}crictl stop {{ reReplaceAll "^(cri-containerd|crio)-([0-9a-f]{12}).*$" "$2" $labels.unit }}
    {{- else if match `^[A-Za-z0-9:_.\\-]+(@[A-Za-z0-9:_.\\@-]*)?\.service$` $labels.unit }}systemctl restart {{ if match `\\` $labels.unit }}'{{ $labels.unit }}'{{ else }}{{ $labels.unit }}{{ end }}
    {{- else }}nsenter -t {{ $pid }} -m umount -l{{ range <<MOUNTS>> }} <<WORD>>{{ end }}{{ end }}
  |||, { MOUNTS: mounts, WORD: $.shellWord('.Labels.mountpoint') }),
}
