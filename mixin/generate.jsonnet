// The files the repository ships, rendered from the mixin with its default _config:
//   jsonnet -S -m . mixin/generate.jsonnet     (mixin/generate.sh; run from the top)
// tests/mixin.rs fails when a committed file differs from this rendering.
local mixin = import 'mixin.libsonnet';

// jsonnet -m ends each file with a newline of its own.
local yaml(v) = std.rstripChars((import 'lib/yaml.libsonnet').manifest(v), '\n');
local comment(lines) = std.join('', [if l == '' then '#\n' else '# %s\n' % l for l in lines]);
// Rendered once: writing the long templates takes seconds.
local rules = yaml(mixin.prometheusAlerts);
local generated = [
  'GENERATED from mixin/ by mixin/generate.sh: edit mixin/ (alerts/alerts.libsonnet,',
  'config.libsonnet) and run it again; tests/mixin.rs fails while the two disagree.',
];

{
  'deploy/prometheus/rules.yml':
    comment(generated + [
      '',
      'Alert rules for mountleak_exporter. Check with `promtool check rules rules.yml`; the unit',
      'tests are in rules_test.yml (`promtool test rules rules_test.yml`). Leak alerts fire once',
      'per holding unit and container; their descriptions list the mounts.',
      'MountleakExporterDown selects the scrape jobs of the shipped deployments (`mountleak`,',
      '`mountleak-exporter`): if yours is called otherwise, set _config.exporterSelector.',
    ]) + rules,

  'deploy/kubernetes/prometheusrule.yaml':
    comment(generated + [
      'kustomization.yaml adds the `release` label that kube-prometheus-stack selects rules by',
      '(prometheus-selector-labels.yaml).',
    ]) + yaml({
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PrometheusRule',
      metadata: {
        name: 'mountleak-exporter',
        labels: {
          'app.kubernetes.io/name': 'mountleak-exporter',
          'app.kubernetes.io/component': 'exporter',
        },
      },
    }) + '\nspec:\n' + std.join('\n', [
      // A PrometheusRule's spec is a rule file, indented under `spec:`.
      if l == '' then l else '  ' + l
      for l in std.split(std.rstripChars(rules, '\n'), '\n')
    ]),

  'dashboards/mountleak.json': std.manifestJsonEx(mixin.grafanaDashboards['mountleak.json'], '  '),
}
