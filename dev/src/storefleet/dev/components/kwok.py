"""KWOK: plays the kubelet for fake nodes, so pods get Running and Ready.

Built from sigs.k8s.io/kwok (dev/go/kwok). The nodes are ordinary Node objects
that carry KWOK's annotation; KWOK keeps their status and heartbeats current
and moves every pod scheduled onto them through its lifecycle.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import yaml

from storefleet.dev.components.base import Component
from storefleet.dev.components.kubernetes import Kubernetes
from storefleet.dev.components.node import PROVISIONER_NAMESPACE
from storefleet.dev.gobuild import GoTool
from storefleet.dev.network import FAKE_POD_CIDR
from storefleet.dev.processes import wait_until

TOOL = GoTool(
    name="kwok", module="sigs.k8s.io/kwok", commands={"kwok": "sigs.k8s.io/kwok/cmd/kwok"}
)

# KWOK's own stage sets (kustomize/stage/ in its module): nodes become Ready and
# keep a heartbeat; pods become Ready at once, complete, and go when deleted.
STAGE_SETS = ("node/fast", "node/heartbeat", "pod/fast")
# And one of ours: the volume provisioner's helper pods (each makes or removes one
# volume's folder, then exits) complete at once on a fake node, so the claims of a
# Store's in-namespace PostgreSQL and Redis bind there as on the real node.
VOLUME_HELPER_STAGE = f"""apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: storefleet-volume-helper-complete
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.namespace'
      operator: 'In'
      values:
      - '{PROVISIONER_NAMESPACE}'
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Running'
  next:
    statusTemplate: |
      {{{{ $now := Now }}}}
      containerStatuses:
      {{{{ range $index, $item := .spec.containers }}}}
      - image: {{{{ $item.image | Quote }}}}
        name: {{{{ $item.name | Quote }}}}
        ready: false
        restartCount: 0
        started: false
        state:
          terminated:
            exitCode: 0
            finishedAt: {{{{ $now | Quote }}}}
            reason: Completed
            startedAt: {{{{ $now | Quote }}}}
      {{{{ end }}}}
      phase: Succeeded
"""

NODE_COUNT = int(os.environ.get("STOREFLEET_KWOK_NODES", "3"))
# Generous: the fake nodes run no containers, so capacity only gates scheduling.
NODE_CAPACITY = {"cpu": "64", "memory": "256Gi", "ephemeral-storage": "1Ti", "pods": "500"}
# Fake nodes repel every pod that does not ask for them: real workloads land on
# the real node, and fleet-scale tests place their Stores here explicitly.
TAINT = {"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}
LABELS = {"type": "kwok"}
# What a Store's spec.placement (or the operator's default) says to run here.
PLACEMENT = {
    "nodeSelector": dict(LABELS),
    "tolerations": [{"key": TAINT["key"], "operator": "Exists", "effect": TAINT["effect"]}],
}


def node_manifest(name: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                **LABELS,
                "topology.kubernetes.io/zone": f"zone-{name[-1]}",
            },
        },
        "spec": {"taints": [TAINT]},
        "status": {
            "allocatable": NODE_CAPACITY,
            "capacity": NODE_CAPACITY,
            "nodeInfo": {
                "architecture": "amd64",
                "kubeProxyVersion": "kwok",
                "kubeletVersion": "kwok",
                "operatingSystem": "linux",
            },
            "phase": "Running",
        },
    }


class Kwok(Component):
    name = "kwok"
    requires = ("kubernetes",)
    process_names = ("kwok",)

    def __init__(self) -> None:
        self.cluster = Kubernetes()

    @property
    def config_file(self) -> Path:
        return TOOL.bin_dir.parent / "stages.yaml"

    @property
    def stock_stages_file(self) -> Path:
        return TOOL.bin_dir.parent / "stock-stages.yaml"

    def install(self) -> None:
        TOOL.build()
        if not self.stock_stages_file.exists():
            self.stock_stages_file.write_text(_stock_stages())
        wanted = self.stock_stages_file.read_text() + "---\n" + VOLUME_HELPER_STAGE
        if not self.config_file.exists() or self.config_file.read_text() != wanted:
            self.config_file.write_text(wanted)

    @property
    def node_names(self) -> list[str]:
        return [f"kwok-node-{index}" for index in range(NODE_COUNT)]

    def up(self) -> None:
        self.install()
        proc = self.process("kwok")
        proc.start(
            [
                str(TOOL.binary("kwok")),
                f"--kubeconfig={self.cluster.kubeconfig_for('kwok')}",
                f"--config={self.config_file}",
                "--manage-all-nodes=false",
                "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                "--node-ip=127.0.0.1",
                f"--cidr={FAKE_POD_CIDR}",
            ]
        )
        nodes = "---\n".join(yaml.safe_dump(node_manifest(n)) for n in self.node_names)
        applied = self.cluster.kubectl("apply", "-f", "-", input=nodes)
        if applied.returncode != 0:
            raise RuntimeError(f"creating the KWOK nodes failed: {applied.stderr}")
        wait_until(self._nodes_ready, process=proc, what="Ready nodes", timeout=60)
        # A node made before its capacity named ephemeral-storage keeps its old
        # status through `apply`: set it on the status itself.
        for name in self.node_names:
            self.cluster.advertise_ephemeral_storage(name, NODE_CAPACITY["ephemeral-storage"])

    def _nodes_ready(self) -> bool:
        result = self.cluster.kubectl(
            "wait", "--for=condition=Ready", "--timeout=2s", *(f"node/{n}" for n in self.node_names)
        )
        return result.returncode == 0

    def env(self) -> dict[str, str]:
        return {}

    def describe(self) -> str:
        return f"{NODE_COUNT} fake nodes ({', '.join(self.node_names)})"


def _stock_stages() -> str:
    """The Stage documents of STAGE_SETS, read from the KWOK module that was built."""
    downloaded = subprocess.run(
        ["go", "mod", "download", "-json", f"{TOOL.module}@{TOOL.version}"],
        cwd=TOOL.module_dir,
        capture_output=True,
        text=True,
        check=True,
    )
    root = Path(json.loads(downloaded.stdout)["Dir"]) / "kustomize" / "stage"
    documents = []
    for stage_set in STAGE_SETS:
        kustomization = yaml.safe_load((root / stage_set / "kustomization.yaml").read_text())
        for resource in kustomization["resources"]:
            documents.append((root / stage_set / resource).read_text().strip())
    return "\n---\n".join(documents) + "\n"
