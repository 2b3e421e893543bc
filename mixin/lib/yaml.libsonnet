// A YAML writer for the rule files, so that deploy/prometheus/rules.yml reads like a
// hand-written one: keys in the order Prometheus documents them, multi-line expressions as
// literal blocks, long texts (the alert templates) as folded blocks wrapped at spaces.
// std.manifestYamlDoc quotes every string on one line (and takes seconds on long ones).
local order = ['name', 'rules', 'alert', 'expr', 'for', 'labels', 'annotations', 'summary', 'description', 'runbook_url'];
local all(bools) = std.foldl(function(a, b) a && b, bools, true);
local keys(o) =
  local fields = std.objectFields(o);
  [k for k in order if std.member(fields, k)] + [k for k in fields if !std.member(order, k)];

// Plain scalars: what YAML reads back as this very string (no indicator first, no ': ' or
// ' #', no quotes or escapes, not a number, bool or null).
local plain(s) =
  std.length(s) > 0
  && std.length(s) <= 200
  && std.findSubstr(': ', s) == []
  && std.findSubstr(' #', s) == []
  && all([!std.member('"\'\\\n\t`{}[],&*!|>%@', c) for c in std.stringChars(s)])
  && !std.member('-?:# ', s[0])
  && s[std.length(s) - 1] != ' '
  && s[std.length(s) - 1] != ':'
  && !all([std.member('0123456789.', c) for c in std.stringChars(s)])
  && !std.member(['true', 'false', 'null', 'yes', 'no', 'on', 'off', '~'], std.asciiLower(s));

// A folded block reads back as its lines joined by single spaces: only for texts with no
// newline, tab, doubled, leading or trailing space.
local foldable(s) =
  std.findSubstr('\n', s) == [] && std.findSubstr('\t', s) == [] && std.findSubstr('  ', s) == []
  && s[0] != ' ' && s[std.length(s) - 1] != ' ';

local wrap(s, width) =
  local step(acc, w) =
    if acc.cur == '' then acc { cur: w }
    else if std.length(acc.cur) + 1 + std.length(w) > width then acc { lines+: [acc.cur], cur: w }
    else acc { cur: acc.cur + ' ' + w };
  local done = std.foldl(step, std.split(s, ' '), { lines: [], cur: '' });
  done.lines + [done.cur];

local scalar(s, indent) =
  local pad = std.repeat(' ', indent);
  if std.type(s) != 'string' then std.toString(s)
  else if plain(s) then s
  else if std.endsWith(s, '\n') && std.length(std.findSubstr('\n', s)) > 1 && std.findSubstr('\n\n', s) == [] then
    '|\n' + std.join('\n', [pad + l for l in std.split(std.rstripChars(s, '\n'), '\n')])
  else if std.length(s) > 80 && foldable(s) then
    '>-\n' + std.join('\n', [pad + l for l in wrap(s, 96)])
  else std.escapeStringJson(s);

local manifest(v, indent) =
  local pad = std.repeat(' ', indent);
  if std.type(v) == 'object' then
    std.join('\n', [
      local x = v[k];
      if std.type(x) == 'object' || std.type(x) == 'array' then
        pad + k + ':\n' + manifest(x, indent + 2)
      else pad + k + ': ' + scalar(x, indent + 2)
      for k in keys(v)
    ])
  else if std.type(v) == 'array' then
    std.join('\n', [
      // The first key of each object rides on the `- `.
      local item = manifest(x, indent + 2);
      pad + '- ' + std.substr(item, indent + 2, std.length(item))
      for x in v
    ])
  else pad + scalar(v, indent);

{
  manifest(v):: manifest(v, 0) + '\n',
}
