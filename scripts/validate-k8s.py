#!/usr/bin/env python3
"""Validates Kubernetes manifests offline, strictly (unknown fields are
errors), against real schemas:

- built-in kinds: the Kubernetes OpenAPI schemas bundled in the PyPI
  package kubernetes-validate, for each --kubernetes-version given;
- monitoring.coreos.com kinds (ServiceMonitor, PrometheusRule, ...): the
  Prometheus Operator's own CRD schemas (openAPIV3Schema), from the
  directory given with --crds (the operator's example/prometheus-operator-crd,
  which the Go module proxy serves), made strict as the API server's strict
  field validation is.

A document of a kind with no schema is an error, not a warning.

usage: validate-k8s.py --crds DIR [-k 1.27.0 -k 1.37.0] FILE|- ...
Prints one line per document; exits 1 if any is invalid.
"""

import argparse
import glob
import os
import sys

import jsonschema
import kubernetes_validate
import yaml


def strict(schema):
    """A copy of an OpenAPI v3 schema where objects with declared
    properties refuse others (as kubectl's strict field validation does),
    unless the schema keeps unknown fields on purpose."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v) for k, v in schema.items()}
    # Go's RE2 takes flags anywhere; Python's only at the start.
    if isinstance(out.get("pattern"), str) and "(?i)" in out["pattern"]:
        out["pattern"] = "(?i)" + out["pattern"].replace("(?i)", "")
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


class CrdLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """YAML 1.1 reads a bare `=` (an enum value in some CRDs) as the
    'value' type, which the safe loader has no constructor for."""


CrdLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


def load_crds(directory, kind):
    """{(group, version, kind): strict schema} of the CRD file defining
    `kind` (the operator names them group_plural.yaml)."""
    plural = kind.lower() + ("es" if kind.lower().endswith("s") else "s")
    files = glob.glob(os.path.join(directory, f"*_{plural}.yaml"))
    if not glob.glob(os.path.join(directory, "*.yaml")):
        sys.exit(f"validate-k8s: no CRD files in {directory}: pass the operator's example/prometheus-operator-crd")
    schemas = {}
    for path in files:
        with open(path) as f:
            for crd in yaml.load_all(f, Loader=CrdLoader):
                if not crd or crd.get("kind") != "CustomResourceDefinition":
                    continue
                spec = crd["spec"]
                for v in spec["versions"]:
                    schemas[(spec["group"], v["name"], spec["names"]["kind"])] = strict(
                        v["schema"]["openAPIV3Schema"]
                    )
    return schemas


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--crds", required=True)
    ap.add_argument("-k", "--kubernetes-version", action="append", dest="versions")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    versions = args.versions or ["1.37.0"]
    crds = {}
    bad = 0
    checked = 0
    for name in args.files:
        text = sys.stdin.read() if name == "-" else open(name).read()
        for doc in yaml.safe_load_all(text):
            if not doc:
                continue
            checked += 1
            kind = doc.get("kind", "?")
            what = f"{name}: {kind}/{doc.get('metadata', {}).get('name', '?')}"
            group, _, version = doc.get("apiVersion", "").rpartition("/")
            try:
                if group.endswith("monitoring.coreos.com"):
                    if kind not in crds:
                        crds[kind] = load_crds(args.crds, kind)
                    schema = crds[kind].get((group, version, kind))
                    if schema is None:
                        raise ValueError(f"no CRD schema for {doc.get('apiVersion')} {kind}")
                    errors = sorted(
                        jsonschema.Draft7Validator(schema).iter_errors(doc),
                        key=lambda e: list(e.absolute_path),
                    )
                    if errors:
                        raise errors[0]
                    print(f"ok {what} (CRD {group}/{version})")
                else:
                    for v in versions:
                        kubernetes_validate.validate(doc, v, strict=True)
                    print(f"ok {what} (Kubernetes {', '.join(versions)})")
            except kubernetes_validate.utils.SchemaNotFoundError as e:
                bad += 1
                print(f"error {what}: no schema: {e}")
            except kubernetes_validate.ValidationError as e:
                bad += 1
                path = ".".join(str(p) for p in e.path)
                print(f"error {what}: {path}: {e.message}")
            except jsonschema.ValidationError as e:
                bad += 1
                path = ".".join(str(p) for p in e.absolute_path)
                print(f"error {what}: {path}: {e.message}")
            except ValueError as e:
                bad += 1
                print(f"error {what}: {e}")
    if checked == 0:
        print("error: no documents")
        return 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
