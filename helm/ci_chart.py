"""Lint and render the chart for one values file with Helm's Go SDK (helm-python-sdk).

Usage: ci_chart.py CHART VALUES OUT_DIR
Validates the values against values.schema.json, lints (strict), renders as release "ao" in
namespace "ao" and writes every manifest to OUT_DIR/rendered.yaml (CRD-backed kinds such as
ServiceMonitor also to OUT_DIR/custom.yaml, which schema validators cannot know), and Helm's own
text to OUT_DIR/helm-output.yaml for yamllint.
Exits 1 with the first error's message.
"""
import pathlib
import sys

import helm_python as helm
import yaml

# Kinds whose schemas are not Kubernetes' own (kubernetes-validate has none).
CUSTOM_KINDS = {"ServiceMonitor"}


def main() -> int:
    chart_dir, values_file, out = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
    values = yaml.safe_load(pathlib.Path(values_file).read_text()) or {}
    try:
        with helm.Chart.load(chart_dir) as chart:
            chart.validate_schema(values)
            report = helm.lint(chart_dir, values, strict=True, namespace="ao")
            problems = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
            if report.get("errors") or problems:
                print(f"lint: {report.get('errors')} {problems}", file=sys.stderr)
                return 1
            manifests = chart.render(values, name="ao", namespace="ao", is_install=True)
    except Exception as e:  # the SDK's errors carry Helm's message
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        return 1
    raw = []
    core, custom = [], []
    for path, text in sorted(manifests.items()):
        if not path.endswith((".yaml", ".yml")):
            continue
        if text.strip():
            raw.append(text.strip("\n") + "\n")
        for doc in yaml.safe_load_all(text):
            if not doc:
                continue
            (custom if doc.get("kind") in CUSTOM_KINDS else core).append(doc)
    out.mkdir(parents=True, exist_ok=True)
    dump = lambda docs: "---\n" + "---\n".join(yaml.safe_dump(d, sort_keys=False) for d in docs)
    (out / "rendered.yaml").write_text(dump(core))
    (out / "custom.yaml").write_text(dump(custom) if custom else "")
    # As Helm wrote it, for yamllint: template whitespace slips show here, not after a re-dump.
    (out / "helm-output.yaml").write_text("---\n" + "---\n".join(raw))
    print(f"rendered {len(core)} objects ({len(custom)} custom) from {values_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
